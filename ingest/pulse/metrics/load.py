"""Reads ``metrics/*.yaml`` into checked definitions; every problem names its file, metric and field.

A file is decoded against :mod:`pulse.metrics.model` (types, unknown keys), one metric at a time so
an error says which metric it is in; then the rules between fields are checked (a measure's ``of``
is a known column or property, a ratio's parts exist in the unit with the same dimensions, anomaly
alerts are on additive measures). Nothing is half-loaded: :func:`load_folder` raises
:class:`MetricsInvalid` with every problem, or returns every metric.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec
import yaml

from pulse.content import METRICS, folder
from pulse.errors import PulseError
from pulse.metrics.fields import EVENTS_COLUMNS, USER, Field, resolve
from pulse.metrics.model import GRAIN_SECONDS, Metric, Unit

_UNKNOWN = re.compile(r"^Object contains unknown field `([^`]*)`$")
_EVENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .:\-]{0,99}$")
#: Where an analyst writes the definitions (shipped in the wheel as ``pulse.metrics.definitions``).
SOURCE_DIR = Path("metrics")


@dataclass(frozen=True)
class Problem:
    file: str
    metric: str | None
    field: str
    why: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.metric}: " if self.metric else f"{self.file}: "
        return f"{where}{self.field}: {self.why}"


class MetricsInvalid(PulseError):
    """One or more definitions are wrong; the message lists each problem on its own line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("invalid metric definitions:\n  " + "\n  ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Defined:
    """A metric with its unit and its names resolved to SQL: what the renderers consume."""

    metric: Metric
    unit: Unit
    source: str  # e.g. metrics/stories.yaml
    dimensions: tuple[Field, ...]
    of: Field | None  # what ``sum`` / ``uniq`` reads

    @property
    def name(self) -> str:
        return self.metric.name

    @property
    def department(self) -> str:
        return self.metric.department or self.unit.department

    @property
    def kind(self) -> str:
        return self.metric.measure.kind

    @property
    def grains(self) -> tuple[str, ...]:
        """Finest first."""
        return tuple(sorted(set(self.metric.grains), key=GRAIN_SECONDS.__getitem__))

    @property
    def has_rollup(self) -> bool:
        return self.kind != "ratio"

    def table(self, grain: str) -> str:
        return f"metric_{self.name}_per_{_GRAIN_WORD[grain]}"

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(self.table(g) for g in self.grains) if self.has_rollup else ()


_GRAIN_WORD = {"1m": "minute", "1h": "hour", "1d": "day"}
ALL_GRAINS = tuple(GRAIN_SECONDS)


def table_names(name: str) -> tuple[str, ...]:
    """Every rollup table a metric named ``name`` may have had (a DROP migration drops them all)."""
    return tuple(f"metric_{name}_per_{_GRAIN_WORD[g]}" for g in ALL_GRAINS)


def _field_path(error: msgspec.ValidationError) -> tuple[str, str]:
    """(field, why) from msgspec's "why - at `$.a.b[0]`"."""
    text = str(error)
    why, _, at = text.rpartition(" - at `")
    if not why:
        why, at = text, ""
    where = at.rstrip("`").removeprefix("$").lstrip(".")
    unknown = _UNKNOWN.match(why)
    if unknown:  # name the key itself: "measure.colour", not "measure"
        return ".".join(p for p in (where, unknown.group(1)) if p), "unknown field (a typo?)"
    return where or "(file)", why


def _metric_checks(metric: Metric) -> tuple[list[tuple[str, str]], tuple[Field, ...], Field | None]:
    problems: list[tuple[str, str]] = []
    measure = metric.measure
    if metric.name in EVENTS_COLUMNS or metric.name in (USER, "bucket", "time"):
        problems.append(("name", f"{metric.name!r} is a column name of events or of the rollups; choose another"))
    dims: list[Field] = []
    for i, ref in enumerate(metric.dimensions):
        found = resolve(ref)
        if isinstance(found, str):
            problems.append((f"dimensions[{i}]", found))
        elif found.column in {d.column for d in dims}:
            problems.append((f"dimensions[{i}]", f"{found.column!r} is already a dimension"))
        elif found.column in ("bucket", "time", metric.name):
            problems.append((f"dimensions[{i}]", f"{found.column!r} is reserved (bucket, time, the metric's name)"))
        else:
            dims.append(found)
    of: Field | None = None
    if measure.kind in ("count", "ratio") and measure.of is not None:
        problems.append(("measure.of", f"a {measure.kind} measure reads no column; remove 'of'"))
    if measure.kind in ("sum", "uniq"):
        if measure.of is None:
            problems.append(("measure.of", f"{measure.kind} names what it reads: a column or properties.<name>"))
        else:
            found = resolve(measure.of, numeric=measure.kind == "sum")
            if isinstance(found, str):
                problems.append(("measure.of", found))
            else:
                of = found
    if measure.kind == "ratio":
        for part in ("numerator", "denominator"):
            if getattr(measure, part) is None:
                problems.append((f"measure.{part}", "a ratio names two metrics of its unit"))
        if metric.events:
            problems.append(("events", "a ratio counts no events itself; its numerator and denominator do"))
    else:
        if measure.numerator is not None or measure.denominator is not None:
            problems.append(("measure", "numerator and denominator are for kind: ratio"))
        if not metric.events:
            problems.append(("events", "name at least one event the metric counts"))
    for i, event in enumerate(metric.events):
        if not _EVENT.match(event):
            problems.append((f"events[{i}]", f"{event!r} is not an event name (letters, digits, space . _ : -)"))
    if len(set(metric.events)) != len(metric.events):
        problems.append(("events", "an event is listed twice"))
    if not metric.grains:
        problems.append(("grains", "at least one of 1m, 1h, 1d"))
    elif len(set(metric.grains)) != len(metric.grains):
        problems.append(("grains", "a grain is listed twice"))
    alert = metric.alert
    if alert is not None:
        if alert.anomaly is None and alert.threshold is None:
            problems.append(("alert", "give an anomaly or a threshold (or remove alert)"))
        if alert.anomaly is not None and measure.kind not in ("count", "sum"):
            problems.append(("alert.anomaly", f"anomaly alerts compare count or sum measures, not {measure.kind}"))
        if alert.anomaly is not None and "1m" not in metric.grains:
            problems.append(("alert.anomaly", "needs the 1m grain (it compares minute buckets of past days)"))
        if alert.threshold is not None and (alert.threshold.above is None) == (alert.threshold.below is None):
            problems.append(("alert.threshold", "give exactly one of above, below"))
    return problems, tuple(dims), of


def load_file(path: Path, source: str | None = None) -> list[Defined]:
    """One unit's file, checked on its own (ratios within it included)."""
    name = source or path.as_posix()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MetricsInvalid([Problem(name, None, "(file)", f"cannot be read: {error}")]) from error
    except yaml.YAMLError as error:
        raise MetricsInvalid([Problem(name, None, "(file)", f"is not valid YAML: {error}")]) from error
    try:
        unit = msgspec.convert(data, Unit)
    except msgspec.ValidationError as error:
        raise MetricsInvalid([Problem(name, None, *_field_path(error))]) from None
    problems: list[Problem] = []
    if unit.unit != path.stem:
        problems.append(Problem(name, None, "unit", f"the file of unit {unit.unit!r} is named {unit.unit}.yaml"))
    found: dict[str, Defined] = {}
    for i, raw in enumerate(unit.metrics):
        label = str(raw.get("name") or f"metrics[{i}]")
        try:
            metric = msgspec.convert(raw, Metric)
        except msgspec.ValidationError as error:
            problems.append(Problem(name, label, *_field_path(error)))
            continue
        wrong, dims, of = _metric_checks(metric)
        problems.extend(Problem(name, label, field, why) for field, why in wrong)
        if metric.name in found:
            problems.append(Problem(name, label, "name", "two metrics of the unit have this name"))
        found[metric.name] = Defined(metric, unit, name, dims, of)
    problems.extend(_ratio_checks(found))
    if problems:
        raise MetricsInvalid(problems)
    return list(found.values())


def _ratio_checks(found: dict[str, Defined]) -> list[Problem]:
    problems: list[Problem] = []
    for item in found.values():
        measure = item.metric.measure
        if measure.kind != "ratio" or item.metric.removed:
            continue
        for part in ("numerator", "denominator"):
            other = found.get(getattr(measure, part) or "")
            field = f"measure.{part}"
            if other is None:
                missing = getattr(measure, part)
                problems.append(Problem(item.source, item.name, field, f"no metric {missing!r} in this unit"))
            elif other.kind == "ratio" or other.metric.removed:
                problems.append(Problem(item.source, item.name, field, f"{other.name} is a ratio or removed"))
            elif [d.column for d in other.dimensions] != [d.column for d in item.dimensions]:
                problems.append(Problem(item.source, item.name, field, f"{other.name} has other dimensions"))
            elif not set(item.grains) <= set(other.grains):
                problems.append(Problem(item.source, item.name, "grains", f"{other.name} lacks some of them"))
    return problems


def load_folder(root: Path | None = None) -> list[Defined]:
    """Every metric of ``root`` (default: the shipped definitions), in file then definition order."""
    where = root if root is not None else folder(METRICS)
    problems: list[Problem] = []
    everything: list[Defined] = []
    for path in sorted(where.glob("*.yaml")):
        try:
            everything.extend(load_file(path, (SOURCE_DIR / path.name).as_posix()))
        except MetricsInvalid as error:
            problems.extend(error.problems)
    seen: dict[str, str] = {}
    for item in everything:
        if item.name in seen and seen[item.name] != item.source:
            problems.append(Problem(item.source, item.name, "name", f"already defined in {seen[item.name]}"))
        seen.setdefault(item.name, item.source)
    if problems:
        raise MetricsInvalid(problems)
    return everything


def active(defined: Iterable[Defined]) -> list[Defined]:
    return [d for d in defined if not d.metric.removed]


def unknown_events(defined: Iterable[Defined], known: Iterable[str]) -> list[Problem]:
    """Events a metric counts that no tracking plan and not the social vocabulary names: likely a typo.

    A warning, not an error: a source in ``allow`` mode stores unplanned events, so the metric would
    count them; but a misspelt event name would count nothing, silently.
    """
    names = set(known)
    return [
        Problem(d.source, d.name, f"events[{i}]", f"{event!r} is in no tracking plan nor the social vocabulary")
        for d in defined
        for i, event in enumerate(d.metric.events)
        if event not in names
    ]


def check_departments(defined: Iterable[Defined], departments: Iterable[str]) -> list[Problem]:
    """Metrics whose department the access definition does not have."""
    known = set(departments)
    return [
        Problem(
            d.source,
            d.name,
            "department",
            f"no department {d.department!r} in the access definition (known: {', '.join(sorted(known))})",
        )
        for d in defined
        if d.department not in known
    ]
