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

from collections import deque
from collections.abc import Iterable


class RecentIds:
    """The last ``limit`` messageIds of one partition, oldest evicted first.

    A set answers membership and a deque keeps arrival order, so eviction is O(1). (Deleting a
    dict's first key is not: the deleted slots stay in front until the next resize, and every
    ``next(iter(d))`` scans them, which made each eviction cost up to O(limit).)
    """

    def __init__(self, limit: int, ids: Iterable[str] = ()) -> None:
        self.limit = limit
        self._ids: set[str] = set()
        self._order: deque[str] = deque()
        for message_id in ids:
            self.seen(message_id)

    def __len__(self) -> int:
        return len(self._ids)

    def seen(self, message_id: str) -> bool:
        """True if ``message_id`` was already recorded; otherwise record it and return False."""
        if message_id in self._ids:
            return True
        self._ids.add(message_id)
        self._order.append(message_id)
        if len(self._order) > self.limit:
            self._ids.discard(self._order.popleft())
        return False
