"""Who may call: tokens the IdP did not sign, or that are not for this API, are 401; unmapped callers 403."""

from __future__ import annotations

import base64

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pulse.access.definition import AccessDefinition
from pulse.bench.idp import Idp, new_key
from pulse.settings import Settings
from tests.api.conftest import api_settings, running_api
from tests.support.warehouse import Warehouse, free_port

QUERY = "/v1/queries/events_per_second"
ANALYST = ["pulse-analysts", "pulse-growth"]


def _status(http: httpx.Client, authorization: str | None) -> httpx.Response:
    return http.get(QUERY, headers={"Authorization": authorization} if authorization is not None else {})


def _unsigned(idp: Idp) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT","kid":"test-key-1"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(b'{"sub":"x"}').rstrip(b"=").decode()
    return f"{header}.{payload}."


def _signed(token: str) -> tuple[bytes, bytes]:
    """What is verified: the signing input as sent and the signature's bytes."""
    _, signing_input, _, signature = jwt.api_jws.PyJWS()._load(token)
    return signing_input, signature


BAD_TOKENS = {
    "no header": lambda idp: None,
    "not bearer": lambda idp: "Basic YWxpY2U6c2VjcmV0",
    "bearer without a token": lambda idp: "Bearer",
    "not a jwt": lambda idp: "Bearer not-a-token",
    "expired": lambda idp: "Bearer " + idp.token("eve", ANALYST, ttl_s=-3600),
    "signed by another key": lambda idp: "Bearer " + idp.token("eve", ANALYST, key=new_key()),
    "unknown key id": lambda idp: "Bearer " + idp.token("eve", ANALYST, kid="other-key"),
    "other audience": lambda idp: "Bearer " + idp.token("eve", ANALYST, aud="grafana"),
    "other issuer": lambda idp: "Bearer " + idp.token("eve", ANALYST, iss="https://evil.example"),
    "alg none": lambda idp: "Bearer " + _unsigned(idp),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_a_token_the_api_cannot_trust_is_401(case: str, http: httpx.Client, idp: Idp) -> None:
    answer = _status(http, BAD_TOKENS[case](idp))
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_altered_byte_of_a_good_token_makes_it_401(data: st.DataObject, http: httpx.Client, idp: Idp) -> None:
    token = idp.token("ana", ANALYST)
    assert _status(http, f"Bearer {token}").status_code == 200
    index = data.draw(st.integers(0, len(token) - 1), label="index")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != token[index]]), label="replacement")
    altered = token[:index] + replacement + token[index + 1 :]
    try:  # the signature's last base64 character carries padding bits: it may decode to the same bytes
        same = _signed(altered) == _signed(token)
    except jwt.DecodeError:
        same = False
    assert _status(http, f"Bearer {altered}").status_code == (200 if same else 401)


@pytest.mark.parametrize(
    ("groups", "reason"),
    [
        (["staff"], "names no Pulse role"),
        (["pulse-analysts"], "names none"),
        (["pulse-analysts", "pulse-growth", "pulse-ads"], "several departments"),
    ],
)
def test_a_valid_token_that_maps_to_no_data_source_is_403_with_the_reason(
    groups: list[str], reason: str, http: httpx.Client, idp: Idp
) -> None:
    answer = _status(http, "Bearer " + idp.token("olga", groups))
    assert answer.status_code == 403
    assert reason in answer.json()["error"]


def test_the_highest_role_wins_and_custom_claim_names_map_too(
    warehouse: Warehouse, idp: Idp, definition: AccessDefinition
) -> None:
    settings = api_settings(
        warehouse.url,
        definition.database,
        idp,
        definition,
        role_claim="pulse_role",
        department_claim="pulse_department",
    )
    with running_api(settings) as api, api.client() as http:
        token = idp.token("mia", None, pulse_role=["Analyst", "Manager"], pulse_department="growth")
        listed = http.get("/v1/queries", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text
    assert listed.json()["data_source"] == {
        "role": "Manager",
        "department": "growth",
        "clickhouse_user": "pulse_growth_manager",
    }


def test_an_idp_that_cannot_be_reached_is_503_not_the_callers_fault(
    warehouse: Warehouse, idp: Idp, definition: AccessDefinition, settings: Settings
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/jwks.json"
    unreachable = api_settings(warehouse.url, definition.database, idp, definition, jwks_url=closed)
    with running_api(unreachable) as api, api.client() as http:
        answer = _status(http, "Bearer " + idp.token("ana", ANALYST))
    assert answer.status_code == 503
    assert "signing keys" in answer.json()["error"]
