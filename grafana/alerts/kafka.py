"""Kafka keeps every partition led and replicated: the brokers' own gauges, served by the JMX exporter.

The names come from the exporter rules ``pulse.stack`` and the chart share (``ingest/pulse/stack/kafka-metrics.yaml``).
Offline partitions are counted by the active controller, under-replicated ones by each partition's leader:
a sum over the job counts each partition once. A broker that is not scraped has no series here
(``PulseKafkaDown`` fires for it), so no data is OK.
"""

from __future__ import annotations

from pulse.grafana.alerting import Group, PromQL, Rule, Severity, above

from ..config import JOBS, PLATFORM

SELECT = f'{{job="{JOBS["kafka"]}"}}'
OFFLINE = f"sum(kafka_controller_kafkacontroller_offlinepartitionscount{SELECT})"
UNDER_REPLICATED = f"sum(kafka_server_replicamanager_underreplicatedpartitions{SELECT})"


def partitions(
    *, uid: str, title: str, summary: str, description: str, severity: Severity, expr: str, window_s: int, pending: str
) -> Rule:
    """A platform rule on a count of partitions at risk: above 0 fires; no data (broker not scraped) is OK."""
    return Rule(
        uid=uid,
        title=title,
        summary=summary,
        description=description,
        team=PLATFORM,
        severity=severity,
        query=PromQL(expr=expr),
        threshold=above(0),
        window_s=window_s,
        pending=pending,
        no_data="OK",
    )


OFFLINE_PARTITIONS = partitions(
    uid="pulse-kafka-offline-partitions",
    title="PulseKafkaOfflinePartitions",
    summary="Kafka partitions have no leader: producing to and consuming from them fails",
    description="{value} partitions are offline (no in-sync replica is alive).",
    severity="critical",
    expr=OFFLINE,
    window_s=300,
    pending="1m",
)
UNDER_REPLICATED_PARTITIONS = partitions(
    uid="pulse-kafka-under-replicated",
    title="PulseKafkaUnderReplicatedPartitions",
    summary="Kafka partitions have fewer in-sync replicas than replicas: one more failure loses them",
    description="{value} partitions are under-replicated.",
    severity="warning",
    expr=UNDER_REPLICATED,
    window_s=600,
    pending="5m",
)

GROUP = Group(name="pulse-kafka", interval="30s", rules=(OFFLINE_PARTITIONS, UNDER_REPLICATED_PARTITIONS))
