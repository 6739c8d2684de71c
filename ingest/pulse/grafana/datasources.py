"""The data sources every dashboard and rule names, by pinned uid, and their provisioning file.

Secrets are ``$__env{...}`` references expanded by Grafana at start-up; the values come from the
Helm chart's Secrets (``grafana.envValueFrom``), never from these files.
"""

from __future__ import annotations

from typing import Any

CLICKHOUSE = {"type": "grafana-clickhouse-datasource", "uid": "pulse-clickhouse"}
PROMETHEUS = {"type": "prometheus", "uid": "pulse-prometheus"}
REDIS = {"type": "redis-datasource", "uid": "pulse-redis"}
EXPRESSION_UID = "__expr__"
ALL = {d["uid"]: d["type"] for d in (CLICKHOUSE, PROMETHEUS, REDIS)}


def provisioning() -> dict[str, Any]:
    """``datasources/pulse.yaml``: ClickHouse (official plugin, read-only user), Redis, Prometheus."""
    return {
        "apiVersion": 1,
        "deleteDatasources": [],
        "datasources": [
            {
                "name": "Pulse ClickHouse",
                "uid": CLICKHOUSE["uid"],
                "type": CLICKHOUSE["type"],
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    "host": "${PULSE_GRAFANA_CLICKHOUSE_HOST}",
                    "port": "${PULSE_GRAFANA_CLICKHOUSE_PORT}",
                    "protocol": "native",
                    "secure": "${PULSE_GRAFANA_CLICKHOUSE_SECURE}",
                    "username": "${PULSE_GRAFANA_CLICKHOUSE_USER}",
                    "defaultDatabase": "pulse",
                    "dialTimeout": "10",
                    "queryTimeout": "30",
                },
                "secureJsonData": {"password": "$__env{PULSE_GRAFANA_CLICKHOUSE_PASSWORD}"},
            },
            {
                "name": "Pulse Redis",
                "uid": REDIS["uid"],
                "type": REDIS["type"],
                "editable": False,
                "url": "${PULSE_GRAFANA_REDIS_URL}",
                "jsonData": {"client": "standalone", "tlsAuth": False},
                "secureJsonData": {"password": "$__env{PULSE_GRAFANA_REDIS_PASSWORD}"},
            },
            {
                "name": "Pulse Prometheus",
                "uid": PROMETHEUS["uid"],
                "type": PROMETHEUS["type"],
                "access": "proxy",
                "editable": False,
                "url": "${PULSE_GRAFANA_PROMETHEUS_URL}",
                "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
            },
        ],
    }
