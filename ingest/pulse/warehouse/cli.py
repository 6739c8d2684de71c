"""`pulse migrate [status]`: the warehouse schema, applied from the migrations shipped in the package."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from pulse.settings import get_settings

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from pulse.warehouse.ingestion import Mode
    from pulse.warehouse.migrations import Migration

migrate_app = typer.Typer(help="Apply clickhouse/schema/NNNN_name.sql migrations in order, each once.")

SchemaDir = Annotated[
    Path | None,
    typer.Option("--schema-dir", help="folder of NNNN_name.sql files (default: the shipped migrations)"),
]
Ingestion = Annotated[
    str | None,
    typer.Option(
        "--ingestion",
        help="loader, or kafka-engine: also apply kafka_engine/ (the server's Kafka tables) "
        "(default: PULSE_CLICKHOUSE__INGESTION)",
    ),
]


def _mode(ingestion: str | None) -> Mode:
    """The ingestion mode asked for, else the settings'; a CLI message names a wrong one."""
    chosen = ingestion or get_settings().clickhouse.ingestion
    if chosen not in ("loader", "kafka-engine"):
        raise typer.BadParameter(
            f"{chosen!r} is not an ingestion mode: loader or kafka-engine", param_hint="--ingestion"
        )
    return "loader" if chosen == "loader" else "kafka-engine"


@migrate_app.callback(invoke_without_command=True)
def migrate(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would be applied, change nothing")] = False,
    schema_dir: SchemaDir = None,
    ingestion: Ingestion = None,
) -> None:
    """Create the database if missing and apply pending migrations."""
    if ctx.invoked_subcommand is not None:
        return
    from pulse.warehouse.client import connect
    from pulse.warehouse.ingestion import check_migration, migrations_for
    from pulse.warehouse.migrations import migrate as apply

    settings = get_settings()
    mode = _mode(ingestion)
    migrations = migrations_for(mode, schema_dir)
    client = connect(settings, use_database=False)
    try:
        check_migration(client, settings, mode)
        done = apply(client, settings.clickhouse.database, migrations, dry_run=dry_run)
        if done and not dry_run:
            _audit(client, settings.clickhouse.database, done)
    finally:
        client.close()
    console = Console()
    verb = "would apply" if dry_run else "applied"
    for migration in done:
        console.print(f"{verb} {migration.path.name}")
    console.print(
        f"{len(done)} migration(s) {verb}; database {settings.clickhouse.database} is up to date"
        if not dry_run
        else f"{len(done)} migration(s) pending"
    )


def _audit(client: Client, database: str, done: list[Migration]) -> None:
    """Who changed the schema: one audit_log row per run that applied something (0010 creates the table)."""
    from pulse.access import audit

    if audit.exists(client, database):
        audit.record(client, database, "migrate", database, {"applied": [m.path.name for m in done]})


@migrate_app.command("status")
def migrate_status(schema_dir: SchemaDir = None, ingestion: Ingestion = None) -> None:
    """Show each migration: applied, pending, changed since applied, or missing from the repo."""
    from pulse.warehouse.client import connect
    from pulse.warehouse.ingestion import migrations_for
    from pulse.warehouse.migrations import status

    settings = get_settings()
    migrations = migrations_for(_mode(ingestion), schema_dir)
    client = connect(settings, use_database=False)
    try:
        rows = status(client, settings.clickhouse.database, migrations)
    finally:
        client.close()
    table = Table(title=f"migrations of {settings.clickhouse.database}")
    for column in ("version", "name", "state", "applied at"):
        table.add_column(column)
    colours = {"applied": "green", "pending": "yellow", "changed": "bold red", "missing": "red"}
    for row in rows:
        applied_at = f"{row.applied_at:%Y-%m-%d %H:%M:%S}" if row.applied_at else ""
        table.add_row(f"{row.version:04d}", row.name, f"[{colours[row.state]}]{row.state}[/]", applied_at)
    Console(width=120).print(table)


def register(root: typer.Typer) -> None:
    """Add top-level warehouse commands (`pulse migrate`)."""
    root.add_typer(migrate_app, name="migrate")
