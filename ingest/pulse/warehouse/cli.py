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


Cluster = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="render for this ClickHouse cluster (system.clusters): replicated local tables, Distributed tables "
        "under today's names, ON CLUSTER (default: PULSE_CLICKHOUSE__CLUSTER; unset: one node)",
    ),
]


@migrate_app.callback(invoke_without_command=True)
def migrate(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="list what would be applied (with --cluster: its SQL), change nothing")
    ] = False,
    schema_dir: SchemaDir = None,
    cluster: Cluster = None,
    ingestion: Ingestion = None,
) -> None:
    """Create the database if missing and apply pending migrations."""
    if ctx.invoked_subcommand is not None:
        return
    from pulse.warehouse.client import connect
    from pulse.warehouse.ingestion import check_migration, migrations_for
    from pulse.warehouse.migrations import migrate as apply
    from pulse.warehouse.migrations import plan

    settings = get_settings()
    cluster = cluster or settings.clickhouse.cluster
    database = settings.clickhouse.database
    mode = _mode(ingestion)
    migrations = migrations_for(mode, schema_dir)
    console = Console()
    client = connect(settings, use_database=False)
    try:
        check_migration(client, settings, mode)
        if dry_run and cluster:
            pending = plan(client, database, migrations, cluster).pending
            _print_sql(console, pending)
            done = [migration for migration, _ in pending]
        else:
            done = apply(client, database, migrations, dry_run=dry_run, cluster=cluster)
        if done and not dry_run:
            _audit(client, database, done, cluster)
    finally:
        client.close()
    verb = "would apply" if dry_run else "applied"
    for migration in done:
        console.print(f"{verb} {migration.path.name}" + (f" on cluster {cluster}" if cluster else ""))
    console.print(
        f"{len(done)} migration(s) {verb}; database {settings.clickhouse.database} is up to date"
        if not dry_run
        else f"{len(done)} migration(s) pending"
    )


def _audit(client: Client, database: str, done: list[Migration], cluster: str | None) -> None:
    """Who changed the schema: one audit_log row per run that applied something (0010 creates the table)."""
    from pulse.access import audit

    if audit.exists(client, database):
        details: dict[str, object] = {"applied": [m.path.name for m in done]}
        if cluster:
            details["cluster"] = cluster
        audit.record(client, database, "migrate", database, details)


def _print_sql(console: Console, files: list[tuple[Migration, list[str]]]) -> None:
    """The SQL an operator reads before applying it: each file's statements, as the engine formats them."""
    for migration, statements in files:
        console.print(f"-- {migration.path.name}: {len(statements)} statement(s)", style="bold", highlight=False)
        for statement in statements:
            console.print(statement + ";\n", markup=False, highlight=False, soft_wrap=True)


@migrate_app.command("render")
def migrate_render(
    cluster: Annotated[str, typer.Option("--cluster", help="the cluster name the statements name (ON CLUSTER)")],
    schema_dir: SchemaDir = None,
    ingestion: Ingestion = None,
) -> None:
    """Print every migration rendered for a cluster (all files, applied or not); applies nothing.

    The warehouse in PULSE_CLICKHOUSE__URL parses and formats the statements (any ClickHouse or the
    embedded bridge); the cluster does not have to exist there.
    """
    from pulse.warehouse.client import connect
    from pulse.warehouse.cluster import ClusterRenderer, EngineParser
    from pulse.warehouse.ingestion import migrations_for
    from pulse.warehouse.migrations import ledger_ddl, render_one

    settings = get_settings()
    client = connect(settings, use_database=False)
    try:
        renderer = ClusterRenderer(EngineParser(client), cluster, settings.clickhouse.database)
        console = Console()
        ledger = [r.sql for r in renderer.render(ledger_ddl())]
        console.print("-- the ledger (schema_migrations)", style="bold", highlight=False)
        for statement in ledger:
            console.print(statement + ";\n", markup=False, highlight=False, soft_wrap=True)
        files = [
            (m, [r.sql for s in m.statements for r in render_one(renderer, m, s)])
            for m in migrations_for(_mode(ingestion), schema_dir)
        ]
        _print_sql(console, files)
    finally:
        client.close()


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
    """Add top-level warehouse commands (`pulse migrate`, `pulse retention`)."""
    from pulse.warehouse.retention_cli import retention_app

    root.add_typer(migrate_app, name="migrate")
    root.add_typer(retention_app, name="retention")
