"""`pulse retention show|apply` on the real engine: TTLs read back, expired rows leave, bad retentions refused."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import given
from hypothesis import strategies as st

from pulse.errors import PulseError
from pulse.warehouse.migrations import discover, migrate
from pulse.warehouse.retention import Keep, _managed
from tests.support.warehouse import Warehouse


@pytest.fixture(scope="module")
def database(warehouse: Warehouse) -> Iterator[str]:
    """The shipped schema in a database of this module's own."""
    client = warehouse.client()
    name = f"ret_{uuid.uuid4().hex[:6]}"
    migrate(client, name, discover())
    client.close()
    yield name


@pytest.fixture
def db(warehouse: Warehouse, database: str) -> Iterator[Client]:
    client = warehouse.client(database=database)
    yield client
    client.close()


def pulse(warehouse: Warehouse, database: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pulse", *args],
        env={**warehouse.env, "PULSE_CLICKHOUSE__DATABASE": database, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def ttl_of(client: Client, table: str) -> str:
    return str(
        client.command(
            f"SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = '{table}'"
        )
    )


def insert_events(client: Client, ages_days: list[int]) -> None:
    now = datetime.now(UTC)
    rows = [[f"m-{uuid.uuid4().hex}", "view", now - timedelta(days=age), f"u{i}"] for i, age in enumerate(ages_days)]
    client.insert("events", rows, column_names=["message_id", "event", "event_time", "user_id"])


def test_show_reads_every_tier(warehouse: Warehouse, database: str) -> None:
    shown = pulse(warehouse, database, "retention", "show")
    assert shown.returncode == 0, shown.stderr
    lines = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if line.count("│") >= 4}
    assert "30 days" in lines["events"] and "toIntervalDay(30)" in lines["events"]
    assert "730 days" in lines["engagement_per_hour"]
    assert "2 hours" in lines["events_per_second"]
    assert "15 min" in lines["redis hot tier"]
    assert "indefinitely" in lines["s3 archive"]


def test_expired_rows_leave_and_apply_shortens_raw_retention(warehouse: Warehouse, database: str, db: Client) -> None:
    insert_events(db, [40, 20, 0])
    # A row already past its TTL is dropped as its part is written: what a silent replay would do.
    assert db.command("SELECT count() FROM events") == 2
    assert db.command("SELECT count() FROM events_per_minute") == 2  # 30 days there too
    assert db.command("SELECT count() FROM active_users_per_day") == 3  # kept 730 days

    dry = pulse(warehouse, database, "retention", "apply", "--dry-run", PULSE_RETENTION__RAW="10d")
    assert dry.returncode == 0, dry.stderr
    assert "events would keep 10 days (was 30 days)" in dry.stdout
    assert "toIntervalDay(30)" in ttl_of(db, "events")
    applied = pulse(warehouse, database, "retention", "apply", PULSE_RETENTION__RAW="10d")
    assert applied.returncode == 0, applied.stderr
    assert "3 TTL(s) changed" in applied.stdout  # events, rejected_events, loader_dead_letters
    assert "toIntervalDay(10)" in ttl_of(db, "events")
    db.command("OPTIMIZE TABLE events FINAL")
    assert db.command("SELECT count() FROM events") == 1  # 20 days > 10: gone too
    assert db.command("SELECT count() FROM events_per_minute") == 2  # rollups keep their own 30 days
    recorded = db.query("SELECT target, details FROM audit_log WHERE action = 'retention' ORDER BY target").result_rows
    assert [r[0] for r in recorded] == [
        f"{database}.events",
        f"{database}.loader_dead_letters",
        f"{database}.rejected_events",
    ]
    assert '"keep":"10 days"' in recorded[0][1]
    again = pulse(warehouse, database, "retention", "apply", PULSE_RETENTION__RAW="10d")
    assert "0 TTL(s) changed" in again.stdout
    back = pulse(warehouse, database, "retention", "apply", PULSE_RETENTION__RAW="30d")
    assert back.returncode == 0, back.stderr


def test_a_rollup_is_set_by_name(warehouse: Warehouse, database: str, db: Client) -> None:
    longer = pulse(warehouse, database, "retention", "apply", PULSE_RETENTION__TABLES='{"engagement_per_hour": "3y"}')
    assert longer.returncode == 0, longer.stderr
    assert "engagement_per_hour keeps 3 years (was 730 days)" in longer.stdout
    assert "toIntervalYear(3)" in ttl_of(db, "engagement_per_hour")


def test_bad_retentions_are_refused_and_nothing_changes(warehouse: Warehouse, database: str, db: Client) -> None:
    before = ttl_of(db, "events")
    hour = pulse(warehouse, database, "retention", "apply", PULSE_RETENTION__RAW="30m")
    assert hour.returncode == 2
    assert "events: keeping 30 minutes would delete rows of the current hour" in hour.stderr
    typo = pulse(warehouse, database, "retention", "apply", PULSE_RETENTION__RAW="30x")
    assert typo.returncode == 2 and "retention '30x'" in typo.stderr
    unknown = pulse(warehouse, database, "retention", "apply", PULSE_RETENTION__TABLES='{"nope": "1d"}')
    assert unknown.returncode == 2 and "nope: no such MergeTree table" in unknown.stderr
    assert ttl_of(db, "events") == before


def test_a_replay_older_than_raw_retention_says_so(warehouse: Warehouse, database: str) -> None:
    now = datetime.now(UTC)
    old = pulse(
        warehouse,
        database,
        "replay",
        "--since",
        f"{now - timedelta(days=40):%Y-%m-%d}",
        "--until",
        f"{now - timedelta(days=39):%Y-%m-%d}",
    )
    assert old.returncode == 2
    assert "older than the raw retention: events keeps 30 days" in old.stderr
    assert "nothing replayed" in old.stderr


@given(count=st.integers(min_value=1, max_value=10_000), unit=st.sampled_from(["s", "m", "h", "d", "w", "mo", "y"]))
def test_a_retention_reads_back_from_the_ttl_it_writes(count: int, unit: str) -> None:
    keep = Keep.parse(f"{count}{unit}")
    assert keep.count == count
    assert _managed(f"toDateTime(event_time) + {keep.sql}") == ("toDateTime(event_time)", keep)
    assert _managed(f"toDateTime(event_time) + {keep.sql} TO VOLUME 'cold'") == (None, None)


def test_zero_or_garbage_is_not_a_retention() -> None:
    for text in ("0d", "-1d", "d", "30", "1.5d", ""):
        with pytest.raises(PulseError, match="positive count and a unit"):
            Keep.parse(text)
