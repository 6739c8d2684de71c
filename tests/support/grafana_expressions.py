"""Grafana's server-side expressions for alert rules (reduce, math, threshold), evaluated in Python.

A rule's data chain is: queries (ClickHouse run on the engine, or PromQL run on a real Prometheus:
the caller answers them) -> expressions -> the condition's refId.
Each table row of a SQL result is one series: string columns become labels,
the single numeric column the value (Grafana's "numeric long" frames). A threshold yields 1 where
it fires; the rule fires for the label sets whose condition value is non-zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from pulse.errors import PulseError
from pulse.grafana.emulation.macros import QueryContext, TimeRange, expand_macros

Labels = tuple[tuple[str, str], ...]
Series = dict[Labels, list[float]]

_REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "last": lambda v: v[-1],
    "mean": lambda v: sum(v) / len(v),
    "max": max,
    "min": min,
    "sum": sum,
    "count": lambda v: float(len(v)),
}
_EVALUATORS: dict[str, Callable[[float, list[float]], bool]] = {
    "gt": lambda x, p: x > p[0],
    "lt": lambda x, p: x < p[0],
    "within_range": lambda x, p: min(p) < x < max(p),
    "outside_range": lambda x, p: x < min(p) or x > max(p),
    "within_range_included": lambda x, p: min(p) <= x <= max(p),
    "outside_range_included": lambda x, p: x <= min(p) or x >= max(p),
}


def table_to_series(names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]) -> Series:
    if not rows:
        return {}  # no data: the rule's noDataState decides
    numeric = [i for i, t in enumerate(types) if t.removeprefix("Nullable(").startswith(("Int", "UInt", "Float"))]
    if len(numeric) != 1:
        found = list(zip(names, types, strict=True))
        raise PulseError(f"an alert query must return exactly one numeric column, got {found}")
    (value_at,) = numeric
    out: Series = {}
    for row in rows:
        labels = tuple((names[i], str(row[i])) for i in range(len(names)) if i != value_at)
        value = row[value_at]
        out.setdefault(labels, []).append(math.nan if value is None else float(value))
    return out


def _reduce(series: Series, reducer: str, mode: str) -> Series:
    out: Series = {}
    for labels, values in series.items():
        kept = [v for v in values if not math.isnan(v)] if mode == "dropNN" else values
        out[labels] = [_REDUCERS[reducer](kept) if kept else math.nan]
    return out


def _threshold(series: Series, evaluator: Mapping[str, Any]) -> Series:
    test = _EVALUATORS[evaluator["type"]]
    params = [float(p) for p in evaluator["params"]]
    return {labels: [1.0 if not math.isnan(v[-1]) and test(v[-1], params) else 0.0] for labels, v in series.items()}


def evaluate_chain(rule: Mapping[str, Any], query: Callable[[Mapping[str, Any]], Series]) -> dict[Labels, bool]:
    """Run a provisioned rule's data chain, ``query`` answering its data-source steps; label set -> firing."""
    results: dict[str, Series] = {}
    for step in rule["data"]:
        model = step["model"]
        if step["datasourceUid"] != "__expr__":
            results[step["refId"]] = query(step)
        elif model["type"] == "reduce":
            mode = model.get("settings", {}).get("mode", "strict")
            results[step["refId"]] = _reduce(results[model["expression"]], model["reducer"], mode)
        elif model["type"] == "threshold":
            results[step["refId"]] = _threshold(results[model["expression"]], model["conditions"][0]["evaluator"])
        else:
            raise PulseError(f"expression type {model['type']} is not implemented here")
    return {labels: bool(values[-1]) for labels, values in results[rule["condition"]].items()}


def evaluate_rule(rule: Mapping[str, Any], client: Client, now_ms: int) -> dict[Labels, bool]:
    """Run a provisioned ClickHouse rule's data chain at ``now_ms`` on the engine; label set -> firing."""

    def sql(step: Mapping[str, Any]) -> Series:
        model, span = step["model"], step["relativeTimeRange"]
        window = TimeRange(now_ms - span["from"] * 1000, now_ms - span["to"] * 1000)
        result = client.query(expand_macros(model["rawSql"], QueryContext(window, int(model.get("intervalMs", 1000)))))
        return table_to_series(result.column_names, [t.name for t in result.column_types], result.result_rows)

    return evaluate_chain(rule, sql)
