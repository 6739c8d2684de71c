"""Per data source: its queries answer with the rows the named query gives directly, the others are refused."""

from __future__ import annotations

import httpx
import orjson
import pytest

from pulse.access.definition import AccessDefinition, Grantee, load
from pulse.bench.idp import Idp
from pulse.queries.registry import load_all
from pulse.queries.run import run
from pulse.settings import Settings
from pulse.warehouse.client import connect
from tests.api.conftest import RANGE, REPO, api_settings, groups_of, running_api
from tests.support.warehouse import Warehouse

GRANTEES = load(REPO / "provisioning/access/access.yaml").grantees()
#: Queries that read the clock (``now()``): two runs a moment apart differ in the seconds they report.
CLOCKED = {name for name, query in load_all().items() if "now()" in query.sql}


def _given(name: str) -> dict[str, str]:
    """The fixed range for the query's time parameters (defaults for the rest)."""
    return {k: v for k, v in RANGE.items() if k in load_all()[name].params}


def _plain(columns: list[str], rows: list[tuple[object, ...]]) -> list[dict[str, object]]:
    """Rows as the API's JSON carries them."""
    return orjson.loads(orjson.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=str))


@pytest.mark.parametrize("grantee", GRANTEES, ids=lambda g: g.user)
def test_a_data_source_lists_and_runs_its_queries_with_the_rows_of_the_named_query(
    grantee: Grantee, http: httpx.Client, idp: Idp, settings: Settings
) -> None:
    headers = {"Authorization": f"Bearer {idp.token('ana', groups_of(settings, grantee))}"}
    listed = http.get("/v1/queries", headers=headers)
    assert listed.status_code == 200, listed.text
    assert listed.json()["data_source"]["clickhouse_user"] == grantee.user
    assert [q["name"] for q in listed.json()["queries"]] == [*grantee.queries, *grantee.archive]
    direct = connect(settings)
    try:
        for name in grantee.queries:  # the archive queries read S3: tests/archive proves them
            given = _given(name)
            answer = http.get(f"/v1/queries/{name}", params=given, headers=headers)
            assert answer.status_code == 200, f"{name}: {answer.text}"
            expected = run(direct, name, given)
            body = answer.json()
            assert [c["name"] for c in body["columns"]] == expected.columns
            if name in CLOCKED:
                assert len(body["rows"]) == len(expected.rows), name
            else:
                assert body["rows"] == _plain(expected.columns, expected.rows), name
    finally:
        direct.close()


#: Every data source but Admin's has queries it may not run.
LIMITED = [g for g in GRANTEES if set(load_all()) - g.runnable]


def test_only_admin_runs_every_named_query() -> None:
    assert [g.user for g in GRANTEES if g not in LIMITED] == ["pulse_admin"]


@pytest.mark.parametrize("grantee", LIMITED, ids=lambda g: g.user)
def test_a_data_source_is_refused_every_other_query_before_the_warehouse_is_asked(
    grantee: Grantee, warehouse: Warehouse, idp: Idp, definition: AccessDefinition
) -> None:
    # No data source password at all: any call that reached for the warehouse would answer 503.
    settings = api_settings(warehouse.url, definition.database, idp, definition, passwords={})
    forbidden = sorted(set(load_all()) - grantee.runnable)
    headers = {"Authorization": f"Bearer {idp.token('ben', groups_of(settings, grantee))}"}
    with running_api(settings) as api, api.client() as http:
        for name in forbidden:
            answer = http.get(f"/v1/queries/{name}", params=_given(name), headers=headers)
            assert answer.status_code == 403, f"{name}: {answer.text}"
            assert grantee.user in answer.json()["error"] and name in answer.json()["error"]
