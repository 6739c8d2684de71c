"""`pulse bench properties`: how to store custom-event properties so Explore filters and rollups are cheap.

Three layouts of the same rows in a throwaway embedded ClickHouse (chDB, the warehouse's engine):
``String`` read with ``JSONExtract*`` (the events table before migration 0012), ``Map(String, String)``
filled from that String at insert, and the ``JSON`` type. Each query runs ``repeat`` times; the
median is printed with the insert time and the bytes stored. The figures in docs/tracking-plans.md
come from this command; rerun it on a quiet machine before relying on them.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Any

#: One row per event of a typical custom-event mix: a few low-cardinality dimensions, an id, a number.
SOURCE = """
SELECT
    number AS n,
    toJSONString(map(
        'country', ['NO', 'JP', 'KZ', 'BR', 'US', 'DE', 'IN', 'NG'][n % 8 + 1],
        'story_id', concat('s-', toString(n % 50000)),
        'surface', ['feed', 'profile', 'search'][n % 3 + 1],
        'plan', ['free', 'plus', 'pro'][n % 7 % 3 + 1],
        'duration_ms', toString(n % 9000),
        'app_version', concat('5.', toString(n % 12))
    )) AS properties,
    concat('u-', toString(cityHash64(n) % 200000)) AS user_id
FROM numbers({rows})
"""

LAYOUTS: dict[str, tuple[str, str]] = {
    # name: (column definition, expression of property X given its name as a literal)
    "String + JSONExtract": ("properties String", "JSONExtractString(properties, '{key}')"),
    "Map(String, String)": (
        "properties String, props Map(LowCardinality(String), String) "
        "MATERIALIZED JSONExtract(properties, 'Map(String, String)')",
        "props['{key}']",
    ),
    "JSON": ("properties String, props JSON MATERIALIZED properties::JSON", "toString(props.{key})"),
}

QUERIES: dict[str, str] = {
    "Explore filter (count where country = NO)": "SELECT count() FROM t WHERE {country} = 'NO'",
    "rollup (GROUP BY country, uniq users)": "SELECT {country}, count(), uniq(user_id) FROM t GROUP BY 1",
    "filter + group (plan = pro, by surface)": "SELECT {surface}, count() FROM t WHERE {plan} = 'pro' GROUP BY 1",
}


@dataclass
class LayoutFigures:
    layout: str
    insert_s: float
    bytes_on_disk: int
    query_ms: dict[str, float]


def run(rows: int = 1_000_000, repeat: int = 5) -> list[LayoutFigures]:
    from chdb import session

    out = []
    with tempfile.TemporaryDirectory(prefix="pulse-bench-properties-") as path:
        db: Any = session.Session(path)  # type: ignore[no-untyped-call]
        try:
            for layout, (columns, read) in LAYOUTS.items():
                db.query("DROP TABLE IF EXISTS t")
                db.query(f"CREATE TABLE t (n UInt64, user_id String, {columns}) ENGINE = MergeTree ORDER BY n")
                started = time.perf_counter()
                db.query(f"INSERT INTO t (n, properties, user_id) {SOURCE.format(rows=rows)}")
                insert_s = time.perf_counter() - started
                db.query("OPTIMIZE TABLE t FINAL")
                size = db.query("SELECT sum(bytes_on_disk) FROM system.parts WHERE table = 't' AND active", "CSV")
                timings = {}
                for name, template in QUERIES.items():
                    sql = template.format(**{key: read.format(key=key) for key in ("country", "surface", "plan")})
                    samples = []
                    for _ in range(repeat):
                        started = time.perf_counter()
                        db.query(sql)
                        samples.append((time.perf_counter() - started) * 1000)
                    timings[name] = statistics.median(samples)
                out.append(LayoutFigures(layout, insert_s, int(str(size).strip() or 0), timings))
        finally:
            db.close()
    return out
