"""Every tunable of Pulse's Grafana content, in one place: dashboards, rules and routing import from here.

Names, UIDs and folders; the data sources' pinned UIDs (defined beside their provisioning file in
``pulse.grafana.datasources``, referenced from here); the alert thresholds that dashboards colour by
too; the teams alerts route to; where the runbooks live. Who may see what is not here: the access
definition (provisioning/access/access.yaml) gives every data source user an organization of its own.
"""

from __future__ import annotations

from pulse.grafana.datasources import CLICKHOUSE, PROMETHEUS, REDIS

__all__ = ["CLICKHOUSE", "PROMETHEUS", "REDIS"]

# Where content lands in Grafana.
FOLDER = "Pulse"  # the dashboards' and alert rules' folder (title of the folder uid "pulse")
UNIFIED_UID = "pulse-unified"
PIPELINE_HEALTH_UID = "pulse-pipeline-health"
AUDIT_UID = "pulse-audit"
#: Alerts link here; each rule's section is the heading named like the rule (docs/runbooks.md).
RUNBOOKS = "https://github.com/pulse/pulse/blob/main/docs/runbooks.md"

# Thresholds: the rules alert on them, the panels showing the same value turn red there.
FRESHNESS_MAX_S = 5  # N2: p99 event -> dashboard at most 5 s
FRESHNESS_WARN_S = 3
REJECT_RATIO_MAX = 0.01
CONSUMER_LAG_MAX = 100_000  # messages behind, any consumer group (the archiver cuts at most 100k-row files)
STUCK_WINDOW = "10m"  # a consumer is stuck when its lag grew over this long without one committed batch
BUDGET_PACING_MAX = 1.2  # spend today / linear plan of the daily budget
ANOMALY_Z_MAX = 4  # |z| against the same 15 minutes of the last 7 days

#: Every component's Prometheus job: the down rules select by it; the chart's ServiceMonitors set it
#: (relabelled, so it does not depend on the release name) and so does the tests' scrape config.
JOBS = {
    "collector": "pulse-collector",
    "api": "pulse-api",
    "loader": "pulse-loader",
    "hot-layer": "pulse-hot-layer",
    "archiver": "pulse-archiver",
    "warehouse": "pulse-warehouse",
    "kafka": "pulse-kafka",  # the brokers' JMX exporter (a PodMonitor in the chart)
}

# Teams: alert labels route by them (who sees what in Grafana: provisioning/access/access.yaml).
PLATFORM = "platform"
ADS = "ads"
GROWTH = "growth"
FINANCE = "finance"
TEAMS = (PLATFORM, ADS, GROWTH, FINANCE)
