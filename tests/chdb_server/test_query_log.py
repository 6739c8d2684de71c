"""The bridge keeps a query log like a server, with the request's User-Agent where the audit feed reads it."""

from __future__ import annotations

import uuid

import httpx

from tests.support.warehouse import Warehouse


def _logged(warehouse: Warehouse, marker: str) -> list[tuple[object, ...]]:
    client = warehouse.client()
    try:
        client.command("SYSTEM FLUSH LOGS")
        return list(
            client.query(
                "SELECT type, log_comment, http_user_agent FROM system.query_log "
                "WHERE query LIKE {m:String} AND type != 'QueryStart' AND query NOT LIKE '%system.query_log%'",
                parameters={"m": f"%{marker}%"},
            ).result_rows
        )
    finally:
        client.close()


def test_the_user_agent_of_each_request_is_logged_with_its_query(warehouse: Warehouse) -> None:
    marker = uuid.uuid4().hex
    agent = (
        "grafana/12.1.0 clickhouse-datasource/4.15.0 clickhouse-go/2.40.1 (grafana_user:ann; lv:go/1.24.4; os:linux)"
    )
    assert httpx.post(warehouse.url, content=f"SELECT '{marker}'", headers={"User-Agent": agent}).is_success
    other = "curl/8.5.0"
    assert httpx.post(warehouse.url, content=f"SELECT '{marker}', 2", headers={"User-Agent": other}).is_success
    # stand-in difference (pulse.chdb_server.query_log): chDB leaves http_user_agent empty, log_comment has it
    assert sorted(_logged(warehouse, marker)) == sorted([("QueryFinish", agent, ""), ("QueryFinish", other, "")])


def test_a_log_comment_the_client_sets_is_kept(warehouse: Warehouse) -> None:
    marker = uuid.uuid4().hex
    response = httpx.post(
        warehouse.url,
        params={"log_comment": "nightly export"},
        content=f"SELECT '{marker}'",
        headers={"User-Agent": "curl/8.5.0"},
    )
    assert response.is_success
    assert _logged(warehouse, marker) == [("QueryFinish", "nightly export", "")]
