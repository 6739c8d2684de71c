"""The cluster rendering of the shipped schema, proven on the real engine (a chDB bridge).

chDB has no Keeper and no TCP port, so it can neither create a Replicated table, run ``ON CLUSTER``,
nor read through a Distributed table. What it can do, and what these tests do: parse every rendered
statement, create the same layout with plain engines (``replicated=False``: local tables,
Distributed tables under today's names, views on the local tables) beside the single-node schema
and compare them table by table, and check that every named query reads only names the Distributed
layout keeps. The bridge defines a one-shard cluster (``system.clusters``) so Distributed tables
can be created; nothing ever connects to it.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.errors import PulseError
from pulse.queries.catalog import ast_references, sample_params
from pulse.queries.registry import load_all
from pulse.warehouse.cluster import (
    LOCAL_SUFFIX,
    ClusterRenderer,
    EngineParser,
    Rendered,
    UnknownStatement,
    storage_engine,
)
from pulse.warehouse.migrations import discover, ledger_ddl, migrate
from tests.support.warehouse import Warehouse
from tests.support.warehouse_fixtures import serving

CLUSTER = "pulse_ci"
CLUSTER_XML = f"""<clickhouse>
  <macros><shard>01</shard><replica>ci-1</replica></macros>
  <remote_servers><{CLUSTER}><shard><replica><host>127.0.0.1</host><port>9000</port></replica></shard></{CLUSTER}>
  </remote_servers>
</clickhouse>
"""


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """A bridge whose engine defines the cluster ``pulse_ci`` (one shard of one replica)."""
    tmp = tmp_path_factory.mktemp("cluster")
    fragments = tmp / "config.d"
    fragments.mkdir()
    (fragments / "cluster.xml").write_text(CLUSTER_XML)
    warehouse = Warehouse(
        path=tmp / "chdb", home=tmp / "home", extra_env={"PULSE_CLICKHOUSE__EMBEDDED_CONFIG_D": str(fragments)}
    )
    warehouse.home.mkdir()
    yield from serving(warehouse)


@pytest.fixture(scope="module")
def engine(bridge: Warehouse) -> Iterator[Client]:
    client = bridge.client()
    yield client
    client.close()


def render_all(client: Client, database: str, *, replicated: bool) -> list[tuple[str, Rendered]]:
    """Every shipped migration rendered in order, with the file each statement came from."""
    renderer = ClusterRenderer(EngineParser(client), CLUSTER, database, replicated=replicated)
    out = [("ledger", r) for r in renderer.render(ledger_ddl())]
    for migration in discover():
        out += [(migration.path.name, r) for s in migration.statements for r in renderer.render(s)]
    return out


@pytest.fixture(scope="module")
def rendered(engine: Client) -> list[tuple[str, Rendered]]:
    return render_all(engine, "pulse", replicated=True)


@pytest.fixture(scope="module")
def twins(engine: Client) -> tuple[str, str]:
    """(single-node database, cluster-layout database) on one engine, both from the shipped files."""
    single, layout = f"single_{uuid.uuid4().hex[:6]}", f"layout_{uuid.uuid4().hex[:6]}"
    migrate(engine, single, discover())
    engine.command(f"CREATE DATABASE {layout}")
    engine.database = layout
    for _, statement in render_all(engine, layout, replicated=False):
        if statement.role != "once":  # INSERT backfills read through Distributed tables: no TCP port here
            engine.command(statement.sql)
    engine.database = None
    return single, layout


def test_every_cluster_statement_parses_and_is_replicated(engine: Client, rendered: list[tuple[str, Rendered]]) -> None:
    parser = EngineParser(engine)
    for source, statement in rendered:
        ast = parser.ast(statement.sql)  # raises on a syntax error
        assert ast, f"{source}: {statement.sql}"
        if statement.role == "local" and statement.sql.startswith("CREATE"):
            engine_name = storage_engine(ast)
            assert engine_name.startswith("Replicated") and engine_name.endswith("MergeTree"), statement.sql
            assert "'{replica}'" in statement.sql and "{shard}" in statement.sql
        if statement.role != "once":
            assert f"ON CLUSTER {CLUSTER}" in statement.sql, f"{source}: {statement.sql}"
        assert "non_replicated_deduplication_window" not in statement.sql
    names = {s.name for _, s in rendered}
    assert {"events", "events_local", "schema_migrations", "schema_migrations_local"} <= names  # ledger too


def test_the_replicated_rendering_differs_from_the_created_layout_only_by_replication(
    engine: Client, rendered: list[tuple[str, Rendered]]
) -> None:
    """The statements chDB could not create are the ones it did create, plus replication and ON CLUSTER."""
    layout = render_all(engine, "pulse", replicated=False)
    assert [(src, r.role, r.name) for src, r in layout] == [(src, r.role, r.name) for src, r in rendered]
    arguments = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
    for (_, replicated), (_, plain) in zip(rendered, layout, strict=True):
        undone = (
            replicated.sql.replace(f" ON CLUSTER {CLUSTER}", "")
            .replace(f"({arguments}, ", "(")
            .replace(f"({arguments})", "")
            .replace("ENGINE = Replicated", "ENGINE = ")
            .replace("replicated_deduplication_window", "non_replicated_deduplication_window")
        )
        assert undone == plain.sql


def _columns(client: Client, database: str, table: str) -> list[tuple[str, ...]]:
    return [
        tuple(str(v) for v in row)
        for row in client.query(
            "SELECT name, type, default_kind, default_expression, compression_codec FROM system.columns "
            "WHERE database = {db:String} AND table = {t:String} ORDER BY position",
            parameters={"db": database, "t": table},
        ).result_rows
    ]


def _keys(client: Client, database: str, table: str) -> tuple[str, ...]:
    row = client.query(
        "SELECT engine, sorting_key, primary_key, partition_key FROM system.tables "
        "WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": database, "t": table},
    ).result_rows[0]
    return tuple(str(v) for v in row)


def _names(client: Client, database: str, where: str) -> list[str]:
    """Names of ``database``'s tables matching ``where`` (a condition on system.tables), sorted."""
    rows = client.query(
        f"SELECT name FROM system.tables WHERE database = {{db:String}} AND ({where}) ORDER BY name",
        parameters={"db": database},
    ).result_rows
    return [str(row[0]) for row in rows]


def test_local_and_distributed_tables_match_their_single_node_twin(engine: Client, twins: tuple[str, str]) -> None:
    single, layout = twins
    distributed = _names(engine, layout, "engine = 'Distributed'")
    sharded = _names(engine, single, "engine LIKE '%MergeTree'")
    assert distributed == sorted(sharded)  # every MergeTree table has its Distributed table, under its own name
    for table in sharded:
        twin = _columns(engine, single, table)
        assert twin, table
        assert _columns(engine, layout, table + LOCAL_SUFFIX) == twin, table
        assert _columns(engine, layout, table) == twin, table
        assert _keys(engine, layout, table + LOCAL_SUFFIX) == _keys(engine, single, table), table


def test_views_feed_local_tables_and_everything_else_keeps_its_name(engine: Client, twins: tuple[str, str]) -> None:
    single, layout = twins
    objects = set(_names(engine, single, "NOT startsWith(name, '.') AND name != 'schema_migrations'"))
    in_layout = set(_names(engine, layout, "1"))
    assert objects <= in_layout  # views, dictionaries, snapshots: same names
    # An event written to the local raw table reaches the local rollups through the views.
    engine.command(
        f"INSERT INTO {layout}.events_local (message_id, event, event_time, user_id) "
        "VALUES ('m1', 'view', now64(3), 'u1')"
    )
    for rollup in ("events_per_minute_local", "engagement_per_minute_local", "engagement_per_hour_local"):
        assert engine.command(f"SELECT count() FROM {layout}.{rollup}") == 1, rollup
    assert engine.command(f"SELECT count() FROM {layout}.users_per_minute_local") == 1


def test_named_queries_read_only_names_the_cluster_keeps(
    engine: Client, twins: tuple[str, str], rendered: list[tuple[str, Rendered]]
) -> None:
    single, _ = twins
    schema = set(_names(engine, single, "1"))
    readable = {s.name for _, s in rendered if s.role in ("distributed", "object")}
    reading = 0
    for name, query in load_all().items():
        explain = f"EXPLAIN AST {query.sql}\nFORMAT TSVRaw"
        ast = engine.raw_query(explain, parameters=sample_params(query.sql)).decode()
        tables, _ = ast_references(ast)
        assert tables & schema <= readable, f"{name} reads {tables & schema - readable}, not kept on a cluster"
        assert not any(t.endswith(LOCAL_SUFFIX) for t in tables), name
        reading += bool(tables & schema)
    assert reading >= 20  # the queries do read the warehouse (the archive's read S3 instead)


def test_unknown_statements_are_refused(engine: Client) -> None:
    renderer = ClusterRenderer(EngineParser(engine), CLUSTER, "pulse")
    renderer.render("CREATE TABLE IF NOT EXISTS events (a UInt8, user_id String) ENGINE = MergeTree ORDER BY a")
    cases = {
        "DROP TABLE events": "no cluster rule",
        "CREATE TABLE t (a UInt8) ENGINE = MergeTree ORDER BY a": "IF NOT EXISTS",
        "ALTER TABLE events DELETE WHERE a = 1": "DELETE",
        "ALTER TABLE events ADD COLUMN b UInt8": "IF NOT EXISTS",
        "ALTER TABLE events ADD COLUMN IF NOT EXISTS b UInt8, ADD INDEX IF NOT EXISTS i a TYPE minmax": "split",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS v ENGINE = MergeTree ORDER BY a AS SELECT a FROM events": "no TO",
        "CREATE TABLE IF NOT EXISTS c AS nowhere ENGINE = MergeTree ORDER BY a": "nowhere",
        "CREATE TABLE IF NOT EXISTS d AS events": "without ENGINE",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS w TO other.events AS SELECT a FROM events": "qualified",
    }
    for sql, reason in cases.items():
        with pytest.raises(UnknownStatement, match=reason):
            renderer.render(sql)


ENGINES = st.sampled_from(
    ["MergeTree", "ReplacingMergeTree(v)", "AggregatingMergeTree", "SummingMergeTree", "ReplacingMergeTree"]
)
NAMES = st.from_regex(r"t_[a-z0-9_]{0,12}", fullmatch=True)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES, engine_sql=ENGINES, with_user=st.booleans())
def test_any_merge_tree_table_renders_to_a_replicated_local_and_a_distributed(
    engine: Client, name: str, engine_sql: str, with_user: bool
) -> None:
    renderer = ClusterRenderer(EngineParser(engine), CLUSTER, "pulse")
    user = ", user_id String, anonymous_id String" if with_user else ""
    sql = f"CREATE TABLE IF NOT EXISTS {name} (a UInt8, v UInt32{user}) ENGINE = {engine_sql} ORDER BY a"
    local, distributed = renderer.render(sql)
    assert (local.name, distributed.name) == (name + LOCAL_SUFFIX, name)
    assert f"ENGINE = Replicated{engine_sql.split('(')[0]}('/clickhouse/tables/" in local.sql
    assert local.sql.rstrip().endswith("ORDER BY a")
    if "(v)" in engine_sql:  # the engine's own arguments follow the replica's
        assert "'{replica}', v)" in local.sql
    assert f"AS {name}{LOCAL_SUFFIX}" in distributed.sql
    assert ("cityHash64" in distributed.sql) == with_user
    # Deterministic: the same statement renders the same way on a fresh renderer.
    again = ClusterRenderer(EngineParser(engine), CLUSTER, "pulse").render(sql)
    assert [r.sql for r in again] == [local.sql, distributed.sql]
    mv = f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name}_mv TO {name} AS SELECT a, v FROM {name} WHERE a > 0"
    (view,) = renderer.render(mv)
    assert view.sql.count(f"{name}{LOCAL_SUFFIX}") == 2  # both the target and the source are local


def _pulse(bridge: Warehouse, *args: str, database: str) -> subprocess.CompletedProcess[str]:
    env = {**bridge.env, "PULSE_CLICKHOUSE__DATABASE": database}
    return subprocess.run(
        [sys.executable, "-m", "pulse", "migrate", *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_unknown_cluster_is_named_and_nothing_is_applied(bridge: Warehouse, engine: Client) -> None:
    database = f"never_{uuid.uuid4().hex[:6]}"
    refused = _pulse(bridge, "--cluster", "nope", database=database)
    assert refused.returncode != 0
    assert "'nope' is not in system.clusters" in refused.stderr and CLUSTER in refused.stderr
    assert not engine.command("EXISTS DATABASE {db:Identifier}", parameters={"db": database})
    from_env = subprocess.run(
        [sys.executable, "-m", "pulse", "migrate"],
        env={**bridge.env, "PULSE_CLICKHOUSE__DATABASE": database, "PULSE_CLICKHOUSE__CLUSTER": "nope"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert from_env.returncode == 2 and "'nope' is not in system.clusters" in from_env.stderr


def test_a_single_node_database_is_not_continued_as_a_cluster(bridge: Warehouse, twins: tuple[str, str]) -> None:
    single, _ = twins
    refused = _pulse(bridge, "--cluster", CLUSTER, database=single)
    assert refused.returncode == 2
    assert f"database '{single}' was migrated for one node (schema_migrations is MergeTree" in refused.stderr


def test_render_and_dry_run_print_the_sql(bridge: Warehouse, engine: Client, tmp_path: Path) -> None:
    database = f"dry_{uuid.uuid4().hex[:6]}"
    shown = _pulse(bridge, "render", "--cluster", CLUSTER, database=database)
    assert shown.returncode == 0, shown.stderr
    assert "CREATE TABLE IF NOT EXISTS events ON CLUSTER pulse_ci AS events_local" in shown.stdout
    assert "-- 0011_audit_reads.sql" in shown.stdout
    dry = _pulse(bridge, "--cluster", CLUSTER, "--dry-run", database=database)
    assert dry.returncode == 0, dry.stderr
    assert "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')" in dry.stdout
    assert "would apply 0001_events.sql on cluster pulse_ci" in dry.stdout
    assert not engine.command("EXISTS DATABASE {db:Identifier}", parameters={"db": database})


def test_a_kubernetes_style_cluster_name_is_quoted_and_a_bad_one_refused(engine: Client) -> None:
    parser = EngineParser(engine)
    renderer = ClusterRenderer(parser, "pulse-ch", "pulse")
    for statement in renderer.render("CREATE TABLE IF NOT EXISTS t (a UInt8) ENGINE = MergeTree ORDER BY a"):
        assert "ON CLUSTER `pulse-ch`" in statement.sql
        assert parser.ast(statement.sql)
    with pytest.raises(PulseError, match="cluster name 'pulse ch'"):
        ClusterRenderer(parser, "pulse ch", "pulse")


def test_a_kafka_engine_path_renders_without_a_new_rule(engine: Client) -> None:
    """The kafka-engine mode's kind of statements (another branch adds them): per-node queue, views into local."""
    parser = EngineParser(engine)
    renderer = ClusterRenderer(parser, CLUSTER, "pulse")
    renderer.render("CREATE TABLE IF NOT EXISTS events (message_id String) ENGINE = MergeTree ORDER BY 1")
    renderer.render("CREATE TABLE IF NOT EXISTS rejected_events (payload String) ENGINE = MergeTree ORDER BY 1")
    (queue,) = renderer.render(
        "CREATE TABLE IF NOT EXISTS events_queue (message_id String) ENGINE = Kafka "
        "SETTINGS kafka_broker_list = 'k:9092', kafka_topic_list = 't', kafka_group_name = 'g', "
        "kafka_format = 'JSONEachRow', kafka_handle_error_mode = 'stream'"
    )
    assert queue.role == "object" and f"events_queue ON CLUSTER {CLUSTER}" in queue.sql
    (good,) = renderer.render(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS events_queue_mv TO events AS "
        "SELECT message_id FROM events_queue WHERE length(_error) = 0"
    )
    (dead,) = renderer.render(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS events_queue_dlq TO rejected_events AS "
        "SELECT _raw_message AS payload FROM events_queue WHERE length(_error) > 0"
    )
    assert "TO events_local" in good.sql and "FROM events_queue" in good.sql
    assert "TO rejected_events_local" in dead.sql
    for statement in (queue, good, dead):
        assert parser.ast(statement.sql)
