"""Every named query runs on the real engine; `pulse query` and `pulse export` round-trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from clickhouse_connect.driver.client import Client

from pulse.bench.synthetic import load
from pulse.queries.registry import load_all
from pulse.queries.run import run
from pulse.settings import Settings
from pulse.warehouse.client import connect
from tests.support.stack import StackHandle

END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=20)
RANGE = {"from": (END - timedelta(hours=6)).isoformat(), "to": END.isoformat()}


@pytest.fixture(scope="module")
def loaded(warehouse_stack: Settings, test_stack: StackHandle) -> Client:
    test_stack.up("s3")  # the archive queries read the (empty) archive bucket
    test_stack.pulse("migrate", check=True)
    client = connect(warehouse_stack)
    load(client, 30_000, days=0.25, end=END, users=2_000, posts=1_000, tags=200, chunk=30_000)
    return client


@pytest.mark.parametrize("name", sorted(load_all()))
def test_every_named_query_runs_and_returns_its_declared_columns(loaded: Client, name: str) -> None:
    query = load_all()[name]
    given = {k: v for k, v in RANGE.items() if k in query.params}
    result = run(loaded, name, given)
    if result.rows:  # an empty answer carries no column names over HTTP
        assert result.columns == [column.name for column in query.columns]
    if name in ("engagement", "engagement_by_geo", "ad_performance", "funnel", "sessions", "topic_mentions"):
        assert result.rows, f"{name} found nothing in the loaded range"


def test_engagement_rollup_levels_agree(loaded: Client) -> None:
    totals = {}
    for interval in ("60", "300", "3600"):
        rows = run(loaded, "engagement", {**RANGE, "interval_s": interval, "by": "all"}).rows
        totals[interval] = sum(row[2] for row in rows)
    raw = loaded.command(
        "SELECT count() FROM events WHERE event_time >= {a:DateTime64(3)} AND event_time < {b:DateTime64(3)}",
        parameters={"a": f"{(END - timedelta(hours=6)).timestamp():.3f}", "b": f"{END.timestamp():.3f}"},
    )
    assert set(totals.values()) == {raw} and raw > 0


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_round_trips(loaded: Client, test_stack: StackHandle, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"ads.{fmt}"
    params = [f"--param={k}={v}" for k, v in RANGE.items()]
    done = test_stack.pulse(
        "export", "ad_performance", "--format", fmt, "--out", str(out), *params, "-p", "by=creative"
    )
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out) if fmt == "parquet" else pacsv.read_csv(out)
    expected = run(loaded, "ad_performance", {**RANGE, "by": "creative"})
    assert table.column_names == expected.columns
    assert table.column("key").to_pylist() == [row[0] for row in expected.rows]
    assert table.column("spend_micros").to_pylist() == [row[4] for row in expected.rows]


def test_the_cli_prints_a_table_and_rejects_bad_input_clearly(loaded: Client, test_stack: StackHandle) -> None:
    done = test_stack.pulse("query", "engagement_by_geo", *[f"--param={k}={v}" for k, v in RANGE.items()])
    assert done.returncode == 0 and "place" in done.stdout, done.stderr
    bad = test_stack.pulse("query", "engagement", "-p", "by=colour")
    assert bad.returncode == 2 and "parameter by" in bad.stderr and "Traceback" not in bad.stderr
    unknown = test_stack.pulse("query", "no_such_query")
    assert unknown.returncode == 2 and "no query named" in unknown.stderr
