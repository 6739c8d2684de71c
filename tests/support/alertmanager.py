"""Grafana's notification policy tree as an Alertmanager config, so ``amtool config routes test`` can route it.

Grafana's alerting runs Alertmanager's dispatcher on its policy tree: ``object_matchers`` are Alertmanager
matchers, ``continue`` and ``mute_time_intervals`` mean the same, time intervals share the format. Only the
receivers' integrations differ (Grafana's contact points); routing needs their names alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_ROUTE_KEYS = ("group_by", "group_wait", "group_interval", "repeat_interval", "continue", "mute_time_intervals")


def _route(policy: Mapping[str, Any]) -> dict[str, Any]:
    route: dict[str, Any] = {"receiver": policy["receiver"]}
    matchers = [f"{label}{op}{json.dumps(value)}" for label, op, value in policy.get("object_matchers", [])]
    if matchers:
        route["matchers"] = matchers
    route.update({key: policy[key] for key in _ROUTE_KEYS if key in policy})
    if policy.get("routes"):
        route["routes"] = [_route(child) for child in policy["routes"]]
    return route


def alertmanager_config(notifications: Mapping[str, Any]) -> dict[str, Any]:
    """An Alertmanager configuration routing like the provisioned ``notifications.yaml``."""
    (policy,) = notifications["policies"]
    mutes = notifications.get("muteTimes", [])
    return {
        "route": _route(policy),
        "receivers": [{"name": point["name"]} for point in notifications["contactPoints"]],
        "time_intervals": [{"name": mute["name"], "time_intervals": mute["time_intervals"]} for mute in mutes],
    }
