"""`pulse chaos`: faults under load on the local pipeline, recovery per fault, then reconciliation with the truth."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from types import FrameType

import typer
from rich.console import Console
from rich.table import Table

from pulse.chaos.faults import FAULTS, parse_faults
from pulse.chaos.run import FRESH_WAIT_S, ChaosReport
from pulse.errors import PulseError


def interrupt_on_sigterm() -> None:
    """Make SIGTERM (``kill``, ``timeout``) end the run as Ctrl-C does, through its ``finally``: the
    data copied back off the tmpfs volumes, the volumes unmounted and the services stopped. The
    default action would leave the volumes mounted over the data folders, and the data on them."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def render(report: ChaosReport, console: Console) -> None:
    """The run as tables: faults with their recovery, events offered to lost, lag and memory."""
    v = report.verdict
    la0, la1 = report.load_average_start, report.load_average_end
    faults = Table(
        title=f"pulse chaos: {report.seconds:.0f} s at {report.rate:,.0f} events/s, seed {report.seed} "
        f"(load average {la0[0]:.2f} -> {la1[0]:.2f})",
        title_justify="left",
    )
    # A fault's name whole even on an 80-column pipe: the other columns' headings wrap instead.
    faults.add_column("fault", no_wrap=True, min_width=max(len(name) for name in FAULTS))
    for column in ("at", "held", "healthy after", "recovered after", "freshness p99 after", "fresh (p99 ≤ 5 s) after"):
        faults.add_column(column, justify="right")
    for f in report.faults:
        if f.skipped:
            faults.add_row(f.name, f"{f.at_s:.0f} s", "-", "-", f"skipped: {f.skipped}", "-", "-")
            continue
        recovered = f"[red]not in time[/] ({f.note})" if f.recovery_s is None else f"{f.recovery_s:.1f} s"
        healthy = "[red]no[/]" if f.healthy_s is None else f"{f.healthy_s:.1f} s"
        freshness = "-" if f.freshness_p99_s is None else f"{f.freshness_p99_s:.2f} s"
        fresh = f"[red]not within {FRESH_WAIT_S:.0f} s[/]" if f.fresh_s is None else f"{f.fresh_s:.1f} s"
        faults.add_row(f.name, f"{f.at_s:.0f} s", f"{f.held_s:.1f} s", healthy, recovered, freshness, fresh)
    console.print(faults)

    events = Table(title="events and checks", title_justify="left")
    events.add_column("")
    events.add_column("value", justify="right")
    rows = [
        ("offered", v.offered),
        ("acknowledged", v.acknowledged),
        ("never acknowledged (gave up)", v.unacknowledged),
        ("stored in events", v.stored),
        ("lost (acknowledged, not stored)", v.lost),
        ("duplicated", v.duplicated),
        ("sent with a skewed clock", v.skewed),
        ("rollup cells differing from events", v.rollup_mismatches),
        ("Redis counters differing from ClickHouse", v.hot_mismatches),
        ("archive gaps or overlaps", v.archive_problems),
        ("dead letters sent / found with reason", f"{v.dead_letters_sent} / {v.dead_letters_found}"),
        ("max loader lag (messages)", report.max_lag),
        ("lag counted as normal (messages)", report.lag_normal),
    ]
    for name, value in rows:
        events.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    first, peak, last = report.parts()
    if peak is not None:
        events.add_row("active parts of events (first / max / last)", f"{first} / {peak} / {last}")
    console.print(events)

    memory = Table(title="processes", title_justify="left")
    soak_columns = ("MB/hour while up", "fds/hour while up", "lifetimes", "fds first -> last")
    for column in ("service", "peak RSS MB", *(soak_columns if report.soak else ())):
        memory.add_column(column, justify="left" if column == "service" else "right")
    slopes = report.slopes()
    for name, peak_mb in report.peak_rss_mb().items():
        extra: tuple[str, ...] = ()
        if report.soak and name in slopes:
            s = slopes[name]
            extra = (
                f"{s['rss_mb_per_hour']:+.1f}",
                f"{s['fds_per_hour']:+.1f}",
                f"{s['lifetimes']:.0f}",
                f"{s['fds_first']:.0f} -> {s['fds_last']:.0f}",
            )
        memory.add_row(name, f"{peak_mb:,.1f}", *extra)
    console.print(memory)
    if v.ok:
        console.print("[green]nothing lost, nothing double-counted[/]")
    else:
        for problem in v.problems:
            console.print(f"[red]problem:[/] {problem}")


def register(root: typer.Typer) -> None:
    """Add `pulse chaos`."""

    @root.command()
    def chaos(
        seconds: float = typer.Option(120.0, min=10, help="minimum length of the load (faults may extend it)"),
        rate: float = typer.Option(300.0, min=1, help="events per second of the steady load"),
        faults: str = typer.Option("all", help=f"comma-separated faults or 'all': {', '.join(FAULTS)}"),
        seed: int = typer.Option(0, help="seed of the traffic"),
        soak: bool = typer.Option(False, help="a fault every --fault-every seconds, cycling; memory slopes reported"),
        fault_every: float = typer.Option(180.0, min=10, help="seconds between faults in a soak"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of tables"),
        keep: bool = typer.Option(False, help="leave the services this command started running"),
    ) -> None:
        """Run generated traffic through the local stack while injecting faults, then reconcile with the truth.

        Exit code 1 when anything acknowledged was lost or counted twice, or a check failed.
        """
        from pulse.chaos.disk import Disks
        from pulse.chaos.run import ChaosRun
        from pulse.pipeline.services import ensure_running, stop_services
        from pulse.settings import get_settings

        try:
            chosen = parse_faults(faults)
        except ValueError as error:
            raise PulseError(str(error)) from error
        settings = get_settings()
        interrupt_on_sigterm()
        if "workers" not in settings.collector.model_fields_set:  # two workers, so one can be killed
            settings = settings.model_copy(update={"collector": settings.collector.model_copy(update={"workers": 2})})
        console = Console(stderr=as_json)
        say = console.print
        started: list[str] = []
        disks: Disks | None = None
        try:
            say("starting the local stack and pipeline (what is not running yet)")
            started = ensure_running(settings, progress=say)
            if any(f.needs_disks for f in chosen):
                disks = Disks(settings)
                reason = disks.prepare()
                say(f"disk faults skipped: {reason}" if reason else "S3 and warehouse data on tmpfs volumes")
            run = ChaosRun(
                settings,
                rate=rate,
                seconds=seconds,
                faults=chosen,
                seed=seed,
                soak=soak,
                fault_every_s=fault_every,
                disks=disks,
                progress=say,
            )
            report = asyncio.run(run.run())
        finally:
            if disks is not None:
                disks.restore()
            if not keep:
                stop_services(settings, started)
        if as_json:
            sys.stdout.write(json.dumps(report.to_json()) + "\n")
        else:
            render(report, Console())
        raise typer.Exit(0 if report.verdict.ok else 1)
