"""`pulse bench collector`: events/s, events per worker CPU-second, p50/p99 request latency and RSS
per worker of a real collector producing to the real broker, for batches of 1, 20 and 100 events.

Events per CPU-second (utime+stime of the worker processes from /proc) is the figure a shared
machine distorts least; the load average is printed beside it.

The load comes from separate processes writing pre-encoded HTTP/1.1 requests on keep-alive
connections (no HTTP client library), so the load generator spends as little CPU as possible on
a machine whose cores it shares with the collector. Latency is from writing a request to reading
its whole response.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import os
import queue as queue_module
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table

from pulse.bench.stats import percentile
from pulse.settings import Settings, get_settings
from pulse.worker.health import answers_ok

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


@dataclass(frozen=True)
class Figures:
    batch_size: int
    requests_per_s: float
    events_per_s: float
    p50_ms: float
    p99_ms: float
    max_rss_mb_per_worker: float
    #: Events per CPU-second the collector workers actually got: the figure a busy, shared machine
    #: distorts least (events/s = this x the cores the workers get).
    events_per_cpu_s: float
    errors: int
    #: The 1-minute load average when the measurement ended: how shared the machine was.
    load_average: float
    workers: int
    clients: int
    seconds: float


def batch_body(size: int, seed: int) -> bytes:
    events = []
    for i in range(size):
        user = f"u{(seed * 7919 + i) % 100_000:06d}"
        events.append(
            {
                "type": "track",
                "event": "like" if i % 3 else "view",
                "messageId": f"bench-{seed}-{i}",
                "userId": user,
                "timestamp": "2026-11-22T10:00:00.000Z",
                "properties": {"post_id": f"p{i}", "author_id": "a1", "category": "music", "hashtags": ["jazz"]},
                "context": {"userAgent": IPHONE, "location": {"country": "NO", "city": "Oslo"}, "locale": "nb-NO"},
            }
        )
    return orjson.dumps({"batch": events, "sentAt": "2026-11-22T10:00:00.100Z"})


def _request(host: str, port: int, key: str, body: bytes) -> bytes:
    auth = base64.b64encode(f"{key}:".encode()).decode()
    head = (
        f"POST /v1/batch HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Basic {auth}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(
    host: str, port: int, requests: list[bytes], until: float, latencies: list[float], period_s: float
) -> int:
    """Send requests back to back, or one per ``period_s`` (paced) when that is longer than a reply takes."""
    reader, writer = await asyncio.open_connection(host, port)
    errors, turn = 0, 0
    next_at = time.perf_counter() + random.uniform(0, period_s)  # noqa: S311 - spreads connections over the period
    try:
        while time.monotonic() < until:
            if period_s:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += period_s
            started = time.perf_counter()
            writer.write(requests[turn % len(requests)])
            turn += 1
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if b" 200 " in status_line:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1
    finally:
        writer.close()
    return errors


def _load_process(
    host: str, port: int, requests: list[bytes], clients: int, seconds: float, period_s: float, out: object
) -> None:
    async def run() -> tuple[list[float], int]:
        latencies: list[float] = []
        until = time.monotonic() + seconds
        connections = (_connection(host, port, requests, until, latencies, period_s) for _ in range(clients))
        errors = await asyncio.gather(*connections)
        return latencies, sum(errors)

    out.put(asyncio.run(run()))  # type: ignore[attr-defined]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _workers(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    pids = [int(pid) for pid in out.split()]
    return [pid for pid in pids if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()] or [master]


def measure(
    settings: Settings,
    url: str,
    key: str,
    master: int,
    *,
    batch_size: int,
    seconds: float,
    clients: int,
    procs: int,
    rate: float = 0.0,
) -> Figures:
    """One batch size; ``rate`` (events/s offered, 0: as fast as replies come) paces every connection."""
    host, port = url.rsplit("//", 1)[1].split(":")
    requests = [_request(host, int(port), key, batch_body(batch_size, seed)) for seed in range(64)]
    # Each connection sends one request per period: together they offer ``rate`` events/s.
    period_s = clients * procs * batch_size / rate if rate else 0.0
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    loaders = [
        context.Process(target=_load_process, args=(host, int(port), requests, clients, seconds, period_s, queue))
        for _ in range(procs)
    ]
    workers = _workers(master)
    cpu_before = _cpu_s(workers)
    for loader in loaders:
        loader.start()
    rss = 0.0
    deadline = time.monotonic() + seconds + 30
    results: list[tuple[list[float], int]] = []
    while len(results) < procs and time.monotonic() < deadline:
        rss = max([rss, *(_rss_mb(pid) for pid in workers if Path(f"/proc/{pid}").exists())])
        try:
            results.append(queue.get(timeout=0.5))
        except queue_module.Empty:
            continue
    cpu_used = _cpu_s(workers) - cpu_before
    for loader in loaders:
        loader.join(10)
    latencies = [x for result in results for x in result[0]]
    errors = sum(result[1] for result in results)
    count = len(latencies)
    return Figures(
        batch_size=batch_size,
        requests_per_s=round(count / seconds, 1),
        events_per_s=round(count * batch_size / seconds, 1),
        p50_ms=round(percentile(latencies, 50) * 1000, 2) if latencies else 0.0,
        p99_ms=round(percentile(latencies, 99) * 1000, 2) if latencies else 0.0,
        max_rss_mb_per_worker=round(rss, 1),
        events_per_cpu_s=round(count * batch_size / cpu_used, 1) if cpu_used else 0.0,
        errors=errors,
        load_average=round(os.getloadavg()[0], 2),
        workers=len(workers),
        clients=clients * procs,
        seconds=seconds,
    )


@contextmanager
def serving_collector(
    settings: Settings, *, port: int, workers: int, key_name: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """Kafka and Redis (started if needed, stopped afterwards if started here), a fresh write key and a
    collector on ``port`` that answers ``/readyz``: yields (process, url, key)."""
    from pulse.collector.keys import KeyStore
    from pulse.stack import stack
    from pulse.stack.env import settings_env
    from pulse.stack.kafka import ensure_topics
    from pulse.tls import async_redis

    services = stack.select(["kafka", "redis"])
    already = {s.name for s in stack.status(settings, services) if s.running}
    stack.up(settings, services)
    collector: subprocess.Popen[bytes] | None = None
    try:
        ensure_topics(settings)
        url = f"http://{settings.collector.host}:{port}"

        async def create_key() -> str:
            redis = async_redis(settings.redis)
            try:
                return (await KeyStore(redis).create(key_name))[0]
            finally:
                await redis.aclose()

        key = asyncio.run(create_key())
        variables = {
            **os.environ,
            **settings_env(settings),
            "PULSE_COLLECTOR__AUTH": "keys",
            "PULSE_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        argv = [sys.executable, "-m", "pulse", "collector", "serve", "--port", str(port), "--workers", str(workers)]
        collector = subprocess.Popen(argv, env=variables, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not answers_ok(f"{url}/readyz"):
            if time.monotonic() > deadline or collector.poll() is not None:
                raise RuntimeError("the collector did not become ready")
            time.sleep(0.3)
        yield collector, url, key
    finally:
        if collector is not None:
            collector.terminate()
            collector.wait(40)
        started = [s for s in services if s.name not in already]
        if started:
            stack.down(settings, started)


def run_collector_bench(
    settings: Settings, *, sizes: list[int], seconds: float, workers: int, clients: int, procs: int, rate: float = 0.0
) -> list[Figures]:
    """Start Kafka and Redis if needed, a collector with a fresh key, and measure each batch size."""
    with serving_collector(settings, port=settings.collector.port + 7, workers=workers, key_name="bench") as (
        collector,
        url,
        key,
    ):
        measure(settings, url, key, collector.pid, batch_size=20, seconds=2, clients=clients, procs=procs)  # warm-up
        return [
            measure(
                settings,
                url,
                key,
                collector.pid,
                batch_size=n,
                seconds=seconds,
                clients=clients,
                procs=procs,
                rate=rate,
            )
            for n in sizes
        ]


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("collector")
    def collector(
        sizes: str = typer.Option("1,20,100", help="batch sizes, comma separated"),
        seconds: float = typer.Option(10.0, min=1, help="measured seconds per batch size"),
        workers: int = typer.Option(0, help="collector worker processes (0: one per core)"),
        clients: int = typer.Option(16, help="keep-alive connections per load process"),
        procs: int = typer.Option(1, help="load generator processes"),
        rate: float = typer.Option(
            0.0, help="events/s offered, paced (e.g. 80% of the capacity a first run measured); 0: saturate"
        ),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object per batch size"),
    ) -> None:
        """Events/s, p50/p99 latency and RSS per worker against the real broker (batches 1, 20, 100)."""
        settings = get_settings()
        count = workers or os.cpu_count() or 1
        batch_sizes = [int(s) for s in sizes.split(",")]
        console = Console(stderr=as_json)
        with console.status(f"benchmarking the collector ({count} workers) ..."):
            results = run_collector_bench(
                settings, sizes=batch_sizes, seconds=seconds, workers=count, clients=clients, procs=procs, rate=rate
            )
        if as_json:
            for figures in results:
                print(orjson.dumps(asdict(figures)).decode())
            return
        table = Table(
            title=f"pulse bench collector: {count} workers, {clients * procs} connections", title_justify="left"
        )
        for column in (
            "batch",
            "events/s",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "max RSS/worker MB",
            "events/CPU-s",
            "errors",
            "load avg",
        ):
            table.add_column(column, justify="right")
        for f in results:
            table.add_row(
                str(f.batch_size),
                f"{f.events_per_s:,.0f}",
                f"{f.requests_per_s:,.0f}",
                f"{f.p50_ms:.1f}",
                f"{f.p99_ms:.1f}",
                f"{f.max_rss_mb_per_worker:.0f}",
                f"{f.events_per_cpu_s:,.0f}",
                str(f.errors),
                f"{f.load_average:.2f}",
            )
        console.print(table)
