"""One chaos run: paced load with its ground truth, faults injected on a schedule while it flows,
recovery timed per fault, memory / files / lag sampled, then the verdict against the truth."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from clickhouse_connect.driver.client import Client

from pulse.chaos import check, probe
from pulse.chaos.disk import Disks
from pulse.chaos.faults import Fault, SkewingTransport
from pulse.collector.app import source_of_write_key
from pulse.generator.sender import send
from pulse.generator.traffic import TrafficConfig, TrafficGenerator
from pulse.generator.truth import TruthReport
from pulse.settings import Settings

log = logging.getLogger(__name__)

#: Event to dashboard, p99 (the product's target): what "fresh again" after a fault means.
FRESHNESS_TARGET_S = 5.0
#: How long after recovery a fault waits for freshness to come back before moving on.
FRESH_WAIT_S = 20.0

FOREVER_S = 10 * 365 * 24 * 3600.0
#: Event times start this far ahead: building the population takes a moment and pacing follows the clock.
BUILD_ALLOWANCE = timedelta(seconds=2)
PARTS = "SELECT count() FROM system.parts WHERE active AND database = currentDatabase() AND table = 'events'"


@dataclass
class FaultResult:
    name: str
    what: str
    at_s: float = 0.0  # since the load began
    held_s: float = 0.0  # from injection until the fault was lifted (process restarted, disk freed, ...)
    healthy_s: float | None = None  # from injection until every service answered healthy again
    recovery_s: float | None = None  # from injection until every service healthy and lag normal again
    freshness_p99_s: float | None = None  # event -> stored, for rows stored just after recovery
    fresh_s: float | None = None  # from injection until rows stored in the last 5 s are within the target
    skipped: str | None = None
    note: str | None = None  # what was still wrong when recovery timed out


@dataclass
class Sample:
    at_s: float
    lag: int | None
    resources: dict[str, tuple[int, int]]  # service -> (rss bytes, fds)
    parts: int | None = None
    #: service -> its leading process id: a new one is a restart (a fault kills processes)
    pids: dict[str, int] = field(default_factory=dict)


@dataclass
class ChaosReport:
    seed: int
    rate: float
    seconds: float
    load_average_start: tuple[float, float, float]
    load_average_end: tuple[float, float, float]
    lag_normal: int
    faults: list[FaultResult]
    verdict: check.Verdict
    samples: list[Sample] = field(default_factory=list)
    soak: bool = False

    @property
    def max_lag(self) -> int:
        return max((s.lag for s in self.samples if s.lag is not None), default=0)

    def peak_rss_mb(self) -> dict[str, float]:
        peaks: dict[str, float] = {}
        for sample in self.samples:
            for name, (rss, _) in sample.resources.items():
                peaks[name] = max(peaks.get(name, 0.0), rss / 2**20)
        return {name: round(mb, 1) for name, mb in peaks.items()}

    def slopes(self) -> dict[str, dict[str, float]]:
        """Per service: memory and descriptor slopes per hour within each process lifetime (a restart
        starts from scratch, so the jumps between lifetimes are not growth), the number of lifetimes,
        first and last fds and RSS."""
        out: dict[str, dict[str, float]] = {}
        for name in probe.SERVICES:
            points = [(s.pids.get(name, 0), s.at_s, *s.resources[name]) for s in self.samples if name in s.resources]
            if len(points) < 3:
                continue
            rss = pooled_slope([(pid, at, mem / 2**20) for pid, at, mem, _ in points])
            fds = pooled_slope([(pid, at, float(n)) for pid, at, _, n in points])
            out[name] = {
                "rss_mb_per_hour": round(rss * 3600, 1),
                "fds_per_hour": round(fds * 3600, 1),
                "lifetimes": len({pid for pid, *_ in points}),
                "rss_first_mb": round(points[0][2] / 2**20, 1),
                "rss_last_mb": round(points[-1][2] / 2**20, 1),
                "fds_first": points[0][3],
                "fds_last": points[-1][3],
            }
        return out

    def parts(self) -> tuple[int | None, int | None, int | None]:
        """(first, max, last) active part count of `events` over the samples that measured it."""
        counts = [s.parts for s in self.samples if s.parts is not None]
        return (counts[0], max(counts), counts[-1]) if counts else (None, None, None)

    def to_json(self) -> dict[str, Any]:
        verdict = self.verdict
        first, peak, last = self.parts()
        return {
            "ok": verdict.ok,
            "seed": self.seed,
            "rate": self.rate,
            "seconds": round(self.seconds, 1),
            "load_average_start": self.load_average_start,
            "load_average_end": self.load_average_end,
            "lag_normal": self.lag_normal,
            "faults": [vars(f) for f in self.faults],
            "events": {
                "offered": verdict.offered,
                "acknowledged": verdict.acknowledged,
                "unacknowledged": verdict.unacknowledged,
                "stored": verdict.stored,
                "lost": verdict.lost,
                "duplicated": verdict.duplicated,
                "stored_unacknowledged": verdict.stored_unacknowledged,
                "skewed": verdict.skewed,
                "skew_moved_minute": verdict.skew_moved_minute,
            },
            "rollup_mismatches": verdict.rollup_mismatches,
            "hot_mismatches": verdict.hot_mismatches,
            "archive_problems": verdict.archive_problems,
            "dead_letters": {"sent": verdict.dead_letters_sent, "found": verdict.dead_letters_found},
            "max_lag": self.max_lag,
            "peak_rss_mb": self.peak_rss_mb(),
            "processes": self.slopes() if self.soak else {},
            "events_parts": {"first": first, "max": peak, "last": last},
            "problems": verdict.problems,
        }


def pooled_slope(points: Sequence[tuple[Hashable, float, float]]) -> float:
    """Least-squares slope of y over x shared by every group (``(group, x, y)``), each group with its
    own intercept: how fast a process grows while it lives, whatever level each restart begins at.
    0.0 when no group has two distinct x."""
    groups: dict[Hashable, list[tuple[float, float]]] = {}
    for group, x, y in points:
        groups.setdefault(group, []).append((x, y))
    covariance = variance = 0.0
    for members in groups.values():
        mean_x = sum(x for x, _ in members) / len(members)
        mean_y = sum(y for _, y in members) / len(members)
        covariance += sum((x - mean_x) * (y - mean_y) for x, y in members)
        variance += sum((x - mean_x) ** 2 for x, _ in members)
    return covariance / variance if variance else 0.0


class ChaosRun:
    """Drives one run against a running stack and pipeline (see ``pulse.pipeline.services.ensure_running``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        rate: float,
        seconds: float,
        faults: list[Fault],
        seed: int = 0,
        soak: bool = False,
        fault_every_s: float = 180.0,
        disks: Disks | None = None,
        recovery_timeout_s: float = 180.0,
        progress: Any = None,
    ) -> None:
        self.settings = settings
        self.rate = rate
        self.seconds = seconds
        self.faults = faults
        self.seed = seed
        self.soak = soak
        self.fault_every_s = fault_every_s
        self.disks = disks
        self.recovery_timeout_s = recovery_timeout_s
        self.progress = progress or (lambda message: None)
        #: Lag counted as normal: 10 s of load, or twice the worst lag seen before the first fault (on a
        #: loaded machine the pipeline runs behind even without faults; recovery means back to that).
        self.lag_normal = max(1_000, int(10 * rate))
        self.transport = SkewingTransport(httpx.Limits(max_connections=16, max_keepalive_connections=16))
        self.http = httpx.AsyncClient(transport=self.transport, timeout=10.0)
        self.write_key = f"wk_chaos_{seed}_{uuid.uuid4().hex[:8]}"
        self.source = source_of_write_key(self.write_key)
        self.url = f"http://{settings.collector.host}:{settings.collector.port}"
        self.truths: list[TruthReport] = []
        self.dead_sent: set[str] = set()
        self.samples: list[Sample] = []
        self._began = 0.0
        self._bursts = 0
        self._client: Client | None = None

    def _generator(self, seed: int, rate: float) -> TrafficGenerator:
        return TrafficGenerator(
            TrafficConfig(
                seed=seed, start=datetime.now(UTC) + BUILD_ALLOWANCE, rate=rate, users=5_000, posts=3_000, campaigns=4
            )
        )

    async def _send(self, generator: TrafficGenerator, seconds: float, stop: asyncio.Event | None = None) -> None:
        truth = await send(
            generator,
            self.url,
            self.write_key,
            seconds=seconds,
            concurrency=8,
            max_attempts=40,
            paced=True,
            client=self.http,
            stop=stop,
        )
        self.truths.append(truth)

    async def burst(self, seconds: float, factor: float) -> None:
        """``factor`` times the rate for ``seconds``: a second sender at (factor - 1) x the rate beside the load."""
        self._bursts += 1
        generator = await asyncio.to_thread(self._generator, self.seed + 1000 + self._bursts, self.rate * (factor - 1))
        await self._send(generator, seconds)

    async def _dead_letters(self) -> None:
        """Every few seconds, one invalid event (an unknown call type): the collector must dead-letter it."""
        while True:
            await asyncio.sleep(3.0)
            message_id = f"chaos-dead-{uuid.uuid4().hex}"
            body = orjson.dumps({"batch": [{"type": "bogus", "messageId": message_id, "userId": "chaos"}]})
            for _ in range(60):
                try:
                    answer = await self.http.post(
                        f"{self.url}/v1/batch",
                        content=body,
                        auth=(self.write_key, ""),
                        headers={"Content-Type": "application/json"},
                    )
                except httpx.HTTPError:
                    answer = None
                if answer is not None and answer.is_success:
                    self.dead_sent.add(message_id)
                    break
                await asyncio.sleep(2.0)

    def _sample(self, with_parts: bool) -> Sample:
        parts = None
        if with_parts:
            try:
                if self._client is None:
                    from pulse.warehouse.client import connect

                    self._client = connect(self.settings)
                parts = int(self._client.command(PARTS))  # type: ignore[arg-type]
            except Exception:  # the warehouse may be the fault right now: no figure this time
                self._client = None
        return Sample(
            at_s=round(time.monotonic() - self._began, 1),
            lag=probe.lag(self.settings),
            resources=probe.resources(self.settings),
            parts=parts,
            pids=probe.leader_pids(self.settings),
        )

    async def _sampler(self) -> None:
        tick = 0
        while True:
            with_parts = tick % (30 if self.soak else 5) == 0
            self.samples.append(await asyncio.to_thread(self._sample, with_parts))
            tick += 1
            await asyncio.sleep(1.0)

    def _not_recovered(self) -> str | None:
        """What is still wrong (services unhealthy, lag above normal), or None once recovered."""
        lag = probe.lag(self.settings)  # the cheap check first: health asks every service a real request
        if lag is None or lag > self.lag_normal:
            return f"loader lag {lag} > {self.lag_normal}"
        down = probe.unhealthy(self.settings)
        if down:
            return f"unhealthy: {', '.join(down)}"
        return None

    async def _inject(self, fault: Fault) -> FaultResult:
        result = FaultResult(name=fault.name, what=fault.what, at_s=round(time.monotonic() - self._began, 1))
        if fault.needs_disks and (self.disks is None or self.disks.reason or not self.disks.mounted):
            result.skipped = (self.disks.reason if self.disks else None) or "no disk volumes prepared"
            return result
        self.progress(f"fault {fault.name}: {fault.what}")
        began = time.monotonic()
        await fault.inject(self)
        result.held_s = round(time.monotonic() - began, 1)
        deadline = began + self.recovery_timeout_s
        reported = began
        while time.monotonic() < deadline:
            wrong = await asyncio.to_thread(self._not_recovered)
            lagging = wrong is not None and wrong.startswith("loader lag")
            if result.healthy_s is None and (
                wrong is None or (lagging and not await asyncio.to_thread(probe.unhealthy, self.settings))
            ):
                result.healthy_s = round(time.monotonic() - began, 1)
            if wrong is None:
                result.recovery_s = round(time.monotonic() - began, 1)
                break
            result.note = wrong
            if time.monotonic() - reported > 10:
                reported = time.monotonic()
                self.progress(f"fault {fault.name}: after {reported - began:.0f} s still {wrong}")
            await asyncio.sleep(1.0)
        else:
            log.warning("no recovery", extra={"fault": fault.name, "still": result.note})
        if result.recovery_s is not None:
            result.note = None
        await asyncio.sleep(2.0)  # rows stored since recovery: the freshness operators would see now
        with contextlib.suppress(Exception):
            from pulse.pipeline.monitor import snapshot
            from pulse.warehouse.client import connect

            shot = await asyncio.to_thread(snapshot, connect(self.settings), self.settings, 5)
            if shot.freshness_p99_ms is not None:
                result.freshness_p99_s = round(shot.freshness_p99_ms / 1000, 2)
        if result.recovery_s is not None:
            result.fresh_s = await asyncio.to_thread(self._fresh_again, began)
        self.progress(f"fault {fault.name}: recovered in {result.recovery_s} s, fresh again in {result.fresh_s} s")
        return result

    def _fresh_again(self, began: float) -> float | None:
        """Seconds from ``began`` until the rows stored in the last 5 s reach dashboards within
        ``FRESHNESS_TARGET_S`` at p99 (the backlog a fault held back is drained); None if not within
        ``FRESH_WAIT_S`` of recovery."""
        from pulse.pipeline.monitor import snapshot
        from pulse.warehouse.client import connect

        client = connect(self.settings)
        deadline = time.monotonic() + FRESH_WAIT_S
        while True:
            with contextlib.suppress(Exception):
                p99_ms = snapshot(client, self.settings, 5).freshness_p99_ms
                if p99_ms is not None and p99_ms <= FRESHNESS_TARGET_S * 1000:
                    return round(time.monotonic() - began, 1)
            if time.monotonic() >= deadline:
                return None
            time.sleep(1.0)

    def _schedule(self) -> list[tuple[float, Fault]]:
        """(planned start since the load began, fault): evenly over the run, or every ``fault_every_s`` in a soak."""
        warmup = min(15.0, self.seconds / 4)
        if not self.faults:
            return []
        if self.soak:
            count = max(1, int((self.seconds - warmup) // self.fault_every_s))
            return [(warmup + i * self.fault_every_s, self.faults[i % len(self.faults)]) for i in range(count)]
        spacing = (self.seconds - warmup) / len(self.faults)
        return [(warmup + i * spacing, fault) for i, fault in enumerate(self.faults)]

    async def run(self) -> ChaosReport:
        load_start = os.getloadavg()
        generator = await asyncio.to_thread(self._generator, self.seed, self.rate)
        stop = asyncio.Event()
        self._began = time.monotonic()
        load = asyncio.create_task(self._send(generator, FOREVER_S, stop))
        helpers = [asyncio.create_task(self._dead_letters()), asyncio.create_task(self._sampler())]
        results: list[FaultResult] = []
        try:
            for index, (planned, fault) in enumerate(self._schedule()):
                wait = planned - (time.monotonic() - self._began)
                if wait > 0:
                    await asyncio.sleep(wait)
                if index == 0:
                    baseline = max((s.lag for s in self.samples if s.lag is not None), default=0)
                    self.lag_normal = max(self.lag_normal, 2 * baseline)
                    self.progress(f"lag before any fault: {baseline}; normal up to {self.lag_normal}")
                results.append(await self._inject(fault))
            rest = self.seconds - (time.monotonic() - self._began)
            if rest > 0:
                await asyncio.sleep(rest)
            await asyncio.sleep(3.0)  # load after the last recovery, so it is measured under load too
        finally:
            stop.set()
            self.progress("load stopped; delivering what is queued")
            await load
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self.http.aclose()
        elapsed = time.monotonic() - self._began
        self.progress("reconciling against the truth")
        verdict = await asyncio.to_thread(self._verdict)
        return ChaosReport(
            seed=self.seed,
            rate=self.rate,
            seconds=elapsed,
            load_average_start=load_start,
            load_average_end=os.getloadavg(),
            lag_normal=self.lag_normal,
            faults=results,
            verdict=verdict,
            samples=self.samples,
            soak=self.soak,
        )

    def _verdict(self) -> check.Verdict:
        from pulse.generator.segment import iso_ms
        from pulse.warehouse.client import connect

        verdict = check.Verdict()
        check.wait_loader(self.settings, verdict)
        client = connect(self.settings)
        acked = self.transport.acked - self.dead_sent
        check.check_events(client, verdict, self.source, self.truths, acked, self.transport.skewed)
        first_ms, last_ms = check.window(self.truths)
        check.check_rollups(client, verdict, iso_ms(first_ms), iso_ms(last_ms))
        check.check_hot(self.settings, client, verdict, first_ms, last_ms)
        check.check_archive(self.settings, verdict)
        check.check_dead_letters(client, verdict, self.source, self.dead_sent)
        return verdict
