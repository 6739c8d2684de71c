"""Archive N events, drop the warehouse, migrate, replay: every table below ``events`` is restored.

The scenario gets a consistent snapshot from topics, consumer groups and an archive prefix of its
own, on an empty database.
Columns that record *when* a row was stored (``stored_at`` and other insert-time defaults) are
left out of the comparison: a replay stores rows now, by design.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from pulse.archive.replay import Replayer, batches, parse_moment, partition_lanes, select_objects
from pulse.archive.store import ArchiveStore
from pulse.contracts.events import WAREHOUSE_FAMILIES
from pulse.generator.traffic import TrafficGenerator
from pulse.pipeline.services import start_pipeline, stop_pipeline
from pulse.settings import Settings
from pulse.stack.kafka import ensure_topics
from pulse.warehouse.client import connect
from tests.support.stack import StackHandle
from tests.support.tiers import archive_lag, deliver, metric_sum, now_traffic, wait_for

#: Bookkeeping, and ingest_per_second (0003): counts rows by their stored_at, i.e. by insert time.
# Bookkeeping and the audit trail (who migrated, who replayed, who read): not derived from events.
NOT_COMPARED_TABLES = (
    "schema_migrations",
    "loader_batches",
    "loader_dead_letters",
    "ingest_per_second",
    "audit_log",
    "audit_reads",
)
TABLES = """
SELECT name, engine FROM system.tables
WHERE database = currentDatabase() AND engine LIKE '%MergeTree' AND NOT has({skip:Array(String)}, name)
ORDER BY name
"""
COLUMNS = """
SELECT name, type FROM system.columns
WHERE database = currentDatabase() AND table = {table:String}
  AND default_kind = '' AND position(name, 'stored_at') = 0
ORDER BY position
"""


def fingerprint(client: Client) -> dict[str, tuple[int, int]]:
    """Per table: (rows, order-independent hash of the finalized rows), parts merged by FINAL."""
    prints = {}
    for table, engine in client.query(TABLES, parameters={"skip": list(NOT_COMPARED_TABLES)}).result_rows:
        final = "" if engine == "MergeTree" else "FINAL"
        columns = client.query(COLUMNS, parameters={"table": table}).result_rows
        exprs = ", ".join(
            f"finalizeAggregation(`{name}`)" if kind.startswith("AggregateFunction") else f"`{name}`"
            for name, kind in columns
        )
        rows, digest = client.query(
            f"SELECT count(), sum(cityHash64(tuple({exprs}))) FROM `{table}` {final}"
        ).result_rows[0]
        prints[table] = (int(rows), int(digest))
    return prints


def reset_database(test_stack: StackHandle, client: Client, database: str) -> None:
    client.command(f"DROP DATABASE IF EXISTS `{database}` SYNC")
    test_stack.pulse("migrate", check=True)


@pytest.fixture(scope="module")
def fresh(stack: Settings, test_stack: StackHandle) -> Iterator[Settings]:
    """The pipeline on an empty database, with fresh loader/archiver groups and archive prefix."""
    stop_pipeline(stack)
    run = uuid.uuid4().hex[:8]
    settings = stack.model_copy(
        update={
            # Topics of its own: the snapshot holds only this test's events, whatever ran before.
            "kafka": stack.kafka.model_copy(update={"topic_prefix": f"replay{run}"}),
            "loader": stack.loader.model_copy(update={"group_id": f"replay-loader-{run}"}),
            "archive": stack.archive.model_copy(
                update={
                    "group_id": f"replay-archiver-{run}",
                    "prefix": f"replay-{run}",
                    "max_batch_age_ms": 1000,
                    "max_batch_rows": 1000,  # many small objects, as live traffic leaves them
                }
            ),
        }
    )
    ensure_topics(settings)
    reset_database(test_stack, connect(stack, use_database=False), stack.clickhouse.database)
    start_pipeline(settings)
    yield settings
    stop_pipeline(settings)


def test_drop_migrate_replay_restores_every_rollup_and_a_second_replay_changes_nothing(
    fresh: Settings, test_stack: StackHandle
) -> None:
    traffic = now_traffic(seed=61, rate=300)
    deliver(fresh, traffic, events=10_000, paced=False, key="wk_replay")
    # A client retrying its first 2,000 events: same messageIds at new offsets. The loader drops them,
    # the archiver keeps every message, and replay must drop them as the loader did.
    deliver(fresh, TrafficGenerator(traffic.config), events=2_000, paced=False, key="wk_replay")
    loader_port = fresh.loader.metrics_port

    warehouse = connect(fresh)

    def caught_up() -> bool:
        rows = int(warehouse.command("SELECT count() FROM events"))  # type: ignore[arg-type]
        archived = metric_sum(fresh, fresh.archive.metrics_port, "pulse_archive_events_total")
        lag = metric_sum(fresh, loader_port, "pulse_loader_lag_messages")
        duplicates = metric_sum(fresh, loader_port, "pulse_loader_duplicate_messages_total")
        caught = lag == 0 and archive_lag(fresh) == 0 and archived >= 12_000
        # The hot layer too: its counters share minutes with the next module's, which compares them.
        hot = metric_sum(fresh, fresh.hot.metrics_port, "pulse_hot_events_total")
        hot_retries = metric_sum(fresh, fresh.hot.metrics_port, "pulse_hot_duplicate_messages_total")
        return rows >= 10_000 and duplicates >= 2_000 and caught and hot >= 10_000 and hot_retries >= 2_000

    wait_for(caught_up, 120, "the loader, the archiver and the hot layer to catch up")
    wait_for(lambda: fingerprint(warehouse) == fingerprint(warehouse), 30, "the warehouse to settle", poll_s=2.0)
    before = fingerprint(warehouse)
    assert before["events"][0] == 10_000
    assert {"events_per_minute"} <= set(before)
    stop_pipeline(fresh)

    reset_database(test_stack, connect(fresh, use_database=False), fresh.clickhouse.database)
    assert fingerprint(warehouse)["events"] == (0, 0)
    today = datetime.now(UTC)
    window = (
        "--since",
        f"{today - timedelta(days=1):%Y-%m-%d}",
        "--until",
        f"{today + timedelta(hours=2):%Y-%m-%dT%H:00}",
    )
    env = {"PULSE_ARCHIVE__PREFIX": fresh.archive.prefix, "PULSE_KAFKA__TOPIC_PREFIX": fresh.kafka.topic_prefix}
    first = test_stack.pulse("replay", *window, env=env, check=True)
    since, until = parse_moment(window[1]), parse_moment(window[3])
    objects = select_objects(ArchiveStore(fresh), archived_topics(fresh), since, until)
    inserts = len(batches(objects, fresh.archive.replay_batch_rows))
    assert 1 <= inserts < len(objects)  # the archiver's small objects go in together
    assert f"{inserts:,} insert(s); objects: {len(objects)} inserted" in first.stdout, first.stdout
    assert fingerprint(warehouse) == before
    (recorded,) = warehouse.query("SELECT target, details FROM audit_log WHERE action = 'replay'").result_rows
    assert recorded[0] == ",".join(archived_topics(fresh)) and f'"inserted":{len(objects)}' in recorded[1]

    second = test_stack.pulse("replay", *window, env=env, check=True)
    assert "0 inserted" in second.stdout, second.stdout
    assert fingerprint(warehouse) == before

    # An interrupted replay (the first half of each partition's objects, one insert each): the
    # batches that hold both halves are filled with exactly the missing offsets.
    reset_database(test_stack, connect(fresh, use_database=False), fresh.clickhouse.database)
    interrupted = [batch for lane in partition_lanes(batches(objects, max_rows=1)) for batch in lane[: len(lane) // 2]]
    for _done in Replayer(fresh, lambda: connect(fresh)).replay_all(interrupted, workers=2):
        pass
    assert 0 < fingerprint(warehouse)["events"][0] < before["events"][0]
    third = test_stack.pulse("replay", *window, env=env, check=True)
    assert "filled (partly present)" in third.stdout and ", 0 filled" not in third.stdout, third.stdout
    assert fingerprint(warehouse) == before


def archived_topics(settings: Settings) -> list[str]:
    return [settings.kafka.topic(family) for family in WAREHOUSE_FAMILIES]


def test_replay_rejects_bad_input_with_a_clear_error(stack: Settings, test_stack: StackHandle) -> None:
    bad_time = test_stack.pulse("replay", "--since", "yesterday", "--until", "2026-01-01")
    assert bad_time.returncode == 2 and "not an ISO-8601 date" in bad_time.stderr
    backwards = test_stack.pulse("replay", "--since", "2026-01-02", "--until", "2026-01-01")
    assert backwards.returncode == 2 and "must be after" in backwards.stderr
    unknown = test_stack.pulse("replay", "--since", "2026-01-01", "--until", "2026-01-02", "--topic", "nope")
    assert unknown.returncode == 2 and "unknown topic" in unknown.stderr
