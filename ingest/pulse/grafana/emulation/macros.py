"""The ClickHouse plugin's server-side macros and Grafana's ``$__interval``, reproduced exactly.

Sources: grafana/clickhouse-datasource ``pkg/macros/macros.go`` (what each macro prints: from/to
are truncated to whole seconds by ``time.Unix()``, intervals floored to whole units and at least
1), grafana/sqlds (a macro is ``$__name`` at a word boundary, optionally followed by a bracketed,
depth-aware argument list split on top-level commas and trimmed), and Grafana's
``rangeutil.calculateInterval`` / ``roundInterval`` (the panel interval). Alert rules go through
the same backend, so the same expansion applies to them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pulse.errors import PulseError


class MacroError(PulseError):
    """A macro the plugin would refuse (wrong argument count, unclosed bracket)."""


@dataclass(frozen=True)
class TimeRange:
    """A dashboard or rule time range, in epoch milliseconds (what Grafana sends the backend).

    ``now_ms`` is set for a relative range (``now-6h`` .. ``now``): the moment ``now`` was evaluated.
    An absolute range (a zoom, a shared link with fixed ``from``/``to``) has none; Grafana applies a
    panel's relative time override only to relative ranges.
    """

    from_ms: int
    to_ms: int
    now_ms: int | None = None

    @classmethod
    def between(cls, start: datetime, end: datetime) -> TimeRange:
        """An absolute range."""
        return cls(int(start.timestamp() * 1000), int(end.timestamp() * 1000))

    @classmethod
    def last(cls, span_ms: int, now_ms: int) -> TimeRange:
        """The relative range ``now-<span>`` .. ``now``, evaluated at ``now_ms``."""
        return cls(now_ms - span_ms, now_ms, now_ms)

    @property
    def is_relative(self) -> bool:
        return self.now_ms is not None

    @property
    def span_ms(self) -> int:
        return self.to_ms - self.from_ms


@dataclass(frozen=True)
class QueryContext:
    """What the backend receives with a query: the range and the panel interval."""

    time_range: TimeRange
    interval_ms: int


_ROUND_STEPS: tuple[tuple[int, int], ...] = (
    (10, 1),
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1500, 1000),
    (3500, 2000),
    (7500, 5000),
    (12500, 10000),
    (17500, 15000),
    (25000, 20000),
    (45000, 30000),
    (90000, 60000),
    (210000, 120000),
    (450000, 300000),
    (750000, 600000),
    (1050000, 900000),
    (1500000, 1200000),
    (2700000, 1800000),
    (5400000, 3600000),
    (9000000, 7200000),
    (16200000, 10800000),
    (32400000, 21600000),
    (86400000, 43200000),
    (604800000, 86400000),
    (1814400000, 604800000),
    (3628800000, 2592000000),
)
_UNIT_S = {"y": 31536000, "M": 2592000, "w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|M|y)$")


def round_interval(interval_ms: float) -> int:
    """Grafana's ladder of "nice" intervals (``rangeutil.roundInterval``)."""
    for below, value in _ROUND_STEPS:
        if interval_ms < below:
            return value
    return 31536000000


def interval_to_ms(text: str) -> int:
    """``describeInterval``: ``"1m"`` -> 60000; a bare number means seconds."""
    text = text.strip()
    if text.replace(".", "", 1).isdigit():
        return int(float(text) * 1000)
    match = _INTERVAL.match(text)
    if not match:
        raise MacroError(f"invalid interval {text!r}")
    return int(float(match.group(1)) * _UNIT_S[match.group(2)] * 1000)


def calculate_interval(time_range: TimeRange, max_data_points: int, min_interval: str | None = None) -> int:
    """``rangeutil.calculateInterval``: range / resolution, rounded, then floored by the panel's min interval."""
    low = interval_to_ms(min_interval) if min_interval else 1
    interval = round_interval(time_range.span_ms / max_data_points)
    return max(interval, low)


def _date_time(ms: int) -> str:
    return f"toDateTime({ms // 1000})"  # Go's t.Unix() floors to the second


def _date_time64(ms: int) -> str:
    return f"fromUnixTimestamp64Milli({ms})"


def _date(ms: int) -> str:
    return f"toDate('{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d}')"


def _args(name: str, args: list[str], count: int) -> list[str]:
    if len(args) != count:
        raise MacroError(f"$__{name}: unexpected number of arguments: expected {count}, received {len(args)}")
    return args


def _between(column: str, low: str, high: str) -> str:
    return f"{column} >= {low} AND {column} <= {high}"


def _seconds(ctx: QueryContext) -> int:
    return int(max(ctx.interval_ms / 1000, 1))


Macro = Callable[[QueryContext, list[str]], str]

MACROS: dict[str, Macro] = {
    "fromTime": lambda c, a: _date_time(c.time_range.from_ms),
    "toTime": lambda c, a: _date_time(c.time_range.to_ms),
    "fromTime_ms": lambda c, a: _date_time64(c.time_range.from_ms),
    "toTime_ms": lambda c, a: _date_time64(c.time_range.to_ms),
    "timeFilter": lambda c, a: _between(
        _args("timeFilter", a, 1)[0], _date_time(c.time_range.from_ms), _date_time(c.time_range.to_ms)
    ),
    "timeFilter_ms": lambda c, a: _between(
        _args("timeFilter_ms", a, 1)[0], _date_time64(c.time_range.from_ms), _date_time64(c.time_range.to_ms)
    ),
    "dateFilter": lambda c, a: _between(
        _args("dateFilter", a, 1)[0], _date(c.time_range.from_ms), _date(c.time_range.to_ms)
    ),
    "dateTimeFilter": lambda c, a: _date_time_filter(c, _args("dateTimeFilter", a, 2)),
    "dt": lambda c, a: _date_time_filter(c, _args("dt", a, 2)),
    "timeInterval": lambda c, a: (
        f"toStartOfInterval(toDateTime({_args('timeInterval', a, 1)[0]}), INTERVAL {_seconds(c)} second)"
    ),
    "timeInterval_ms": lambda c, a: (
        f"toStartOfInterval(toDateTime64({_args('timeInterval_ms', a, 1)[0]}, 3), "
        f"INTERVAL {int(max(c.interval_ms, 1))} millisecond)"
    ),
    "interval_s": lambda c, a: str(_seconds(c)),
}


def _date_time_filter(ctx: QueryContext, args: list[str]) -> str:
    date_col, time_col = args
    low, high = ctx.time_range.from_ms, ctx.time_range.to_ms
    dates = _between(date_col, _date(low), _date(high))
    return f"({dates}) AND ({_between(time_col, _date_time(low), _date_time(high))})"


def bracket_args(text: str) -> tuple[list[str], int] | None:
    """The top-level comma-separated arguments, as written, of the bracket that opens ``text``, and the
    length through its closing bracket; None when it never closes. Both the backend's ``parseArgs``
    (sqlds) and the frontend's ``getMacroArgs`` (the plugin) split this way."""
    args: list[str] = []
    depth = 0
    current: list[str] = []
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
            if depth == 1:
                continue
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(current))
                return args, index + 1
        elif char == "," and depth == 1:
            args.append("".join(current))
            current = []
            continue
        current.append(char)
    return None


def _parse_args(text: str) -> tuple[list[str], int]:
    """sqlds ``parseArgs``: a bracketed list right after the name -> (trimmed args, length consumed)."""
    if not text.startswith("("):
        return [], 0
    parsed = bracket_args(text)
    if parsed is None:
        raise MacroError("failed to parse macro arguments (missing close bracket?)")
    args, length = parsed
    return [arg.strip() for arg in args], length


def expand_macros(sql: str, ctx: QueryContext) -> str:
    """Replace every plugin macro in ``sql``; names are matched whole (``timeFilter`` never eats ``timeFilter_ms``)."""
    for name, macro in MACROS.items():
        pattern = re.compile(rf"\$__{re.escape(name)}\b")
        while True:
            match = pattern.search(sql)
            if match is None:
                break
            args, length = _parse_args(sql[match.end() :])
            replacement = macro(ctx, args)
            sql = sql[: match.start()] + replacement + sql[match.end() + length :]
    return sql
