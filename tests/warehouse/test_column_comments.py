"""Every column an analyst reads carries a comment (meaning, unit, grain): the real migrations, applied
to a fresh database, leave none of those tables' columns without one, and applying them again is a no-op."""

from __future__ import annotations

import uuid

from pulse.warehouse.migrations import discover, migrate
from tests.support.warehouse import Warehouse

#: What Explore's analysts see: raw events, the per-family views, every rollup, the dimensions (and the
#: views that collapse them), rejected input. Not the refreshable snapshots (see 0009's header).
ANALYST_TABLES = (
    "events",
    "interaction_events",
    "content_events",
    "ad_events",
    "identity_events",
    "rejected_events",
    "users",
    "users_latest",
    "posts",
    "posts_latest",
    "campaigns",
    "campaigns_latest",
)

COLUMNS = """SELECT table, name, comment FROM system.columns
             WHERE database = {db:String} AND table IN {tables:Array(String)}"""


def test_every_analyst_column_has_a_comment(warehouse: Warehouse) -> None:
    database = f"comments_{uuid.uuid4().hex[:8]}"
    client = warehouse.client()
    migrate(client, database, discover())
    rollups = {
        row[0]
        for row in client.query(
            "SELECT name FROM system.tables WHERE database = {db:String} AND engine = 'AggregatingMergeTree'",
            parameters={"db": database},
        ).result_rows
    }
    assert {"engagement_per_minute", "ad_performance_per_hour", "user_days", "users_per_minute"} <= rollups
    tables = sorted(rollups | set(ANALYST_TABLES))
    rows = client.query(COLUMNS, parameters={"db": database, "tables": tables}).result_rows
    assert {row[0] for row in rows} == set(tables), "a listed table does not exist"
    missing = sorted(f"{table}.{name}" for table, name, comment in rows if not comment.strip())
    assert not missing, f"columns without a comment: {missing}"
    units = {name: comment for table, name, comment in rows if table == "events"}
    assert "micros of USD" in units["spend_micros"] and "UTC" in units["event_time"]
    before = sorted(rows)
    (comments,) = [m.version for m in discover() if m.name == "column_comments"]
    client.command(f"DELETE FROM {database}.schema_migrations WHERE version = {comments}")  # applying it again
    assert [m.version for m in migrate(client, database, discover())] == [comments]
    again = client.query(COLUMNS, parameters={"db": database, "tables": tables}).result_rows
    assert sorted(again) == before
