"""`pulse tracking check`: validate tracking plans before a collector loads them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pulse.errors import PulseError

tracking_app = typer.Typer(help="Tracking plans per source (provisioning/tracking-plans).", no_args_is_help=True)


@tracking_app.command("check")
def check_command(
    files: Annotated[list[Path] | None, typer.Argument(help="plan files (default: every plan in --dir)")] = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="folder of <source>.yaml plans (default: provisioning/tracking-plans)")
    ] = None,
) -> None:
    """Validate plans; each bad one is named with its field (``$.events.x.properties.y.type``)."""
    from pulse.contracts.tracking import PLANS_DIR, PlanError, TrackingPlan, load_plan, plan_files

    directory = directory or PLANS_DIR
    paths = files or plan_files(directory)
    if not paths:
        raise PulseError(f"no tracking plans in {directory} (one <source>.yaml per source)")
    plans: list[TrackingPlan] = []
    problems: list[str] = []
    for path in paths:
        try:
            plans.append(load_plan(path))
        except PlanError as error:
            problems.append(str(error))
    if problems:
        raise PulseError("\n".join(problems))
    table = Table("source", "mode", "events", "required properties")
    for plan in plans:
        required = sum(p.required for event in plan.events.values() for p in event.properties.values())
        table.add_row(plan.source, plan.mode, str(len(plan.events)), str(required))
    Console().print(table)
