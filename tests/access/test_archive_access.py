"""The S3 archive is Admin's only: proven per data source user on the real engine against the real S3 server.

Each committed users.d fragment is given to a chDB session as its ``default`` user (standin.py), with the
``pulse_archive`` collection fragment the bridge renders beside it. The archive holds every column and
row of every department, unsliced, so only the user whose role reads everything may run the archive
queries; every other user is refused by the engine (497), whatever the query asks.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pulse.access.definition import AccessDefinition, Grantee, parse
from pulse.access.render import USERS_D
from pulse.archive import collection
from pulse.archive.store import ArchiveStore
from pulse.errors import PulseError
from pulse.queries.run import run
from pulse.settings import Settings
from tests.access.conftest import REPO, Warehouse
from tests.access.standin import session, session_config
from tests.access.test_definition import committed
from tests.access.test_engine import GRANTEES


@pytest.fixture(scope="module")
def archive(s3_stack: Settings) -> tuple[Settings, str]:
    """Three events of two users in today's folder of a topic prefix of its own."""
    prefix = f"acc{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    table = pa.table(
        {
            "message_id": ["m1", "m2", "m3"],
            "event": ["view", "view", "like"],
            "user_id": ["u1", "u2", "u1"],
            "anonymous_id": ["", "", ""],
            "event_time": pa.array([now, now, now], pa.timestamp("ms", tz="UTC")),
            "raw_message": pa.array([None, None, None], pa.string()),
        }
    )
    body = io.BytesIO()
    pq.write_table(table, body)
    key = f"{s3_stack.archive.prefix}/{prefix}.interactions/dt={now:%Y-%m-%d}/hour={now:%H}/x.parquet"
    ArchiveStore(s3_stack).put(key, body.getvalue())
    return s3_stack, prefix


@pytest.mark.parametrize("grantee", GRANTEES, ids=[g.user for g in GRANTEES])
def test_only_the_user_that_reads_everything_reads_the_archive(
    grantee: Grantee, archive: tuple[Settings, str], warehouse: Warehouse, tmp_path: Path
) -> None:
    settings, prefix = archive
    config = session_config((REPO / USERS_D / f"{grantee.user}.xml").read_text(), tmp_path / "config")
    (tmp_path / "config" / "config.d").mkdir()
    (tmp_path / "config" / "config.d" / "archive.xml").write_text(collection.fragment(settings))
    today = datetime.now(UTC).date()
    given = {"from": f"{today}T00:00:00Z", "to": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    given["topic_prefix"] = prefix
    expected = {
        "archive_events_per_day": [(today, "like", 1), (today, "view", 2)],
        "archive_active_users_per_day": [(today, 2)],
    }
    with session(warehouse.path, config, database=warehouse.database) as client:
        for name, rows in expected.items():
            if name in grantee.archive:
                assert run(client, name, given).rows == rows
            else:
                with pytest.raises(PulseError, match="Code: 497"):
                    run(client, name, given)


def test_only_admin_runs_the_archive_queries(definition: AccessDefinition) -> None:
    holders = [g.user for g in definition.grantees() if g.archive]
    assert holders == ["pulse_admin"]


@pytest.mark.parametrize("role", ["Analyst", "api"])
def test_a_role_that_does_not_read_everything_cannot_be_given_the_archive(role: str) -> None:
    data = committed()
    data["roles"][role]["archive"] = ["archive_events_per_day"]
    with pytest.raises(PulseError, match=rf"roles\.{role}\.archive: the archive holds every column and row"):
        parse(data, "access.yaml")
