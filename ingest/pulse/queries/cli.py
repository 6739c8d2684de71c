"""``pulse query NAME -p k=v`` prints a table, ``pulse export NAME`` writes CSV/Parquet, ``pulse queries`` lists,
``pulse catalog`` prints (``--write``: writes) the metric catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pulse.queries.catalog import DEFAULT_OUT, build
from pulse.queries.export import FORMATS, export
from pulse.queries.params import parse_assignments
from pulse.queries.registry import load_all
from pulse.queries.run import run
from pulse.settings import Settings
from pulse.warehouse.client import connect

ParamOption = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE; times take ISO-8601 or now-15m")
]


def query(
    name: Annotated[str, typer.Argument(help="named query (see `pulse queries`)")], param: ParamOption = None
) -> None:
    """Run a named dashboard query and print its rows as a table."""
    result = run(connect(Settings()), name, parse_assignments(param or []))
    table = Table(title=f"{name} ({len(result.rows)} rows)")
    for column in result.columns:
        table.add_column(column)
    for row in result.rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    Console().print(table)


def export_command(
    name: Annotated[str, typer.Argument(help="named query (see `pulse queries`)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="file to write")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=" | ".join(FORMATS))] = "csv",
    param: ParamOption = None,
) -> None:
    """Write a named query's result to CSV or Parquet, with a progress bar."""
    client = connect(Settings())
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        transient=False,
    ) as progress:
        task = progress.add_task(f"export {name}", total=None)
        rows = export(client, name, parse_assignments(param or []), out, fmt, lambda n: progress.advance(task, n))
        progress.update(task, total=rows, completed=rows)
    Console().print(f"wrote {rows:,} rows to {out}")


def list_queries() -> None:
    """List the named queries with their parameters."""
    table = Table(title="named queries (clickhouse/queries/*.sql)")
    for column in ("name", "unit", "parameters", "description"):
        table.add_column(column, overflow="fold")
    for item in load_all().values():
        params = ", ".join(
            f"{p.name}:{p.type}" + (f"={p.default}" if p.default is not None else "") for p in item.params.values()
        )
        table.add_row(item.name, item.unit, params, item.description)
    Console().print(table)


def catalog_command(
    write: Annotated[bool, typer.Option("--write", help="write the catalog to --out instead of printing it")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="file --write writes")] = DEFAULT_OUT,
) -> None:
    """The metric catalog: each named query, what it reads, the migrations behind it, its panels and alerts."""
    print_or_write(build(), write, out)


def print_or_write(text: str, write: bool, out: Path) -> None:
    """A generated document: printed, or with ``--write`` written to ``out`` (the committed copy)."""
    if not write:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    Console().print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.command("query")(query)
    app.command("export")(export_command)
    app.command("queries")(list_queries)
    app.command("catalog")(catalog_command)
