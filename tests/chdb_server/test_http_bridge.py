"""The bridge through clickhouse-connect's HTTP client, httpx and curl, against the real engine."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from pulse.pipeline.monitor import metric_total
from tests.support.tiers import wait_for
from tests.support.warehouse import Warehouse


def table_name() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


def make_events(client: Client, dedup_window: int = 0) -> str:
    name = table_name()
    client.command(
        f"CREATE TABLE {name} (id UInt64, name String, at DateTime64(3, 'UTC'), tags Array(String), "
        f"kind LowCardinality(String)) ENGINE = MergeTree ORDER BY id "
        f"SETTINGS non_replicated_deduplication_window = {dedup_window}"
    )
    return name


def rows(n: int, start: int = 0) -> list[list[object]]:
    at = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    return [[i, f"user-{i}", at + dt.timedelta(seconds=i), ["a", str(i % 3)], "view"] for i in range(start, start + n)]


# -- plain HTTP, like a person ------------------------------------------------------------


def test_ping_and_root_answer_ok(warehouse: Warehouse) -> None:
    assert httpx.get(f"{warehouse.url}/ping").text == "Ok.\n"
    assert httpx.get(f"{warehouse.url}/").text == "Ok.\n"
    assert httpx.get(f"{warehouse.url}/nope").status_code == 404


def test_get_and_post_queries(warehouse: Warehouse) -> None:
    assert httpx.get(warehouse.url, params={"query": "SELECT 1"}).text == "1\n"
    assert httpx.post(warehouse.url, content=b"SELECT 2").text == "2\n"
    # query parameter and body are concatenated, like ClickHouse does
    response = httpx.post(warehouse.url, params={"query": "SELECT number FROM numbers(3)"}, content=b"WHERE number > 0")
    assert response.text == "1\n2\n"
    assert response.headers["X-ClickHouse-Format"] == "TabSeparated"
    as_json = httpx.get(warehouse.url, params={"query": "SELECT 1 AS x", "default_format": "JSONEachRow"})
    assert as_json.json() == {"x": 1}
    explicit = httpx.get(warehouse.url, params={"query": "SELECT 1 AS x FORMAT CSVWithNames"})
    assert explicit.text == '"x"\n1\n'
    assert explicit.headers["X-ClickHouse-Format"] == "CSVWithNames"
    bound = httpx.get(warehouse.url, params={"query": "SELECT {n:UInt8} * 2", "param_n": "21"})
    assert bound.text == "42\n"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl(warehouse: Warehouse) -> None:
    out = subprocess.run(["curl", "-sS", f"{warehouse.url}/?query=SELECT+1"], capture_output=True, check=True)
    assert out.stdout == b"1\n"
    name = table_name()
    subprocess.run(
        [
            "curl",
            "-sS",
            "--fail",
            warehouse.url,
            "--data-binary",
            f"CREATE TABLE {name} (a UInt8, s String) ENGINE = Memory",
        ],
        check=True,
    )
    subprocess.run(
        [
            "curl",
            "-sS",
            "--fail",
            f"{warehouse.url}/?query=INSERT+INTO+{name}+FORMAT+CSV",
            "--data-binary",
            "1,one\n2,two\n",
        ],
        check=True,
    )
    out = subprocess.run(
        ["curl", "-sS", f"{warehouse.url}/?query=SELECT+*+FROM+{name}+ORDER+BY+a+FORMAT+TSV"],
        capture_output=True,
        check=True,
    )
    assert out.stdout == b"1\tone\n2\ttwo\n"


def test_insert_formats_over_plain_http(warehouse: Warehouse) -> None:
    name = table_name()
    httpx.post(warehouse.url, content=f"CREATE TABLE {name} (a UInt32, s String) ENGINE = Memory").raise_for_status()
    # data in the body after the statement, compressed, in several input formats
    httpx.post(warehouse.url, content=f"INSERT INTO {name} VALUES (1, 'values'), (2, 'x;y')").raise_for_status()
    body = gzip.compress(f"INSERT INTO {name} FORMAT TSV\n3\ttsv\n".encode())
    httpx.post(warehouse.url, content=body, headers={"Content-Encoding": "gzip"}).raise_for_status()
    httpx.post(
        warehouse.url, params={"query": f"INSERT INTO {name} FORMAT JSONEachRow"}, content=b'{"a": 4, "s": "json"}'
    ).raise_for_status()
    httpx.post(
        warehouse.url, params={"query": f"INSERT INTO {name} (a) SETTINGS async_insert = 0 FORMAT CSV"}, content=b"5\n"
    ).raise_for_status()
    got = httpx.get(warehouse.url, params={"query": f"SELECT a, s FROM {name} ORDER BY a FORMAT JSONCompactEachRow"})
    assert [json.loads(line) for line in got.text.splitlines()] == [
        [1, "values"],
        [2, "x;y"],
        [3, "tsv"],
        [4, "json"],
        [5, ""],
    ]


def test_errors_look_like_clickhouse(warehouse: Warehouse) -> None:
    syntax = httpx.post(warehouse.url, content=b"SELEC 1")
    assert syntax.status_code == 400
    assert syntax.headers["X-ClickHouse-Exception-Code"] == "62"
    assert syntax.text.startswith("Code: 62. DB::Exception: Syntax error")
    missing = httpx.get(warehouse.url, params={"query": "SELECT * FROM no_such_table"})
    assert (missing.status_code, missing.headers["X-ClickHouse-Exception-Code"]) == (404, "60")
    no_db = httpx.get(warehouse.url, params={"query": "SELECT 1", "database": "no_such_db"})
    assert (no_db.status_code, no_db.headers["X-ClickHouse-Exception-Code"]) == (404, "81")
    # the connection stays usable after an error
    assert httpx.get(warehouse.url, params={"query": "SELECT 3"}).text == "3\n"


def test_get_is_readonly_like_clickhouse(warehouse: Warehouse) -> None:
    response = httpx.get(warehouse.url, params={"query": f"CREATE TABLE {table_name()} (a UInt8) ENGINE = Memory"})
    assert response.headers["X-ClickHouse-Exception-Code"] == "164"
    assert "readonly" in response.text


# -- clickhouse-connect ---------------------------------------------------------------------


def test_handshake(client: Client) -> None:
    assert (client.server_version or "").startswith("26.")
    assert client.command("SELECT 1") == 1


def test_query_with_parameters(client: Client) -> None:
    result = client.query(
        "SELECT {a:UInt32} + 1 AS x, {s:String} AS s, {d:Date} AS d",
        parameters={"a": 41, "s": "it's a\ttab", "d": dt.date(2025, 3, 1)},
    )
    assert result.result_rows == [(42, "it's a\ttab", dt.date(2025, 3, 1))]
    # large binds travel as multipart/form-data
    ids = list(range(20_000))
    big = client.query(
        "SELECT count() FROM numbers(50000) WHERE number IN {ids:Array(UInt64)}", parameters={"ids": ids}
    )
    assert big.result_rows == [(20_000,)]


def test_query_df_and_arrow(client: Client) -> None:
    df = client.query_df("SELECT number AS n, toString(number) AS s FROM numbers(3)")
    assert list(df["n"]) == [0, 1, 2]
    table = client.query_arrow("SELECT number AS n FROM numbers(4)")
    assert table.column("n").to_pylist() == [0, 1, 2, 3]


@pytest.mark.parametrize("compress", [False, "lz4", "zstd", "gzip"])
def test_native_insert(warehouse: Warehouse, compress: str | bool) -> None:
    client = warehouse.client(compress=compress)
    name = make_events(client)
    summary = client.insert(name, rows(5000))
    assert summary.written_rows == 5000
    back = client.query(f"SELECT count(), sum(id), max(at), any(kind) FROM {name}").result_rows
    assert back == [(5000, sum(range(5000)), dt.datetime(2025, 1, 1, 1, 23, 19), "view")]
    client.close()


def test_raw_insert_json_each_row(client: Client) -> None:
    name = make_events(client)
    body = b"".join(json.dumps({"id": i, "name": f"j{i}", "tags": ["x"]}).encode() + b"\n" for i in range(10))
    client.raw_insert(name, ["id", "name", "tags"], body, fmt="JSONEachRow")
    assert client.query(f"SELECT count(), max(name) FROM {name}").result_rows == [(10, "j9")]


def test_command_ddl_and_unqualified_tables(warehouse: Warehouse) -> None:
    admin = warehouse.client()
    database = f"db_{uuid.uuid4().hex[:8]}"
    admin.command(f"CREATE DATABASE {database}")
    scoped = warehouse.client(database=database)
    scoped.command("CREATE TABLE local_t (a UInt8) ENGINE = Memory")
    scoped.command("INSERT INTO local_t VALUES (7)")
    assert scoped.command("SELECT a FROM local_t") == 7
    assert admin.command(f"SELECT count() FROM {database}.local_t") == 1
    assert admin.command("SELECT currentDatabase()") == "default"  # no leak between requests


def test_deduplication_token_passes_through(client: Client) -> None:
    name = make_events(client, dedup_window=100)
    for _ in range(2):
        client.insert(name, rows(3), settings={"insert_deduplication_token": "batch-1"})
    client.insert(name, rows(3), settings={"insert_deduplication_token": "batch-2"})
    assert client.command(f"SELECT count() FROM {name}") == 6


def test_settings_apply_per_request_and_do_not_leak(client: Client) -> None:
    with pytest.raises(DatabaseError) as caught:
        client.query(
            "SELECT sleepEachRow(0.2) FROM numbers(20)", settings={"max_execution_time": 1, "max_block_size": 1}
        )
    assert caught.value.code == 159
    assert client.command("SELECT getSetting('max_execution_time')") == 0
    assert client.command("SELECT getSetting('max_threads')", settings={"max_threads": 1}) == 1
    # a bare SET over HTTP has no lasting effect, as without a session in ClickHouse
    client.command("SET max_block_size = 123")
    assert client.command("SELECT getSetting('max_block_size')") != 123


def test_readonly_setting_blocks_inserts(client: Client) -> None:
    name = make_events(client)
    with pytest.raises(DatabaseError) as caught:
        client.insert(name, rows(1), settings={"readonly": 1})
    assert caught.value.code == 164
    client.insert(name, rows(1))
    assert client.command(f"SELECT count() FROM {name}") == 1


def test_errors_raise_database_error_with_code_and_message(client: Client) -> None:
    with pytest.raises(DatabaseError) as caught:
        client.query("SELECT * FROM surely_missing")
    assert caught.value.code == 60
    assert "surely_missing" in str(caught.value)
    with pytest.raises(DatabaseError) as bad:
        client.command("CREATE TABLE broken (")
    assert bad.value.code == 62


def test_concurrent_queries_from_threads(warehouse: Warehouse) -> None:
    def work(worker: int) -> list[object]:
        own = warehouse.client()
        try:
            return [
                own.command("SELECT {w:UInt32} * 1000 + {i:UInt32}", parameters={"w": worker, "i": i})
                for i in range(25)
            ]
        finally:
            own.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    assert results == [[w * 1000 + i for i in range(25)] for w in range(8)]


def test_large_native_insert(client: Client) -> None:
    name = make_events(client)
    client.insert(name, rows(100_000))
    assert client.command(f"SELECT count() FROM {name}") == 100_000


def test_metrics(warehouse: Warehouse, client: Client) -> None:
    client.command("SELECT 1")
    text = httpx.get(f"{warehouse.url}/metrics").text
    assert 'pulse_warehouse_queries_total{kind="select",status="ok"}' in text
    assert "pulse_warehouse_query_duration_seconds_bucket" in text


def test_metrics_carry_clickhouse_server_names_read_from_the_engine(warehouse: Warehouse, client: Client) -> None:
    """ClickHouse's own names (as a server's Prometheus endpoint serves them) count what the engine did.

    The bridge reads its system tables every second in the background: the counts show within a few seconds.
    """
    url = f"{warehouse.url}/metrics"
    name = make_events(client)
    wait_for(lambda: metric_total(url, "ClickHouseProfileEvents_Query") >= 1, 10, "a first reading")
    inserted, failed = (metric_total(url, f"ClickHouseProfileEvents_{m}") for m in ("InsertedRows", "FailedQuery"))
    client.insert(name, rows(123))
    with pytest.raises(DatabaseError):
        client.command("SELECT no_such_function()")

    def counted() -> bool:
        return (
            metric_total(url, "ClickHouseProfileEvents_InsertedRows") >= inserted + 123
            and metric_total(url, "ClickHouseProfileEvents_FailedQuery") > failed
        )

    wait_for(counted, 10, "the insert and the failed query counted", poll_s=0.2)
    assert metric_total(url, "ClickHouseMetrics_MemoryTracking") > 0


def test_disk_gauges_are_the_filesystem_of_the_warehouse_data(warehouse: Warehouse) -> None:
    """``PulseWarehouseDiskLow`` reads the server's disk gauges; the bridge serves them for its data folder."""
    url = f"{warehouse.url}/metrics"
    wait_for(lambda: metric_total(url, "ClickHouseAsyncMetrics_DiskTotal_default") > 0, 10, "a first reading")
    total, available, used = (
        metric_total(url, f"ClickHouseAsyncMetrics_Disk{name}_default") for name in ("Total", "Available", "Used")
    )
    disk = os.statvfs(warehouse.path)
    assert total == disk.f_blocks * disk.f_frsize
    # Free space moves with every other writer on the machine between the two readings: 1% of the disk.
    assert abs(available - disk.f_bavail * disk.f_frsize) <= total / 100
    assert available + used == total


# -- lifecycle ------------------------------------------------------------------------------


def test_restart_keeps_data_and_drains_in_flight_queries(own_warehouse: Warehouse) -> None:
    client = own_warehouse.client()
    client.command("CREATE TABLE kept (a UInt32) ENGINE = MergeTree ORDER BY a")
    client.insert("kept", [[i] for i in range(1000)])

    outcome: dict[str, object] = {}
    slow_client = own_warehouse.client()  # built here: its own set-up queries are not the one to drain

    def slow() -> None:
        try:
            outcome["value"] = slow_client.command("SELECT sleep(1.5) + 1")
        except Exception as error:
            outcome["error"] = error

    def in_flight() -> float:
        return metric_total(f"{own_warehouse.url}/metrics", "pulse_warehouse_in_flight_queries")

    worker = threading.Thread(target=slow)
    worker.start()
    deadline = time.monotonic() + 10
    while in_flight() < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert in_flight() >= 1, "the slow query never arrived"
    assert own_warehouse.stop() == 0  # SIGTERM: the in-flight query still completes
    worker.join()
    assert outcome.get("value") == 1, outcome
    assert "warehouse stopped" in own_warehouse.logs()

    own_warehouse.start()
    again = own_warehouse.client()
    assert again.command("SELECT count(), sum(a) FROM kept") == ["1000", str(sum(range(1000)))]


def test_refuses_a_second_owner_and_non_loopback(warehouse: Warehouse) -> None:
    second = Warehouse(path=warehouse.path, home=warehouse.home)
    env = {**second.env, "PULSE_CLICKHOUSE__URL": second.url}
    command = [sys.executable, "-m", "pulse", "warehouse", "serve"]
    taken = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert taken.returncode == 2, taken.stderr
    assert "cannot open chDB" in taken.stderr
    exposed = subprocess.run(
        command, env={**env, "PULSE_STACK__HOST": "0.0.0.0"}, capture_output=True, text=True, timeout=60
    )
    assert exposed.returncode == 2
    assert "loopback" in exposed.stderr
    assert httpx.get(f"{warehouse.url}/ping").text == "Ok.\n"  # the owner is unaffected
