"""`pulse bench overload`: what the collector does at several times the rate it sustains.

First the sustainable rate is measured (closed loop, as `pulse bench collector`), then each step
offers a multiple of it open-loop: batches start on a schedule whatever the answers, as many
independent SDK clients would. Each batch is retried as an SDK does: after ``Retry-After`` on
503/429, with backoff after a timeout. A step ends when its batches are delivered (or the drain
time is up). Per step: offered, accepted at the first try, shed (503), limited (429), timeouts,
p99 of answered attempts, and the collector workers' peak RSS. At the end every topic is read
back: each offered event must be in Kafka (the retries delivered everything), each accepted one
exactly once; a duplicate can only come from a timed-out attempt the collector did deliver (the
loader drops those by messageId).

Runs on its own topic prefix, so the reconciliation reads only this run's events.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from pulse.bench.collector import _cpu_s, _rss_mb, _workers, measure, serving_collector
from pulse.bench.stats import percentile
from pulse.contracts.events import Family
from pulse.settings import Settings
from pulse.tls import kafka_options

TIMEOUT_S = 10.0
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


@dataclass
class Step:
    multiple: float
    offered_events_per_s: float
    offered: int = 0  # events
    accepted_first_try: int = 0  # events
    shed_503: int = 0  # attempts
    limited_429: int = 0
    timeouts: int = 0
    other_errors: int = 0
    retries: int = 0
    delivered: int = 0  # events, after retries
    undelivered: int = 0
    p99_ms: float = 0.0  # of the accepted attempts
    peak_rss_mb: float = 0.0  # the largest collector worker
    drain_s: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class Reconciliation:
    offered: int
    accepted: int
    in_kafka: int
    distinct_in_kafka: int
    missing: int
    duplicated: int
    accepted_duplicated: int


@dataclass(frozen=True)
class OverloadRun:
    sustainable_events_per_s: float
    batch_size: int
    workers: int
    max_in_flight: int
    retry_after_s: int
    step_seconds: float
    steps: list[Step]
    reconciliation: Reconciliation
    knee_multiple: float
    knee_events_per_s: float
    load_average: tuple[float, float, float]
    collector_cpu_s: float


def _body(run: str, sequence: int, size: int) -> tuple[list[str], bytes]:
    ids = [f"{run}-{sequence}-{i}" for i in range(size)]
    events = [
        {
            "type": "track",
            "event": "like" if i % 3 else "view",
            "messageId": message_id,
            "userId": f"u{(sequence * 31 + i) % 50_000}",
            "timestamp": "2026-11-22T10:00:00.000Z",
            "properties": {"post_id": f"p{i}", "author_id": "a1", "category": "music", "hashtags": ["jazz"]},
            "context": {"userAgent": IPHONE, "location": {"country": "NO", "city": "Oslo"}},
        }
        for i, message_id in enumerate(ids)
    ]
    return ids, orjson.dumps({"batch": events, "sentAt": "2026-11-22T10:00:00.100Z"})


class Connections:
    """Keep-alive HTTP/1.1 connections written by hand: the load generator must stay cheaper than the server."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port = host, port
        self.auth = base64.b64encode(f"{key}:".encode()).decode()
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, body: bytes) -> tuple[int, dict[str, str]]:
        """Status and headers of one POST /v1/batch (raises TimeoutError or OSError)."""
        while self.idle:  # the server closes keep-alive connections idle for 5 s: such a one is not an error
            try:
                return await self._post(self.idle.pop(), body)
            except ConnectionError:
                continue
        return await self._post(await asyncio.open_connection(self.host, self.port), body)

    async def _post(
        self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], body: bytes
    ) -> tuple[int, dict[str, str]]:
        reader, writer = connection
        head = (
            f"POST /v1/batch HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Basic {self.auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        try:
            async with asyncio.timeout(TIMEOUT_S):
                writer.write(head.encode() + body)
                status_line = await reader.readline()
                if not status_line:
                    raise ConnectionResetError("the server closed the connection")
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                await reader.readexactly(int(headers.get("content-length", "0")))
        except BaseException:
            writer.close()
            raise
        if headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append((reader, writer))
        return int(status_line.split()[1]), headers


async def _offer(
    connections: Connections,
    step: Step,
    run: str,
    *,
    batch_size: int,
    seconds: float,
    drain_s: float,
    accepted: set[str],
    sequence: list[int],
) -> None:
    """Start a batch every ``batch_size / rate`` seconds for ``seconds``; each retries until delivered."""
    interval = batch_size / step.offered_events_per_s
    give_up = time.monotonic() + seconds + drain_s

    async def deliver(ids: list[str], body: bytes) -> None:
        attempt = 0
        while time.monotonic() < give_up:
            started = time.perf_counter()
            try:
                status, headers = await connections.post(body)
            except TimeoutError:
                step.timeouts += 1
                wait = min(0.5 * 2**attempt, 10.0)
            except OSError:
                step.other_errors += 1
                wait = min(0.5 * 2**attempt, 10.0)
            else:
                if status == 200:
                    step.latencies.append(time.perf_counter() - started)
                    step.delivered += len(ids)
                    if attempt == 0:
                        step.accepted_first_try += len(ids)
                    accepted.update(ids)
                    return
                if status == 503:
                    step.shed_503 += 1
                elif status == 429:
                    step.limited_429 += 1
                else:
                    step.other_errors += 1
                wait = float(headers.get("retry-after", "1")) * random.uniform(1.0, 1.2)  # noqa: S311 (jitter, as SDKs add)
            attempt += 1
            step.retries += 1
            await asyncio.sleep(wait)
        step.undelivered += len(ids)

    tasks = []
    began = time.monotonic()
    next_at = began
    while next_at < began + seconds:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        sequence[0] += 1
        ids, body = _body(run, sequence[0], batch_size)
        step.offered += len(ids)
        tasks.append(asyncio.ensure_future(deliver(ids, body)))
        next_at += interval
    sent = time.monotonic()
    await asyncio.gather(*tasks)
    step.drain_s = round(time.monotonic() - sent, 1)
    step.p99_ms = round(percentile(step.latencies, 99) * 1000, 1) if step.latencies else 0.0


async def _read_ids(settings: Settings) -> Counter[str]:
    """message_id -> how often it is in the run's topics (all families but dead letters)."""
    consumer = AIOKafkaConsumer(**kafka_options(settings.kafka), enable_auto_commit=False)
    await consumer.start()
    try:
        families = [f for f in Family if f is not Family.DEAD_LETTER]
        partitions = [
            TopicPartition(settings.kafka.topic(f), p) for f in families for p in range(settings.kafka.partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp, end in ends.items() if end > 0}
        counts: Counter[str] = Counter()
        while remaining:
            for tp, messages in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).items():
                for message in messages:
                    counts[orjson.loads(message.value or b"{}").get("message_id", "")] += 1
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return counts
    finally:
        await consumer.stop()


class RssWatch:
    """The largest RSS of any collector worker, sampled every 0.2 s in a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.pids, self.peak, self._stop = pids, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for pid in self.pids:
                with contextlib.suppress(OSError):  # a worker that just exited
                    self.peak = max(self.peak, _rss_mb(pid))

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(2)


def run_overload(
    settings: Settings,
    *,
    multiples: list[float],
    seconds: float,
    drain_s: float,
    workers: int,
    batch_size: int,
    max_in_flight: int,
    retry_after_s: int,
    sustainable: float | None,
) -> OverloadRun:
    """Start Kafka and Redis if needed and a collector on the run's own topics; measure each multiple."""
    run = f"overload-{uuid.uuid4().hex[:8]}"
    own = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"topic_prefix": f"bench-{run}"})})
    port = settings.collector.port + 9
    limits = {
        "PULSE_COLLECTOR__MAX_IN_FLIGHT": str(max_in_flight),
        "PULSE_COLLECTOR__RETRY_AFTER_S": str(retry_after_s),
    }
    with serving_collector(own, port=port, workers=workers, key_name=run, env=limits) as (collector, url, key):
        pids = _workers(collector.pid)
        if sustainable is None:
            probe = measure(own, url, key, collector.pid, batch_size=batch_size, seconds=8, clients=64, procs=1)
            sustainable = probe.events_per_s
        cpu_before = _cpu_s(pids)
        accepted: set[str] = set()
        sequence = [0]
        steps = []
        connections = Connections(settings.collector.host, port, key)
        for multiple in multiples:
            step = Step(multiple=multiple, offered_events_per_s=round(sustainable * multiple, 1))
            with RssWatch(pids) as watch:
                asyncio.run(
                    _offer(
                        connections,
                        step,
                        run,
                        batch_size=batch_size,
                        seconds=seconds,
                        drain_s=drain_s,
                        accepted=accepted,
                        sequence=sequence,
                    )
                )
                connections.idle.clear()  # their loop is gone
            step.peak_rss_mb = round(watch.peak, 1)
            steps.append(step)
        cpu_used = _cpu_s(pids) - cpu_before
        counts = asyncio.run(_read_ids(own))
        # The probe's own batches reuse messageIds of the form bench-<seed>-<i>: not this run's.
        ours = Counter({m: n for m, n in counts.items() if m.startswith(run)})
        offered = sum(s.offered for s in steps)
        reconciliation = Reconciliation(
            offered=offered,
            accepted=len(accepted),
            in_kafka=sum(ours.values()),
            distinct_in_kafka=len(ours),
            missing=offered - len(ours),
            duplicated=sum(n - 1 for n in ours.values() if n > 1),
            accepted_duplicated=sum(1 for m in accepted if ours.get(m, 0) > 1),
        )
        clean = [s.multiple for s in steps if not (s.shed_503 or s.limited_429 or s.timeouts or s.other_errors)]
        knee = max(clean, default=0.0)
        return OverloadRun(
            sustainable_events_per_s=sustainable,
            batch_size=batch_size,
            workers=len(pids),
            max_in_flight=max_in_flight,
            retry_after_s=retry_after_s,
            step_seconds=seconds,
            steps=steps,
            reconciliation=reconciliation,
            knee_multiple=knee,
            knee_events_per_s=round(knee * sustainable, 1),
            load_average=os.getloadavg(),
            collector_cpu_s=round(cpu_used, 1),
        )
