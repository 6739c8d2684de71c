"""Metric definitions: a bad field is named (file, metric, field, why); the committed generated files are
current; generation writes a new migration for a new or changed rollup, none for a cosmetic change, a
DROP for an explicit removal, and refuses a silent one; every generated migration and query runs on
the engine (an in-process chDB with the shipped schema)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.errors import PulseError
from pulse.metrics import generate, sql
from pulse.metrics.fields import EVENTS_COLUMNS, STRING_COLUMNS
from pulse.metrics.load import MetricsInvalid, load_file, load_folder
from pulse.queries.catalog import _Engine
from pulse.queries.registry import parse
from pulse.warehouse.migrations import discover

REPO = Path(__file__).resolve().parents[2]

STORY_VIEWS: dict[str, Any] = {
    "name": "story_views",
    "description": "Story views per country.",
    "events": ["story_view"],
    "measure": {"kind": "count"},
    "dimensions": ["country"],
    "grains": ["1m", "1h"],
}


def unit_file(tmp: Path, *metrics: dict[str, Any], unit: str = "stories") -> Path:
    path = tmp / f"{unit}.yaml"
    path.write_text(yaml.safe_dump({"unit": unit, "department": "growth", "team": "growth", "metrics": list(metrics)}))
    return path


def problems(path: Path) -> list[tuple[str | None, str]]:
    with pytest.raises(MetricsInvalid) as error:
        load_file(path)
    return [(p.metric, p.field) for p in error.value.problems]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"measure": {"kind": "avg"}}, "measure.kind"),
        ({"measure": {"kind": "uniq"}}, "measure.of"),
        ({"measure": {"kind": "sum", "of": "country"}}, "measure.of"),
        ({"measure": {"kind": "count", "of": "user"}}, "measure.of"),
        ({"dimensions": ["planet"]}, "dimensions[0]"),
        ({"dimensions": ["country", "country"]}, "dimensions[1]"),
        ({"dimensions": ["properties.event"]}, "dimensions[0]"),
        ({"grains": ["5m"]}, "grains[0]"),
        ({"grains": []}, "grains"),
        ({"events": []}, "events"),
        ({"events": ["drop'table"]}, "events[0]"),
        ({"colour": "red"}, "colour"),
        ({"alert": {}}, "alert"),
        ({"alert": {"threshold": {"window": "10m"}}}, "alert.threshold"),
        ({"alert": {"anomaly": {"z": -1}}}, "alert.anomaly.z"),
        ({"measure": {"kind": "uniq", "of": "user"}, "alert": {"anomaly": {}}}, "alert.anomaly"),
        ({"name": "Story Views"}, "name"),
        ({"name": "country"}, "name"),
    ],
)
def test_a_bad_field_is_named(tmp_path: Path, change: dict[str, Any], field: str) -> None:
    metric = {**STORY_VIEWS, **change}
    label = change.get("name", "story_views")
    assert (label, field) in problems(unit_file(tmp_path, metric))


def test_a_ratio_names_metrics_of_its_unit(tmp_path: Path) -> None:
    ratio = {**STORY_VIEWS, "name": "per_viewer", "events": [], "measure": {"kind": "ratio", "numerator": "story_views",
                                                                            "denominator": "nobody"}}  # fmt: skip
    assert problems(unit_file(tmp_path, STORY_VIEWS, ratio)) == [("per_viewer", "measure.denominator")]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    ref=st.one_of(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.'", min_size=1, max_size=24),
        st.sampled_from(sorted(EVENTS_COLUMNS | {"user", "bucket"})),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.'-", min_size=0, max_size=16).map("properties.".__add__),
        st.sampled_from(sorted(EVENTS_COLUMNS | {"user", "time"})).map("properties.".__add__),
    )
)
def test_any_dimension_is_a_known_field_or_named_as_wrong(tmp_path: Path, ref: str) -> None:
    path = unit_file(tmp_path, {**STORY_VIEWS, "dimensions": [ref]})
    prop = ref.removeprefix("properties.")
    column = ref in STRING_COLUMNS or ref == "user"
    # a property may not take a column's name: its rollup column would shadow the events column
    named = ref.startswith("properties.") and prop.isidentifier() and prop not in EVENTS_COLUMNS | {"user"}
    if (column or named) and prop not in ("bucket", "time", "story_views"):
        assert [d.dimensions[0].ref for d in load_file(path)] == [ref]
    else:
        assert ("story_views", "dimensions[0]") in problems(path)


def test_the_cli_prints_file_metric_field_and_why(tmp_path: Path) -> None:
    path = unit_file(tmp_path, {**STORY_VIEWS, "measure": {"kind": "sum", "of": "country"}})
    done = subprocess.run(
        [sys.executable, "-m", "pulse", "metrics", "check", str(path), "--root", str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert f"{path.as_posix()}: story_views: measure.of: 'country' is not a number column" in done.stdout + done.stderr


def test_an_event_no_plan_names_is_a_warning_not_an_error(tmp_path: Path) -> None:
    path = unit_file(tmp_path, STORY_VIEWS, {**STORY_VIEWS, "name": "typo", "events": ["story_veiw"]})
    done = subprocess.run(
        [sys.executable, "-m", "pulse", "metrics", "check", str(path), "--root", str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "typo: events[0]: 'story_veiw' is in no tracking plan" in done.stdout  # story_view is planned
    assert done.stdout.count("warning") == 1


def test_committed_generated_files_are_current() -> None:
    files, removed = generate.plan(load_folder(REPO / "metrics"), REPO)
    assert not files and not removed, "stale: run `pulse metrics generate`"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the shipped schema and queries without any metric: the generator starts from main's state."""
    for folder in ("clickhouse/schema", "clickhouse/queries"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    for path in (tmp_path / "clickhouse").rglob("*.sql"):
        if "Generated by `pulse metrics generate`" in path.read_text():
            path.unlink()
    (tmp_path / "metrics").mkdir()
    return tmp_path


def cycle(root: Path, *metrics: dict[str, Any]) -> list[str]:
    unit_file(root / "metrics", *metrics)
    return generate.write(load_folder(root / "metrics"), root)


def test_a_change_is_a_new_migration_and_removal_a_drop(root: Path) -> None:
    highest = max(int(p.name[:4]) for p in (root / "clickhouse/schema").glob("[0-9]*.sql"))
    first = cycle(root, STORY_VIEWS)
    migration = next(p for p in first if p.startswith("clickhouse/schema/"))
    expected = max(generate.FIRST_VERSION, highest + 1)
    assert Path(migration).name.startswith(f"{expected:04d}_metric_story_views"), "numbered after the last one"
    applied = (root / migration).read_text()
    assert cycle(root, STORY_VIEWS) == [], "generating twice writes nothing"
    assert cycle(root, {**STORY_VIEWS, "description": "Views of stories."}) == ["clickhouse/queries/story_views.sql"]

    changed = cycle(root, {**STORY_VIEWS, "dimensions": ["country", "device_type"]})
    new = [p for p in changed if p.startswith("clickhouse/schema/")]
    assert len(new) == 1 and new[0] != migration and (root / migration).read_text() == applied
    assert f"Replaces the rollup of {Path(migration).name}" in (root / new[0]).read_text()

    with pytest.raises(PulseError, match="removed: true"):
        cycle(root)  # the definition deleted without saying so
    dropped = cycle(root, {**STORY_VIEWS, "removed": True})
    assert not (root / "clickhouse/queries/story_views.sql").exists()
    [drop] = [p for p in dropped if p.startswith("clickhouse/schema/")]
    assert "DROP TABLE IF EXISTS metric_story_views_per_minute;" in (root / drop).read_text()
    assert cycle(root, {**STORY_VIEWS, "removed": True}) == []


#: Yesterday: events keep 30 days (TTL), so an older day would vanish on insert.
DAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
MEASURES = st.sampled_from(
    [
        {"kind": "count"},
        {"kind": "uniq", "of": "user"},
        {"kind": "uniq", "of": "properties.story_id"},
        {"kind": "sum", "of": "revenue_micros"},
        {"kind": "sum", "of": "properties.duration_ms"},
    ]
)
DIMENSIONS = st.lists(st.sampled_from(["country", "device_type", "properties.story_id", "segment"]), unique=True)
GRAINS = st.lists(st.sampled_from(["1m", "1h", "1d"]), min_size=1, unique=True)


@pytest.fixture(scope="module")
def engine() -> Any:
    """An in-process chDB with every shipped migration applied (the catalog's throwaway engine)."""
    found = _Engine()
    for migration in discover():
        for statement in migration.statements:
            found.run(statement)
    yield found
    found.close()


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(measure=MEASURES, dimensions=DIMENSIONS, grains=GRAINS)
def test_every_generated_migration_and_query_runs(
    engine: Any, tmp_path: Path, measure: dict[str, Any], dimensions: list[str], grains: list[str]
) -> None:
    metric = {**STORY_VIEWS, "name": "probe", "measure": measure, "dimensions": dimensions, "grains": grains}
    [item] = load_file(unit_file(tmp_path, metric))
    for statement in sql.create_migration(item, replaces="0000_before.sql").split(";\n"):
        if statement.strip() and not all(line.startswith("--") for line in statement.strip().splitlines()):
            engine.run(statement)
    engine.run(
        "INSERT INTO events (message_id, event, event_time, received_at, user_id, country, properties) VALUES ('m1', "
        f"'story_view', '{DAY} 10:00:05', now64(3), 'u1', 'DE', '{{\"story_id\": \"s1\", \"duration_ms\": 7}}')"
    )
    query = parse("probe", sql.named_query(item, {"probe": item}))
    for interval in ("60", "3600", "86400"):
        params = {"from": f"{DAY} 00:00:00", "to": f"{DAY} 23:00:00", "interval_s": interval}
        filters = dict.fromkeys((d.column for d in item.dimensions), "")
        assert engine.run(query.sql, {**params, **filters}).strip(), f"{interval}: no row for the inserted event"
    engine.run("TRUNCATE TABLE events")


def test_a_units_dashboard_is_provisioned_where_its_department_reads() -> None:
    """The stories metrics name growth: their dashboard is in growth's organizations and Admin's, no other."""
    from pulse.access.definition import DEFINITION, load
    from pulse.access.orgs import organizations

    access = load(REPO / DEFINITION)
    readers = {g.user for g in access.grantees() if g.department == "growth" or g.tables == "*"}
    assert all("story_views" in g.runnable for g in access.grantees() if g.user in readers)
    shipped = {p.parent.name for p in (REPO / "provisioning/dashboards/pulse").glob("*/metrics-stories.json")}
    assert shipped == readers & {org.folder for org in organizations(access)}
    growth = next(g for g in access.grantees() if g.user == "pulse_growth_analyst")
    assert isinstance(growth.tables, tuple) and "metric_story_views_per_minute" in growth.tables
