"""Typed builders for alert rules and notification routing, and their files (Grafana's provisioning format).

grafanalib cannot write unified alerting's file format, so this module does. The rules and the routing
themselves are data in the content package (``grafana/alerts/<subject>.py``, ``grafana/routing.py``),
written with keyword arguments; this module only knows their types and the file format.
Rules query the named query layer through the same translation as panels (``$__fromTime_ms`` /
``$__toTime_ms`` from the rule's relative time range) or PromQL, and end in server-side
expressions. A rule's runbook link is derived from its title (:func:`runbook_url`), never typed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pulse.grafana.datasources import CLICKHOUSE, EXPRESSION_UID, PROMETHEUS
from pulse.grafana.named import Use, to_grafana_sql

Severity = Literal["critical", "warning", "info"]
NoData = Literal["NoData", "Alerting", "OK", "KeepLast"]
#: Write ``{value}`` in a rule's description for the value its threshold tests (``$values.A`` or ``.B``).
VALUE = "{value}"
_ORG = 1


def runbook_url(base: str, title: str) -> str:
    """The runbook section of an alert: GitHub's anchor of a heading named like the alert."""
    anchor = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
    return f"{base}#{anchor}"


@dataclass(frozen=True, kw_only=True)
class PromQL:
    """A Prometheus query; its series are reduced to one value each before the threshold."""

    expr: str
    reduce: str = "last"


@dataclass(frozen=True)
class Threshold:
    kind: Literal["gt", "lt", "within_range", "outside_range"]
    params: tuple[float, ...]


def above(limit: float) -> Threshold:
    return Threshold("gt", (limit,))


def below(limit: float) -> Threshold:
    return Threshold("lt", (limit,))


def outside(low: float, high: float) -> Threshold:
    return Threshold("outside_range", (low, high))


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One alert rule: a query (a named ClickHouse query or PromQL), then a threshold on its value."""

    uid: str
    title: str  # CamelCase; also names its runbook section
    summary: str
    description: str
    team: str
    severity: Severity
    query: Use | PromQL
    threshold: Threshold
    window_s: int = 600
    pending: str = "1m"
    no_data: NoData = "NoData"
    labels: Mapping[str, str] = field(default_factory=dict)
    #: The runbook heading, when rules share one (generated metric rules); default: the title.
    runbook: str | None = None

    @property
    def runbook_heading(self) -> str:
        return self.runbook or self.title

    def data(self) -> list[dict[str, Any]]:
        """Query ``A``, for PromQL a reduce ``B``, and the threshold ``C`` (the condition)."""
        steps = [{"refId": "A", "relativeTimeRange": {"from": self.window_s, "to": 0}, **_query(self.query)}]
        if isinstance(self.query, PromQL):
            steps.append(_expression("B", type="reduce", expression="A", reducer=self.query.reduce, settings=_DROP_NN))
        condition = {"evaluator": {"type": self.threshold.kind, "params": list(self.threshold.params)}}
        steps.append(_expression("C", type="threshold", expression=self._tested, conditions=[condition]))
        return steps

    @property
    def _tested(self) -> str:
        return "B" if isinstance(self.query, PromQL) else "A"

    def to_file(self, runbooks: str) -> dict[str, Any]:
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
                "description": self.description.replace(VALUE, f"{{{{ $values.{self._tested}.Value }}}}"),
                "runbook_url": runbook_url(runbooks, self.runbook_heading),
            },
            "isPaused": False,
        }


_DROP_NN = {"mode": "dropNN"}
_POINTS = {"intervalMs": 1000, "maxDataPoints": 43200}


def _query(query: Use | PromQL) -> dict[str, Any]:
    if isinstance(query, PromQL):
        model = {"datasource": dict(PROMETHEUS), "expr": query.expr, "instant": True, "range": False}
        return {"datasourceUid": PROMETHEUS["uid"], "model": {"refId": "A", **model, **_POINTS}}
    model = {
        "datasource": dict(CLICKHOUSE),
        "editorType": "sql",
        "format": 1,
        "queryType": "table",
        "rawSql": to_grafana_sql(query),
        "pulseQuery": query.name,
    }
    return {"datasourceUid": CLICKHOUSE["uid"], "model": {"refId": "A", **model, **_POINTS}}


def _expression(ref: str, **model: Any) -> dict[str, Any]:
    datasource = {"type": "__expr__", "uid": EXPRESSION_UID}
    return {"refId": ref, "datasourceUid": EXPRESSION_UID, "model": {"refId": ref, **model, "datasource": datasource}}


@dataclass(frozen=True, kw_only=True)
class Group:
    """A rule group: one file of ``grafana/alerts/``, evaluated together every ``interval``."""

    name: str
    interval: str
    rules: Sequence[Rule]


def rules_file(groups: Sequence[Group], *, folder: str, runbooks: str) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": _ORG,
                "name": group.name,
                "folder": folder,
                "interval": group.interval,
                "rules": [rule.to_file(runbooks) for rule in group.rules],
            }
            for group in groups
        ],
    }


# Notifications: contact points, the policy tree, mute timings, the message template.


@dataclass(frozen=True, kw_only=True)
class ContactPoint:
    """A named receiver with one integration (``type``); endpoints are ``$PULSE_ALERT_*`` references."""

    name: str
    uid: str
    type: Literal["pagerduty", "slack", "email", "webhook"]
    settings: Mapping[str, str]

    def to_file(self) -> dict[str, Any]:
        receiver = {"uid": self.uid, "type": self.type, "settings": dict(self.settings)}
        return {"orgId": _ORG, "name": self.name, "receivers": [receiver]}


Matcher = tuple[str, Literal["=", "!=", "=~", "!~"], str]


@dataclass(frozen=True, kw_only=True)
class Route:
    """A branch of the policy tree: alerts matching every matcher go to ``receiver``."""

    receiver: ContactPoint
    matchers: Sequence[Matcher]
    keep_matching: bool = False  # Grafana's ``continue``: later siblings may match too
    muted: Sequence[MuteTiming] = ()

    def to_file(self) -> dict[str, Any]:
        route: dict[str, Any] = {"receiver": self.receiver.name, "object_matchers": [list(m) for m in self.matchers]}
        if self.keep_matching:
            route["continue"] = True
        if self.muted:
            route["mute_time_intervals"] = [m.name for m in self.muted]
        return route


@dataclass(frozen=True, kw_only=True)
class Interval:
    """When a mute timing applies (UTC): weekdays and/or ``(start, end)`` times of day."""

    weekdays: Sequence[str] = ()
    times: Sequence[tuple[str, str]] = ()

    def to_file(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.weekdays:
            out["weekdays"] = list(self.weekdays)
        if self.times:
            out["times"] = [{"start_time": start, "end_time": end} for start, end in self.times]
        return {**out, "location": "UTC"}


@dataclass(frozen=True, kw_only=True)
class MuteTiming:
    name: str
    intervals: Sequence[Interval]

    def to_file(self) -> dict[str, Any]:
        return {"orgId": _ORG, "name": self.name, "time_intervals": [i.to_file() for i in self.intervals]}


@dataclass(frozen=True, kw_only=True)
class Routing:
    """Everything after a rule fires: the template, receivers, the policy tree and its mute timings."""

    template: str  # defines ``pulse.title`` and ``pulse.message``
    contact_points: Sequence[ContactPoint]
    default: ContactPoint
    group_by: Sequence[str]
    group_wait: str
    group_interval: str
    repeat_interval: str
    routes: Sequence[Route]
    mute_timings: Sequence[MuteTiming]


def notifications_file(routing: Routing) -> dict[str, Any]:
    """Contact points, the policy tree, mute timings and the message template."""
    policy = {
        "orgId": _ORG,
        "receiver": routing.default.name,
        "group_by": list(routing.group_by),
        "group_wait": routing.group_wait,
        "group_interval": routing.group_interval,
        "repeat_interval": routing.repeat_interval,
        "routes": [r.to_file() for r in routing.routes],
    }
    return {
        "apiVersion": 1,
        "templates": [{"orgId": _ORG, "name": "pulse", "template": routing.template}],
        "contactPoints": [c.to_file() for c in routing.contact_points],
        "policies": [policy],
        "muteTimes": [m.to_file() for m in routing.mute_timings],
    }
