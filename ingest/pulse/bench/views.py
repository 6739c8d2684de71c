"""``pulse bench views``: what the warehouse's view cascade costs per insert, and its live snapshots per refresh.

Every block inserted into ``events`` runs the materialized views below it (rollups, projections):
part of that cost is per row, part per insert (a part per target table, per view). The refreshable
views (``sessions_last_hour``, ``funnels_last_hour``, ``trending_topics_live``) recompute the last
hour on a timer whatever the insert rate. Measured on a throwaway in-process chDB holding the
shipped schema, in CPU-seconds of this process (chDB runs in it), so a loaded machine changes the
figures less than it changes wall time: inserts of several block sizes (refreshes stopped), then
each refresh's query run by hand over ``hour_events`` events of the last hour.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass

from pulse.queries.catalog import _Engine
from pulse.warehouse.migrations import discover

_EVENTS = "['view', 'view', 'view', 'like', 'share', 'comment', 'search', 'ad_impression', 'ad_click', 'conversion']"
_INSERT = f"""
INSERT INTO events (message_id, call, event, event_time, received_at, user_id, session_id, country, device_type,
                    post_id, hashtags, campaign_id, spend_micros, kafka_topic, kafka_partition, kafka_offset)
SELECT concat('v{{round}}-', toString(number)), 'track', {_EVENTS}[number % 10 + 1],
       now64(3) - toIntervalMillisecond((number * 7919 + {{round}}) % 3600000), now64(3),
       concat('u', toString(cityHash64(number, {{round}}) % 50000)), concat('s', toString(number % 9000)),
       ['DE', 'FR', 'BR', 'US', 'IN'][number % 5 + 1], ['mobile', 'desktop'][number % 2 + 1],
       concat('p', toString(number % 2000)), [concat('#t', toString(number % 400))],
       if(number % 10 >= 7, concat('c', toString(number % 4)), ''), if(number % 10 = 7, 1500, 0),
       'pulse.interactions', toUInt16(number % 4), number
FROM numbers({{rows}})"""

#: The refreshable views the schema recomputes on a timer, and that timer's period in seconds.
REFRESHED = {"sessions_last_hour": 5, "funnels_last_hour": 5, "trending_topics_live": 5}


@dataclass(frozen=True)
class InsertCost:
    rows_per_insert: int
    inserts: int
    cpu_ms_per_insert: float
    cpu_us_per_event: float


@dataclass(frozen=True)
class RefreshCost:
    view: str
    cpu_ms_per_refresh: float
    cores_at_its_period: float


@dataclass(frozen=True)
class ViewsCost:
    materialized_views: int
    inserts: list[InsertCost]
    #: From a least-squares line through the insert figures: CPU per insert whatever its size, and per row.
    fixed_cpu_ms_per_insert: float
    marginal_cpu_us_per_event: float
    hour_events: int
    refreshes: list[RefreshCost]
    load_average: float


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def _insert_cost(engine: _Engine, rows: int, inserts: int, first_round: int) -> InsertCost:
    took = []
    for n in range(inserts):
        began = _cpu_s()
        engine.run(_INSERT.format(round=first_round + n, rows=rows))
        took.append(_cpu_s() - began)
    per_insert = statistics.median(took)
    return InsertCost(rows, inserts, round(per_insert * 1000, 2), round(per_insert * 1e6 / rows, 2))


def _refresh_cost(engine: _Engine, view: str, repeat: int) -> RefreshCost:
    """CPU of the view's query, run as its refresh runs it (refreshes stay stopped: a timer would add its own)."""
    query = engine.run(f"SELECT as_select FROM system.tables WHERE database = currentDatabase() AND name = '{view}'")
    took = []
    for _ in range(repeat):
        began = _cpu_s()
        engine.run(query.strip())  # TSVRaw: the query text unescaped
        took.append(_cpu_s() - began)
    seconds = statistics.median(took)
    return RefreshCost(view, round(seconds * 1000, 1), round(seconds / REFRESHED[view], 3))


def measure(*, sizes: list[int], inserts: int, hour_events: int, repeat: int) -> ViewsCost:
    engine = _Engine()
    try:
        for migration in discover():
            for statement in migration.statements:
                engine.run(statement)
        engine.run("SYSTEM STOP VIEWS")  # refreshes on their timers would land inside the insert figures
        views = int(engine.run("SELECT count() FROM system.tables WHERE engine = 'MaterializedView'").strip())
        engine.run(_INSERT.format(round=0, rows=1_000))  # warm-up: first parts, caches
        costs = [_insert_cost(engine, rows, inserts, 1_000 * (n + 1)) for n, rows in enumerate(sizes)]
        filled = sum(cost.rows_per_insert * cost.inserts for cost in costs) + 1_000
        round_ = 100_000
        while filled < hour_events:
            rows = min(500_000, hour_events - filled)
            engine.run(_INSERT.format(round=round_, rows=rows))
            filled, round_ = filled + rows, round_ + 1
        refreshes = [_refresh_cost(engine, view, repeat) for view in REFRESHED]
    finally:
        engine.close()
    xs = [float(cost.rows_per_insert) for cost in costs]
    ys = [cost.cpu_ms_per_insert for cost in costs]
    slope, intercept = statistics.linear_regression(xs, ys) if len(costs) > 1 else (ys[0] / xs[0], 0.0)
    return ViewsCost(
        materialized_views=views,
        inserts=costs,
        fixed_cpu_ms_per_insert=round(intercept, 2),
        marginal_cpu_us_per_event=round(slope * 1000, 2),
        hour_events=filled,
        refreshes=refreshes,
        load_average=round(os.getloadavg()[0], 2),
    )
