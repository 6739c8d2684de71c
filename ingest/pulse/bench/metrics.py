"""``pulse bench metrics``: what N generated metrics add to every insert into ``events`` and to storage.

Each metric is a set of materialized views the engine runs on every block inserted into ``events``,
so its cost is paid by the loader's insert. Measured on a throwaway in-process chDB (the engine the
warehouse serves) holding the shipped schema: the same blocks of ``story_view`` events are inserted
without and then with N synthetic metrics rendered by the real generator (count, uniq of the user,
sum of a property, in turn; by country; 1 m and 1 h grains; every event feeds every metric -- the
worst case). Figures: milliseconds per insert, microseconds per event added by each metric, and the
rollup bytes each metric stores per raw event (after a final merge).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from pulse.metrics import sql
from pulse.metrics.load import Defined, load_file
from pulse.queries.catalog import _Engine
from pulse.warehouse.migrations import discover

_KINDS = ({"kind": "count"}, {"kind": "uniq", "of": "user"}, {"kind": "sum", "of": "properties.duration_ms"})
_INSERT = """
INSERT INTO events (message_id, event, event_time, received_at, user_id, country, properties)
SELECT concat('b{round}-', toString(number)), 'story_view', now64(3) - toIntervalSecond(number % 3600), now64(3),
       concat('u', toString(cityHash64(number, {round}) % 50000)), ['DE', 'FR', 'BR', 'US', 'IN'][number % 5 + 1],
       concat('{{"story_id": "s', toString(number % 97), '", "duration_ms": ', toString(number % 5000), '}}')
FROM numbers({rows})"""


@dataclass(frozen=True)
class MetricsCost:
    metrics: int
    batch_events: int
    inserts: int
    baseline_ms_per_insert: float
    with_metrics_ms_per_insert: float
    added_us_per_event_per_metric: float
    rollup_bytes_per_event_per_metric: float
    events_bytes_per_event: float


def synthetic(count: int, folder: Path) -> list[Defined]:
    """``count`` metrics of a made-up unit, rendered by the real loader from a generated definition file."""
    metrics = [
        {"name": f"bench_{i}", "description": "benchmark", "events": ["story_view"], "measure": _KINDS[i % 3],
         "dimensions": ["country"], "grains": ["1m", "1h"]}
        for i in range(count)
    ]  # fmt: skip
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump({"unit": "bench", "department": "growth", "team": "growth", "metrics": metrics}))
    return load_file(path)


def _inserts(engine: _Engine, *, rows: int, inserts: int, first_round: int) -> float:
    """Median milliseconds of ``inserts`` blocks of ``rows`` events."""
    took = []
    for i in range(inserts):
        began = time.perf_counter()
        engine.run(_INSERT.format(round=first_round + i, rows=rows))
        took.append((time.perf_counter() - began) * 1000)
    return statistics.median(took)


def _bytes(engine: _Engine, like: str) -> int:
    """Bytes on disk of the active parts of the tables named ``like`` (merged first)."""
    tables = engine.run(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree' "
        f"AND name LIKE '{like}'"
    )
    for table in tables.split():
        engine.run(f"OPTIMIZE TABLE {table} FINAL")
    where = f"active AND database = currentDatabase() AND table LIKE '{like}'"
    return int(engine.run(f"SELECT sum(bytes_on_disk) FROM system.parts WHERE {where}").strip() or 0)


def measure(metrics: int, *, batch: int, inserts: int) -> MetricsCost:
    scratch = Path(tempfile.mkdtemp(prefix="pulse-bench-metrics-"))
    engine = _Engine()
    try:
        for migration in discover():
            for statement in migration.statements:
                engine.run(statement)
        engine.run(_INSERT.format(round=0, rows=batch))  # warm-up (first parts, caches)
        baseline = _inserts(engine, rows=batch, inserts=inserts, first_round=1)
        for item in synthetic(metrics, scratch):
            for statement in sql.create_migration(item).split(";\n"):
                if statement.strip() and not all(line.startswith("--") for line in statement.strip().splitlines()):
                    engine.run(statement)
        engine.run("TRUNCATE TABLE events")
        loaded = _inserts(engine, rows=batch, inserts=inserts, first_round=10_000)
        stored = inserts * batch
        rollups = _bytes(engine, "metric_bench_%")
        events_bytes = _bytes(engine, "events")
    finally:
        engine.close()
        shutil.rmtree(scratch, ignore_errors=True)
    per_metric_us = (loaded - baseline) * 1000 / batch / max(metrics, 1)
    return MetricsCost(
        metrics=metrics,
        batch_events=batch,
        inserts=inserts,
        baseline_ms_per_insert=round(baseline, 2),
        with_metrics_ms_per_insert=round(loaded, 2),
        added_us_per_event_per_metric=round(per_metric_us, 3),
        rollup_bytes_per_event_per_metric=round(rollups / stored / max(metrics, 1), 3),
        events_bytes_per_event=round(events_bytes / stored, 2),
    )
