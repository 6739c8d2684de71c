"""A `pulse migrate` killed between any two statements re-runs cleanly to the same schema.

The kill is a real one as far as the migration can tell: the client stops after ``n`` statements and
raises an exception nothing in Pulse catches (as SIGKILL would end the Job), against a real bridge.
Then a fresh run must finish the job, and the result must equal an uninterrupted run's.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pulse.errors import PulseError
from pulse.warehouse.migrations import LEDGER_TABLE, discover, migrate
from tests.support.warehouse import Warehouse

MIGRATIONS = discover()
# prepare (database, ledger) + every statement + one ledger insert per file
STEPS = 2 + sum(len(m.statements) for m in MIGRATIONS) + len(MIGRATIONS)


class Killed(BaseException):
    """The process died here: nothing after this point runs, nothing catches it."""


class DiesAfter:
    """A real client that dies after ``steps`` statements or inserts."""

    def __init__(self, client: Client, steps: int) -> None:
        object.__setattr__(self, "_client", client)
        object.__setattr__(self, "_left", steps)

    def _step(self) -> None:
        if self._left == 0:
            raise Killed
        object.__setattr__(self, "_left", self._left - 1)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        self._step()
        return self._client.command(*args, **kwargs)

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        self._step()
        return self._client.insert(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._client, name, value)


def snapshot(client: Client, database: str) -> dict[str, Any]:
    """Every object's DDL (database name blanked) and the ledger's files."""
    rows = client.query(
        "SELECT name, engine, replaceAll(create_table_query, {db:String}, 'DB') FROM system.tables "
        "WHERE database = {db:String} AND NOT startsWith(name, '.') ORDER BY name",
        parameters={"db": database},
    ).result_rows
    ledger = client.query(f"SELECT version, name, checksum FROM {database}.{LEDGER_TABLE} ORDER BY version")
    counts = {
        table: client.command(f"SELECT count() FROM {database}.{table}")
        for table in ("events", "users_per_minute", "engagement_slices_per_minute")
    }
    return {"objects": [tuple(r) for r in rows], "ledger": ledger.result_rows, "rows": counts}


@pytest.fixture(scope="module")
def reference(warehouse: Warehouse) -> dict[str, Any]:
    client = warehouse.client()
    database = f"clean_{uuid.uuid4().hex[:6]}"
    migrate(client, database, MIGRATIONS)
    shot = snapshot(client, database)
    client.command(f"DROP DATABASE {database} SYNC")
    client.close()
    return shot


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.integers(min_value=1, max_value=STEPS - 1))
@example(steps=1)  # after CREATE DATABASE, before the ledger
@example(steps=3)  # first statement of 0001 applied, the file not recorded
@example(steps=STEPS - 1)  # everything applied, the last file not recorded
def test_killed_anywhere_then_rerun_equals_an_uninterrupted_run(
    warehouse: Warehouse, reference: dict[str, Any], steps: int
) -> None:
    client = warehouse.client()
    database = f"killed_{uuid.uuid4().hex[:6]}"
    try:
        with pytest.raises(Killed):
            migrate(DiesAfter(client, steps), database, MIGRATIONS)  # type: ignore[arg-type]
        client.database = None
        migrate(client, database, MIGRATIONS)
        assert snapshot(client, database) == reference
        assert migrate(client, database, MIGRATIONS) == []
    finally:
        client.database = None
        client.command(f"DROP DATABASE IF EXISTS {database} SYNC")
        client.close()


def test_a_failing_statement_is_named_and_the_file_resumes(warehouse: Warehouse, tmp_path: Any) -> None:
    schema = tmp_path / "schema"
    schema.mkdir()
    (schema / "0001_base.sql").write_text("CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = MergeTree ORDER BY x;\n")
    broken = (
        "CREATE TABLE IF NOT EXISTS b (x UInt8) ENGINE = MergeTree ORDER BY x;\n"
        "CREATE VIEW IF NOT EXISTS c AS SELECT x FROM not_yet;\n"
        "INSERT INTO a SELECT 1 WHERE (SELECT count() FROM a) = 0;\n"
    )
    (schema / "0002_more.sql").write_text(broken)
    client = warehouse.client()
    database = f"broken_{uuid.uuid4().hex[:6]}"
    with pytest.raises(PulseError) as refused:
        migrate(client, database, discover(schema))
    message = str(refused.value)
    assert "0002_more.sql: statement 2 of 3 failed" in message
    assert "CREATE VIEW IF NOT EXISTS c AS SELECT x FROM not_yet" in message
    assert "statements 1-1 stay applied" in message and "resume" in message
    assert client.query(f"SELECT version FROM {database}.{LEDGER_TABLE}").result_rows == [(1,)]
    (schema / "0002_more.sql").write_text(broken.replace("not_yet", "b"))  # a pending file may be fixed
    assert [m.version for m in migrate(client, database, discover(schema))] == [2]
    assert client.command(f"SELECT count() FROM {database}.a") == 1
    client.command(f"DROP DATABASE {database} SYNC")
    client.close()
