"""Client retries: the same Segment messageId arriving again at a later Kafka offset.

Offset-range tokens make Kafka redelivery harmless, but a client that retries a batch makes the
collector produce its messages a second time, at new offsets. Kafka keys are the user id, so a
retry lands in the same partition as the original: every consumer that counts events (the loader
into ClickHouse, the hot layer into Redis, replay from the archive) remembers each partition's
recent messageIds and drops repeats, by the same rule, so the stores agree. The memory is bounded
(oldest ids forgotten first, ``PULSE_LOADER__DEDUP_MAX_IDS`` per partition) and rebuilt whenever a
partition is assigned, so it holds after restarts and rebalances.
"""

from __future__ import annotations

from collections.abc import Iterable


class RecentIds:
    """The last ``limit`` messageIds of one partition, oldest evicted first."""

    def __init__(self, limit: int, ids: Iterable[str] = ()) -> None:
        self.limit = limit
        self._ids: dict[str, None] = {}
        for message_id in ids:
            self.seen(message_id)

    def __len__(self) -> int:
        return len(self._ids)

    def seen(self, message_id: str) -> bool:
        """True if ``message_id`` was already recorded; otherwise record it and return False."""
        if message_id in self._ids:
            return True
        self._ids[message_id] = None
        if len(self._ids) > self.limit:
            del self._ids[next(iter(self._ids))]
        return False
