"""The API logs in to the warehouse as the caller's data source user, with that user's password."""

from __future__ import annotations

import base64

import pytest

from pulse.access.definition import AccessDefinition
from pulse.api.warehouses import NoCredentials, Warehouses
from pulse.bench.idp import Idp
from pulse.settings import Settings
from pulse.web import free_port
from tests.api.conftest import RunningApi, api_settings, password, running_api
from tests.support.warehouse import Warehouse


def test_each_data_source_user_logs_in_with_its_own_password(settings: Settings, definition: AccessDefinition) -> None:
    warehouses = Warehouses(settings)
    for grantee in definition.grantees():
        client = warehouses.client(grantee.user)
        assert (
            client.headers["Authorization"]
            == "Basic " + base64.b64encode(f"{grantee.user}:{password(grantee.user)}".encode()).decode()
        )
        assert warehouses.client(grantee.user) is client, "one client per user and thread, reused"


def test_a_missing_password_is_503_naming_the_setting(
    warehouse: Warehouse, idp: Idp, definition: AccessDefinition
) -> None:
    passwords = {g.user: password(g.user) for g in definition.grantees() if g.user != "pulse_ads_manager"}
    settings = api_settings(warehouse.url, definition.database, idp, definition, passwords=passwords)
    with pytest.raises(NoCredentials, match="PULSE_API__PASSWORDS__PULSE_ADS_MANAGER"):
        Warehouses(settings).client("pulse_ads_manager")
    token = idp.token("max", ["pulse-managers", "pulse-ads"])
    with running_api(settings) as api, api.client() as http:
        answer = http.get("/v1/queries/funnel", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 503
    assert "PULSE_API__PASSWORDS__PULSE_ADS_MANAGER" in answer.json()["error"]


def test_readyz_answers_only_while_the_warehouse_does(
    api: RunningApi, warehouse: Warehouse, idp: Idp, definition: AccessDefinition
) -> None:
    """A pod whose warehouse is unreachable leaves the Service: /readyz says 503 and why, /healthz stays 200."""
    with api.client() as http:
        assert http.get("/readyz").json() == {"status": "ok"}
    nowhere = api_settings(f"http://127.0.0.1:{free_port()}", definition.database, idp, definition)
    with running_api(nowhere) as unready, unready.client() as http:
        answer = http.get("/readyz")
        assert http.get("/healthz").status_code == 200
    assert answer.status_code == 503
    assert answer.json()["reason"].startswith("the warehouse does not answer as ")
    no_passwords = api_settings(warehouse.url, definition.database, idp, definition, passwords={})
    with running_api(no_passwords) as unready, unready.client() as http:
        answer = http.get("/readyz")
    assert answer.status_code == 503 and "PULSE_API__PASSWORDS__" in answer.json()["reason"]
