"""Every Kafka consumer group keeps up: lag under its limit, and committed offsets moving while lag grows.

One :class:`Consumer` per group names the two metrics its worker already serves: the lag gauge and a
counter that moves once per batch whose offsets were committed. A group whose lag grows while that
counter stands still is stuck (a hung sink, a rebalance loop, a poison batch), whatever the lag's size.
"""

from __future__ import annotations

from dataclasses import dataclass

from pulse.grafana.alerting import Group, PromQL, Rule, Severity, above
from pulse.settings import ArchiveSettings, HotSettings, LoaderSettings

from ..config import CONSUMER_LAG_MAX, PLATFORM, STUCK_WINDOW


@dataclass(frozen=True, kw_only=True)
class Consumer:
    """A consumer group of Pulse and the metrics (``ingest/pulse/<worker>/metrics.py``) that show its progress."""

    group: str  # the Kafka consumer group (pulse.settings defaults)
    name: str  # CamelCase, in the stuck rule's title
    lag: str  # gauge {topic, partition}: messages behind the partition's end
    committed: str  # counter {topic, ...}: +1 per batch written and its offsets committed
    severity: Severity  # of the stuck rule

    def lag_by_topic(self) -> str:
        """Lag per topic, labelled with the group (so one rule covers every group)."""
        return f'label_replace(sum by (topic) ({self.lag}), "consumer_group", "{self.group}", "", "")'

    def stuck(self) -> str:
        """Messages the lag grew by over the window if not one batch was committed in it, else 0.

        A labelled counter appears at 1 on its first commit, which ``increase()`` cannot see: a series
        created inside the window (``unless ... offset``) counts as progress too. The last ``or`` gives a
        topic with no counter series at all (nothing committed since the worker started) zero progress,
        so a worker stuck from its start still fires.
        """
        w = STUCK_WINDOW
        progress = (
            f"(sum by (topic) (increase({self.committed}[{w}])) > 0)"
            f" or on (topic) sum by (topic) ({self.committed} unless {self.committed} offset {w})"
            f" or on (topic) (0 * sum by (topic) ({self.lag}))"
        )
        return f"sum by (topic) (delta({self.lag}[{w}])) * on (topic) (({progress}) == bool 0)"


LOADER = Consumer(
    group=LoaderSettings().group_id,
    name="Loader",
    lag="pulse_loader_lag_messages",
    committed="pulse_loader_batches_total",
    severity="critical",  # freshness (N2) breaks
)
HOT_LAYER = Consumer(
    group=HotSettings().group_id,
    name="HotLayer",
    lag="pulse_hot_lag_messages",
    committed="pulse_hot_batches_total",
    severity="critical",  # the real-time panels freeze
)
ARCHIVER = Consumer(
    group=ArchiveSettings().group_id,
    name="Archiver",
    lag="pulse_archive_lag_messages",
    committed="pulse_archive_files_total",
    severity="warning",  # nothing is lost while Kafka retains the messages
)
CONSUMERS = (LOADER, HOT_LAYER, ARCHIVER)

CONSUMER_LAG = Rule(
    uid="pulse-consumer-lag",
    title="PulseConsumerLagHigh",
    summary=f"A Pulse consumer group is more than {CONSUMER_LAG_MAX // 1000}k messages behind",
    description="Lag of {{ $labels.consumer_group }} on {{ $labels.topic }} is {value} messages.",
    team=PLATFORM,
    severity="critical",
    query=PromQL(expr=" or ".join(c.lag_by_topic() for c in CONSUMERS)),
    threshold=above(CONSUMER_LAG_MAX),
    pending="5m",
)


def stuck(consumer: Consumer) -> Rule:
    return Rule(
        uid=f"pulse-stuck-{consumer.group}",
        title=f"Pulse{consumer.name}Stuck",
        summary=f"{consumer.group} commits nothing while its lag grows",
        description=f"Lag of {consumer.group} on {{{{ $labels.topic }}}} grew by {{value}} messages in "
        f"{STUCK_WINDOW} without one committed batch.",
        team=PLATFORM,
        severity=consumer.severity,
        query=PromQL(expr=consumer.stuck()),
        threshold=above(0),
        window_s=600,
        pending="5m",
        labels={"consumer_group": consumer.group},
    )


GROUP = Group(name="pulse-consumers", interval="30s", rules=(CONSUMER_LAG, *(stuck(c) for c in CONSUMERS)))
