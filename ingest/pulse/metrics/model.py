"""The typed shape of a metric definition file (``metrics/<unit>.yaml``): what an analyst may write.

msgspec decodes each file against these structs, so an unknown key or a wrong type is refused with
the path of the field; the rules that need more than one field (a ratio's parts exist, a dimension is
a known column) are checked in :mod:`pulse.metrics.load`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Grain = Literal["1m", "1h", "1d"]
#: Seconds of each grain, finest first: a query reads the coarsest grain that fits its range.
GRAIN_SECONDS: dict[str, int] = {"1m": 60, "1h": 3600, "1d": 86400}
Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
Duration = Annotated[str, msgspec.Meta(pattern=r"^[1-9][0-9]*[smhd]$")]


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Every definition struct refuses keys it does not know: a typo is an error, not a silent default."""


class Measure(_Strict, kw_only=True, frozen=True):
    """What a metric adds up per bucket: ``count`` events, ``sum``/``uniq`` of ``of``, or a ``ratio`` of two metrics.

    ``of`` names a column of ``events`` (``country``, ``spend_micros``; ``user`` is the user or
    anonymous id) or a property of the event (``properties.<name>``).
    """

    kind: Literal["count", "sum", "uniq", "ratio"]
    of: str | None = None
    numerator: Name | None = None
    denominator: Name | None = None


class Anomaly(_Strict, kw_only=True, frozen=True):
    """Fire when the last ``window`` is more than ``z`` deviations off the same window of the last days."""

    z: Annotated[float, msgspec.Meta(gt=0)] = 4.0
    window: Duration = "15m"
    baseline_days: Annotated[int, msgspec.Meta(ge=1, le=28)] = 7


class Threshold(_Strict, kw_only=True, frozen=True):
    """Fire when the metric's value over the last ``window`` is above ``above`` or below ``below``."""

    above: float | None = None
    below: float | None = None
    window: Duration = "10m"


class Alert(_Strict, kw_only=True, frozen=True):
    anomaly: Anomaly | None = None
    threshold: Threshold | None = None
    severity: Literal["critical", "warning", "info"] = "warning"
    pending: Duration | Literal["0s"] = "0s"


class Metric(_Strict, kw_only=True, frozen=True):
    """One KPI. Its name names the rollup tables, the named query, the panel and the alert."""

    name: Name
    description: Annotated[str, msgspec.Meta(min_length=1)]
    measure: Measure
    events: list[str] = []
    dimensions: list[str] = []
    grains: list[Grain] = msgspec.field(default_factory=lambda: ["1m", "1h"])
    alert: Alert | None = None
    department: Name | None = None  # who may read it; default: the unit's department
    removed: bool = False  # explicit removal: the next generate writes a DROP migration


class Unit(_Strict, kw_only=True, frozen=True):
    """A business unit's file: its metrics, the department that reads them and the team alerts go to."""

    unit: Name
    title: str | None = None
    department: Name
    team: Name
    metrics: list[dict[str, object]] = []  # decoded one by one (:class:`Metric`), so an error names its metric
