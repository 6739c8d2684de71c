"""The named query layer without a warehouse: headers, parameter conversion, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse.errors import PulseError
from pulse.queries.params import bind, convert, parse_assignments, parse_time
from pulse.queries.registry import load_all, parse
from pulse.queries.run import wire_values

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_every_query_file_declares_exactly_the_parameters_its_sql_uses() -> None:
    queries = load_all()
    assert {"engagement", "sessions", "funnel", "trending_topics", "ad_performance", "budget_pacing"} <= set(queries)
    for query in queries.values():
        assert query.description and query.unit and query.columns, query.name
        bind(query, {}, NOW)  # every parameter has a usable default


def test_the_time_range_and_filters_follow_one_convention() -> None:
    for query in load_all().values():
        for name in ("from", "to"):
            if name in query.params:
                assert query.params[name].type == "DateTime64(3)", query.name
        if "interval_s" in query.params:
            assert query.params["interval_s"].type == "UInt32"
        for name in ("country", "device_type", "segment", "category", "region", "event"):
            if name in query.params:
                assert query.params[name].type == "String" and query.params[name].default == "''", query.name


def test_a_header_that_disagrees_with_the_sql_is_refused() -> None:
    text = "-- d\n-- @unit x\n-- @param a UInt32 = 1 : a\n-- @column n UInt64 : n\nSELECT {b:UInt32} AS n"
    with pytest.raises(PulseError, match="header declares"):
        parse("bad", text)


@given(st.integers(min_value=0, max_value=10_000), st.sampled_from("smhdw"), st.sampled_from("+-"))
def test_relative_times(amount: int, unit: str, sign: str) -> None:
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit] * amount
    expected = NOW + timedelta(seconds=seconds if sign == "+" else -seconds)
    assert parse_time(f"now{sign}{amount}{unit}", NOW) == expected


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)))
def test_instants_reach_the_engine_as_exact_epoch_milliseconds(moment: datetime) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000, tzinfo=UTC)
    (wired,) = wire_values({"t": parse_time(moment.isoformat(), NOW)}).values()
    assert round(float(str(wired)) * 1000) == round(moment.timestamp() * 1000)


def test_bad_input_gets_an_error_naming_the_parameter() -> None:
    engagement = load_all()["engagement"]
    with pytest.raises(PulseError, match=r"parameter by .*must be one of"):
        bind(engagement, {"by": "nonsense"}, NOW)
    with pytest.raises(PulseError, match=r"parameter interval_s .*negative"):
        bind(engagement, {"interval_s": "-5"}, NOW)
    with pytest.raises(PulseError, match=r"parameter from .*ISO-8601"):
        bind(engagement, {"from": "yesterday"}, NOW)
    with pytest.raises(PulseError, match="unknown parameter"):
        bind(engagement, {"colour": "red"}, NOW)
    with pytest.raises(PulseError, match="not NAME=VALUE"):
        parse_assignments(["country"])


@given(st.lists(st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=8), max_size=5))
def test_array_parameters(items: list[str]) -> None:
    param = load_all()["topic_mentions"].params["terms"]
    assert convert(param, ",".join(items)) == items
