"""Any value of a dashboard variable reaches the query as exactly that string: quotes, backslashes and
the rest cannot end the literal early or escape its closing quote (Grafana's ``sqlstring`` could)."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.grafana.dashboards import unified
from pulse.grafana.emulation.links import explore_panes, render_link
from pulse.grafana.emulation.macros import TimeRange
from pulse.grafana.emulation.render import expand, panel_range, panels
from pulse.grafana.emulation.variables import ALL, VariableState, interpolate
from pulse.grafana.generate import dashboard_json
from pulse.grafana.named import ALL_VALUE, variable_value

#: Every string Grafana can hold and percent-encode: JavaScript's encodeURIComponent throws on a lone
#: surrogate, so no such value reaches a query.
VALUES = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
WINDOW = TimeRange(1_700_000_000_000, 1_700_003_600_000)
BOARD = dashboard_json(unified)
FILTERS = ("country", "device_type", "segment", "category", "region", "campaign")


def chosen(value: str) -> dict[str, VariableState]:
    """``country`` set to ``value``, every other variable on All (as the dashboard's query variables define it)."""
    states = {name: VariableState(name, [ALL], [], ALL_VALUE) for name in FILTERS}
    states["country"] = VariableState("country", [value], [], ALL_VALUE)
    return states


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUES)
def test_the_value_expression_is_the_value(client: Client, value: str) -> None:
    sql = interpolate(f"SELECT {variable_value('country')} AS v, v = {{literal:String}} AS same", chosen(value))
    rows = client.query(sql, parameters={"literal": value}).result_rows
    expected = "" if value in (ALL, ALL_VALUE) else value  # both are All to Grafana (in a var-country URL too)
    assert rows == [(expected, expected == value)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUES)
def test_panel_queries_parse_and_filter_on_any_value(client: Client, value: str) -> None:
    """Every panel and the region variable's query run with ``country`` set to the value; the filter
    compares with the value itself (nothing is stored under a random country, so no rows)."""
    variables = chosen(value)
    region_var = next(v for v in BOARD["templating"]["list"] if v["name"] == "region")
    client.query(interpolate(region_var["query"]["rawSql"], variables))
    queries = {q.title: q for q in expand(BOARD, WINDOW, variables)}
    for title in ("Events by country", "Campaign KPIs", "Events by type"):
        client.query(queries[title].sql)


def test_grafanas_sqlstring_breaks_on_a_trailing_backslash(client: Client) -> None:
    """Why the panels do not use ``sqlstring``: ``e\\`` becomes ``'e\\'``, an unterminated literal in ClickHouse,
    and ``\\' OR 1 --`` ends the literal early (an injection)."""
    broken = VariableState("country", ["e\\"], [], ALL_VALUE)
    with pytest.raises(ClickHouseError):
        client.query(interpolate("SELECT ${country:sqlstring}", {"country": broken}))
    injected = VariableState("country", ["\\' OR 1 --"], [], ALL_VALUE)
    assert client.query(interpolate("SELECT 'x' = ${country:sqlstring}", {"country": injected})).result_rows == [(1,)]
    assert client.query(interpolate(f"SELECT {variable_value('country')}", {"country": broken})).result_rows == [
        ("e\\",)
    ]


@given(value=st.text(st.sampled_from("AZaz09-_.~ &#+/?=é日"), max_size=12))
def test_explore_links_carry_url_safe_values_exactly(value: str) -> None:
    """Values without ``'``, ``"``, ``\\``, ``%`` or control characters survive the Explore URL's one
    decoding: Explore's SQL decodes to the panel's values (the limit is documented at ``explore_url``)."""
    variables = chosen(value)
    for panel in panels(BOARD):
        links = {link["title"]: link["url"] for link in panel.get("links", [])}
        if "Explore this query" not in links:
            continue
        href = render_link(links["Explore this query"], variables, panel_range(panel, WINDOW))
        (pane,) = explore_panes(href).values()
        assert decoded(pane.queries[0]["rawSql"]) == decoded(interpolate(panel["targets"][0]["rawSql"], variables))


def decoded(sql: str) -> str:
    """``decodeURLComponent('…')`` calls on literals replaced by their result (what ClickHouse computes)."""
    return re.sub(r"decodeURLComponent\('([^'\\]*)'\)", lambda m: repr(unquote(m.group(1))), sql)
