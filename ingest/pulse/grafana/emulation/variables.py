"""Grafana's template-variable interpolation (``TemplateSrv.replace``) for the formats Pulse uses.

Sources: grafana/scenes ``formatRegistry.ts`` (the formats) and ``MultiValueVariable.ts``
(``CustomAllValue``). Pulse panels always name a format (``${country:percentencode}``), so the
result never depends on a data source's default formatter; :func:`interpolate` refuses a bare
``$var`` inside SQL. As in Grafana, a variable set to All with a custom all value is replaced by that
value unformatted, except under ``percentencode`` (encoded like any value) and ``text`` ("All");
without a custom all value, All means every option, formatted.
``$__conditionalAll(cond, $var)`` is the plugin's browser-side rewrite (``applyConditionalAll``),
applied before interpolation; it does nothing in alert rules (no browser).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from pulse.errors import PulseError
from pulse.grafana.emulation.macros import bracket_args

ALL = "$__all"


class InterpolationError(PulseError):
    """A variable reference Grafana could not resolve the way the panel author meant."""


@dataclass(frozen=True)
class VariableState:
    """A dashboard variable's current selection and what All means for it."""

    name: str
    current: Sequence[str]  # [ALL] when All is selected
    options: Sequence[str] = ()
    all_value: str | None = None
    kind: str = "query"

    @property
    def is_all(self) -> bool:
        return list(self.current) == [ALL]


def _sqlstring(values: Sequence[str]) -> str:
    """``'`` doubled and ``"`` backslashed -- and nothing else: a ``\\`` stays, which ClickHouse reads as an escape."""
    return ",".join("'" + v.replace("'", "''").replace('"', '\\"') + "'" for v in values)


def _percentencode(values: Sequence[str]) -> str:
    """``encodeURIComponentStrict``: RFC 3986 unreserved characters kept, all else ``%XX`` of UTF-8;
    several values as the glob ``{a,b}``. A lone surrogate cannot be encoded (JavaScript throws too)."""
    text = values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
    return quote(text, safe="", encoding="utf-8", errors="strict")


def _singlequote(values: Sequence[str]) -> str:
    return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)


def _doublequote(values: Sequence[str]) -> str:
    return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)


FORMATS: dict[str, Callable[[Sequence[str]], str]] = {
    "sqlstring": _sqlstring,
    "percentencode": _percentencode,
    "singlequote": _singlequote,
    "doublequote": _doublequote,
    "csv": ",".join,
    "raw": ",".join,
    "pipe": "|".join,
}

_REFERENCE = re.compile(r"\$(\w+)|\[\[(\w+)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")
_VAR_NAME = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def format_value(variable: VariableState, fmt: str | None) -> str:
    """One variable reference, as TemplateSrv would print it."""
    if variable.is_all:
        if variable.all_value is not None:
            if fmt == "percentencode":
                return _percentencode([variable.all_value])
            if fmt == "text":
                return "All"
            return variable.all_value  # other formats leave a custom all value as it is
        values: Sequence[str] = variable.options
    else:
        values = variable.current
    if fmt is None:
        raise InterpolationError(
            f"${variable.name} needs an explicit format in SQL, e.g. ${{{variable.name}:percentencode}}"
        )
    if fmt not in FORMATS:
        raise InterpolationError(f"format {fmt!r} of ${variable.name} is not one Pulse supports: {sorted(FORMATS)}")
    return FORMATS[fmt](values)


def remove_conditional_alls(sql: str, variables: Mapping[str, VariableState]) -> str:
    """The plugin's ``applyConditionalAll`` (CHDatasource.ts), right to left: ``$__conditionalAll(cond, $var)``
    becomes ``1=1`` when ``var``'s value is All or empty, else ``cond`` (unknown variables keep ``cond``);
    a call without exactly two arguments stops the rewrite, leaving the rest as written."""
    macro = "$__conditionalAll("
    index = sql.rfind(macro)
    while index != -1:
        parsed = bracket_args(sql[index + len(macro) - 1 :])  # the plugin's getMacroArgs
        if parsed is None or len(parsed[0]) != 2:
            return sql
        args, _ = parsed
        condition, reference = args
        found = _VAR_NAME.search(reference.strip())
        phrase = condition
        if found:
            variable = variables.get(found.group(1) or found.group(2))
            if variable is not None and (variable.is_all or list(variable.current) == [""]):
                phrase = "1=1"
        sql = sql.replace(f"{macro}{condition},{reference})", phrase, 1)
        index = sql.rfind(macro)
    return sql


def interpolate(sql: str, variables: Mapping[str, VariableState], builtins: Mapping[str, str] | None = None) -> str:
    """Replace dashboard variables; ``$__`` names (macros, ``$__interval``) are left for the backend."""
    sql = remove_conditional_alls(sql, variables)
    extra = builtins or {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name.startswith("__"):
            if name in extra:
                return extra[name]
            return match.group(0)
        variable = variables.get(name)
        if variable is None:
            raise InterpolationError(f"unknown variable ${name}")
        return format_value(variable, fmt)

    return _REFERENCE.sub(replace, sql)
