"""The rebalance listener of every worker: let go of revoked partitions cleanly, hold new ones until
their owner knows where to resume.

A worker's exactly-once state lives in its store (intents in the warehouse or S3, markers in Redis),
so a newly assigned partition must not be read before that state was loaded, and that state must
already hold everything this worker wrote: records batched earlier could otherwise be cut into
different ranges, or counted twice. So on revocation a partition stops being owned at once (nothing
new is written for it), and the listener waits for the writes already running; on assignment the
partitions are paused before the first ``await`` (aiokafka assigns, and may already fetch, before it
awaits ``on_partitions_assigned``), recovered, sought, and only then owned again. Records fetched
before a rebalance are stale (``generation`` tells) and are read again after the seek.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition


class PartitionOwner(Protocol):
    """What a worker does when partitions come and go (see ``Assignments``)."""

    def forget(self, tp: TopicPartition) -> None:
        """Drop what is held for a partition no longer owned: it is not committed, so its next owner
        reads it again. Also called for a partition revoked while ``recover`` ran."""

    async def settle(self, revoked: list[TopicPartition]) -> None:
        """Wait until no write started for ``revoked`` partitions is still running: the next owner
        (this worker or another) recovers from the store, which must already hold those writes."""

    async def recover(self, partitions: list[TopicPartition]) -> Mapping[TopicPartition, int]:
        """Load each partition's state from the store (retrying until it answers) and return the
        offset to resume reading at (0: the beginning of the log)."""


class Assignments(ConsumerRebalanceListener):  # type: ignore[misc]
    """Revoke (stop, let running writes land), then pause, recover, seek, resume: the one way a worker
    gives up and takes over partitions."""

    def __init__(self, consumer: AIOKafkaConsumer, owner: PartitionOwner) -> None:
        self.consumer = consumer
        self.owner = owner
        #: Partitions recovered, sought and not revoked since: only their records may be used.
        self.owned: set[TopicPartition] = set()
        #: Counts rebalances: records fetched under an older generation are stale (read again after the seek).
        self.generation = 0

    def owns(self, tp: TopicPartition) -> bool:
        """Whether records of ``tp`` may be used, and batches of it written, now (checked again after
        every ``await``: a rebalance can only happen there). False from the moment a rebalance revokes
        it, although aiokafka still lists it as assigned until the new assignment arrives."""
        return tp in self.owned and tp in self.consumer.assignment()

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        partitions = list(revoked)
        self.generation += 1
        self.owned.difference_update(partitions)
        for tp in partitions:
            self.owner.forget(tp)
        await self.owner.settle(partitions)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        partitions = list(assigned)
        self.generation += 1
        self.owned.difference_update(partitions)
        self.consumer.pause(*partitions)
        starts = await self.owner.recover(partitions)
        assignment = self.consumer.assignment()
        for tp in partitions:
            if tp not in assignment:
                self.owner.forget(tp)  # revoked while its state was read
                continue
            # Records fetched while the state was read were ignored: read again from the start.
            offset = starts[tp]
            if offset:
                self.consumer.seek(tp, offset)
            else:
                await self.consumer.seek_to_beginning(tp)
            self.owned.add(tp)
        self.consumer.resume(*(tp for tp in partitions if tp in assignment))
