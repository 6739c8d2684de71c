"""The data sources every dashboard and rule names, by pinned uid, and their provisioning file.

One ClickHouse data source per organization, each with its organization's ClickHouse user
(:mod:`pulse.access.orgs`); the uid is the same in every organization, so one dashboard JSON runs in
any of them. Secrets are ``$__env{...}`` references expanded by Grafana at start-up; the values come
from the Helm chart's Secrets, never from these files.
"""

from __future__ import annotations

from typing import Any

from pulse.access.orgs import Organization

CLICKHOUSE = {"type": "grafana-clickhouse-datasource", "uid": "pulse-clickhouse"}
PROMETHEUS = {"type": "prometheus", "uid": "pulse-prometheus"}
REDIS = {"type": "redis-datasource", "uid": "pulse-redis"}
EXPRESSION_UID = "__expr__"
ALL = {d["uid"]: d["type"] for d in (CLICKHOUSE, PROMETHEUS, REDIS)}

#: The dashboards' refresh (N3), which bounds how stale a shared answer may be.
REFRESH_S = 5

#: ClickHouse's query cache for every query of the data source (issue 16: many viewers, one computation).
#: - the TTL is the refresh: an answer is never older than the one a viewer would have had anyway;
#: - ``save``: dashboard SQL says ``now()`` (variables: the last day) -- caching it for one refresh is the
#:   point; the panels' own ranges are literal seconds from Grafana, aligned to the minute (``now-1h/m``);
#: - ``ignore``: panels on ``system.*`` (pipeline health, audit) bypass the cache instead of failing;
#: - not shared between users: each organization's user has its own row policies, so its own entries.
QUERY_CACHE_SETTINGS: tuple[tuple[str, str], ...] = (
    ("use_query_cache", "1"),
    ("query_cache_ttl", str(REFRESH_S)),
    ("query_cache_nondeterministic_function_handling", "save"),
    ("query_cache_system_table_handling", "ignore"),
    ("query_cache_share_between_users", "0"),
)


def password_variable(user: str) -> str:
    """The environment variable holding a data source user's ClickHouse password (the hash: render.password_env)."""
    return f"PULSE_ACCESS_{user.upper()}_PASSWORD"


def clickhouse(org: Organization) -> dict[str, Any]:
    """An organization's one ClickHouse data source: its user, as rendered by ``pulse access generate``."""
    return {
        "name": "Pulse ClickHouse",
        "uid": CLICKHOUSE["uid"],  # the same uid in every organization: dashboards and rules name it
        "type": CLICKHOUSE["type"],
        "orgId": org.id,
        "isDefault": True,
        "editable": False,
        "jsonData": {
            "host": "${PULSE_GRAFANA_CLICKHOUSE_HOST}",
            "port": "${PULSE_GRAFANA_CLICKHOUSE_PORT}",
            "protocol": "native",
            "secure": "${PULSE_GRAFANA_CLICKHOUSE_SECURE}",
            "username": org.grantee.user,
            "defaultDatabase": "pulse",
            "dialTimeout": "10",
            "queryTimeout": "30",
            "customSettings": [{"setting": name, "value": value} for name, value in QUERY_CACHE_SETTINGS],
        },
        "secureJsonData": {"password": f"$__env{{{password_variable(org.grantee.user)}}}"},
    }


def platform(org: Organization) -> list[dict[str, Any]]:
    """Redis (hot tier) and Prometheus (pipeline metrics): outside the access definition, so only where
    every table is read (the platform owners' organization)."""
    return [
        {
            "name": "Pulse Redis",
            "uid": REDIS["uid"],
            "type": REDIS["type"],
            "orgId": org.id,
            "editable": False,
            "url": "${PULSE_GRAFANA_REDIS_URL}",
            "jsonData": {"client": "standalone", "tlsAuth": False},
            "secureJsonData": {"password": "$__env{PULSE_GRAFANA_REDIS_PASSWORD}"},
        },
        {
            "name": "Pulse Prometheus",
            "uid": PROMETHEUS["uid"],
            "type": PROMETHEUS["type"],
            "orgId": org.id,
            "access": "proxy",
            "editable": False,
            "url": "${PULSE_GRAFANA_PROMETHEUS_URL}",
            "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
        },
    ]


def provisioning(orgs: list[Organization]) -> dict[str, Any]:
    """``datasources/pulse.yaml``: per organization its ClickHouse user; Redis and Prometheus for the platform."""
    sources: list[dict[str, Any]] = []
    for org in orgs:
        sources.append(clickhouse(org))
        if org.grantee.tables == "*":
            sources.extend(platform(org))
    return {"apiVersion": 1, "deleteDatasources": [], "datasources": sources}
