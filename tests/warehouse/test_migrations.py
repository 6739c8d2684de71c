"""`pulse migrate` against a real bridge: order, idempotence, refusal of edited files, status."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pulse.errors import PulseError
from pulse.settings import Settings
from pulse.warehouse.client import connect
from pulse.warehouse.migrations import LEDGER_TABLE, discover, migrate, status
from tests.support.warehouse import Warehouse

FIRST = """
-- the table every later file relies on; note the ';' inside strings
CREATE TABLE IF NOT EXISTS events (
    id UInt64,
    note String DEFAULT 'a;b -- not a comment'
) ENGINE = MergeTree ORDER BY id;

INSERT INTO events (id) VALUES (1);
"""

SECOND = """
ALTER TABLE events ADD COLUMN IF NOT EXISTS kind LowCardinality(String) DEFAULT 'view';
INSERT INTO events (id, kind) VALUES (2, 'click');
"""


@pytest.fixture
def schema(tmp_path: Path) -> Path:
    folder = tmp_path / "schema"
    folder.mkdir()
    (folder / "0001_events.sql").write_text(FIRST)
    (folder / "0002_kind.sql").write_text(SECOND)
    return folder


@pytest.fixture
def settings(warehouse: Warehouse) -> Settings:
    """The bridge's settings with a database of the test's own, which does not exist yet."""
    base = warehouse.settings()
    return base.model_copy(
        update={"clickhouse": base.clickhouse.model_copy(update={"database": f"mig_{uuid.uuid4().hex[:8]}"})}
    )


def test_applies_in_order_then_is_a_no_op(settings: Settings, schema: Path) -> None:
    database = settings.clickhouse.database
    client = connect(settings, use_database=False)
    applied = migrate(client, database, discover(schema))
    assert [m.name for m in applied] == ["events", "kind"]
    assert client.query("SELECT id, kind FROM events ORDER BY id").result_rows == [(1, "view"), (2, "click")]
    assert migrate(client, database, discover(schema)) == []
    assert client.command("SELECT count() FROM events") == 2  # the INSERTs did not run twice
    ledger = client.query(f"SELECT version, name, length(checksum) FROM {LEDGER_TABLE} ORDER BY version")
    assert ledger.result_rows == [(1, "events", 64), (2, "kind", 64)]


def test_connect_before_the_database_exists(settings: Settings) -> None:
    client = connect(settings, use_database=False)
    assert client.command("SELECT currentDatabase()") == "default"
    with pytest.raises(PulseError, match=re.escape(settings.clickhouse.url)):
        connect(settings)  # the database is missing: a clear error, not a traceback


def test_changed_file_is_refused_by_name(settings: Settings, schema: Path) -> None:
    client = connect(settings, use_database=False)
    migrate(client, settings.clickhouse.database, discover(schema))
    (schema / "0001_events.sql").write_text(FIRST + "\n-- edited\n")
    with pytest.raises(PulseError, match=r"0001_events\.sql was changed"):
        migrate(client, settings.clickhouse.database, discover(schema))


def test_status_and_dry_run(settings: Settings, schema: Path) -> None:
    database = settings.clickhouse.database
    client = connect(settings, use_database=False)
    assert [row.state for row in status(client, database, discover(schema))] == ["pending", "pending"]
    assert [m.version for m in migrate(client, database, discover(schema), dry_run=True)] == [1, 2]
    assert not client.command("EXISTS DATABASE {db:Identifier}", parameters={"db": database})
    migrate(client, database, discover(schema)[:1])
    (schema / "0003_more.sql").write_text("CREATE TABLE IF NOT EXISTS more (a UInt8) ENGINE = Memory;\n")
    rows = status(client, database, discover(schema))
    assert [(row.version, row.state) for row in rows] == [(1, "applied"), (2, "pending"), (3, "pending")]
    assert rows[0].applied_at is not None


def test_bad_file_names_and_duplicates(tmp_path: Path) -> None:
    (tmp_path / "1_short.sql").write_text("SELECT 1;")
    with pytest.raises(PulseError, match=r"NNNN_name\.sql"):
        discover(tmp_path)
    (tmp_path / "1_short.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(PulseError, match="also used by"):
        discover(tmp_path)


def test_cli(warehouse: Warehouse, settings: Settings, schema: Path) -> None:
    env = {**warehouse.env, "PULSE_CLICKHOUSE__DATABASE": settings.clickhouse.database}

    def pulse(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pulse", "migrate", *args, "--schema-dir", str(schema)]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    dry = pulse("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would apply 0001_events.sql" in dry.stdout
    first = pulse()
    assert first.returncode == 0, first.stderr
    assert "applied 0002_kind.sql" in first.stdout
    again = pulse()
    assert "0 migration(s) applied" in again.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "pulse", "migrate", "status", "--schema-dir", str(schema)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert "events" in shown.stdout and "applied" in shown.stdout
    (schema / "0002_kind.sql").write_text(SECOND + "-- edited\n")
    refused = pulse()
    assert refused.returncode == 2
    assert "0002_kind.sql" in refused.stderr and "changed" in refused.stderr
