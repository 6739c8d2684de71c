"""Offset-range batches: one Kafka partition's consecutive messages, cut into a range.

A batch is identified by its range, recorded as an intent before its rows are inserted. The loader
inserts the batches of every partition due at a flush together (``pulse.loader.sink``); a rebuilt
range (after a crash between insert and commit) drops the offsets the warehouse already holds, so
rollups count every message exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Set
from dataclasses import dataclass, field

import msgspec

from pulse.contracts.events import EnrichedEvent


class StoredEvent(EnrichedEvent, kw_only=True):
    """An enriched event plus the Kafka coordinates it was read from (lineage columns)."""

    kafka_topic: str = ""
    kafka_partition: int = 0
    kafka_offset: int = 0


class RejectedRecord(msgspec.Struct, kw_only=True):
    """A message of the collector's dead-letter topic: rejected input with its reason."""

    failed_at: str
    source: str = ""
    reason: str = ""
    reason_code: str = ""
    payload: str = ""
    kafka_topic: str = ""
    kafka_partition: int = 0
    kafka_offset: int = 0


_decode_stored = msgspec.json.Decoder(StoredEvent).decode
_decode_rejected = msgspec.json.Decoder(RejectedRecord).decode
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class OffsetRange:
    topic: str
    partition: int
    first: int
    last: int

    @property
    def token(self) -> str:
        return f"{self.topic}/{self.partition}/{self.first}-{self.last}"


@dataclass(frozen=True)
class Intent:
    """A range a loader planned for a partition (inserted or not), as ``loader_batches`` records it."""

    first: int
    last: int
    #: The deduplication token of the insert that carried the range ('' if recorded before flushes
    #: were: then unknown).
    flush: str = ""


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    raw_message: bytes
    error: str


@dataclass
class PartitionBatch:
    """Messages of one partition accumulated until the batch is cut."""

    topic: str
    partition: int
    #: When set, the batch may not extend past this offset (the start of an already planned range).
    must_end_at: int | None = None
    #: A rebuild of a planned range: it ends exactly at ``must_end_at``, whatever its size or age.
    rebuild: bool = False
    first: int | None = None
    last: int = -1
    rows: list[bytes] = field(default_factory=list)
    #: The Kafka offset of each of ``rows`` (same order): what a rebuild compares with stored rows.
    row_offsets: list[int] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: Messages dropped because their messageId was a client retry (see ``pulse.worker.client_retries``).
    duplicates: int = 0
    #: A batch of the collector's dead-letter topic: rows are ``RejectedRecord``s, not events.
    rejected: bool = False
    #: The deduplication token of the insert that carries this range: a rebuild's is the recorded
    #: one, a new batch's is set by its first write attempt (so a retry keeps it).
    flush: str = ""
    opened_at: float = field(default_factory=time.monotonic)

    @property
    def size(self) -> int:
        return len(self.rows) + len(self.dead_letters) + self.duplicates

    def accepts(self, offset: int) -> bool:
        """False when ``offset`` lies past this batch's boundary and must start the next batch."""
        return self.must_end_at is None or offset <= self.must_end_at

    def add(self, offset: int, value: bytes | None, is_duplicate: Callable[[str], bool] | None = None) -> None:
        """Decode and stamp lineage; a message that is not a valid enriched event is dead-lettered,
        one whose messageId ``is_duplicate`` recognises is dropped (the range still covers it)."""
        if self.first is None:
            self.first = offset
            self.opened_at = time.monotonic()
        self.last = offset
        if self.rejected:
            self._add_rejected(offset, value)
            return
        try:
            if value is None:
                raise msgspec.ValidationError("empty message")
            event = _decode_stored(value)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            self.dead_letters.append(DeadLetter(offset, value or b"", str(error)))
            return
        if is_duplicate is not None and is_duplicate(event.message_id):
            self.duplicates += 1
            return
        event.kafka_topic = self.topic
        event.kafka_partition = self.partition
        event.kafka_offset = offset
        self.rows.append(_encode(event))
        self.row_offsets.append(offset)

    def _add_rejected(self, offset: int, value: bytes | None) -> None:
        try:
            if value is None:
                raise msgspec.ValidationError("empty message")
            record = _decode_rejected(value)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            self.dead_letters.append(DeadLetter(offset, value or b"", str(error)))
            return
        record.kafka_topic, record.kafka_partition, record.kafka_offset = self.topic, self.partition, offset
        self.rows.append(_encode(record))
        self.row_offsets.append(offset)

    def is_ready(self, max_rows: int, max_age_s: float, now: float | None = None) -> bool:
        if self.first is None:
            return False
        if self.must_end_at is not None and self.last >= self.must_end_at:
            return True
        if self.rebuild:
            return False
        age = (now if now is not None else time.monotonic()) - self.opened_at
        return self.size >= max_rows or age >= max_age_s

    @property
    def offsets(self) -> OffsetRange:
        assert self.first is not None, "an empty batch has no range"
        return OffsetRange(self.topic, self.partition, self.first, self.last)

    def json_each_row(self) -> bytes:
        return b"\n".join(self.rows)

    def rows_except(self, stored: Set[int]) -> list[bytes]:
        """The rows whose offsets are not in ``stored`` (offsets the warehouse already holds)."""
        if not stored:
            return self.rows
        return [row for row, offset in zip(self.rows, self.row_offsets, strict=True) if offset not in stored]

    def dead_letters_except(self, stored: Set[int]) -> list[DeadLetter]:
        """The dead letters whose offsets are not in ``stored``."""
        return [dead for dead in self.dead_letters if dead.offset not in stored]
