"""The restriction holds in the engine: the bridge started with one data source's rendered users.d fragment.

chDB runs every query as ``default`` (tests/access/standin.py): making the committed
``pulse_growth_analyst.xml`` fragment *the* default user, through an operator fragment of the embedded
engine's config.d (``PULSE_CLICKHOUSE__EMBEDDED_CONFIG_D``), gives a warehouse where only that user's
grants and row filters exist. The API still answers that data source's queries; a query another data
source may run (the API lets it through) is refused by the engine with ACCESS_DENIED, so the
ClickHouse user enforces what the API checks. Not shown: passwords (chDB does not check them). One grant
is added to the rendered ones, for the bridge's own session reset (``_bridge_can_reset_sessions``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from pulse.access.definition import AccessDefinition
from pulse.bench.idp import Idp
from pulse.queries.run import run
from tests.access.standin import session_config
from tests.api.conftest import RANGE, REPO, RunningApi, api_settings, migrated_warehouse, running_api
from tests.support.warehouse import Warehouse
from tests.support.warehouse_fixtures import serving

FRAGMENT = REPO / "provisioning/access/clickhouse/users.d/pulse_growth_analyst.xml"


def _bridge_can_reset_sessions(users_xml: str) -> str:
    """Add the one grant the stand-in needs beyond the rendered ones: the bridge starts every request that names no
    database (clickhouse-connect's handshake) with ``USE default``, which needs SHOW DATABASES on it. It shows the
    name of the empty ``default`` database, nothing of the data source's tables."""
    root = ET.fromstring(users_xml)
    grants = root.find("users/default/grants")
    assert grants is not None
    ET.SubElement(grants, "query").text = "GRANT SHOW DATABASES ON default.*"
    return ET.tostring(root, encoding="unicode")


@pytest.fixture(scope="module")
def restricted(tmp_path_factory: pytest.TempPathFactory, definition: AccessDefinition) -> Iterator[Warehouse]:
    """Migrated and loaded unrestricted, then restarted with the growth analyst as the only user."""
    tmp = tmp_path_factory.mktemp("engine")
    warehouse = migrated_warehouse(tmp, definition.database, events=5_000)
    warehouse.stop()
    users = session_config(FRAGMENT.read_text(), tmp / "standin").with_name("users.xml")
    users.write_text(_bridge_can_reset_sessions(users.read_text()))
    fragments = tmp / "config.d"
    fragments.mkdir()
    (fragments / "growth-analyst.xml").write_text(f"<clickhouse><users_config>{users}</users_config></clickhouse>")
    warehouse.extra_env["PULSE_CLICKHOUSE__EMBEDDED_CONFIG_D"] = str(fragments)
    yield from serving(warehouse)


@pytest.fixture(scope="module")
def api(restricted: Warehouse, idp: Idp, definition: AccessDefinition) -> Iterator[RunningApi]:
    with running_api(api_settings(restricted.url, definition.database, idp, definition)) as running:
        yield running


def _get(api: RunningApi, idp: Idp, groups: list[str], name: str) -> httpx.Response:
    with api.client() as http:
        return http.get(
            f"/v1/queries/{name}", params=RANGE, headers={"Authorization": f"Bearer {idp.token('ivy', groups)}"}
        )


def test_the_engine_refuses_what_the_fragment_does_not_grant(restricted: Warehouse) -> None:
    client = restricted.client(database="pulse")
    try:
        with pytest.raises(DatabaseError, match=r"ACCESS_DENIED|497"):
            client.query("SELECT user_id FROM events LIMIT 1")
        with pytest.raises(DatabaseError, match=r"ACCESS_DENIED|497|READONLY|164"):
            client.command("INSERT INTO audit_log (who, action, target, details) VALUES ('x', 'x', 'x', 'x')")
        assert int(client.command("SELECT count() FROM events_per_second")) > 0  # type: ignore[arg-type]
    finally:
        client.close()


def test_the_api_runs_the_data_sources_queries_on_the_restricted_engine(
    api: RunningApi, idp: Idp, restricted: Warehouse
) -> None:
    answer = _get(api, idp, ["pulse-analysts", "pulse-growth"], "engagement")
    assert answer.status_code == 200, answer.text
    client = restricted.client(database="pulse")
    try:
        direct = run(client, "engagement", RANGE)
    finally:
        client.close()
    assert len(answer.json()["rows"]) == len(direct.rows) > 0


@pytest.mark.parametrize(
    ("groups", "query"),
    [
        (["pulse-managers", "pulse-growth"], "retention_cohorts"),  # the Manager reads user ids; the analyst not
        (["pulse-analysts", "pulse-finance"], "ad_performance"),  # finance reads money; growth not
    ],
)
def test_another_data_sources_query_is_refused_by_the_engine(
    groups: list[str], query: str, api: RunningApi, idp: Idp
) -> None:
    answer = _get(api, idp, groups, query)
    assert answer.status_code == 403, answer.text
    assert "the warehouse refused" in answer.json()["error"]
    assert "ACCESS_DENIED" in answer.json()["error"]
