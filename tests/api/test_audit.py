"""Every call is in audit_log (batched: many calls, few inserts); metrics and the OpenAPI document are served."""

from __future__ import annotations

import json
import time
import uuid

import orjson

from pulse.access import audit
from pulse.api.cli import document_text
from pulse.api.trail import warehouse_writer
from pulse.bench.idp import Idp
from pulse.settings import Settings
from pulse.warehouse.client import connect
from tests.api.conftest import REPO, RunningApi, running_api

CALLS = 12


def _entries(settings: Settings, who: str, expected: int, target: str | None = None) -> list[audit.Entry]:
    """``who``'s rows (of ``target`` only, if given), once ``expected`` are there or 30 s passed."""
    client = connect(settings)
    try:
        deadline = time.monotonic() + 30
        while True:
            rows = audit.read(client, settings.clickhouse.database, who=who, limit=1000)
            rows = [r for r in rows if target is None or r.target == target]
            if len(rows) >= expected or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)
    finally:
        client.close()


def test_every_call_is_recorded_with_its_data_source_in_few_inserts(settings: Settings, idp: Idp) -> None:
    inserts: list[int] = []
    write = warehouse_writer(settings)

    def counted(entries: list[audit.Entry]) -> None:
        inserts.append(len(entries))
        write(entries)

    who = f"auditor-{uuid.uuid4().hex[:8]}"
    auth = {"Authorization": f"Bearer {idp.token(who, ['pulse-analysts', 'pulse-finance'])}"}
    with running_api(settings, audit_writer=counted) as api, api.client() as http:
        for _ in range(CALLS):
            assert http.get("/v1/queries/budget_pacing", headers=auth).status_code == 200
        assert http.get("/v1/queries/engagement", headers=auth).status_code == 403
        bad = http.get("/v1/queries/ad_performance", params={"by": "x"}, headers=auth)
        assert bad.status_code == 400
    rows = _entries(settings, who, CALLS + 2)
    assert len(rows) == CALLS + 2
    assert sum(inserts) >= CALLS + 2 and len(inserts) < CALLS, f"one insert per call: {inserts}"
    details = [orjson.loads(r.details) for r in rows]
    assert {r.action for r in rows} == {"api.query"}
    assert {d["clickhouse_user"] for d in details} == {"pulse_finance_analyst"}
    by_status = sorted((d["status"], r.target) for r, d in zip(rows, details, strict=True))
    assert by_status == [(200, "budget_pacing")] * CALLS + [(400, "ad_performance"), (403, "engagement")]
    refused = next(d for d in details if d["status"] == 403)
    assert "may not run engagement" in refused["error"]


def test_a_call_without_a_valid_token_is_recorded_as_anonymous(api: RunningApi, settings: Settings) -> None:
    marker = uuid.uuid4().hex
    with api.client() as http:
        assert http.get(f"/v1/queries/q{marker}", headers={"Authorization": "Bearer nope"}).status_code == 401
    rows = _entries(settings, "anonymous", 1, target=f"q{marker}")
    assert len(rows) == 1
    assert orjson.loads(rows[0].details)["status"] == 401


def test_rows_wait_while_the_warehouse_refuses_and_are_written_after(settings: Settings, idp: Idp) -> None:
    failing = {"on": True}
    write = warehouse_writer(settings)

    def flaky(entries: list[audit.Entry]) -> None:
        if failing["on"]:
            raise ConnectionError("warehouse down")
        write(entries)

    who = f"patient-{uuid.uuid4().hex[:8]}"
    token = idp.token(who, ["pulse-admins"])
    with running_api(settings, audit_writer=flaky) as api, api.client() as http:
        for _ in range(3):
            assert http.get("/v1/queries", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        time.sleep(1.0)  # several flushes fail meanwhile
        assert len(api.app.state.trail.rows) == 3
        failing["on"] = False
    assert len(_entries(settings, who, 3)) == 3


def test_metrics_count_requests_by_status(api: RunningApi, idp: Idp) -> None:
    with api.client() as http:
        http.get("/v1/queries/funnel", headers={"Authorization": "Bearer nope"})
        text = http.get("/metrics").text
    assert 'pulse_api_requests_total{endpoint="query",status="401"}' in text
    for name in ("pulse_api_request_duration_seconds", "pulse_api_queries_total", "pulse_api_audit_rows_written_total"):
        assert name in text


def test_the_openapi_document_is_served_and_the_committed_copy_is_current(api: RunningApi) -> None:
    committed = (REPO / "docs" / "api-openapi.json").read_text()
    assert committed == document_text(), "stale: run `pulse api openapi --write`"
    with api.client() as http:
        served = http.get("/v1/openapi.json").json()
    assert served == json.loads(committed)
    assert "/v1/queries/engagement" in served["paths"]
    by = next(p for p in served["paths"]["/v1/queries/engagement"]["get"]["parameters"] if p["name"] == "by")
    assert by["schema"]["enum"] == ["event", "country", "device_type", "segment", "category", "all"]
