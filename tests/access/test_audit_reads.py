"""Reads attributable to a person, on the real engine behind the bridge: Grafana's tag in, audit_reads out.

Queries go through `pulse warehouse serve` over HTTP with the User-Agent Grafana's ClickHouse plugin
sends (clickhouse-go's client info: products, then ``(grafana_user:<login>; grafana_dashboard:<uid>;
grafana_panel:<id>; lv:...; os:...)``), and come out of ``audit_reads`` with that login, the tables
and columns read, their sensitive classes and whether the engine refused them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.access import reads
from pulse.access.definition import AccessDefinition
from pulse.access.render import USERS_D
from pulse.warehouse.migrations import discover, migrate
from tests.access.conftest import REPO
from tests.access.standin import bridge_fragments, session
from tests.support.warehouse import Warehouse
from tests.support.warehouse_fixtures import serving

DATABASE = "pulse"


def agent(login: str, dashboard: str = "", panel: str = "", rule: str = "") -> str:
    """The User-Agent grafana-clickhouse-datasource (v4.15+) sends through clickhouse-go's HTTP transport."""
    tags = [f"grafana_user:{login}"]
    tags += [f"grafana_dashboard:{dashboard}"] if dashboard else []
    tags += [f"grafana_panel:{panel}"] if panel else []
    tags += [f"grafana_rule:{rule}"] if rule else []
    return (
        f"grafana/12.1.0 clickhouse-datasource/4.15.0 clickhouse-go/2.40.1 ({'; '.join(tags)}; lv:go/1.24.4; os:linux)"
    )


def post(warehouse: Warehouse, sql: str, user_agent: str) -> httpx.Response:
    return httpx.post(warehouse.url, content=sql, headers={"User-Agent": user_agent}, timeout=60)


def _migrated(path: Path, definition: AccessDefinition) -> None:
    with session(path) as client:
        migrate(client, DATABASE, discover())
        assert reads.classify(client, definition) > 0


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory, definition: AccessDefinition) -> Iterator[Warehouse]:
    """An unrestricted bridge on a migrated warehouse whose sensitive columns are classified."""
    tmp = tmp_path_factory.mktemp("audit-reads")
    _migrated(tmp / "chdb", definition)
    warehouse = Warehouse(path=tmp / "chdb", home=tmp / "home", extra_env={"PULSE_CLICKHOUSE__DATABASE": DATABASE})
    warehouse.home.mkdir()
    yield from serving(warehouse)


def _reads_of(warehouse: Warehouse, login: str) -> list[tuple[object, ...]]:
    client = warehouse.client()
    try:
        reads.capture(client, DATABASE)
        return list(
            client.query(
                "SELECT ch_user, via_grafana, tables, columns, sensitive, denied, dashboard, panel, rule, query "
                "FROM pulse.audit_reads WHERE who = {who:String} ORDER BY at",
                parameters={"who": login},
            ).result_rows
        )
    finally:
        client.close()


def test_a_panel_query_is_attributed_to_the_grafana_login_with_its_tables_and_sensitivity(bridge: Warehouse) -> None:
    sql = "SELECT user_id, sum(revenue_micros) FROM pulse.events GROUP BY user_id"
    assert post(bridge, sql, agent("alice@example.com", "pulse-unified", "7")).status_code == 200
    assert post(
        bridge, "SELECT count() FROM pulse.events", agent("alice@example.com", rule="ingest-stalled")
    ).is_success

    (panel, alert) = _reads_of(bridge, "alice@example.com")
    assert panel[:9] == (
        "default",
        1,
        ["pulse.events"],
        ["pulse.events.revenue_micros", "pulse.events.user_id"],
        ["money", "personal"],
        0,
        "pulse-unified",
        "7",
        "",
    )
    assert alert[4] == [] and alert[8] == "ingest-stalled"  # count() reads no sensitive column


def test_an_untagged_query_is_attributed_to_the_clickhouse_user_and_audit_internals_are_not(bridge: Warehouse) -> None:
    client = bridge.client()
    try:
        client.query("SELECT campaign_id FROM pulse.campaigns")
        client.query("SELECT 1")  # reads no table: not a read of data
    finally:
        client.close()
    rows = _reads_of(bridge, "default")
    assert [r[2] for r in rows if "campaigns" in str(r[9])] == [["pulse.campaigns"]]
    assert not [r for r in rows if r[2] == [] or "audit_query_log" in str(r[2])]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    login=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._@+\- ]{0,40}", fullmatch=True).map(str.strip).filter(bool),
    panel=st.integers(min_value=1, max_value=10_000),
)
def test_any_login_comes_back_exactly(bridge: Warehouse, login: str, panel: int) -> None:
    assert post(bridge, "SELECT count() FROM pulse.posts", agent(login, "d", str(panel))).is_success
    rows = _reads_of(bridge, login)
    assert rows and rows[-1][1] == 1 and rows[-1][7] == str(panel)


def test_a_refused_query_is_recorded_as_denied_with_what_it_tried_to_read(
    tmp_path: Path, definition: AccessDefinition
) -> None:
    """The bridge runs as the ads analysts' data source (money is finance's): revenue is refused, and audited."""
    _migrated(tmp_path / "chdb", definition)
    fragment = (REPO / USERS_D / "pulse_ads_analyst.xml").read_text()
    config_d = bridge_fragments(fragment, tmp_path / "standin", feed_database=DATABASE)
    warehouse = Warehouse(
        path=tmp_path / "chdb",
        home=tmp_path / "home",
        extra_env={"PULSE_CLICKHOUSE__DATABASE": DATABASE, "PULSE_CLICKHOUSE__EMBEDDED_CONFIG_D": str(config_d)},
    )
    warehouse.home.mkdir()
    warehouse.start()
    try:
        allowed = post(warehouse, "SELECT count(), uniq(campaign_id) FROM pulse.events", agent("bob", "ads", "2"))
        refused = post(warehouse, "SELECT sum(revenue_micros) FROM pulse.events", agent("bob", "ads", "3"))
        assert allowed.status_code == 200, allowed.text
        assert refused.headers["X-ClickHouse-Exception-Code"] == "497", refused.text
    finally:
        warehouse.stop()  # the bridge copies the log into audit_reads before it closes
    with session(tmp_path / "chdb") as client:
        rows = client.query(
            "SELECT panel, denied, error_code, tables, columns, sensitive FROM pulse.audit_reads "
            "WHERE who = 'bob' ORDER BY panel"
        ).result_rows
    assert rows == [
        ("2", 0, 0, ["pulse.events"], ["pulse.events.campaign_id"], []),
        ("3", 1, 497, ["pulse.events"], ["pulse.events.revenue_micros"], ["money"]),
    ]


def test_pulse_audit_reads_shows_a_persons_reads_with_their_sensitivity(bridge: Warehouse) -> None:
    sql = "SELECT search_query FROM pulse.events LIMIT 1"
    assert post(bridge, sql, agent("dora", "pulse-unified", "12")).is_success
    env = {**bridge.env, "PULSE_CLICKHOUSE__DATABASE": DATABASE, "COLUMNS": "250"}
    done = subprocess.run(
        [sys.executable, "-m", "pulse", "audit", "reads", "--since", "1d", "--user", "dora"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if "dora" in line]
    assert "personal" in line and "pulse-unified/12" in line and "pulse.events" in line
    refused = subprocess.run(
        [sys.executable, "-m", "pulse", "audit", "reads", "--since", "yesterday"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0 and "--since 'yesterday'" in refused.stderr
