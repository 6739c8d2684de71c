"""`pulse archive run`: the Kafka -> S3 Parquet archiver as a long-running service."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import typer

from pulse.contracts.events import Family
from pulse.settings import Settings, get_settings
from pulse.worker.service import Worker, add_run_command

if TYPE_CHECKING:
    from pulse.worker.health import Health

TOPIC_OPTION = typer.Option(None, help="topic family or full name (repeatable; default: every warehouse topic)")

app = typer.Typer(help="The cold tier: raw topics archived as Parquet in S3.", no_args_is_help=True)


def archiver(settings: Settings, health: Health) -> Worker:
    """Every raw topic (dead letters included) through the offset-range worker into S3 Parquet."""
    from pulse.archive import metrics
    from pulse.archive.sink import ArchiveSink
    from pulse.archive.store import ArchiveStore
    from pulse.worker.offset_ranges import OffsetRangeWorker

    topics = [settings.kafka.topic(family) for family in Family]
    sink = ArchiveSink(settings.archive, ArchiveStore(settings))
    return OffsetRangeWorker(
        sink,
        settings.kafka,
        settings.archive,
        topics,
        role="archiver",
        health=health,
        lag=metrics.LAG,
        max_poll_interval_ms=30 * 60 * 1000,  # an S3 outage holds the loop in its retries: stay in the group
    )


add_run_command(
    app,
    "archiver",
    "archive",
    archiver,
    "Archive every raw topic (dead letters included) until SIGTERM/SIGINT, then flush and commit.",
)


def _record_replay(
    settings: Settings, start: datetime, end: datetime, topics: list[str], objects: int, counts: dict[str, int]
) -> None:
    """Who replayed which hours into the warehouse: one audit_log row per replay that ran."""
    from pulse.access import audit
    from pulse.warehouse.client import connect

    client = connect(settings)
    try:
        details = {"since": start.isoformat(), "until": end.isoformat(), "topics": topics, "objects": objects, **counts}
        audit.record(client, settings.clickhouse.database, "replay", ",".join(topics), details)
    finally:
        client.close()


def _refuse_expired(settings: Settings, start: datetime) -> None:
    """Before reading the archive: a range the raw TTL would delete again is an error, not a silent no-op."""
    from pulse.warehouse.client import connect
    from pulse.warehouse.retention import refuse_expired_replay

    client = connect(settings)
    try:
        refuse_expired_replay(client, settings.clickhouse.database, start)
    finally:
        client.close()


def register(root: typer.Typer) -> None:
    """Add `pulse replay`."""

    @root.command()
    def replay(
        since: str = typer.Option(..., help="start, ISO-8601 UTC (2026-11-22 or 2026-11-22T10:00); archive hours"),
        until: str = typer.Option(..., help="end (exclusive), ISO-8601 UTC"),
        topic: list[str] = TOPIC_OPTION,
        dry_run: bool = typer.Option(False, "--dry-run", help="list what would be replayed, insert nothing"),
        workers: int = typer.Option(2, min=1, max=16, help="batches of objects inserted at once"),
    ) -> None:
        """Reload archived events into ClickHouse; replaying twice (or over live data) counts nothing twice."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from pulse.archive.replay import Replayer, batches, hours, parse_moment, select_objects
        from pulse.archive.store import ArchiveStore
        from pulse.contracts.events import WAREHOUSE_FAMILIES
        from pulse.errors import PulseError
        from pulse.warehouse.client import connect

        settings = get_settings()
        families = {str(f): settings.kafka.topic(f) for f in WAREHOUSE_FAMILIES}
        chosen = topic or list(families)
        unknown = [t for t in chosen if t not in families and t not in families.values()]
        if unknown:
            raise PulseError(f"unknown topic(s) {', '.join(unknown)}; choose from {', '.join(families)}")
        topics = [families.get(t, t) for t in chosen]
        start, end = parse_moment(since), parse_moment(until)
        hours(start, end)  # a backwards range is the first thing to say
        _refuse_expired(settings, start)
        console = Console()
        objects = select_objects(ArchiveStore(settings), topics, start, end)
        span = sum(obj.rows for obj, _ in objects)
        console.print(f"{len(objects):,} archive object(s), up to {span:,} events, {start:%Y-%m-%d %H:00} .. {end}")
        if dry_run or not objects:
            for obj, size in objects:
                console.print(f"  {obj.key(settings.archive.prefix)}  ({size:,} bytes)")
            return
        replayer = Replayer(settings, lambda: connect(settings))
        planned = batches(objects, settings.archive.replay_batch_rows)
        counts = {"inserted": 0, "filled": 0, "skipped": 0}
        columns = (
            TextColumn("replaying"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("offsets"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[rate]}"),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("replay", total=span, rate="")
            for done in replayer.replay_all(planned, workers=workers):
                counts[done.action] += len(done.batch.objects)
                elapsed = progress.tasks[0].elapsed or 1e-9
                completed = progress.tasks[0].completed + done.batch.rows
                progress.update(task, advance=done.batch.rows, rate=f"{completed / elapsed:,.0f} offsets/s")
        _record_replay(settings, start, end, topics, len(objects), counts)
        console.print(
            f"[green]done[/]: {len(planned):,} insert(s); objects: {counts['inserted']} inserted, "
            f"{counts['filled']} filled (partly present), {counts['skipped']} skipped (already in the warehouse)"
        )
