"""The kafka-engine ingestion mode on the real engine and the session's real Kafka broker.

A throwaway `pulse warehouse serve` on its own chDB path (a path holding a Kafka table cannot be
reopened, and one chDB path belongs to one process: the session's warehouse stays untouched) is
migrated with ``--ingestion kafka-engine`` against the session's broker, on topics of its own.
Events sent through the collector must reach ``events`` and the rollups exactly as sent; poison
messages must land in ``rejected_events`` with the engine's error and not block what follows.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pulse.contracts.events import FAMILY_OF, EnrichedEvent, EventName, Family, encode_event, format_time
from pulse.errors import PulseError
from pulse.settings import Settings
from pulse.stack.kafka import ensure_topics
from pulse.tls import kafka_options
from pulse.warehouse.client import connect
from pulse.warehouse.ingestion import migrations_for
from pulse.warehouse.migrations import discover, migrate
from tests.support.collector import app_client, new_key, track
from tests.support.warehouse import Warehouse, free_port

PREFIX = f"keng{uuid.uuid4().hex[:8]}"
KAFKA_TABLES = ("kafka_ads", "kafka_content", "kafka_deadletter", "kafka_identities", "kafka_interactions")
INGESTION = "PULSE_CLICKHOUSE__INGESTION"


def pulse(env: dict[str, str], *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pulse", *args], env=env, capture_output=True, text=True, timeout=timeout_s
    )


def rows(warehouse: Warehouse, sql: str, **parameters: Any) -> list[tuple[Any, ...]]:
    client = warehouse.client(database="pulse_test")
    try:
        return [tuple(row) for row in client.query(sql, parameters=parameters).result_rows]
    finally:
        client.close()


def wait_until(check: Any, timeout_s: float = 60.0, explain: Any = None) -> float:
    """Poll ``check()`` until true; return the seconds it took (fail with ``explain()``, if given)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            pytest.fail(f"not reached in {timeout_s}s: {explain() if explain else ''}")
        time.sleep(0.2)
    return time.monotonic() - start


def engine_state(warehouse: Warehouse) -> str:
    """What the Kafka tables did: for a failure message."""
    consumers = rows(
        warehouse,
        "SELECT table, assignments.topic, assignments.current_offset, num_messages_read, num_commits, "
        "exceptions.text FROM system.kafka_consumers WHERE database = 'pulse_test' ORDER BY table",
    )
    rejected = rows(warehouse, "SELECT kafka_topic, reason FROM rejected_events ORDER BY stored_at DESC LIMIT 5")
    return f"consumers {consumers}; last rejected {rejected}"


def _settled(warehouse: Warehouse, partitions: int, hold_s: float = 5.0) -> bool:
    """Every consumer of every Kafka table holds partitions, all of them assigned, unchanged for ``hold_s``.

    A consumer that joins late makes its group rebalance, and a block read before a rebalance but not
    yet committed is read again (at-least-once): the counts below are exact only on a settled group.
    """
    assigned = """
        SELECT table, groupArray(length(assignments.partition_id)) FROM system.kafka_consumers
        WHERE database = 'pulse_test' GROUP BY table ORDER BY table"""
    first = rows(warehouse, assigned)
    if [t for t, _ in first] != list(KAFKA_TABLES) or any(0 in c or sum(c) != partitions for _, c in first):
        return False
    time.sleep(hold_s)
    return rows(warehouse, assigned) == first


def rollup_totals(warehouse: Warehouse, rollup: str, events: Counter[str]) -> Counter[str]:
    """A rollup's event counts for ``events``' names (its ``events`` column summed)."""
    totals = f"SELECT event, sum(events) FROM {rollup} WHERE event IN {{e:Array(String)}} GROUP BY event"
    return Counter({str(e): int(n) for e, n in rows(warehouse, totals, e=list(events))})


@pytest.fixture(scope="module")
def settings(kafka_stack: Settings, redis_stack: Settings) -> Settings:
    """The session's broker, on topics of this module's own (the session's loader never reads them)."""
    own = kafka_stack.model_copy(update={"kafka": kafka_stack.kafka.model_copy(update={"topic_prefix": PREFIX})})
    ensure_topics(own)
    return own


@pytest.fixture(scope="module")
def engine_warehouse(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """A throwaway warehouse migrated for kafka-engine ingestion, its consumers assigned every partition."""
    tmp = tmp_path_factory.mktemp("kafka-engine")
    warehouse = Warehouse(
        path=tmp / "chdb",
        home=tmp / "home",
        extra_env={
            "PULSE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "PULSE_KAFKA__TOPIC_PREFIX": PREFIX,
            "PULSE_LOADER__GROUP_ID": f"{PREFIX}-loader",  # the session's own loader group may be busy
            INGESTION: "kafka-engine",  # renders the pulse_kafka collection and the topic-prefix macro
        },
    )
    warehouse.home.mkdir()
    warehouse.start()
    try:
        without_setting = {k: v for k, v in warehouse.env.items() if k != INGESTION}
        migrated = pulse(without_setting, "migrate", "--ingestion", "kafka-engine")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        assert "1001_kafka_ingestion.sql" in migrated.stdout
        wait_until(
            lambda: _settled(warehouse, settings.kafka.partitions),
            timeout_s=90,
            explain=lambda: engine_state(warehouse),
        )
        yield warehouse
    finally:
        warehouse.stop()


def test_the_kafka_tables_read_the_collectors_message_contract(engine_warehouse: Warehouse) -> None:
    """Every family's Kafka table has exactly the enriched event's fields: nothing renamed, dropped or invented."""
    contract = sorted(field.name for field in msgspec.structs.fields(EnrichedEvent))
    for table in ("kafka_interactions", "kafka_content", "kafka_ads", "kafka_identities"):
        columns = rows(
            engine_warehouse,
            "SELECT name FROM system.columns WHERE database = 'pulse_test' AND table = {t:String} ORDER BY position",
            t=table,
        )
        assert sorted(c[0] for c in columns) == contract, table


def _event(run: str, index: int, name: str, at: datetime) -> dict[str, Any]:
    properties: dict[str, dict[str, Any]] = {
        EventName.AD_IMPRESSION: {"campaign_id": f"c-{run}", "creative_id": "k-1", "spend_micros": 1500 + index},
        EventName.AD_CLICK: {"campaign_id": f"c-{run}", "creative_id": "k-1"},
        EventName.SEARCH: {"query": "cats"},
    }
    message = track(f"{run}-{index}", user=f"u-{index % 7}", event=name, timestamp=at.isoformat())
    if name in properties:
        message["properties"] = properties[name]
    return message


async def test_events_sent_through_the_collector_reach_events_and_rollups(
    settings: Settings, engine_warehouse: Warehouse
) -> None:
    run = uuid.uuid4().hex[:8]
    names = [
        EventName.LIKE,
        EventName.VIEW,
        EventName.VIEW,
        EventName.SEARCH,
        EventName.POST_CREATED,
        EventName.AD_IMPRESSION,
        EventName.AD_IMPRESSION,
        EventName.AD_CLICK,
    ]
    now = datetime.now(UTC)
    batch = [_event(run, i, names[i % len(names)], now) for i in range(120)]
    identify = {
        "type": "identify",
        "messageId": f"{run}-identify",
        "userId": "u-1",
        "timestamp": now.isoformat(),
        "traits": {"country": "DE"},
    }
    # Identifiers stay required (custom events like "teleport" are stored since the tracking plans).
    invalid = [
        track(f"{run}-bad-1", properties={}),  # a like without its post_id
        track(f"{run}-bad-2", event="ad_impression", properties={"creative_id": "cr-1"}),  # no campaign_id
    ]
    key = await new_key(settings, f"keng-{run}")
    async with app_client(settings) as client:
        response = await client.post("/v1/batch", json={"batch": [*batch, identify, *invalid]}, auth=(key, ""))
    assert response.status_code == 200, response.text
    assert (response.json()["accepted"], response.json()["rejected"]) == (len(batch) + 1, len(invalid))

    mine = "startsWith(message_id, {run:String})"
    counted = f"SELECT count() FROM events WHERE {mine}"
    waited = wait_until(
        lambda: rows(engine_warehouse, counted, run=run)[0][0] >= len(batch) + 1,
        explain=lambda: f"{rows(engine_warehouse, counted, run=run)} {engine_state(engine_warehouse)}",
    )
    lag = rows(
        engine_warehouse,
        f"SELECT max(dateDiff('millisecond', received_at, stored_at)) FROM events WHERE {mine}",
        run=run,
    )[0][0]
    print(
        f"kafka-engine: {len(batch) + 1} events visible {waited:.1f} s after the collector's 200; "
        f"received_at -> stored_at at most {lag} ms"
    )

    stored = rows(
        engine_warehouse,
        f"SELECT message_id, event, kafka_topic, kafka_partition, kafka_offset FROM events WHERE {mine}",
        run=run,
    )
    duplicates = Counter(r[0] for r in stored) - Counter(r[0] for r in set(stored))
    assert not duplicates, f"redelivered (at-least-once) on a settled group: {dict(duplicates)}"
    assert sorted(r[0] for r in stored) == sorted([m["messageId"] for m in batch] + [identify["messageId"]])
    assert all(r[2] == f"{PREFIX}.{FAMILY_OF[EventName(r[1])]}" for r in stored), "lineage names the family topic"
    assert len({(r[2], r[3], r[4]) for r in stored}) == len(stored), "each row its own Kafka coordinates"

    expected = Counter(str(m["event"]) for m in batch) + Counter({"identify": 1})
    # No insert returns to tell when a block's views are done: `events` can be counted complete a
    # moment before the last view of the cascade has written, so the rollups are awaited, not sampled.
    for rollup in ("events_per_minute", "events_per_second", "engagement_per_minute"):
        trailed = wait_until(
            lambda name=rollup: rollup_totals(engine_warehouse, name, expected) == expected,
            timeout_s=30,
            explain=lambda name=rollup: (name, rollup_totals(engine_warehouse, name, expected)),
        )
        print(f"{rollup} complete {trailed:.2f} s after events")
    ads_sql = (
        "SELECT sum(impressions), sum(clicks), sum(spend_micros) FROM ad_performance_per_minute "
        "WHERE campaign_id = {c:String}"
    )
    spend = sum(m["properties"]["spend_micros"] for m in batch if m["event"] == EventName.AD_IMPRESSION)
    want = [(expected[EventName.AD_IMPRESSION], expected[EventName.AD_CLICK], spend)]
    wait_until(lambda: rows(engine_warehouse, ads_sql, c=f"c-{run}") == want, timeout_s=30)

    # The collector's own dead letters travel its dead-letter topic into rejected_events, as with the loader.
    dead = (
        f"SELECT reason_code, source FROM rejected_events WHERE kafka_topic = '{PREFIX}.deadletter' "
        "AND positionUTF8(payload, {run:String}) > 0 ORDER BY reason_code"
    )
    wait_until(lambda: len(rows(engine_warehouse, dead, run=run)) == len(invalid))
    assert rows(engine_warehouse, dead, run=run) == [
        ("missing_property", f"keng-{run}"),
        ("missing_property", f"keng-{run}"),
    ]


async def _produce(settings: Settings, messages: list[tuple[str, bytes]]) -> list[tuple[str, int, int]]:
    """Send each (family, value) to partition 0 of its topic, in order; return their Kafka coordinates."""
    producer = AIOKafkaProducer(**kafka_options(settings.kafka), acks="all")
    await producer.start()
    try:
        coordinates = []
        for family, value in messages:
            meta = await producer.send_and_wait(settings.kafka.topic(family), value, partition=0)
            coordinates.append((meta.topic, meta.partition, meta.offset))
        return coordinates
    finally:
        await producer.stop()


def test_poison_messages_are_rejected_with_their_error_and_do_not_block_the_partition(
    settings: Settings, engine_warehouse: Warehouse
) -> None:
    run = uuid.uuid4().hex[:8]
    at = format_time(datetime.now(UTC))

    def event(message_id: str, name: str = "like", **fields: Any) -> bytes:
        return encode_event(
            EnrichedEvent(message_id=message_id, call="track", event=name, event_time=at, received_at=at, **fields)
        )

    spend_as_text = orjson.loads(event(f"{run}-spend", "ad_impression"))
    spend_as_text["spend_micros"] = "lots"
    poison = [
        (Family.INTERACTIONS, f"not json {run}".encode()),
        (Family.INTERACTIONS, event("", session_id=run)),
        (Family.CONTENT, event(f"{run}-when", "post_created").replace(at.encode(), b"yesterday", 1)),
        (Family.ADS, orjson.dumps(spend_as_text)),
        (Family.DEAD_LETTER, f"\x00 not a dead letter {run}".encode()),
    ]
    after = [
        (family, event(f"{run}-after-{family}", name))
        for family, name in ((Family.INTERACTIONS, "like"), (Family.CONTENT, "post_created"), (Family.ADS, "ad_click"))
    ]
    coordinates = asyncio.run(_produce(settings, poison + after))

    followers = "SELECT count() FROM events WHERE startsWith(message_id, {p:String})"
    wait_until(lambda: rows(engine_warehouse, followers, p=f"{run}-after-") == [(len(after),)])
    rejected = (
        "SELECT kafka_topic, kafka_partition, kafka_offset, reason_code, reason, payload FROM rejected_events "
        "WHERE (kafka_topic, kafka_partition, kafka_offset) IN {c:Array(Tuple(String, UInt16, UInt64))} "
        "ORDER BY kafka_topic, kafka_offset"
    )
    wanted = coordinates[: len(poison)]
    wait_until(lambda: len(rows(engine_warehouse, rejected, c=wanted)) == len(poison))
    by_place = {(r[0], r[1], r[2]): r[3:] for r in rows(engine_warehouse, rejected, c=wanted)}
    found = [by_place[c] for c in wanted]

    not_json, no_id, bad_time, bad_spend, bad_dead = found
    assert not_json[0] == "undecodable" and "Cannot parse input" in not_json[1]
    assert not_json[2] == f"not json {run}", "the raw message is kept"
    assert no_id[:2] == ("invalid", "message_id is missing") and json.loads(no_id[2])["session_id"] == run
    assert bad_time[:2] == ("invalid", 'event_time is not a time: "yesterday"')
    assert bad_spend[0] == "undecodable" and "spend_micros" in bad_spend[1] and '"lots"' in bad_spend[2]
    assert bad_dead[0] == "undecodable" and bad_dead[1].startswith("not a dead letter: ") and run in bad_dead[2]
    assert rows(
        engine_warehouse,
        "SELECT count() FROM events WHERE message_id IN {m:Array(String)}",
        m=[f"{run}-when", f"{run}-spend"],
    ) == [(0,)], "a rejected message is not also stored"


TIMES = st.one_of(
    st.just(""),
    st.text(max_size=30),
    st.timedeltas(min_value=timedelta(days=-1), max_value=timedelta(days=1)).map(
        lambda delta: format_time(datetime.now(UTC) + delta)
    ),
)


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message_id=st.sampled_from(["", "m"]), event_time=TIMES, received_at=TIMES, sent_at=st.none() | TIMES)
def test_every_message_lands_once_in_events_or_rejected_events(
    engine_warehouse: Warehouse, message_id: str, event_time: str, received_at: str, sent_at: str | None
) -> None:
    """The routing views are total: whatever the text, no error that would stall the block, and one row out.

    The exception is a valid event older than the raw table's TTL: `events` drops it on insert (as it
    does for the loader's rows), so it may land nowhere.
    """
    marker = uuid.uuid4().hex
    row = {
        "message_id": message_id and f"{message_id}-{marker}",
        "call": "track",
        "event": "routing_probe",
        "event_time": event_time,
        "received_at": received_at,
        "sent_at": sent_at,
        "session_id": marker,
    }
    client = engine_warehouse.client(database="pulse_test")
    try:
        client.raw_insert("kafka_inbox", None, orjson.dumps(row), fmt="JSONEachRow")
    finally:
        client.close()
    stored = rows(engine_warehouse, "SELECT count() FROM events WHERE session_id = {m:String}", m=marker)[0][0]
    rejected = rows(
        engine_warehouse, "SELECT reason FROM rejected_events WHERE positionUTF8(payload, {m:String}) > 0", m=marker
    )
    parses, recent = rows(
        engine_warehouse,
        "SELECT {e:String} != '' AND {r:String} != '' AND isNotNull(toDateTime64OrNull({e:String}, 3, 'UTC')) "
        "AND isNotNull(toDateTime64OrNull({r:String}, 3, 'UTC')) AND (isNull({s:Nullable(String)}) "
        "OR {s:Nullable(String)} = '' OR isNotNull(toDateTime64OrNull({s:Nullable(String)}, 3, 'UTC'))), "
        "toDateTime64OrZero({e:String}, 3, 'UTC') > now64(3) - INTERVAL 29 DAY",
        e=event_time,
        r=received_at,
        s=sent_at,
    )[0]
    valid = bool(message_id) and bool(parses)
    assert stored + len(rejected) <= 1, "never both, never twice"
    assert bool(rejected) == (not valid), rejected
    assert all(reason for (reason,) in rejected), "a rejection names its reason"
    if valid and recent:
        assert stored == 1


def test_the_loader_and_a_loader_migration_refuse_a_warehouse_fed_by_its_kafka_tables(
    engine_warehouse: Warehouse,
) -> None:
    env = {k: v for k, v in engine_warehouse.env.items() if k != INGESTION}
    loader = pulse(env, "loader", "run", "--metrics-port", str(free_port()), timeout_s=60)
    assert loader.returncode == 2 and "ingests through its own Kafka tables" in loader.stderr, loader.stderr
    by_setting = pulse({**env, INGESTION: "kafka-engine"}, "loader", "run", "--metrics-port", str(free_port()))
    assert by_setting.returncode == 2 and "PULSE_CLICKHOUSE__INGESTION=kafka-engine" in by_setting.stderr
    loader_migration = pulse(env, "migrate", "--ingestion", "loader")
    assert loader_migration.returncode == 2 and "kafka_interactions" in loader_migration.stderr


async def test_a_kafka_engine_migration_refuses_while_the_loaders_group_has_members(
    settings: Settings, own_warehouse: Warehouse
) -> None:
    group = f"{PREFIX}-busy-loader"
    env = {
        **own_warehouse.env,
        "PULSE_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "PULSE_LOADER__GROUP_ID": group,
    }
    loader = AIOKafkaConsumer(
        settings.kafka.topic(Family.INTERACTIONS), group_id=group, **kafka_options(settings.kafka)
    )
    await loader.start()
    try:
        await loader.getmany(timeout_ms=1000)  # joined: the group now has this member
        refused = await asyncio.to_thread(pulse, env, "migrate", "--ingestion", "kafka-engine")
    finally:
        await loader.stop()
    assert refused.returncode == 2 and f"consumer group '{group}' has 1 member(s)" in refused.stderr, refused.stderr
    client = own_warehouse.client()
    try:
        assert client.command("EXISTS DATABASE pulse_test") == 0, "nothing applied"
    finally:
        client.close()


def test_a_kafka_engine_migration_refuses_a_warehouse_the_loader_feeds(own_warehouse: Warehouse) -> None:
    """Also when the broker cannot be asked (none listens here): the warehouse's own record decides."""
    settings = own_warehouse.settings()
    client = connect(settings, use_database=False)
    try:
        migrate(client, "pulse_test", discover())
        client.command(
            "INSERT INTO pulse_test.loader_batches (topic, partition, first_offset, last_offset, token) "
            "VALUES ('pulse.interactions', 0, 0, 9, 'pulse.interactions/0/0-9')"
        )
    finally:
        client.close()
    no_broker = {**own_warehouse.env, "PULSE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    refused = pulse(no_broker, "migrate", "--ingestion", "kafka-engine")
    assert refused.returncode == 2 and "`pulse loader` wrote to database pulse_test" in refused.stderr, refused.stderr
    assert rows(
        own_warehouse, "SELECT count() FROM system.tables WHERE database = 'pulse_test' AND name LIKE 'kafka%'"
    ) == [(0,)], "nothing applied"
    wrong = pulse(no_broker, "migrate", "--ingestion", "kafka")
    assert wrong.returncode == 2 and "not an ingestion mode" in wrong.stderr


def test_pulse_up_refuses_kafka_engine_mode_before_starting_anything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**Warehouse(path=tmp_path / "chdb", home=home).env, INGESTION: "kafka-engine"}
    refused = pulse(env, "up", "--seconds", "1", timeout_s=60)
    assert refused.returncode == 2 and "is for a ClickHouse server" in refused.stderr, refused.stderr
    assert not (home / "run").exists() or not any((home / "run").iterdir()), "no service was started"


def test_kafka_engine_migrations_follow_the_base_ones_and_only_in_their_mode(tmp_path: Path) -> None:
    (tmp_path / "kafka_engine").mkdir()
    (tmp_path / "0001_events.sql").write_text("SELECT 1;")
    (tmp_path / "0002_rollups.sql").write_text("SELECT 1;")
    (tmp_path / "kafka_engine" / "1001_kafka.sql").write_text("SELECT 1;")
    assert [m.version for m in migrations_for("loader", tmp_path)] == [1, 2]
    assert [m.version for m in migrations_for("kafka-engine", tmp_path)] == [1, 2, 1001]
    (tmp_path / "kafka_engine" / "0002_clash.sql").write_text("SELECT 1;")
    with pytest.raises(PulseError, match="numbered after the base ones"):
        migrations_for("kafka-engine", tmp_path)
