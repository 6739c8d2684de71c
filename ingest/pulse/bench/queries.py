"""`pulse bench queries`: latency of every named query (and an ad-hoc raw aggregation) at scale.

The events are generated inside the warehouse (``pulse.bench.synthetic``) so 100 million rows load
in minutes and fill every rollup through the same materialized views as the loader's inserts.
Latency is measured by the client over HTTP, as Grafana sees it; memory is the warehouse
process's resident and peak set (chDB keeps no ``system.query_log``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from queue import Queue

from clickhouse_connect.driver.client import Client

from pulse.bench.stats import percentile
from pulse.queries.params import Value
from pulse.queries.run import run_typed

#: Ad-hoc questions over every raw row: what an analyst types into Explore. One grouping key is
#: served from LowCardinality dictionary indexes; two keys need a hash table over every row (~7x
#: the cost here); unique users add hashing every row's user (``user_key`` is the pre-hashed id).
AD_HOC = {
    "ad-hoc: every raw row, count + sum by event": """
SELECT event, count() AS events, sum(spend_micros) AS spend
FROM events
GROUP BY event
ORDER BY events DESC
""",
    "ad-hoc: every raw row, count + sum by event x country": """
SELECT event, country, count() AS events, sum(spend_micros) AS spend
FROM events
GROUP BY event, country
ORDER BY events DESC
""",
    "ad-hoc: every raw row, count + uniq(user_key) + sum by event x country": """
SELECT event, country, count() AS events, uniq(user_key) AS users, sum(spend_micros) AS spend
FROM events
GROUP BY event, country
ORDER BY events DESC
""",
}


@dataclass(frozen=True)
class Timing:
    name: str
    p50_ms: float
    p95_ms: float
    rows: int


@dataclass
class Figures:
    events: int
    loaded: int = 0
    load_s: float = 0.0
    timings: list[Timing] = field(default_factory=list)
    dashboard_sequential_ms: float = 0.0
    dashboard_parallel_ms: float = 0.0
    ad_hoc: list[Timing] = field(default_factory=list)
    rss_mib: float = 0.0
    peak_rss_mib: float = 0.0


def dashboard(end: datetime) -> dict[str, dict[str, Value]]:
    """Every named query at a representative view ending at ``end``: 24 h for the rollup panels, the last
    hour for the raw-event ones, 15 minutes for the alert rule's anomaly query. (The unified dashboard's
    exact panel set, as Grafana expands it, is ``pulse bench dashboards``.)"""
    day: dict[str, Value] = {"from": end - timedelta(hours=24), "to": end}
    hour: dict[str, Value] = {"from": end - timedelta(hours=1), "to": end}
    return {
        "events_per_second": {"from": end - timedelta(minutes=5), "to": end},
        "engagement": {**day, "interval_s": 300, "by": "event"},
        "engagement_users": {**day, "interval_s": 3600, "by": "all"},
        "engagement_by_geo": day,
        "active_users": {"to": end},
        "active_users_per_day": {"from": end - timedelta(days=7), "to": end},
        "active_users_by_profile": {"from": end - timedelta(days=1), "to": end},
        "sessions": hour,
        "retention_cohorts": {"from": end - timedelta(days=7), "to": end},
        "funnel": {**hour, "journey": "engagement"},
        "trending_topics": {"to": end, "window_min": 5},
        "topic_mentions": {**hour, "terms": ["tag1", "tag2", "tag3"]},
        "ad_performance": {**day, "by": "campaign"},
        "ad_attribution": hour,
        "budget_pacing": {"to": end},
        "ingest_freshness": {},
        "metric_anomaly": {"from": end - timedelta(minutes=15), "to": end, "metric": "engagement"},
        "engagement_score": {**hour, "interval_s": 60},
    }


def _time(call: Callable[[], int], repeat: int) -> tuple[list[float], int]:
    samples, rows = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, rows


def _rows(client: Client, name: str, values: dict[str, Value]) -> int:
    return len(run_typed(client, name, values).rows)


def _timing(name: str, samples: list[float], rows: int) -> Timing:
    return Timing(name, round(percentile(samples, 50), 1), round(percentile(samples, 95), 1), rows)


def memory_mib(pid: int | None) -> tuple[float, float]:
    """Resident and peak resident set of ``pid`` in MiB (0 when unknown)."""
    if pid is None:
        return 0.0, 0.0
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    rss, peak = (float(fields.get(key, "0 kB").split()[0]) for key in ("VmRSS", "VmHWM"))
    return round(rss / 1024, 1), round(peak / 1024, 1)


def measure(
    connect: Callable[[], Client],
    end: datetime,
    *,
    repeat: int,
    ad_hoc_repeat: int,
    pid: int | None,
    on_timing: Callable[[Timing], None] | None = None,
) -> Figures:
    """Every dashboard query ``repeat`` times, the whole set at once, and the ad-hoc aggregation."""
    client = connect()
    figures = Figures(events=int(client.command("SELECT count() FROM events")))  # type: ignore[arg-type]
    panels = dashboard(end)
    for name, values in panels.items():
        samples, rows = _time(partial(_rows, client, name, values), repeat)
        figures.timings.append(_timing(name, samples, rows))
        if on_timing:
            on_timing(figures.timings[-1])
    sequential = []
    for _ in range(max(3, repeat // 4)):
        started = time.perf_counter()
        for name, values in panels.items():
            run_typed(client, name, values)
        sequential.append((time.perf_counter() - started) * 1000)
    figures.dashboard_sequential_ms = round(percentile(sequential, 50), 1)
    clients: Queue[Client] = Queue()  # Grafana runs a dashboard's panels in parallel, one connection each
    for _ in range(4):
        clients.put(connect())

    def borrowed(name: str, values: dict[str, Value]) -> int:
        client = clients.get()
        try:
            return _rows(client, name, values)
        finally:
            clients.put(client)

    parallel = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(max(3, repeat // 4)):
            started = time.perf_counter()
            jobs = [pool.submit(borrowed, name, values) for name, values in panels.items()]
            for job in jobs:
                job.result()
            parallel.append((time.perf_counter() - started) * 1000)
    figures.dashboard_parallel_ms = round(percentile(parallel, 50), 1)
    for name, sql in AD_HOC.items():
        samples, rows = _time(partial(lambda text: len(client.query(text).result_rows), sql), ad_hoc_repeat)
        figures.ad_hoc.append(_timing(name, samples, rows))
    figures.rss_mib, figures.peak_rss_mib = memory_mib(pid)
    return figures
