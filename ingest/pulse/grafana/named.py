"""From a named query (``clickhouse/queries/<name>.sql``) to the SQL a Grafana panel or rule holds.

One definition per metric: a panel does not copy SQL, it names a query and says how each of the
query's parameters is fed. The translation is mechanical, so the panel runs exactly the query
``pulse query`` runs:

- ``{from:DateTime64(3)}`` / ``{to:DateTime64(3)}`` -> ``$__fromTime_ms`` / ``$__toTime_ms``
  (the dashboard or rule time range, millisecond precision, DateTime64 like the parameter);
- ``{interval_s:UInt32}`` -> ``$__interval_s`` (the panel interval, at least 1 s);
- a parameter fed by a dashboard variable -> :func:`variable_value`: the value percent-encoded by
  Grafana (``${var:percentencode}``) and decoded by ClickHouse, so no value can end the literal early
  (``sqlstring`` only doubles ``'``: a value ending in ``\\`` escapes the closing quote in ClickHouse);
  the variable's All is the custom all value :data:`ALL_VALUE`, read as ``''``, the queries' "all";
- any other parameter -> a typed literal (the panel's fixed value, else the header default).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pulse.errors import PulseError
from pulse.queries.registry import NamedQuery, get

_PLACEHOLDER = re.compile(r"\{(\w+):([^{}]+)\}")
TIME_MACROS = {"from": "$__fromTime_ms", "to": "$__toTime_ms"}
INTERVAL_MACRO = "$__interval_s"
#: A variable's custom All value. Only URL-unreserved characters, so it reads the same after
#: percent-encoding and after the one decoding of an Explore link's URL; Grafana itself takes this
#: value in a ``var-`` URL parameter for All, so it can never be an ordinary selection.
ALL_VALUE = "__all"


def variable_value(variable: str) -> str:
    """The SQL expression of a dashboard variable's current value, exact for every string.

    Grafana's ``percentencode`` leaves only ``A-Za-z0-9-_.~`` and ``%XX`` (RFC 3986, UTF-8), none of
    which ends or escapes a ClickHouse string literal, and it encodes a custom all value too;
    ``decodeURLComponent`` gives back the value's bytes. All (:data:`ALL_VALUE`) becomes ``''``.
    """
    return f"ifNull(nullIf(decodeURLComponent('${{{variable}:percentencode}}'), '{ALL_VALUE}'), '')"


@dataclass(frozen=True)
class Use:
    """How a panel or rule uses a named query: which variables feed it, which values are fixed."""

    name: str
    variables: Mapping[str, str] = field(default_factory=dict)  # parameter -> dashboard variable
    fixed: Mapping[str, str | int | float] = field(default_factory=dict)  # parameter -> value
    select: str | None = None  # optional outer projection, e.g. "campaign_id, pacing"
    tail: str | None = None  # with select: GROUP BY / ORDER BY after the wrapped query

    @property
    def query(self) -> NamedQuery:
        return get(self.name)


def literal(value: str | int | float | None, ch_type: str) -> str:
    """A typed SQL literal equal to what ClickHouse binds for ``{p:ch_type}``."""
    if value is None:
        raise PulseError(f"no value for a parameter of type {ch_type}")
    if ch_type == "String":
        text = str(value)
        if len(text) >= 2 and text[0] == text[-1] == "'":
            text = text[1:-1]
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if ch_type.startswith("Array("):
        items = [] if str(value).strip() in ("", "[]") else [i.strip() for i in str(value).strip("[]").split(",")]
        inner = ", ".join(literal(i, ch_type[6:-1]) for i in items)
        return f"CAST([{inner}] AS {ch_type})"
    return f"CAST({value} AS {ch_type})"


def to_grafana_sql(use: Use) -> str:
    """The named query with every ``{name:Type}`` replaced by a macro, a variable or a literal."""
    query = use.query
    unknown = (set(use.variables) | set(use.fixed)) - set(query.params)
    if unknown:
        raise PulseError(f"{use.name}: no parameters {sorted(unknown)}; it has {sorted(query.params)}")

    def replace(match: re.Match[str]) -> str:
        name, ch_type = match.group(1), match.group(2)
        if name in use.fixed:
            return literal(use.fixed[name], ch_type)
        if name in TIME_MACROS and ch_type.startswith("DateTime64"):
            return TIME_MACROS[name]
        if name == "interval_s":
            return INTERVAL_MACRO
        if name in use.variables:
            if ch_type != "String":
                raise PulseError(f"{use.name}: variable for {name} must feed a String parameter, not {ch_type}")
            return variable_value(use.variables[name])
        return literal(query.params[name].default, ch_type)

    sql = _PLACEHOLDER.sub(replace, query.sql).rstrip().rstrip(";")
    if use.select:
        sql = f"SELECT {use.select}\nFROM\n(\n{sql}\n)" + (f"\n{use.tail}" if use.tail else "")
    return f"-- {use.name}: {query.description}\n{sql}"
