"""A dashboard as one organization's data source user may run it: the panels it can query, nothing else.

Each organization queries through one ClickHouse user (:mod:`pulse.access.orgs`); a panel it cannot
run would only show an error, and a sensitive panel must not even be shown where nobody reads it. So a
panel is kept when its user may run it, judged as the per-role proof (tests/access) judges users:

- a ClickHouse target naming a query (``pulseQuery``) runs when the query is one of the user's;
- raw SQL, Prometheus and Redis targets are platform data the definition does not describe: they are
  kept for a user that reads every table (``tables: "*"``) only;
- a variable whose query reads a table the user cannot read becomes a hidden constant All, so the kept
  panels still run ("all" is what they mean by it) without a query that would fail.

A dashboard left with no panel is not provisioned in that organization.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pulse.access.definition import Grantee
from pulse.grafana.datasources import CLICKHOUSE
from pulse.grafana.named import ALL_VALUE

_FROM = re.compile(r"\b(?:FROM|JOIN)\s+`?(\w+)`?", re.IGNORECASE)


def reads_everything(grantee: Grantee) -> bool:
    return grantee.tables == "*"


def target_allowed(grantee: Grantee, target: Mapping[str, Any], panel_source: Mapping[str, Any]) -> bool:
    source = target.get("datasource") or panel_source
    if source.get("uid") == CLICKHOUSE["uid"] and target.get("pulseQuery"):
        return str(target["pulseQuery"]) in grantee.runnable
    return reads_everything(grantee)


def panel_allowed(grantee: Grantee, panel: Mapping[str, Any]) -> bool:
    targets = panel.get("targets") or []
    source = panel.get("datasource") or {}
    return bool(targets) and all(target_allowed(grantee, t, source) for t in targets)


def tables_read(sql: str) -> set[str]:
    """The tables a variable's SQL reads (Pulse's variables are one ``SELECT ... FROM table``)."""
    return {match.group(1) for match in _FROM.finditer(sql)}


def _variable_sql(variable: Mapping[str, Any]) -> str:
    query = variable.get("query")
    return str(query.get("rawSql", "")) if isinstance(query, Mapping) else str(query or "")


def _constant_all(variable: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": variable["name"], "type": "constant", "query": ALL_VALUE, "hide": 2, "skipUrlSync": True}


def _references(text: str, names: Iterable[str]) -> set[str]:
    return {name for name in names if re.search(r"\$\{?" + re.escape(name) + r"\b", text)}


def scope(dashboard: Mapping[str, Any], grantee: Grantee) -> dict[str, Any] | None:
    """The dashboard with only the panels ``grantee`` may run (rows left empty dropped), or None if none."""
    kept: list[dict[str, Any]] = []
    row: dict[str, Any] | None = None
    row_panels: list[dict[str, Any]] = []

    def close_row() -> None:
        if row is not None and row_panels:
            kept.append(row)
            kept.extend(row_panels)

    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            close_row()
            row = copy.deepcopy(panel)
            row["panels"] = [p for p in row.get("panels", []) if panel_allowed(grantee, p)]
            row_panels = []
            if row["panels"]:  # a collapsed row carries its panels inside
                kept.append(row)
                row = None
            continue
        if panel_allowed(grantee, panel):
            (row_panels if row is not None else kept).append(copy.deepcopy(panel))
    close_row()
    if not any(p.get("type") != "row" or p.get("panels") for p in kept):
        return None
    scoped = copy.deepcopy(dict(dashboard))
    scoped["panels"] = kept
    scoped["templating"] = {"list": _variables(dashboard, kept, grantee)}
    return scoped


def _variables(dashboard: Mapping[str, Any], kept: list[dict[str, Any]], grantee: Grantee) -> list[dict[str, Any]]:
    variables = list(dashboard.get("templating", {}).get("list", []))
    names = [str(v["name"]) for v in variables]
    used = _references(json.dumps(kept), names)
    # a kept variable's query may name another (region reads country): keep those too, in order
    for variable in reversed(variables):
        if variable["name"] in used:
            used |= _references(_variable_sql(variable), names)
    out = []
    for variable in variables:
        if variable["name"] not in used:
            continue
        readable = reads_everything(grantee) or tables_read(_variable_sql(variable)) <= set(grantee.tables)
        out.append(copy.deepcopy(variable) if readable else _constant_all(variable))
    return out
