"""Proof per Grafana organization: what it is provisioned with runs as its data source user, and only that.

For each organization of the access definition: its committed data source is its own ClickHouse user
(no other user anywhere in the organization), and every variable and panel query of the dashboards
provisioned in it -- expanded as Grafana would send them -- runs on the real engine with that user's
rendered users.d fragment as the session's ``default`` (standin.py). The admin organization holds the
dashboards whole; the money panels exist only in the organizations whose user reads money.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pulse.access.definition import load
from pulse.access.orgs import Organization, organizations
from pulse.access.render import USERS_D
from pulse.grafana.datasources import CLICKHOUSE, password_variable
from pulse.grafana.emulation.render import expand, now_range, resolve_variables
from pulse.grafana.generate import DASHBOARDS_PATH, dashboard_json
from tests.access.conftest import REPO, Warehouse
from tests.access.standin import session, session_config

ORGS = organizations(load(REPO / "provisioning/access/access.yaml"))
PROVISIONING = REPO / "provisioning"
MONEY_QUERIES = {"ad_performance", "budget_pacing", "ad_attribution"}


def boards(org: Organization) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((PROVISIONING / "dashboards/pulse" / org.folder).glob("*.json"))]


def named_queries(board: dict[str, object]) -> set[str]:
    panels = [p for p in board["panels"] if isinstance(p, dict)]  # type: ignore[attr-defined]
    return {t["pulseQuery"] for p in panels for t in p.get("targets") or [] if t.get("pulseQuery")}


def test_every_organization_has_its_own_user_as_its_only_clickhouse_data_source() -> None:
    sources = yaml.safe_load((PROVISIONING / "datasources/pulse.yaml").read_text())["datasources"]
    providers = yaml.safe_load((PROVISIONING / "dashboards/pulse.yaml").read_text())["providers"]
    for org in ORGS:
        mine = [s for s in sources if s["orgId"] == org.id and s["type"] == CLICKHOUSE["type"]]
        assert [s["jsonData"]["username"] for s in mine] == [org.grantee.user], org.name
        assert mine[0]["secureJsonData"]["password"] == f"$__env{{{password_variable(org.grantee.user)}}}"
        (provider,) = [p for p in providers if p["orgId"] == org.id]
        assert provider["options"]["path"] == f"{DASHBOARDS_PATH}/{org.folder}"
    assert {s["orgId"] for s in sources} == {org.id for org in ORGS}, "no data source outside the organizations"
    platform = {s["orgId"] for s in sources if s["type"] != CLICKHOUSE["type"]}
    assert platform == {org.id for org in ORGS if org.grantee.tables == "*"}, "Redis/Prometheus only for platform"


def test_sensitive_panels_are_only_where_their_readers_are() -> None:
    from pulse.grafana.dashboards import DASHBOARDS

    for org in ORGS:
        shown = set().union(*(named_queries(b) for b in boards(org)))
        assert shown <= org.grantee.runnable, f"{org.name} shows panels its user may not run"
        if "money" not in org.grantee.reads:
            assert not shown & MONEY_QUERIES, f"{org.name} shows money panels"
    (admin,) = [org for org in ORGS if org.id == 1]
    whole = {f"{module.UID.removeprefix('pulse-')}.json": dashboard_json(module) for module in DASHBOARDS}
    held = {p.name: json.loads(p.read_text()) for p in (PROVISIONING / "dashboards/pulse" / admin.folder).glob("*")}
    assert held == whole, "organization 1 (all data) holds every dashboard whole"


@pytest.mark.parametrize("org", ORGS, ids=[org.folder for org in ORGS])
def test_an_organization_runs_every_query_of_its_dashboards_as_its_user(
    org: Organization, warehouse: Warehouse, tmp_path: Path
) -> None:
    fragment = (REPO / USERS_D / f"{org.grantee.user}.xml").read_text()
    config = session_config(fragment, tmp_path / "config")
    window = now_range(3600)
    problems: list[str] = []
    ran = 0
    with session(warehouse.path, config, database=warehouse.database) as client:
        for board in boards(org):
            try:
                variables = resolve_variables(board, client, window)
            except Exception as error:
                problems.append(f"{board['uid']}: a variable query failed: {str(error)[:300]}")
                continue
            for query in expand(board, window, variables):
                if query.named in org.grantee.archive:
                    continue  # reads S3: tests/access/test_archive_access.py runs these with the collection
                try:
                    client.query(query.sql)
                    ran += 1
                except Exception as error:
                    problems.append(f"{board['uid']} / {query.title}: {str(error)[:300]}")
    print(f"{org.name}: {ran} panel queries ran as {org.grantee.user}")
    assert ran > 0 and not problems, f"{org.name}:\n  " + "\n  ".join(problems)
