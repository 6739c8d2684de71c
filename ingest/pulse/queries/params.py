"""Turning operator text (``--param from=now-1h``) into typed values for ClickHouse's parameters.

Values go to the engine as bound parameters (``{name:Type}``), never spliced into SQL; this module
only checks and converts them, so bad input fails here with a message naming the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from pulse.errors import PulseError
from pulse.queries.registry import NamedQuery, Param

Value = str | int | float | datetime | date | list[str] | list[int]


class ParamError(PulseError):
    """A parameter's value is refused; ``parameter`` names it (an API answers 400 with it)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


_RELATIVE = re.compile(r"^now(?:([+-])(\d+)([smhdw]))?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """ISO-8601 (``2026-11-22T10:00:00Z``, naive means UTC) or relative (``now``, ``now-15m``, ``now+1d``)."""
    match = _RELATIVE.match(text.strip())
    if match:
        moment = now or datetime.now(UTC)
        sign, amount, unit = match.groups()
        if amount is None:
            return moment
        delta = timedelta(**{_UNITS[unit]: int(amount)})
        return moment - delta if sign == "-" else moment + delta
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise ValueError(f"{text!r} is neither ISO-8601 nor now[+-]N[smhdw]") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def convert(param: Param, text: str, now: datetime | None = None) -> Value:
    """One parameter's text as the Python value clickhouse-connect binds as ``param.type``."""
    kind = param.type
    try:
        if kind.startswith("DateTime"):
            return parse_time(text, now)
        if kind == "Date":
            return parse_time(text, now).date() if text.startswith("now") else date.fromisoformat(text)
        if kind.startswith(("UInt", "Int")):
            number = int(text)
            if kind.startswith("UInt") and number < 0:
                raise ValueError("must not be negative")
            return number
        if kind.startswith("Float"):
            return float(text)
        if kind.startswith("Array("):
            items = [] if text.strip() in ("", "[]") else [item.strip() for item in text.strip("[]").split(",")]
            inner = kind[len("Array(") : -1]
            return [int(item) for item in items] if inner.startswith(("UInt", "Int")) else items
        if kind == "String":
            value = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text
            if param.choices and value not in param.choices:
                raise ValueError(f"must be one of {', '.join(param.choices)}")
            return value
    except ValueError as error:
        raise ParamError(param.name, f"parameter {param.name} ({kind}): {text!r}: {error}") from error
    raise ParamError(param.name, f"parameter {param.name}: unsupported type {kind}")


def bind(query: NamedQuery, given: Mapping[str, str], now: datetime | None = None) -> dict[str, Value]:
    """Every parameter of ``query``: the given text converted, the rest from header defaults."""
    unknown = set(given) - set(query.params)
    if unknown:
        known = ", ".join(query.params) or "none"
        names = ", ".join(sorted(unknown))
        raise ParamError(sorted(unknown)[0], f"{query.name}: unknown parameter(s) {names}; it takes: {known}")
    moment = now or datetime.now(UTC)
    values: dict[str, Value] = {}
    for name, param in query.params.items():
        text = given.get(name, param.default)
        if text is None:
            raise ParamError(name, f"{query.name}: parameter {name} ({param.type}) is required")
        values[name] = convert(param, text, moment)
    return values


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["from=now-1h", "country=DE"]`` -> a dict; a malformed item is an error that names it."""
    result: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise PulseError(f"--param {item!r} is not NAME=VALUE")
        result[name.strip()] = value
    return result
