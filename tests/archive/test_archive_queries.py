"""The archive as a data source: named queries over the S3 Parquet archive, on real S3 and the real engine.

Real traffic goes through the real pipeline (collector -> Kafka -> archiver and loader), so the
archive holds what the archiver writes and the warehouse what the loader stores. The archive queries
read through the ``pulse_archive`` named collection the bridge renders from the settings, and must
give the warehouse's answer for the same days. Pruning is shown by garbage objects in day folders
outside the range: the queries succeed, and fail on the garbage once the range covers those days.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from clickhouse_connect.driver.client import Client

from pulse.archive import collection
from pulse.archive.store import ArchiveStore
from pulse.errors import PulseError
from pulse.grafana.emulation.macros import QueryContext, TimeRange, expand_macros
from pulse.pipeline.services import start_pipeline, stop_pipeline
from pulse.queries.registry import get
from pulse.queries.run import run
from pulse.settings import Settings
from pulse.stack.kafka import ensure_topics
from pulse.warehouse.client import connect
from tests.support.provisioning import REPO
from tests.support.stack import StackHandle
from tests.support.tiers import archived_through, deliver, end_offsets, metric_sum, now_traffic, wait_for

EVENTS = 6_000
POISON = b'{"not": "an enriched event"'
COOKBOOK = REPO / "docs/explore-cookbook.md"
QUERIES = ("archive_events_per_day", "archive_active_users_per_day")


@pytest.fixture(scope="module")
def archived(stack: Settings, test_stack: StackHandle) -> Iterator[Settings]:
    """Topics of its own, archived under the stack's prefix (the one the named collection points at)."""
    stop_pipeline(stack)
    run_id = uuid.uuid4().hex[:8]
    settings = stack.model_copy(
        update={
            "kafka": stack.kafka.model_copy(update={"topic_prefix": f"archq{run_id}"}),
            "loader": stack.loader.model_copy(update={"group_id": f"archq-loader-{run_id}"}),
            "hot": stack.hot.model_copy(update={"group_id": f"archq-hot-{run_id}"}),
            "archive": stack.archive.model_copy(
                update={"group_id": f"archq-archiver-{run_id}", "max_batch_age_ms": 1000}
            ),
        }
    )
    test_stack.pulse("migrate", check=True)
    ensure_topics(settings)
    start_pipeline(settings)
    try:
        deliver(settings, now_traffic(seed=19, rate=400), events=EVENTS, paced=False, key="wk_archive_queries")
        asyncio.run(_produce(settings, settings.kafka.topic("interactions"), POISON))
        warehouse = connect(settings)

        def caught_up() -> bool:
            stored = warehouse.query(
                "SELECT count() FROM events WHERE startsWith(kafka_topic, {p:String})",
                parameters={"p": f"{settings.kafka.topic_prefix}."},
            ).result_rows[0][0]
            loader_lag = metric_sum(settings, settings.loader.metrics_port, "pulse_loader_lag_messages")
            return int(stored) >= EVENTS and loader_lag == 0 and archived_through(settings, end_offsets(settings))

        wait_for(caught_up, 180, "the loader and the archiver to catch up", poll_s=1.0)
    finally:
        stop_pipeline(settings)
    yield settings


async def _produce(settings: Settings, topic: str, value: bytes) -> None:
    """A message no collector would send, straight to a raw topic: the archiver keeps it as a rejected row."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


def _warehouse_answer(client: Client, settings: Settings, name: str, since: date, until: datetime) -> list[tuple]:
    """The same question asked of the warehouse's ``events`` (exact, this test's topics only)."""
    measure = {
        "archive_events_per_day": "event, count()",
        "archive_active_users_per_day": "uniqExact(if(user_id != '', user_id, anonymous_id))",
    }[name]
    keys = "day, event" if name == "archive_events_per_day" else "day"
    sql = f"""SELECT toDate(event_time) AS day, {measure} FROM events
        WHERE startsWith(kafka_topic, {{p:String}}) AND toDate(event_time) >= {{since:Date}}
          AND event_time < {{until:DateTime64(3)}}
        GROUP BY {keys} ORDER BY {keys}"""
    params = {"p": f"{settings.kafka.topic_prefix}.", "since": since, "until": until}
    return [tuple(row) for row in client.query(sql, parameters=params).result_rows]


def _put_garbage(settings: Settings, day: date) -> str:
    """An object that is not Parquet in a day folder of this test's interactions topic."""
    key = (
        f"{settings.archive.prefix}/{settings.kafka.topic('interactions')}/dt={day:%Y-%m-%d}/hour=00/"
        "garbage-p0-00000000000000000000-00000000000000000000.parquet"
    )
    ArchiveStore(settings).put(key, b"not parquet: reading this object fails the query")
    return key


def test_archive_queries_equal_the_warehouse_and_read_only_the_days_asked(archived: Settings) -> None:
    client = connect(archived)
    today = datetime.now(UTC).date()
    # Outside the range and the folders it reads (from - 1 day ... to + late_days): never read.
    early, late = today - timedelta(days=5), today + timedelta(days=5)
    early_key, late_key = _put_garbage(archived, early), _put_garbage(archived, late)
    since = today - timedelta(days=1)  # traffic starts now: yesterday too if it crosses midnight
    until = datetime.now(UTC) + timedelta(hours=1)
    given = {"from": f"{since}T00:00:00Z", "to": until.isoformat(), "topic_prefix": archived.kafka.topic_prefix}
    for name in QUERIES:
        answer = run(client, name, given)
        expected = _warehouse_answer(client, archived, name, since, until)
        assert sum(row[-1] for row in expected) >= (EVENTS if name == "archive_events_per_day" else 1)
        assert answer.rows == expected, name
    # A range whose folders (from - 1 day ... to + late_days) take in a garbage object reads it, and fails.
    for key, start, end in ((early_key, early, until), (late_key, since, datetime.combine(late, time(), UTC))):
        wide = {**given, "from": start.isoformat(), "to": end.isoformat()}
        with pytest.raises(PulseError, match=key.rsplit("/", 1)[1]):
            run(client, "archive_events_per_day", wide)


def cookbook_archive_sql() -> str:
    """The cookbook's archive block (the section after its ten numbered questions)."""
    section = COOKBOOK.read_text().split("## Before the warehouse's 30 days", 1)[1]
    return section.split("```sql\n", 1)[1].split("```", 1)[0]


def test_the_cookbook_archive_block_runs_in_explore_and_equals_the_warehouse(archived: Settings) -> None:
    """Explore's macros expanded for a range as the time picker gives it; the topic prefix made this test's."""
    client = connect(archived)
    start = datetime.now(UTC) - timedelta(hours=3)
    end = datetime.now(UTC) + timedelta(minutes=5)
    sql = cookbook_archive_sql().replace("'pulse.{", f"'{archived.kafka.topic_prefix}.{{")
    final = expand_macros(sql, QueryContext(TimeRange.between(start, end), 60_000))
    rows = [tuple(row) for row in client.query(final).result_rows]
    expected = client.query(
        """SELECT toDate(event_time) AS day, event, count() FROM events
        WHERE startsWith(kafka_topic, {p:String}) AND event_time >= toDateTime({a:UInt32})
          AND event_time < toDateTime({b:UInt32})
        GROUP BY day, event ORDER BY day, event""",
        parameters={"p": f"{archived.kafka.topic_prefix}.", "a": int(start.timestamp()), "b": int(end.timestamp())},
    ).result_rows
    assert sum(row[-1] for row in expected) >= EVENTS
    assert rows == [tuple(row) for row in expected]


def test_the_poison_message_example_of_the_archive_doc_runs(archived: Settings) -> None:
    """docs/archive.md's Explore example, on this test's topics and today's folder: the one poison message."""
    doc = (REPO / "docs/archive.md").read_text().split("**Explore**", 1)[1]
    example = doc.split("```sql\n", 1)[1].split("```", 1)[0]
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    sql = example.replace("'pulse.*", f"'{archived.kafka.topic_prefix}.*").replace("2025-10-01,2025-10-02", today)
    assert sql.count(today) == 1 and archived.kafka.topic_prefix in sql, "the example's shape changed: adapt the test"
    rows = connect(archived).query(sql).result_rows
    assert [(row[0], row[4]) for row in rows] == [(archived.kafka.topic("interactions"), POISON.decode())]
    assert rows[0][3]  # the reason it was refused


def test_archive_queries_name_only_the_collection_and_share_one_source(archived: Settings) -> None:
    """No endpoint, bucket or key in the SQL; both queries read the same folders with the same checks."""
    sources = []
    for name in QUERIES:
        sql = get(name).sql
        assert f"s3(\n    {collection.NAME}," in sql
        for secret in (archived.s3.secret_access_key, archived.s3.bucket, "http", "key_id", "{secret"):
            assert secret not in sql, f"{name} holds {secret!r}"
        head, _, rest = sql.partition("structure =")
        sources.append((head.split("FROM", 1)[1], rest.split("\n)\n", 1)[1].split("GROUP BY")[0]))
    assert sources[0] == sources[1]


@pytest.mark.parametrize(
    ("param", "message"),
    [
        (("from=yesterday",), "parameter from (DateTime64(3)): 'yesterday'"),
        (("from=2026-11-22", "to=2026-11-21"), "archive range: from must be before to"),
        (("from=2000-01-01", "to=2026-01-01"), "archive range: at most 3650 days"),
        (("topic_prefix=*",), "topic_prefix: only letters, digits, dot, dash and underscore"),
        (("topic_prefix=../other",), "topic_prefix: only letters, digits, dot, dash and underscore"),
        (("late_days=-1",), "parameter late_days (UInt16): '-1': must not be negative"),
    ],
)
def test_bad_parameters_get_a_clear_error(
    archived: Settings, test_stack: StackHandle, param: tuple[str, ...], message: str
) -> None:
    done = test_stack.pulse("query", "archive_events_per_day", *(f"--param={p}" for p in param))
    assert done.returncode != 0
    assert message in " ".join((done.stdout + done.stderr).split()), done.stdout + done.stderr


def test_the_collection_fragment_holds_the_settings_escaped(stack_settings: Settings, tmp_path: Path) -> None:
    """A key with XML's special characters is escaped, not able to end or break the fragment."""
    settings = stack_settings.model_copy(
        update={"s3": stack_settings.s3.model_copy(update={"secret_access_key": "a<b&c>'\""})}
    )
    xml = collection.fragment(settings)
    assert "a&lt;b&amp;c&gt;'\"" in xml
    assert f"<url>{collection.url(settings)}</url>" in xml
    assert collection.url(settings).endswith(f"/{settings.s3.bucket}/{settings.archive.prefix}/")
