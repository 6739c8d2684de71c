"""Grafana's relative times (``now-1h/m``, a panel's ``timeFrom`` and ``timeShift``), evaluated as Grafana does.

Sources: ``@grafana/data`` ``datemath.ts`` (``parse``: ``now`` then operations ``+N<unit>``, ``-N<unit>``,
``/<unit>``; rounding goes to the start of the unit for a range's ``from`` and to its last millisecond for
its ``to`` -- ``roundUp``), ``rangeutil.describeTextRange`` (a ``timeFrom`` of ``5m`` is ``now-5m`` .. ``now``)
and scenes' ``PanelTimeRange`` (``timeShift`` ``X`` applies ``-X`` to both ends, ``to`` rounded up).
Dashboards are in UTC (pulse.grafana.panels), so units round in UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pulse.grafana.emulation.macros import MacroError, TimeRange

_FIXED_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_OPERATION = re.compile(r"([+-])(\d+)([yMwdhms])|/([yMwdhms])")


def _start_of(moment: datetime, unit: str) -> datetime:
    if unit == "y":
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "M":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":  # moment's locale week: Grafana's default (en) starts on Sunday
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=(day.weekday() + 1) % 7)
    step = _FIXED_MS[unit] * 1000  # microseconds
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    micros = (moment - epoch) // timedelta(microseconds=1)
    return epoch + timedelta(microseconds=micros - micros % step)


def _add(moment: datetime, sign: int, count: int, unit: str) -> datetime:
    if unit in _FIXED_MS:
        return moment + timedelta(milliseconds=sign * count * _FIXED_MS[unit])
    months = moment.year * 12 + moment.month - 1 + sign * count * (12 if unit == "y" else 1)
    year, month = divmod(months, 12)
    last_day = (datetime(year + (month + 1) // 12, (month + 1) % 12 + 1, 1, tzinfo=UTC) - timedelta(days=1)).day
    return moment.replace(year=year, month=month + 1, day=min(moment.day, last_day))


def _end_of(moment: datetime, unit: str) -> datetime:
    return _add(_start_of(moment, unit), 1, 1, unit) - timedelta(milliseconds=1)


def parse_math(math: str, moment: datetime, round_up: bool) -> datetime:
    """``dateMath.parseDateMath``: apply ``-1h``, ``+2d``, ``/m`` ... in order."""
    at = 0
    while at < len(math):
        match = _OPERATION.match(math, at)
        if match is None:
            raise MacroError(f"invalid date math {math!r}")
        sign, count, unit, rounding = match.groups()
        if rounding:
            moment = _end_of(moment, rounding) if round_up else _start_of(moment, rounding)
        else:
            moment = _add(moment, 1 if sign == "+" else -1, int(count), unit)
        at = match.end()
    return moment


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def parse(text: str, now_ms: int, round_up: bool) -> int:
    """``dateMath.parse`` of a relative time (``now``, ``now-1h/m``), in epoch milliseconds."""
    if not text.startswith("now"):
        raise MacroError(f"not a relative time: {text!r}")
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    return _ms(parse_math(text[3:], now, round_up))


def relative(from_text: str, to_text: str, now_ms: int) -> TimeRange:
    """A dashboard's relative range (``time.from`` .. ``time.to``) as Grafana evaluates it at ``now_ms``."""
    return TimeRange(parse(from_text, now_ms, False), parse(to_text, now_ms, True), now_ms)


def describe_text_range(expr: str) -> tuple[str, str]:
    """``rangeutil.describeTextRange`` for a panel's ``timeFrom``: ``5m`` -> (``now-5m``, ``now``)."""
    if "now" not in expr:
        expr = ("now" if expr.startswith("+") else "now-") + expr
    return (expr, "now") if not expr.startswith("now+") else ("now", expr)


def shifted(time_range: TimeRange, shift: str) -> TimeRange:
    """A panel's ``timeShift``: ``-shift`` applied to both ends, ``to`` rounded up (``0m/m``: align to minutes)."""
    math = "-" + shift
    low = parse_math(math, datetime.fromtimestamp(time_range.from_ms / 1000, UTC), False)
    high = parse_math(math, datetime.fromtimestamp(time_range.to_ms / 1000, UTC), True)
    return TimeRange(_ms(low), _ms(high), time_range.now_ms)
