"""Parameters are checked against the named query's declared types; results come as JSON or CSV."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pulse.bench.idp import Idp
from tests.api.conftest import RANGE

MANAGER = ["pulse-managers", "pulse-growth"]


def _auth(idp: Idp) -> dict[str, str]:
    return {"Authorization": f"Bearer {idp.token('pat', MANAGER)}"}


@pytest.mark.parametrize(
    ("query", "params", "parameter"),
    [
        ("engagement", {"interval_s": "a minute"}, "interval_s"),
        ("engagement", {"interval_s": "-60"}, "interval_s"),
        ("engagement", {"by": "planet"}, "by"),
        ("engagement", {"from": "yesterday"}, "from"),
        ("engagement", {"colour": "red"}, "colour"),
        ("engagement", {"format": "xml"}, "format"),
        ("engagement", [("by", "event"), ("by", "country")], "by"),
        ("funnel", {"journey": "nowhere"}, "journey"),
    ],
)
def test_a_bad_parameter_is_400_naming_it(
    query: str, params: dict[str, str] | list[tuple[str, str]], parameter: str, http: httpx.Client, idp: Idp
) -> None:
    answer = http.get(f"/v1/queries/{query}", params=params, headers=_auth(idp))
    assert answer.status_code == 400, answer.text
    assert answer.json()["parameter"] == parameter
    assert parameter in answer.json()["error"]


@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12))
def test_any_text_for_a_number_is_either_run_or_refused_naming_the_parameter(
    text: str, http: httpx.Client, idp: Idp
) -> None:
    answer = http.get("/v1/queries/engagement", params={**RANGE, "interval_s": text}, headers=_auth(idp))
    try:
        valid = int(text) >= 0
    except ValueError:
        valid = False
    if valid:
        assert answer.status_code in (200, 502), answer.text  # 502: the engine refuses e.g. a 0 s bucket
    else:
        assert answer.status_code == 400, answer.text
        assert answer.json()["parameter"] == "interval_s"


@pytest.mark.parametrize("ask", [{"headers": {"Accept": "text/csv"}}, {"params": {"format": "csv"}}])
def test_csv_carries_the_json_rows(ask: dict[str, dict[str, str]], http: httpx.Client, idp: Idp) -> None:
    params = {**RANGE, "interval_s": "3600", "by": "country"}
    as_json = http.get("/v1/queries/engagement", params=params, headers=_auth(idp)).json()
    answer = http.get(
        "/v1/queries/engagement",
        params={**params, **ask.get("params", {})},
        headers={**_auth(idp), **ask.get("headers", {})},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(answer.text)))
    assert table[0] == [c["name"] for c in as_json["columns"]]
    assert len(table) - 1 == len(as_json["rows"]) > 0
    for line, row in zip(table[1:], as_json["rows"], strict=True):
        assert line[1:] == [str(v) for v in list(row.values())[1:]]  # key, events; time is ISO in both
        assert line[0].replace("T", " ")[:19] == str(row["time"]).replace("T", " ")[:19]


def test_array_parameters_take_a_list_either_way(http: httpx.Client, idp: Idp) -> None:
    once = http.get("/v1/queries/topic_mentions", params={**RANGE, "terms": "tag1,tag2"}, headers=_auth(idp))
    repeated = http.get(
        "/v1/queries/topic_mentions", params=[*RANGE.items(), ("terms", "tag1"), ("terms", "tag2")], headers=_auth(idp)
    )
    assert once.status_code == repeated.status_code == 200, once.text
    assert once.json() == repeated.json()


def test_an_unknown_query_is_404(http: httpx.Client, idp: Idp) -> None:
    answer = http.get("/v1/queries/salaries", headers=_auth(idp))
    assert answer.status_code == 404
    assert "salaries" in answer.json()["error"]
