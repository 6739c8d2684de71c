"""Kafka keeps every partition led and replicated: the brokers' own gauges, served by the JMX exporter.

The names come from the exporter rules ``pulse.stack`` and the chart share (``ingest/pulse/stack/kafka-metrics.yaml``).
Offline partitions are counted by the active controller, under-replicated ones by each partition's leader:
a sum over the job counts each partition once. A broker that is not scraped has no series here
(``PulseKafkaDown`` fires for it), so no data is OK.
"""

from __future__ import annotations

from pulse.grafana.alerting import Group, PromQL, Rule, above

from ..config import JOBS, PLATFORM

SELECT = f'{{job="{JOBS["kafka"]}"}}'
OFFLINE = f"sum(kafka_controller_kafkacontroller_offlinepartitionscount{SELECT})"
UNDER_REPLICATED = f"sum(kafka_server_replicamanager_underreplicatedpartitions{SELECT})"

OFFLINE_PARTITIONS = Rule(
    uid="pulse-kafka-offline-partitions",
    title="PulseKafkaOfflinePartitions",
    summary="Kafka partitions have no leader: producing to and consuming from them fails",
    description="{value} partitions are offline (no in-sync replica is alive).",
    team=PLATFORM,
    severity="critical",
    query=PromQL(expr=OFFLINE),
    threshold=above(0),
    window_s=300,
    pending="1m",
    no_data="OK",
)
UNDER_REPLICATED_PARTITIONS = Rule(
    uid="pulse-kafka-under-replicated",
    title="PulseKafkaUnderReplicatedPartitions",
    summary="Kafka partitions have fewer in-sync replicas than replicas: one more failure loses them",
    description="{value} partitions are under-replicated.",
    team=PLATFORM,
    severity="warning",
    query=PromQL(expr=UNDER_REPLICATED),
    threshold=above(0),
    window_s=600,
    pending="5m",
    no_data="OK",
)

GROUP = Group(name="pulse-kafka", interval="30s", rules=(OFFLINE_PARTITIONS, UNDER_REPLICATED_PARTITIONS))
