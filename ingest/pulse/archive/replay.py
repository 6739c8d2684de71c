"""Replay: archived Parquet ranges -> ``events`` (and so every rollup below it), idempotently.

Consecutive objects of one topic partition and archive hour form a batch (up to
``settings.archive.replay_batch_rows`` offsets), and each batch is one
``INSERT INTO events ... SELECT ... FROM s3(...)`` run by ClickHouse itself (no rows pass through
Python), squashed into one block, under
``insert_deduplication_token = 'archive/<topic>/<partition>/<first>-<last>'``: the same batch
inserted twice is dropped by ``events`` and, block for block, by the materialized views below it.
Batches rather than objects because every insert pays a fixed cost in each of the ~20 views
(a part per view, ~10 ms of warehouse CPU each), and the archiver cuts an object every 10 s per
partition: at live rates objects hold thousands of events, not hundreds of thousands.

Tokens alone cannot protect against rows the live loader already stored (it used other tokens),
so before each batch replay counts the rows of its Kafka ranges already in ``events``: none ->
insert all; all -> skip; some -> insert only the offsets that are missing. Replaying a range that
is fully loaded is therefore a no-op, and a partial loss is filled exactly.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from pulse.archive.layout import ArchiveObject, hour_prefix
from pulse.archive.parquet import REPLAY_COLUMNS
from pulse.archive.store import ArchiveStore
from pulse.errors import PulseError
from pulse.settings import Settings
from pulse.warehouse.client import ClientPerThread

_COLUMNS = ", ".join(REPLAY_COLUMNS)
#: Event columns are Nullable in Parquet (rejected messages have none): assumeNotNull after the filter.
_SELECT = ", ".join(
    f"assumeNotNull({c}) AS {c}" if c not in ("sent_at", "hashtags", "flags") else c for c in REPLAY_COLUMNS
)
#: Replaced by the target table: ``events`` (the benchmark also replays into a copy without views).
_TABLE = "__table__"
_SOURCE = "s3({url:String}, {key_id:String}, {secret:String}, 'Parquet')"
#: The batch's offsets: its objects' ranges of one topic partition (there may be gaps between them).
_IN_BATCH = """kafka_topic = {topic:String} AND kafka_partition = {partition:UInt16}
  AND kafka_offset BETWEEN {first:UInt64} AND {last:UInt64}
  AND arrayExists(r -> kafka_offset BETWEEN r.1 AND r.2, {ranges:Array(Tuple(UInt64, UInt64))})"""
#: The batch's messages, each messageId once (at its first offset): a client retry is the same
#: messageId again at a later offset of the same partition, and the loader stores only the first.
_FIRST_OF_EACH_ID = f"""(
    SELECT * FROM {_SOURCE} WHERE raw_message IS NULL ORDER BY kafka_offset LIMIT 1 BY message_id
)"""
#: ... nor a messageId the partition already stored within the loader's dedup reach
#: (``settings.loader.dedup_max_ids`` offsets) on either side: the batch before this one (batches of
#: a partition go in offset order, so it is in ``events`` by now), or a copy the loader stored.
_NOT_STORED_NEARBY = f"""message_id NOT IN (
    SELECT message_id FROM {_TABLE}
    WHERE kafka_topic = {{topic:String}} AND kafka_partition = {{partition:UInt16}}
      AND kafka_offset BETWEEN {{lookback:UInt64}} AND {{lookahead:UInt64}})"""
_INSERT_ALL = f"""
INSERT INTO {_TABLE} ({_COLUMNS})
SELECT {_SELECT} FROM {_FIRST_OF_EACH_ID}
WHERE {_NOT_STORED_NEARBY}
"""
_INSERT_MISSING = f"""
INSERT INTO {_TABLE} ({_COLUMNS})
SELECT {_SELECT} FROM {_FIRST_OF_EACH_ID}
WHERE {_NOT_STORED_NEARBY}
  AND kafka_offset NOT IN (SELECT kafka_offset FROM {_TABLE} WHERE {_IN_BATCH})
"""
_PRESENT = f"SELECT count() FROM {_TABLE} WHERE {_IN_BATCH}"
#: One batch = one insert block, so the token deduplicates it as a whole and every view below
#: ``events`` runs once per batch: the Parquet reader's blocks (65,409 rows / 16 MB by default) are
#: read whole and squashed into one (batches are <= 1M offsets). The views run side by side
#: (``parallel_view_processing``). Measured figures: docs/benchmarks.md.
_ONE_BLOCK = {
    "max_insert_threads": 1,
    "input_format_parquet_max_block_size": 1 << 20,
    "input_format_parquet_prefer_block_bytes": 1 << 30,
    "min_insert_block_size_rows": 1 << 20,
    "min_insert_block_size_bytes": 1 << 30,
    "parallel_view_processing": 1,
}


@dataclass(frozen=True)
class ReplayBatch:
    """Consecutive archive objects of one topic partition and hour, inserted as one block."""

    objects: tuple[tuple[ArchiveObject, int], ...]  # (object, size in bytes), in offset order

    @property
    def first(self) -> ArchiveObject:
        return self.objects[0][0]

    @property
    def rows(self) -> int:
        """Upper bound on rows: the offsets the objects cover."""
        return sum(obj.rows for obj, _ in self.objects)

    @property
    def size_bytes(self) -> int:
        return sum(size for _, size in self.objects)

    @property
    def token(self) -> str:
        return f"archive/{self.first.topic}/{self.first.partition}/{self.first.first}-{self.objects[-1][0].last}"

    def coordinates(self) -> dict[str, object]:
        """The query parameters of ``_IN_BATCH``."""
        return {
            "topic": self.first.topic,
            "partition": self.first.partition,
            "first": self.first.first,
            "last": self.objects[-1][0].last,
            "ranges": [(obj.first, obj.last) for obj, _ in self.objects],
        }


def batches(objects: Sequence[tuple[ArchiveObject, int]], max_rows: int) -> list[ReplayBatch]:
    """Objects (in ``select_objects`` order) grouped into batches of one topic partition and hour,
    each up to ``max_rows`` offsets (an object bigger than that is a batch of its own). The grouping
    depends only on the objects, so a second replay of the same range forms the same batches."""
    found: list[ReplayBatch] = []
    current: list[tuple[ArchiveObject, int]] = []
    for obj, size in objects:
        if current:
            head = current[0][0]
            same_place = (obj.topic, obj.partition, obj.hour) == (head.topic, head.partition, head.hour)
            if not same_place or sum(o.rows for o, _ in current) + obj.rows > max_rows:
                found.append(ReplayBatch(tuple(current)))
                current = []
        current.append((obj, size))
    if current:
        found.append(ReplayBatch(tuple(current)))
    return found


@dataclass(frozen=True)
class ReplayedBatch:
    batch: ReplayBatch
    present_before: int
    action: str  # inserted | filled | skipped


def parse_moment(text: str) -> datetime:
    """ISO-8601 date or date-time; naive means UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise PulseError(f"not an ISO-8601 date or time: {text!r} (e.g. 2026-11-22 or 2026-11-22T10:00)") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def hours(since: datetime, until: datetime) -> list[datetime]:
    """The archive hours overlapping [since, until)."""
    if until <= since:
        raise PulseError(f"--until ({until:%Y-%m-%d %H:%M}) must be after --since ({since:%Y-%m-%d %H:%M})")
    hour = since.replace(minute=0, second=0, microsecond=0)
    found = []
    while hour < until:
        found.append(hour)
        hour += timedelta(hours=1)
    return found


def select_objects(
    store: ArchiveStore, topics: Sequence[str], since: datetime, until: datetime
) -> list[tuple[ArchiveObject, int]]:
    """Archive objects of the given topics whose hour overlaps [since, until), in offset order."""
    wanted = set(hours(since, until))
    days = sorted({hour.replace(hour=0) for hour in wanted})
    found: list[tuple[ArchiveObject, int]] = []
    for topic in topics:
        for day in days:
            day_prefix = hour_prefix(store.prefix, topic, day).rsplit("hour=", 1)[0]
            found.extend((obj, size) for obj, size in store.archived(day_prefix) if obj.hour in wanted)
    return sorted(found, key=lambda item: (item[0].topic, item[0].partition, item[0].first))


def object_url(settings: Settings, key: str) -> str:
    """The object's URL as ClickHouse reaches it (path style on custom endpoints)."""
    endpoint = settings.archive.clickhouse_s3_endpoint or settings.s3.endpoint_url
    if endpoint:
        return f"{endpoint.rstrip('/')}/{settings.s3.bucket}/{key}"
    return f"https://{settings.s3.bucket}.s3.{settings.s3.region}.amazonaws.com/{key}"


def batch_url(settings: Settings, batch: ReplayBatch) -> str:
    """One object's URL, or a ``{a,b,...}`` glob of the batch's object names (one hour's folder)."""
    keys = [obj.key(settings.archive.prefix) for obj, _ in batch.objects]
    if len(keys) == 1:
        return object_url(settings, keys[0])
    folder = keys[0].rsplit("/", 1)[0]
    names = ",".join(key.rsplit("/", 1)[1] for key in keys)
    return object_url(settings, f"{folder}/{{{names}}}")


class Replayer:
    """Inserts archive objects into the warehouse, skipping what is already there."""

    def __init__(self, settings: Settings, connect: Callable[[], Client], table: str = "events") -> None:
        self.settings = settings
        self._sql = {
            name: sql.replace(_TABLE, table)
            for name, sql in (("present", _PRESENT), ("all", _INSERT_ALL), ("missing", _INSERT_MISSING))
        }
        self._clients = ClientPerThread(connect)

    def replay(self, batch: ReplayBatch) -> ReplayedBatch:
        """Insert what of ``batch`` is not in the warehouse yet; the partition's earlier batches must
        be in already (``replay_all`` keeps that order), or their client retries are not seen."""
        coordinates = batch.coordinates()
        present = int(self._clients.client.query(self._sql["present"], parameters=coordinates).result_rows[0][0])
        if present >= batch.rows:
            return ReplayedBatch(batch, present, "skipped")
        parameters = {
            **coordinates,
            "lookback": max(0, batch.first.first - self.settings.loader.dedup_max_ids),
            "lookahead": batch.objects[-1][0].last + self.settings.loader.dedup_max_ids,
            "url": batch_url(self.settings, batch),
            "key_id": self.settings.s3.access_key_id,
            "secret": self.settings.s3.secret_access_key,
        }
        if present == 0:
            settings = {**_ONE_BLOCK, "insert_deduplication_token": batch.token}
            self._clients.client.command(self._sql["all"], parameters=parameters, settings=settings)
            return ReplayedBatch(batch, present, "inserted")
        settings = {**_ONE_BLOCK, "insert_deduplication_token": f"{batch.token}/present-{present}"}
        self._clients.client.command(self._sql["missing"], parameters=parameters, settings=settings)
        return ReplayedBatch(batch, present, "filled")

    def replay_all(self, batches: Sequence[ReplayBatch], workers: int = 1) -> Iterator[ReplayedBatch]:
        """Replay batches as they complete: one topic partition's batches in offset order, up to
        ``workers`` partitions side by side."""
        lanes = partition_lanes(batches)
        if workers <= 1 or len(lanes) <= 1:
            for lane in lanes:
                for batch in lane:
                    yield self.replay(batch)
            return
        finished: queue.Queue[ReplayedBatch | BaseException] = queue.Queue()
        stopping = threading.Event()  # a failure, or a caller that stops reading: no lane starts another batch

        def run(lane: list[ReplayBatch]) -> None:
            try:
                for batch in lane:
                    if stopping.is_set():
                        return
                    finished.put(self.replay(batch))
            except BaseException as error:  # handed to the caller, which raises it
                finished.put(error)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="replay") as pool:
            try:
                for lane in lanes:
                    pool.submit(run, lane)
                for _ in range(sum(len(lane) for lane in lanes)):
                    item = finished.get()
                    if isinstance(item, BaseException):
                        raise item
                    yield item
            finally:
                stopping.set()
                pool.shutdown(wait=True, cancel_futures=True)


def partition_lanes(batches: Sequence[ReplayBatch]) -> list[list[ReplayBatch]]:
    """The batches of each topic partition, in offset order (the order replay must keep)."""
    lanes: dict[tuple[str, int], list[ReplayBatch]] = {}
    for batch in sorted(batches, key=lambda b: (b.first.topic, b.first.partition, b.first.first)):
        lanes.setdefault((batch.first.topic, batch.first.partition), []).append(batch)
    return list(lanes.values())
