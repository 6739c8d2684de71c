"""`pulse retention show|apply`: every tier's retention, and the warehouse's TTLs made to match the settings."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pulse.settings import Settings, get_settings

retention_app = typer.Typer(help="How long each tier keeps data (PULSE_RETENTION__*), read from the engine.")


def _tiers(settings: Settings) -> list[tuple[str, str, str]]:
    """The tiers outside the warehouse: (name, keeps, where it is enforced)."""
    hot = settings.hot.retention_s
    archive = settings.retention.archive or "indefinitely"
    return [
        ("redis hot tier", f"{hot // 60} min" if hot % 60 == 0 else f"{hot} s", "key expiry (PULSE_HOT__RETENTION_S)"),
        ("s3 archive", archive, "bucket lifecycle rule, not Pulse (PULSE_RETENTION__ARCHIVE)"),
    ]


@retention_app.command("show")
def show() -> None:
    """Each table's TTL as the engine holds it, what the settings ask, and the other tiers."""
    from pulse.warehouse import retention
    from pulse.warehouse.client import connect

    settings = get_settings()
    client = connect(settings)
    try:
        ttls = retention.read(client, settings.clickhouse.database)
    finally:
        client.close()
    table = Table(title=f"retention of {settings.clickhouse.database}")
    for column in ("table", "keeps", "TTL (engine)", "settings ask"):
        table.add_column(column)
    for ttl in ttls:
        wanted = retention.desired(settings, ttl)
        ask = "" if wanted is None else (str(wanted) if wanted != ttl.keep else "= (applied)")
        table.add_row(ttl.table, str(ttl.keep) if ttl.keep else ("forever" if not ttl.ttl else "?"), ttl.ttl, ask)
    for name, keeps, where in _tiers(settings):
        table.add_row(name, keeps, where, "")
    Console(width=160).print(table)


@retention_app.command("apply")
def apply_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list the changes, change nothing")] = False,
) -> None:
    """MODIFY TTL where the settings differ from the engine (raw: PULSE_RETENTION__RAW; others: __TABLES)."""
    from pulse.warehouse import retention
    from pulse.warehouse.client import connect

    settings = get_settings()
    database = settings.clickhouse.database
    client = connect(settings)
    try:
        changes = retention.plan(settings, retention.read(client, database))
        if not dry_run:
            retention.apply(client, database, changes, settings.clickhouse.cluster)
    finally:
        client.close()
    console = Console()
    verb = "would keep" if dry_run else "keeps"
    for change in changes:
        was = str(change.ttl.keep) if change.ttl.keep else change.ttl.ttl or "forever"
        console.print(f"{change.ttl.table} {verb} {change.keep} (was {was})")
    console.print(f"{len(changes)} TTL(s) {'to change' if dry_run else 'changed'}; the rest already match")
