"""The rebalance listener of every worker: hold new partitions until their owner knows where to resume.

A worker's exactly-once state lives in its store (intents in the warehouse or S3, markers in Redis),
so a newly assigned partition must not be read before that state was loaded: records batched
earlier could be cut into different ranges, or counted twice. aiokafka assigns (and may already
fetch) before it awaits ``on_partitions_assigned``, so the partitions are paused and marked as held
before the first ``await``; records of a held partition are ignored and read again after the seek.
Revoked partitions are held too while the owner ``release``s them (waits for its write in flight):
the group completes the rebalance only after this callback returns, so the next owner never reads
the store while this worker may still write to it.
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

    async def release(self, revoked: list[TopicPartition]) -> None:
        """Return once no write of ``revoked`` is in flight (``owns`` is already False for them), so
        their next owner's recovery sees everything this worker will ever store of them."""

    async def recover(self, partitions: list[TopicPartition]) -> Mapping[TopicPartition, int]:
        """Load each partition's state from the store (retrying until it answers) and return the
        offset to resume reading at (0: the beginning of the log)."""


class Assignments(ConsumerRebalanceListener):  # type: ignore[misc]
    """Pause, recover, seek, resume: the one way a worker takes over partitions."""

    def __init__(self, consumer: AIOKafkaConsumer, owner: PartitionOwner) -> None:
        self.consumer = consumer
        self.owner = owner
        #: Assigned partitions whose state is still being read: their records are ignored.
        self.held: set[TopicPartition] = set()

    def owns(self, tp: TopicPartition) -> bool:
        """Whether records of ``tp`` may be used now (checked again after every ``await``: a
        rebalance can only happen there)."""
        return tp not in self.held and tp in self.consumer.assignment()

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        partitions = list(revoked)
        self.held.update(partitions)  # no write may start for them any more
        await self.owner.release(partitions)
        for tp in partitions:
            self.held.discard(tp)
            self.owner.forget(tp)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        partitions = list(assigned)
        self.held.update(partitions)
        self.consumer.pause(*partitions)
        starts = await self.owner.recover(partitions)
        owned = self.consumer.assignment()
        for tp in partitions:
            if tp not in owned:
                self.held.discard(tp)
                self.owner.forget(tp)  # revoked while its state was read
                continue
            # Records fetched while the state was read were ignored: read again from the start.
            offset = starts[tp]
            if offset:
                self.consumer.seek(tp, offset)
            else:
                await self.consumer.seek_to_beginning(tp)
            self.held.discard(tp)
        self.consumer.resume(*(tp for tp in partitions if tp in owned))
