"""Delivers batches: to a JSONL file (simulated time), or to a collector over HTTP (wall-clock time).

Over HTTP a batch counts in the ground truth only once the collector answered 2xx. Retries on
429/5xx/transport errors re-send the very same body, so message ids are kept and a collector
that deduplicates on ``messageId`` stores each event once. What is never acknowledged is
recorded separately in the truth's ``unacknowledged`` section.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from pulse.contracts.segment import BATCH_PATH
from pulse.generator.segment import iso_ms
from pulse.generator.traffic import Batch, TrafficGenerator
from pulse.generator.truth import Delivery, GroundTruth, TruthReport

RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass
class Progress:
    """A snapshot for live displays; ``lag_s`` is how far sending trails the events' timestamps."""

    generated: int = 0
    acknowledged: int = 0
    unacknowledged: int = 0
    requests: int = 0
    retries: int = 0
    elapsed_s: float = 0.0
    lag_s: float = 0.0


ProgressCallback = Callable[[Progress], None]


def write_file(
    generator: TrafficGenerator,
    out: Path,
    *,
    seconds: float | None = None,
    events: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> TruthReport:
    """Write one batch body per line (``sentAt`` = the batch's last event) and return the truth."""
    truth = GroundTruth(generator)
    progress = Progress()
    began = time.monotonic()
    with out.open("wb") as sink:
        for batch in generator.batches(seconds=seconds, events=events):
            sink.write(batch.encode() + b"\n")
            truth.add(batch)
            progress.generated += len(batch)
            progress.acknowledged += len(batch)
            progress.requests += 1
            if on_progress is not None and progress.requests % 50 == 0:
                progress.elapsed_s = time.monotonic() - began
                on_progress(progress)
    progress.elapsed_s = time.monotonic() - began
    if on_progress is not None:
        on_progress(progress)
    report = truth.report()
    # No path or timing here: the truth of a file run must be byte-identical when replayed.
    report.delivery = Delivery(mode="file", requests=progress.requests)
    return report


class TokenBucket:
    """Caps sending at ``rate`` events/s. It starts empty and holds at most ``capacity``, so what a
    stall held back leaves at that rate, not all at once."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = max(capacity, 1.0)
        self._tokens = 0.0
        self._stamp = time.monotonic()

    async def take(self, n: int) -> None:
        n = min(n, int(self.capacity))  # a batch bigger than the bucket waits for a full bucket
        while True:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= n:
                self._tokens -= n
                return
            await asyncio.sleep((n - self._tokens) / self.rate)


async def send(
    generator: TrafficGenerator,
    url: str,
    write_key: str,
    *,
    seconds: float | None = None,
    events: int | None = None,
    concurrency: int = 4,
    max_attempts: int = 6,
    backoff_s: float = 0.1,
    timeout_s: float = 10.0,
    paced: bool = True,
    catch_up: float = 2.0,
    on_progress: ProgressCallback | None = None,
    client: httpx.AsyncClient | None = None,
    stop: asyncio.Event | None = None,
) -> TruthReport:
    """Send the generator's batches to ``<url>/v1/batch`` and return the truth of what was acknowledged.

    ``paced``: hold each batch until the wall clock reaches its last event; create the generator with
    ``start=now`` so timestamps follow the clock. Behind that schedule (the collector answered slowly
    or not at all), catch up at up to ``catch_up`` times the generator's rate, as an SDK empties its
    queue after an outage: a sender held to the bare rate would stay behind for good, and count its
    own delay as the pipeline's (a token bucket capped at one batch also lost each sleep's overshoot,
    ~0.25 s per minute). Unpaced sends as fast as the collector answers (timestamps stay simulated).
    ``stop``: once set, no further batch is generated (those already queued are still delivered).
    """
    truth = GroundTruth(generator)
    progress = Progress()
    endpoint = url.rstrip("/") + BATCH_PATH
    queue: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=concurrency * 2)
    began = time.monotonic()
    wall_offset_ms = time.time() * 1000 - began * 1000

    def report_progress() -> None:
        if on_progress is not None:
            progress.elapsed_s = time.monotonic() - began
            on_progress(progress)

    async def post(http: httpx.AsyncClient, batch: Batch) -> None:
        status = "no answer"
        for attempt in range(max_attempts):
            if attempt:
                progress.retries += 1
            progress.requests += 1
            delay = backoff_s * 2**attempt
            # Stamped per attempt, as Segment's SDKs do: the collector subtracts sentAt from its
            # receive time to correct clock skew, and the wait before a retry is no skew.
            body = batch.encode(sent_at=iso_ms(int(time.time() * 1000)))
            try:
                answer = await http.post(
                    endpoint, content=body, auth=(write_key, ""), headers={"Content-Type": "application/json"}
                )
            except httpx.TransportError as error:
                status = type(error).__name__
            else:
                status = str(answer.status_code)
                if answer.is_success:
                    truth.add(batch)
                    progress.acknowledged += len(batch)
                    return
                if answer.status_code not in RETRYABLE:
                    break
                delay = max(delay, _retry_after(answer))
            if attempt + 1 < max_attempts:
                await asyncio.sleep(min(delay, 10.0))
        truth.add_unacknowledged(batch, status)
        progress.unacknowledged += len(batch)

    async def worker(http: httpx.AsyncClient) -> None:
        while (batch := await queue.get()) is not None:
            await post(http, batch)
            report_progress()

    async def produce() -> None:
        size = generator.config.batch_size
        bucket = TokenBucket(generator.rate_at(generator.start_ms) * max(catch_up, 1.0), 2 * size)
        for batch in generator.batches(seconds=seconds, events=events):
            if stop is not None and stop.is_set():
                break
            if paced:
                await bucket.take(len(batch))
                wait_ms = batch.last_ms - (time.monotonic() * 1000 + wall_offset_ms)
                if wait_ms > 0:
                    await asyncio.sleep(wait_ms / 1000)
                lag_ms = time.monotonic() * 1000 + wall_offset_ms - batch.last_ms
                progress.lag_s = max(0.0, lag_ms / 1000)
            progress.generated += len(batch)
            await queue.put(batch)
        for _ in range(concurrency):
            await queue.put(None)

    owns_client = client is None
    http = client or httpx.AsyncClient(
        timeout=timeout_s, limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    )
    try:
        workers = [asyncio.create_task(worker(http)) for _ in range(concurrency)]
        try:
            await produce()
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
    finally:
        if owns_client:
            await http.aclose()
    report_progress()
    report = truth.report()
    report.delivery = Delivery(
        mode="http",
        target=endpoint,
        requests=progress.requests,
        retries=progress.retries,
        elapsed_s=round(progress.elapsed_s, 3),
    )
    return report


def _retry_after(answer: httpx.Response) -> float:
    try:
        return float(answer.headers.get("Retry-After", 0))
    except ValueError:
        return 0.0
