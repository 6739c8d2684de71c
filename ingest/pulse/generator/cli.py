"""`pulse generate`: synthetic social traffic to a JSONL file or a live collector, plus its ground truth."""

from __future__ import annotations

import asyncio
import gc
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from pulse.errors import PulseError
from pulse.generator.sender import Progress as SendProgress
from pulse.generator.sender import send, write_file
from pulse.generator.traffic import BurstSpec, TrafficConfig, TrafficGenerator, default_bursts
from pulse.generator.truth import TruthReport, write_truth


def generate(
    out: Annotated[Path | None, typer.Option(help="write newline-delimited /v1/batch bodies (JSONL) here")] = None,
    url: Annotated[str | None, typer.Option(help="send to this collector, e.g. http://127.0.0.1:8080")] = None,
    write_key: Annotated[str, typer.Option(help="Segment write key (HTTP basic auth user)")] = "",
    truth: Annotated[Path | None, typer.Option(help="ground-truth JSON (default with --out: <out>.truth.json)")] = None,
    rate: Annotated[float, typer.Option(help="events per second")] = 1000.0,
    seconds: Annotated[float | None, typer.Option(help="duration (default 60 unless --events)")] = None,
    events: Annotated[int | None, typer.Option(help="stop after this many events")] = None,
    batch_size: Annotated[int, typer.Option(help="messages per batch")] = 100,
    seed: Annotated[int, typer.Option(help="same seed and options give byte-identical output")] = 0,
    start: Annotated[
        str | None, typer.Option(help="ISO time of the first event (default now; with --url it is always now)")
    ] = None,
    users: Annotated[int, typer.Option(help="population size")] = 100_000,
    posts: Annotated[int, typer.Option(help="pre-existing posts (Zipf popularity)")] = 50_000,
    campaigns: Annotated[int, typer.Option(help="ad campaigns")] = 10,
    burst: Annotated[
        list[str] | None, typer.Option(help="TAG:START_S:DURATION_S[:PEAK_SHARE] trending burst (repeatable)")
    ] = None,
    no_bursts: Annotated[bool, typer.Option("--no-bursts", help="no trending burst at all")] = False,
    identify_share: Annotated[float, typer.Option(help="share of users who send identify")] = 0.3,
    concurrency: Annotated[int, typer.Option(help="concurrent HTTP requests")] = 4,
    max_attempts: Annotated[int, typer.Option(help="HTTP attempts per batch (retries on 429/5xx)")] = 6,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress display")] = False,
) -> None:
    """Generate deterministic synthetic social traffic (Segment HTTP API batches) with an exact ground truth."""
    if (out is None) == (url is None):
        raise PulseError("give exactly one of --out FILE or --url http://host:port")
    if seconds is None and events is None:
        seconds = 60.0
    try:
        first = datetime.fromisoformat(start.replace("Z", "+00:00")) if start and url is None else datetime.now(UTC)
    except ValueError as error:
        raise PulseError(f"--start {start!r} is not an ISO 8601 time") from error
    if first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    planned = seconds if seconds is not None else (events or 0) / rate
    try:
        bursts = (
            ()
            if no_bursts
            else (tuple(BurstSpec.parse(text) for text in burst) if burst else default_bursts(seed, planned))
        )
        config = TrafficConfig(
            seed=seed,
            start=first,
            rate=rate,
            users=users,
            posts=posts,
            campaigns=campaigns,
            batch_size=batch_size,
            bursts=bursts,
            identify_share=identify_share,
        )
    except ValueError as error:
        raise PulseError(str(error)) from error
    console = Console(stderr=True)
    began = time.monotonic()
    generator = TrafficGenerator(config)
    # The population lives as long as the run: keep the cyclic GC from rescanning it (~5% faster).
    gc.freeze()
    total = events if events is not None else int(planned * rate)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} events"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
    ) as bar:
        task = bar.add_task("generate", total=total, detail="")

        def show(progress: SendProgress) -> None:
            detail = f"ack {progress.acknowledged:,}"
            if progress.unacknowledged or progress.retries:
                detail += f" lost {progress.unacknowledged:,} retries {progress.retries:,}"
            if progress.lag_s > 1:
                detail += f" lag {progress.lag_s:.1f}s"
            bar.update(task, completed=progress.generated, detail=detail)

        if out is not None:
            report = write_file(generator, out, seconds=seconds, events=events, on_progress=show)
            truth = truth or out.with_name(out.name + ".truth.json")
        else:
            assert url is not None
            report = asyncio.run(
                send(
                    generator,
                    url,
                    write_key,
                    seconds=seconds,
                    events=events,
                    concurrency=concurrency,
                    max_attempts=max_attempts,
                    on_progress=show,
                )
            )
    if truth is not None:
        write_truth(report, truth)
    _summary(console, report, truth, time.monotonic() - began)


def _summary(console: Console, report: TruthReport, truth: Path | None, seconds: float) -> None:
    speed = f" in {seconds:.1f}s ({report.events / seconds:,.0f} events/s)" if seconds > 0 else ""
    console.print(f"[green]{report.events:,}[/] events in {report.batches:,} batches{speed}")
    if report.unacknowledged.events:
        console.print(
            f"[red]{report.unacknowledged.events:,}[/] events not acknowledged {report.unacknowledged.statuses}"
        )
    if truth is not None:
        console.print(f"truth: {truth}")


def register(root: typer.Typer) -> None:
    """Add `pulse generate`."""
    root.command("generate")(generate)
