"""A unit's metrics as Grafana content: one dashboard per unit, one panel and at most two rules per metric.

Panels and rules name the metric's generated query (``clickhouse/queries/<name>.sql``) through the
same :class:`~pulse.grafana.named.Use` as the hand-written content, so the proof harness runs them,
``pulse grafana generate`` scopes them to the organizations allowed to run the query (the metric's
department, and Admin) and the catalog lists them under the metric's name.

Alerts evaluate the query at a one-minute interval over the rule's range and reduce it in the
rule's outer ``SELECT`` to one number: the total over the window (count, sum) or its mean per minute
(uniq, ratio) for a threshold; for an anomaly, the z-score of the last window against the same
window of each of the previous days that have data, the deviation floored by Poisson noise
(``sqrt(mean)``) so a handful of events cannot look significant -- as ``metric_anomaly`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grafanalib.core as g

from pulse.grafana.alerting import Group, Rule, above, below, outside
from pulse.grafana.named import Use
from pulse.grafana.panels import FORMAT_TIME_SERIES, PanelSpec, Row, query_variable
from pulse.grafana.panels import dashboard as pulse_dashboard
from pulse.metrics.load import Defined, active

#: The one runbook section (docs/runbooks.md) every generated metric rule links to.
RUNBOOK = "Generated metric alerts"


def _seconds(duration: str) -> int:
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[duration[-1]]


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def panel(item: Defined) -> PanelSpec:
    """The metric over time, one series per dimension value; each dimension a dashboard variable."""
    dims = {d.column: d.column for d in item.dimensions}
    return PanelSpec(
        "timeseries",
        item.name,
        item.metric.description,
        Use(item.name, dims),
        fmt=FORMAT_TIME_SERIES,
        unit="short",
        interval=item.grains[0],  # the finest grain stored: Grafana's minimum interval, same spelling
        width=12,
    )


@dataclass(frozen=True)
class UnitBoard:
    """A unit's dashboard, shaped like a module of ``grafana/dashboards/`` (``UID``, ``TITLE``, ``dashboard()``)."""

    UID: str
    TITLE: str
    metrics: tuple[Defined, ...] = field(repr=False)

    def variables(self) -> list[g.Template]:
        found: dict[str, str] = {}
        for item in self.metrics:
            if item.has_rollup:
                for dim in item.dimensions:
                    found.setdefault(dim.column, item.table(item.grains[0]))
        return [
            query_variable(
                dim,
                dim.replace("_", " ").capitalize(),
                f"SELECT DISTINCT {dim} FROM {table} WHERE bucket >= now() - INTERVAL 1 DAY ORDER BY {dim}",
            )
            for dim, table in found.items()
        ]

    def dashboard(self) -> g.Dashboard:
        unit = self.metrics[0].unit
        return pulse_dashboard(
            uid=self.UID,
            title=self.TITLE,
            description=f"The {unit.unit} unit's metrics, generated from {self.metrics[0].source} (docs/metrics.md).",
            tags=("pulse", "metrics", unit.unit),
            refresh="1m",
            rows=(Row("Metrics", [panel(m) for m in self.metrics]),),
            links=(),
            variables=self.variables(),
        )


def boards(defined: list[Defined]) -> tuple[UnitBoard, ...]:
    """One dashboard per unit with at least one metric in use, in unit order."""
    units: dict[str, list[Defined]] = {}
    for item in active(defined):
        units.setdefault(item.unit.unit, []).append(item)
    return tuple(
        UnitBoard(f"pulse-metrics-{unit}", f"Metrics — {items[0].unit.title or unit}", tuple(items))
        for unit, items in sorted(units.items())
    )


def anomaly_select(item: Defined, window_s: int, days: int) -> str:
    """The rule's outer SELECT: z of the last ``window_s`` against the same window of each earlier day.

    Rows are the query's minutes; ``d`` is the day back from the range's end, and a minute counts for
    day ``d`` when it falls in that day's window (else key -1). Aliases are defined inside the one
    expression so the rule returns one number. Fewer than two baseline days with data: z is 0 (a
    new metric has nothing to deviate from).
    """
    end = "toUnixTimestamp($__toTime)"
    day = f"intDiv({end} - 1 - toUnixTimestamp(time), 86400)"
    keyed = f"if(toUnixTimestamp(time) + {day} * 86400 >= {end} - {window_s}, {day}, -1)"
    baseline = f"arrayFilter((v, d) -> d > 0 AND d <= {days}, per_day.2, per_day.1)"
    spread = "sqrt(arraySum(arrayMap(v -> pow(v - baseline_mean, 2), baseline)) / (length(baseline) - 1))"
    return (
        f"if(length({baseline} AS baseline) < 2, 0, round(\n"
        f"    (arrayFirst((v, d) -> d = 0, (sumMap([{keyed}], [toFloat64({item.name})]) AS per_day).2, per_day.1)\n"
        "     - (ifNotFinite(arrayAvg(baseline), 0) AS baseline_mean))\n"
        f"    / greatest(sqrt(greatest(baseline_mean, 1)), if(length(baseline) > 1, {spread}, 0)),\n"
        "    3)) AS z"
    )


def rules(item: Defined) -> list[Rule]:
    alert = item.metric.alert
    if alert is None:
        return []
    common = {
        "team": item.unit.team,
        "severity": alert.severity,
        "pending": alert.pending,
        "no_data": "OK",  # no events of the metric in the window: nothing to judge
        "labels": {"metric": item.name, "unit": item.unit.unit},
        "runbook": RUNBOOK,
    }
    found: list[Rule] = []
    if alert.anomaly is not None:
        window, days = _seconds(alert.anomaly.window), alert.anomaly.baseline_days
        found.append(
            Rule(
                uid=f"pulse-metric-{item.name}-anomaly",
                title=f"PulseMetric{_camel(item.name)}Anomaly",
                summary=f"{item.name} deviates from its usual value at this time of day",
                description=f"{item.name} z-score is {{value}} against the same {alert.anomaly.window} "
                f"of the last {days} days.",
                query=Use(item.name, fixed={"interval_s": 60}, select=anomaly_select(item, window, days)),
                threshold=outside(-alert.anomaly.z, alert.anomaly.z),
                window_s=days * 86400 + window,
                **common,  # type: ignore[arg-type]
            )
        )
    if alert.threshold is not None:
        limit = alert.threshold
        window = _seconds(limit.window)
        reduce = f"sum({item.name})" if item.kind in ("count", "sum") else f"sum({item.name}) / {window // 60}"
        if item.kind == "ratio":
            reduce = f"avg({item.name})"
        side, bound = ("above", limit.above) if limit.above is not None else ("below", limit.below)
        assert bound is not None
        found.append(
            Rule(
                uid=f"pulse-metric-{item.name}-threshold",
                title=f"PulseMetric{_camel(item.name)}Threshold",
                summary=f"{item.name} is {side} {bound:g} over {limit.window}",
                description=f"{item.name} is {{value}} over the last {limit.window} ({side} {bound:g}).",
                query=Use(item.name, fixed={"interval_s": 60}, select=f"{reduce} AS value"),
                threshold=above(bound) if side == "above" else below(bound),
                window_s=window,
                **common,  # type: ignore[arg-type]
            )
        )
    return found


def group(defined: list[Defined]) -> Group:
    """Every generated metric rule, one group evaluated every minute (the finest grain)."""
    return Group(name="pulse-metrics", interval="1m", rules=tuple(r for d in active(defined) for r in rules(d)))
