"""Reproduce, without Pulse's services, chDB committing a broken part when its disk fills mid-merge.

Not a test (pytest does not collect it): a standalone reproduction of the open engine defect that keeps
``warehouse-disk-full`` out of ``tests/chaos`` (docs/reliability.md, "Chaos"), small enough to hand to
chDB's or ClickHouse's maintainers. As root, from the repository with its venv::

    .venv/bin/python tests/chaos/chdb_disk_full_repro.py [seconds]

It mounts a 300 MB tmpfs, applies every Pulse migration in one chDB session on it, inserts 1,500-row
blocks into ``events`` every 0.3 s (its ~30 materialized views write and merge beside it) while a
ballast file fills the volume for 6 s every 20 s, then runs ``CHECK TABLE`` and a full read of every
MergeTree table. Exit code 1 when any table has a broken part. ``TABLE_SETTINGS="a=1, b=2"`` applies
``ALTER TABLE … MODIFY SETTING`` to every MergeTree table first (to try a mitigation).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from chdb import session

from pulse.warehouse.migrations import discover

VOLUME = Path(os.environ.get("REPRO_VOLUME", "/tmp/pulse-disk-full-repro"))
SIZE_MB = int(os.environ.get("REPRO_SIZE_MB", "300"))
BLOCK_ROWS = 1_500  # numbers(1500) in INSERT
FULL_EVERY_S, FULL_FOR_S = 20.0, 6.0

INSERT = """
INSERT INTO events (message_id, call, event, event_time, received_at, user_id, anonymous_id, source,
  session_id, country, device_type, os, browser, post_id, author_id, category, hashtags, campaign_id,
  spend_micros, revenue_micros, properties, flags, kafka_topic, kafka_partition, kafka_offset)
SELECT concat('m', toString({base} + number)), 'track',
  ['post_viewed', 'post_liked', 'ad_impression', 'ad_click', 'search', 'story_view'][1 + number % 6],
  now64(3) - toIntervalMillisecond(rand() % 60000), now64(3), concat('u', toString(rand() % 5000)), '',
  'repro', concat('s', toString(rand() % 2000)), ['FR', 'US', 'DE', 'BR'][1 + rand() % 4], 'mobile', 'iOS',
  'Safari', concat('p', toString(rand() % 3000)), concat('a', toString(rand() % 300)), 'news', ['x', 'y'],
  concat('c', toString(rand() % 20)), rand() % 1000, rand() % 500,
  concat('{"duration_ms": "', toString(rand() % 9000), '", "k": "', hex(randomString(20)), '"}'), [],
  'pulse.repro', 0, {base} + number
FROM numbers(1500)
"""


def merge_tree_tables(engine: session.Session) -> list[str]:
    listed = engine.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree%'"
        " AND NOT startsWith(name, '.')",
        "TSV",
    )
    return [name for name in str(listed).splitlines() if name]


def fill_now_and_then(stop: threading.Event) -> None:
    """The fault: a ballast file takes every free byte for FULL_FOR_S, every FULL_EVERY_S."""
    ballast, chunk = VOLUME / "ballast", b"\1" * (1 << 20)
    while not stop.wait(FULL_EVERY_S - FULL_FOR_S):
        try:
            with ballast.open("wb") as out:
                while True:
                    out.write(chunk)
        except OSError:
            print(f"{time.strftime('%X')} disk full", flush=True)
        stop.wait(FULL_FOR_S)
        ballast.unlink(missing_ok=True)


def broken_tables(engine: session.Session, tables: list[str]) -> dict[str, str]:
    broken = {}
    for table in tables:
        try:
            verdict = str(engine.query(f"CHECK TABLE `{table}` SETTINGS check_query_single_value_result = 1", "TSV"))
            engine.query(f"SELECT * FROM `{table}` FORMAT Null")
            if verdict.strip() != "1":
                broken[table] = f"CHECK TABLE = {verdict.strip()}"
        except Exception as error:  # the engine's message is the finding
            broken[table] = str(error).splitlines()[0][:400]
    return broken


def main(seconds: float) -> int:
    subprocess.run(["umount", str(VOLUME)], capture_output=True, check=False)
    VOLUME.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(VOLUME)], check=True)
    try:
        engine = session.Session(str(VOLUME / "chdb"))
        engine.query("CREATE DATABASE IF NOT EXISTS pulse")
        engine.query("USE pulse")
        for migration in discover():
            for statement in migration.statements:
                engine.query(statement)
        tables = merge_tree_tables(engine)
        extra = os.environ.get("TABLE_SETTINGS")
        for table in tables if extra else ():
            engine.query(f"ALTER TABLE `{table}` MODIFY SETTING {extra}")
        print(f"{len(tables)} MergeTree tables, settings: {extra or 'default'}", flush=True)

        stop = threading.Event()
        threading.Thread(target=fill_now_and_then, args=(stop,), daemon=True).start()
        base, refused = 0, 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                engine.query(INSERT.replace("{base}", str(base)))
                base += BLOCK_ROWS
            except Exception:  # NOT_ENOUGH_SPACE while the disk is full: expected
                refused += 1
            time.sleep(0.3)
        stop.set()
        (VOLUME / "ballast").unlink(missing_ok=True)
        print(f"{base:,} rows inserted, {refused} inserts refused; merges settle for 10 s", flush=True)
        time.sleep(10)
        broken = broken_tables(engine, tables)
        print(f"broken: {len(broken)} of {len(tables)} tables")
        for table, why in broken.items():
            print(f"  {table}: {why}")
        engine.close()
        return 1 if broken else 0
    finally:
        subprocess.run(["umount", str(VOLUME)], check=False)


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 240.0))
