"""``pulse metrics check | generate`` (and ``pulse bench metrics``): metric definitions to warehouse and Grafana."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.markup import escape

from pulse.errors import PulseError
from pulse.metrics.load import (
    SOURCE_DIR,
    Defined,
    MetricsInvalid,
    check_departments,
    load_file,
    load_folder,
    unknown_events,
)

app = typer.Typer(help="Metrics as code: metrics/<unit>.yaml -> rollups, named queries, panels, alerts.",
                  no_args_is_help=True)  # fmt: skip
#: One line per message whatever the width: a long path must not split FILE: METRIC: FIELD.
console = Console(soft_wrap=True)

Root = Annotated[Path, typer.Option("--root", help="repository root: metrics/ is read, generated files written here")]


def _departments(root: Path) -> list[str]:
    """The departments of the access definition, read without the metrics (which it would otherwise merge)."""
    from pulse.access.definition import DEFINITION, parse

    data = yaml.safe_load((root / DEFINITION).read_text(encoding="utf-8"))
    return list(parse(data, str(DEFINITION)).departments)


def _load(root: Path, files: list[Path] | None = None) -> list[Defined]:
    defined = [d for f in files for d in load_file(f)] if files else load_folder(root / SOURCE_DIR)
    problems = check_departments(defined, _departments(root))
    if problems:
        raise MetricsInvalid(problems)
    return defined


@app.command("check")
def check_command(
    files: Annotated[list[Path] | None, typer.Argument(help="definition files (default: ROOT/metrics/*.yaml)")] = None,
    root: Root = Path(),
) -> None:
    """Validate metric definitions; every problem is printed as FILE: METRIC: FIELD: WHY."""
    defined = _load(root, files)
    for problem in unknown_events(defined, _known_events(root)):
        console.print(f"[yellow]warning[/yellow] {escape(str(problem))} (a typo? it would count nothing)")
    console.print(f"{len(defined)} metrics OK: {', '.join(d.name for d in defined)}")


def _known_events(root: Path) -> set[str]:
    """The social vocabulary's events and every event a tracking plan under ``root`` names."""
    from pulse.contracts.events import EventName
    from pulse.contracts.tracking import PLANS_DIR, load_plan, plan_files

    planned = {event for path in plan_files(root / PLANS_DIR) for event in load_plan(path).events}
    return {str(name) for name in EventName} | planned


@app.command("generate")
def generate_command(
    root: Root = Path(),
    check: Annotated[bool, typer.Option("--check", help="write nothing; fail when a generated file is stale")] = False,
) -> None:
    """Write new rollup migrations and the named queries, then regenerate Grafana, access and the catalog."""
    from pulse.metrics import generate

    defined = _load(root)
    if check:
        files, removed = generate.plan(defined, root)
        if files or removed:
            raise PulseError("stale; run `pulse metrics generate`: " + ", ".join(sorted([*files, *removed])))
        console.print("metrics: generated files are up to date")
        return
    for rel in generate.write(defined, root):
        console.print(f"wrote {rel}")
    regenerate(root)


def regenerate(root: Path) -> None:
    """Everything derived from the named queries and migrations: Grafana provisioning, grants, the catalog,
    the read API's OpenAPI document (each the same files its own command writes)."""
    from pulse.access import catalog, render
    from pulse.access.definition import DEFINITION, load
    from pulse.api.cli import document_text
    from pulse.grafana import generate as grafana
    from pulse.queries import catalog as metrics_catalog
    from pulse.queries.registry import load_all

    load_all.cache_clear()  # the queries just written
    changed = grafana.write(root)
    console.print(f"grafana: {len(changed)} provisioning files written")
    access = load(root / DEFINITION)
    render.write(root, render.outputs(access, catalog.from_migrations(access.database)))
    console.print("access: provisioning/access/clickhouse written")
    out = root / metrics_catalog.DEFAULT_OUT
    out.write_text(metrics_catalog.build(), encoding="utf-8")
    console.print(f"catalog: {metrics_catalog.DEFAULT_OUT} written")
    (root / "docs/api-openapi.json").write_text(document_text(), encoding="utf-8")
    console.print("api: docs/api-openapi.json written")
