"""Unified alerting as files (Grafana's file-provisioning format; grafanalib cannot write it).

Rules query the named query layer through the same translation as panels (``$__fromTime_ms`` /
``$__toTime_ms`` from the rule's relative time range) and end in server-side expressions. Rules
are multi-dimensional where the query returns label columns (one alert per campaign). Contact
points take every endpoint from environment variables; policies route by team, then severity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pulse.grafana.datasources import CLICKHOUSE, EXPRESSION_UID, PROMETHEUS
from pulse.grafana.envexpand import expand
from pulse.grafana.named import Use, to_grafana_sql

FOLDER = "Pulse"
RUNBOOKS = "https://github.com/pulse/pulse/blob/main/docs/runbooks.md"


@dataclass(frozen=True)
class Rule:
    """One alert rule: a query (named ClickHouse query or PromQL), optional math, then a threshold."""

    uid: str
    title: str
    summary: str
    description: str
    team: str
    severity: str
    runbook: str
    threshold: tuple[str, list[float]]  # (gt | lt | within_range | outside_range, params)
    use: Use | None = None
    promql: str | None = None
    window_s: int = 600
    pending: str = "1m"
    reduce: str | None = None  # a reducer when the query returns time series (PromQL)
    no_data: str = "NoData"
    labels: dict[str, str] = field(default_factory=dict)

    def data(self) -> list[dict[str, Any]]:
        query: dict[str, Any]
        if self.use is not None:
            query = {
                "refId": "A",
                "datasource": dict(CLICKHOUSE),
                "editorType": "sql",
                "format": 1,
                "queryType": "table",
                "rawSql": to_grafana_sql(self.use),
                "pulseQuery": self.use.name,
                "intervalMs": 1000,
                "maxDataPoints": 43200,
            }
            uid = CLICKHOUSE["uid"]
        else:
            query = {
                "refId": "A",
                "datasource": dict(PROMETHEUS),
                "expr": self.promql,
                "instant": True,
                "range": False,
                "intervalMs": 1000,
                "maxDataPoints": 43200,
            }
            uid = PROMETHEUS["uid"]
        steps: list[dict[str, Any]] = [
            {"refId": "A", "relativeTimeRange": {"from": self.window_s, "to": 0}, "datasourceUid": uid, "model": query}
        ]
        source = "A"
        if self.reduce:
            steps.append(
                _expression(
                    {
                        "refId": "B",
                        "type": "reduce",
                        "expression": "A",
                        "reducer": self.reduce,
                        "settings": {"mode": "dropNN"},
                    }
                )
            )
            source = "B"
        kind, params = self.threshold
        steps.append(
            _expression(
                {
                    "refId": "C",
                    "type": "threshold",
                    "expression": source,
                    "conditions": [{"evaluator": {"type": kind, "params": params}}],
                }
            )
        )
        return steps

    def to_file(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "condition": "C",
            "data": self.data(),
            "noDataState": self.no_data,
            "execErrState": "Error",
            "for": self.pending,
            "labels": {"team": self.team, "severity": self.severity, **self.labels},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": f"{RUNBOOKS}#{self.runbook}",
            },
            "isPaused": False,
        }


def _expression(model: dict[str, Any]) -> dict[str, Any]:
    return {
        "refId": model["refId"],
        "datasourceUid": EXPRESSION_UID,
        "model": {**model, "datasource": {"type": "__expr__", "uid": EXPRESSION_UID}},
    }


PIPELINE_RULES = (
    Rule(
        "pulse-freshness",
        "PulseFreshnessHigh",
        "Events take more than 5 s to become visible in ClickHouse",
        "Freshness is {{ $values.A.Value }} s (objective: at most 5 s, N2).",
        "platform",
        "critical",
        "pulsefreshnesshigh",
        ("gt", [5]),
        use=Use("ingest_freshness", select="seconds_since_last_event"),
        window_s=300,
        no_data="Alerting",
    ),
    Rule(
        "pulse-reject-rate",
        "PulseRejectRateHigh",
        "More than 1% of incoming events are rejected",
        "Reject ratio {{ $values.B.Value }} over 5 minutes.",
        "platform",
        "warning",
        "pulserejectratehigh",
        ("gt", [0.01]),
        promql="sum(rate(pulse_collector_events_rejected_total[5m])) / clamp_min("
        "sum(rate(pulse_collector_events_accepted_total[5m])) + sum(rate(pulse_collector_events_rejected_total[5m])),"
        " 1e-9)",
        reduce="last",
        pending="5m",
    ),
    Rule(
        "pulse-consumer-lag",
        "PulseConsumerLagHigh",
        "The loader is more than 100k messages behind",
        "Lag of {{ $labels.topic }} is {{ $values.B.Value }} messages.",
        "platform",
        "critical",
        "pulseconsumerlaghigh",
        ("gt", [100000]),
        promql="sum by (topic) (pulse_loader_lag_messages)",
        reduce="last",
        pending="5m",
    ),
)

BUSINESS_RULES = (
    Rule(
        "pulse-budget-overspend",
        "PulseAdBudgetOverspend",
        "A campaign spends faster than its daily budget",
        "Campaign {{ $labels.campaign_id }} is at {{ $values.A.Value }} of its planned spend.",
        "ads",
        "warning",
        "pulseadbudgetoverspend",
        ("gt", [1.2]),
        use=Use("budget_pacing", select="campaign_id, pacing"),
        window_s=600,
        pending="10m",
        no_data="OK",
    ),
    *(
        Rule(
            f"pulse-anomaly-{metric}",
            f"PulseAnomaly{name}",
            f"{name} deviates from the same hour's baseline",
            f"{name} z-score is {{{{ $values.A.Value }}}} against the same 15 minutes of the last 7 days.",
            team,
            "warning",
            "pulseanomalydetected",
            ("outside_range", [-4, 4]),
            use=Use("metric_anomaly", fixed={"metric": metric}, select="z"),
            window_s=900,
            pending="0s",
            no_data="OK",
            labels={"metric": metric},
        )
        for metric, name, team in (
            ("engagement", "Engagement", "growth"),
            ("ctr", "Ctr", "ads"),
            ("conversions", "Conversions", "ads"),
        )
    ),
)

GROUPS = (("pulse-pipeline", "30s", PIPELINE_RULES), ("pulse-business", "1m", BUSINESS_RULES))


def rules_file() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "groups": [
            {"orgId": 1, "name": name, "folder": FOLDER, "interval": interval, "rules": [r.to_file() for r in rules]}
            for name, interval, rules in GROUPS
        ],
    }


TEMPLATE = """{{ define "pulse.title" }}[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} \
({{ .CommonLabels.severity }}){{ end }}
{{ define "pulse.message" }}{{ range .Alerts }}{{ .Annotations.summary }}
{{ .Annotations.description }}
Runbook: {{ .Annotations.runbook_url }}
{{ end }}{{ end }}"""


def notifications_file() -> dict[str, Any]:
    """Contact points, policies (team -> severity), mute timings and the message template."""
    message = '{{ template "pulse.message" . }}'
    title = '{{ template "pulse.title" . }}'
    return {
        "apiVersion": 1,
        "templates": [{"orgId": 1, "name": "pulse", "template": TEMPLATE}],
        "contactPoints": [
            {
                "orgId": 1,
                "name": "platform-pagerduty",
                "receivers": [
                    {
                        "uid": "pulse-pagerduty",
                        "type": "pagerduty",
                        "settings": {
                            "integrationKey": "$PULSE_ALERT_PAGERDUTY_KEY",
                            "severity": "critical",
                            "summary": title,
                        },
                    }
                ],
            },
            {
                "orgId": 1,
                "name": "platform-slack",
                "receivers": [
                    {
                        "uid": "pulse-slack-platform",
                        "type": "slack",
                        "settings": {"url": "$PULSE_ALERT_SLACK_PLATFORM_WEBHOOK", "title": title, "text": message},
                    }
                ],
            },
            {
                "orgId": 1,
                "name": "business-slack",
                "receivers": [
                    {
                        "uid": "pulse-slack-business",
                        "type": "slack",
                        "settings": {"url": "$PULSE_ALERT_SLACK_BUSINESS_WEBHOOK", "title": title, "text": message},
                    }
                ],
            },
            {
                "orgId": 1,
                "name": "ads-email",
                "receivers": [
                    {
                        "uid": "pulse-email-ads",
                        "type": "email",
                        "settings": {"addresses": "$PULSE_ALERT_ADS_EMAILS", "subject": title, "message": message},
                    }
                ],
            },
            {
                "orgId": 1,
                "name": "audit-webhook",
                "receivers": [
                    {
                        "uid": "pulse-webhook",
                        "type": "webhook",
                        "settings": {"url": "$PULSE_ALERT_WEBHOOK_URL", "httpMethod": "POST"},
                    }
                ],
            },
        ],
        "policies": [
            {
                "orgId": 1,
                "receiver": "platform-slack",
                "group_by": ["grafana_folder", "alertname"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
                "routes": [
                    {
                        "receiver": "audit-webhook",
                        "object_matchers": [["severity", "=~", "critical|warning"]],
                        "continue": True,
                    },
                    {
                        "receiver": "platform-pagerduty",
                        "object_matchers": [["team", "=", "platform"], ["severity", "=", "critical"]],
                    },
                    {
                        "receiver": "platform-slack",
                        "object_matchers": [["team", "=", "platform"]],
                        "mute_time_intervals": ["maintenance-window"],
                    },
                    {
                        "receiver": "ads-email",
                        "object_matchers": [["team", "=", "ads"]],
                        "continue": True,
                        "mute_time_intervals": ["nights-and-weekends"],
                    },
                    {
                        "receiver": "business-slack",
                        "object_matchers": [["team", "=~", "ads|growth"]],
                        "mute_time_intervals": ["nights-and-weekends"],
                    },
                ],
            }
        ],
        "muteTimes": [
            {
                "orgId": 1,
                "name": "nights-and-weekends",
                "time_intervals": [
                    {
                        "times": [
                            {"start_time": "20:00", "end_time": "24:00"},
                            {"start_time": "00:00", "end_time": "07:00"},
                        ],
                        "location": "UTC",
                    },
                    {"weekdays": ["saturday", "sunday"], "location": "UTC"},
                ],
            },
            {
                "orgId": 1,
                "name": "maintenance-window",
                "time_intervals": [
                    {
                        "weekdays": ["tuesday"],
                        "times": [{"start_time": "03:00", "end_time": "04:00"}],
                        "location": "UTC",
                    }
                ],
            },
        ],
    }


def all_rules() -> tuple[Rule, ...]:
    return tuple(rule for _, _, rules in GROUPS for rule in rules)


def provisioned_rule(uid: str, root: Path | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A rule as Grafana loads it from the committed ``provisioning/alerting/rules.yaml`` (env-expanded)."""
    folder = root or Path(__file__).resolve().parents[3]
    document = expand(yaml.safe_load((folder / "provisioning/alerting/rules.yaml").read_text()), env or {})
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule["uid"] == uid:
                return dict(rule)
    raise KeyError(uid)
