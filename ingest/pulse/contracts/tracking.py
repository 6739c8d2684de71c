"""Tracking plans as code: per source, which events it may send and what their properties are.

One YAML file per write-key source (``provisioning/tracking-plans/<source>.yaml``). A plan's
``mode`` decides what happens to an event the plan does not list or that breaks it: ``block``
dead-letters it with the reason (Segment Protocols' "block"), ``allow`` stores it and notes the
problem in ``flags`` (``unplanned``, ``missing:<property>``, ``invalid:<property>``). A source
without a plan is ``allow`` with no events listed: custom events are stored, flagged ``unplanned``.
The social vocabulary (``like``, ``ad_impression``, ...) keeps its typed checks in every mode
(:func:`pulse.contracts.segment.contract_errors`); a plan may add properties to those events.

Plans are read once, at start, into msgspec Structs; each planned event's checks are compiled to
a tuple of (name, required, type test) so the per-event cost is a dict lookup and a short loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec
import yaml

from pulse.contracts.money import BadAmount, decimal_of
from pulse.contracts.segment import MONEY_PROPERTIES, Properties

T = TypeVar("T")
Mode = Literal["allow", "block"]
PropertyType = Literal["string", "integer", "number", "boolean", "array", "object", "money", "any"]

#: Where plans live, relative to the repository (or the image's working directory).
PLANS_DIR = Path("provisioning/tracking-plans")


class PlannedProperty(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One property of a planned event: its type, and whether every event must carry it."""

    type: PropertyType = "any"
    required: bool = False
    description: str = ""


class PlannedEvent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    description: str = ""
    properties: dict[str, PlannedProperty] = msgspec.field(default_factory=dict)


class TrackingPlan(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The plan of one source: its mode and its events by (Segment track) event name."""

    source: str
    mode: Mode = "allow"
    description: str = ""
    owner: str = ""
    events: dict[str, PlannedEvent] = msgspec.field(default_factory=dict)


class PlanError(ValueError):
    """A plan file that cannot be used; the text names the file and the bad field."""


def _is_money(value: object) -> bool:
    try:
        decimal_of(value)
    except BadAmount:
        return False
    return True


_TYPE_TESTS: dict[str, Callable[[object], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "money": _is_money,
    "any": lambda v: True,
}

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One way an event breaks its plan: the flag stored in ``allow`` mode, the reason in ``block``."""

    flag: str
    reason: str


Check = tuple[str, bool, PropertyType, Callable[[object], bool]]


class CompiledPlan:
    """A plan ready for the hot path: per event, the tuple of property checks."""

    def __init__(self, plan: TrackingPlan) -> None:
        self.plan = plan
        self.source = plan.source
        self.block = plan.mode == "block"
        self._checks: dict[str, tuple[Check, ...]] = {
            name: tuple((p, spec.required, spec.type, _TYPE_TESTS[spec.type]) for p, spec in event.properties.items())
            for name, event in plan.events.items()
        }

    def planned(self, event: str) -> bool:
        return event in self._checks

    def problems(self, event: str, properties: Mapping[str, Any]) -> list[Problem]:
        """How a track event breaks this plan (empty when it follows it)."""
        checks = self._checks.get(event)
        if checks is None:
            return [Problem("unplanned", f"event {event!r} is not in the tracking plan of source {self.source!r}")]
        found: list[Problem] = []
        for name, required, kind, test in checks:
            value = properties.get(name)
            if value is None:
                if required:
                    found.append(Problem(f"missing:{name}", f"{event}: required property {name!r} is missing"))
            elif not test(value):
                got = _JSON_TYPES.get(type(value), type(value).__name__)
                found.append(Problem(f"invalid:{name}", f"{event}: property {name!r} must be {kind}, got {got}"))
        return found


#: The plan of a source that has none: everything allowed, custom events flagged ``unplanned``.
def default_plan(source: str) -> CompiledPlan:
    return CompiledPlan(TrackingPlan(source=source))


class _PlanOutline(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A plan with its events still raw: each is converted alone so an error names its event."""

    source: str
    mode: Mode = "allow"
    description: str = ""
    owner: str = ""
    events: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)


class _EventOutline(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    description: str = ""
    properties: dict[str, Any] = msgspec.field(default_factory=dict)


def _convert(data: object, kind: type[T], origin: str, at: str) -> T:
    """``msgspec.convert`` whose error names the full path: msgspec writes ``$.events[...]`` for dict keys."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as error:
        text = str(error)
        text = text.replace("`$", f"`{at}", 1) if " - at `$" in text else f"{text} - at `{at}`"
        raise PlanError(f"{origin}: {text}") from error


def parse_plan(data: object, origin: str) -> TrackingPlan:
    """A plan from its YAML data; errors name ``origin`` and the field (``$.events.x.properties.y.type``)."""
    outline = _convert(data, _PlanOutline, origin, "$")
    events: dict[str, PlannedEvent] = {}
    for name, raw in outline.events.items():
        if not isinstance(name, str) or not name or name != name.strip():
            raise PlanError(f"{origin}: event name {name!r} must be non-empty text without surrounding spaces")
        at = f"$.events.{name}"
        event = _convert(raw, _EventOutline, origin, at)
        properties = {
            key: _convert(spec, PlannedProperty, origin, f"{at}.properties.{key}")
            for key, spec in event.properties.items()
        }
        events[name] = PlannedEvent(description=event.description, properties=properties)
    fields = msgspec.structs.asdict(outline) | {"events": events}
    return TrackingPlan(**fields)


def _vocabulary_types() -> dict[str, PropertyType]:
    """The plan type of each property the collector promotes to a column (``post_id``: string)."""
    kinds: dict[str, PropertyType] = {}
    for field in msgspec.structs.fields(Properties):
        text = str(field.type)
        kinds[field.name] = "array" if "list" in text else "integer" if "int" in text else "string"
    for names in MONEY_PROPERTIES.values():
        kinds.update(dict.fromkeys(names, "money"))
    return kinds


_VOCABULARY_TYPES = _vocabulary_types()
#: Money may be planned as any type the collector converts exactly (``19.99``, ``"19.99"``, ``20``).
_COMPATIBLE: dict[PropertyType, frozenset[str]] = {"money": frozenset({"money", "number", "integer", "string"})}


def vocabulary_conflicts(plan: TrackingPlan) -> list[str]:
    """Planned property types that contradict how the collector reads that property (``post_id: integer``)."""
    found = []
    for event, planned in plan.events.items():
        for name, spec in planned.properties.items():
            kind = _VOCABULARY_TYPES.get(name)
            if kind is None or spec.type == "any" or spec.type in _COMPATIBLE.get(kind, frozenset({kind})):
                continue
            found.append(
                f"$.events.{event}.properties.{name}.type is {spec.type!r}, but Pulse reads {name!r} as {kind}"
            )
    return found


def load_plan(path: Path) -> TrackingPlan:
    """One plan file; its name must be its source's (``mobile-app.yaml`` plans source ``mobile-app``)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise PlanError(f"{path}: cannot read: {error}") from error
    plan = parse_plan(data, str(path))
    if plan.source != path.stem:
        raise PlanError(f"{path}: $.source is {plan.source!r} but the file plans source {path.stem!r}")
    conflicts = vocabulary_conflicts(plan)
    if conflicts:
        raise PlanError(f"{path}: " + "; ".join(conflicts))
    return plan


def plan_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml")) if directory.is_dir() else []


class TrackingPlans:
    """Every source's compiled plan, read once; sources without a file get :func:`default_plan`."""

    def __init__(self, plans: Iterable[TrackingPlan] = ()) -> None:
        self._plans = {plan.source: CompiledPlan(plan) for plan in plans}
        # Shared by every unplanned source: an allow plan's problems are flags, never reasons.
        self._default = default_plan("")

    @classmethod
    def load(cls, directory: Path | None) -> TrackingPlans:
        """The plans of ``directory``; a folder that was configured but is missing is an error, the
        default one (``provisioning/tracking-plans`` under the working directory) may be absent."""
        if directory is not None and not directory.is_dir():
            raise PlanError(f"tracking plans folder {directory} does not exist (PULSE_COLLECTOR__TRACKING_PLANS)")
        return cls(load_plan(path) for path in plan_files(directory or PLANS_DIR))

    @property
    def sources(self) -> list[str]:
        return sorted(self._plans)

    def for_source(self, source: str) -> CompiledPlan:
        return self._plans.get(source, self._default)
