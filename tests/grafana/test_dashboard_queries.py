"""Every panel query of every dashboard, expanded as Grafana would, runs on the real engine over
generated traffic, returns what its panel type needs, and the key panels equal the ground truth."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from pulse.generator.truth import TruthReport
from pulse.grafana.dashboards import DASHBOARDS, unified
from pulse.grafana.emulation.demo import live_traffic
from pulse.grafana.emulation.macros import QueryContext, TimeRange, expand_macros
from pulse.grafana.emulation.render import PanelQuery, expand, resolve_variables
from pulse.grafana.generate import dashboard_json
from tests.support.grafana_expressions import evaluate_rule
from tests.support.pipeline import ad_totals
from tests.support.provisioning import provisioned_rule

NUMERIC = ("Int", "UInt", "Float", "Decimal", "Nullable(Int", "Nullable(UInt", "Nullable(Float")


@pytest.fixture(scope="module")
def loaded(client: Client) -> tuple[TruthReport, TimeRange]:
    truth, start = live_traffic(client)
    assert truth.first_event and truth.last_event
    end = datetime.fromisoformat(truth.last_event.replace("Z", "+00:00")) + timedelta(seconds=1)
    end = max(end, datetime.now(UTC))
    return truth, TimeRange.between(start, end)


def run(client: Client, query: PanelQuery) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    result = client.query(query.sql)
    types = [t.name for t in result.column_types]
    return list(result.column_names), types, [tuple(r) for r in result.result_rows]


def check_shape(query: PanelQuery, names: list[str], types: list[str], rows: list[tuple[Any, ...]]) -> None:
    numeric = [n for n, t in zip(names, types, strict=True) if t.startswith(NUMERIC)]
    label = f"{query.title} ({query.named})"
    assert names, label
    if query.panel_type == "timeseries":
        assert query.fmt == 0, f"{label}: time series panels ask for format 0"
        assert any(t.startswith("DateTime") for t in types), f"{label}: no time column in {types}"
        assert numeric, f"{label}: no numeric column"
    elif query.panel_type in ("stat", "bargauge"):
        assert numeric, f"{label}: no numeric column in {types}"
    elif query.panel_type in ("piechart", "barchart"):
        assert numeric and any("String" in t for t in types), f"{label}: needs a label and a value: {types}"


@pytest.mark.parametrize("module", DASHBOARDS, ids=lambda m: m.UID)
def test_every_panel_query_runs_and_fits_its_panel(
    client: Client, loaded: tuple[TruthReport, TimeRange], module: Any
) -> None:
    _, window = loaded
    board = dashboard_json(module)
    variables = resolve_variables(board, client, window)
    queries = expand(board, window, variables)
    assert queries
    empty = []
    for query in queries:
        assert "$" not in query.sql.replace("$$", ""), f"{query.title}: unexpanded reference in {query.sql}"
        names, types, rows = run(client, query)
        if rows:
            check_shape(query, names, types, rows)
        if not rows:
            empty.append(query.title)
    # Generated traffic has no rejects, and merges may be over: every other panel shows data (pacing
    # only once today has spend: not so in the first minute after midnight UTC).
    allowed = {"Running merges", "Rejected events by reason"}
    if not spenders_today(client, window):
        allowed.add("Budget pacing")
    assert not set(empty) - allowed, f"panels without data: {empty}"


def spenders_today(client: Client, window: TimeRange) -> set[str]:
    """Campaigns with spend between the UTC midnight before ``window.to`` and it, from raw events."""
    result = client.query(
        """SELECT DISTINCT campaign_id FROM events
           WHERE spend_micros > 0 AND event_time < fromUnixTimestamp64Milli({to:Int64})
             AND event_time >= toStartOfDay(fromUnixTimestamp64Milli({to:Int64}))""",
        parameters={"to": window.to_ms},
    )
    return {row[0] for row in result.result_rows}


def test_filters_select_a_subset(client: Client, loaded: tuple[TruthReport, TimeRange]) -> None:
    """A chosen country (not All) reaches the query as a quoted literal and narrows the result."""
    truth, window = loaded
    board = dashboard_json(unified)
    country = max(truth.per_country, key=lambda c: truth.per_country[c])
    all_vars = resolve_variables(board, client, window)
    assert country in all_vars["country"].options
    one = resolve_variables(board, client, window, {"country": country})
    by_title = {q.title: q for q in expand(board, window, one)}
    query = by_title["Events by country"]
    assert f"'{country}'" in query.sql
    _, _, rows = run(client, query)
    assert rows  # drilled into regions of that country
    assert sum(r[1] for r in rows) == truth.per_country[country]


def test_key_panels_equal_the_ground_truth(client: Client, loaded: tuple[TruthReport, TimeRange]) -> None:
    truth, window = loaded
    board = dashboard_json(unified)
    by_title = {q.title: q for q in expand(board, window, resolve_variables(board, client, window))}

    _, _, rows = run(client, by_title["Events by type"])
    per_type: dict[str, int] = {}
    for _, key, events in rows:
        per_type[key] = per_type.get(key, 0) + int(events)
    assert per_type == truth.totals

    _, _, rows = run(client, by_title["Events by country"])
    assert {place: int(events) for place, events in rows} == truth.per_country

    _, _, rows = run(client, by_title["Events by device"])
    assert {key: int(events) for key, events in rows} == truth.per_device_type

    names, _, rows = run(client, by_title["Campaign KPIs"])
    kpis = {row[0]: dict(zip(names, row, strict=True)) for row in rows if row[0]}
    expected = {cid: t for cid, t in truth.per_campaign.items()}
    assert set(kpis) == set(expected)
    for cid, totals in expected.items():
        assert ad_totals(kpis[cid]) == totals

    _, _, rows = run(client, by_title["Spend and return"])
    spend = sum(t.spend_micros for t in truth.per_campaign.values()) / 1e6
    assert rows[0][0] == pytest.approx(spend)

    _, _, rows = run(client, by_title["Hashtag mentions"])
    mentions: dict[str, int] = {}
    for _, term, count in rows:
        mentions[term] = mentions.get(term, 0) + int(count)
    top = sorted(truth.hashtag_totals.items(), key=lambda item: (-item[1], item[0]))[:10]  # the panel's top 10
    assert mentions == dict(top)


def test_unified_query_set_is_fast(client: Client, loaded: tuple[TruthReport, TimeRange]) -> None:
    """Smoke bound on this small dataset (the 100M figure is `pulse bench dashboards`)."""
    _, window = loaded
    board = dashboard_json(unified)
    queries = expand(board, window, resolve_variables(board, client, window))

    def seconds() -> float:
        began = time.perf_counter()
        for query in queries:
            client.query(query.sql)
        return time.perf_counter() - began

    # Best of three: the engine's refreshable views run every 5 s beside it on two cores.
    assert any(seconds() < 10 for _ in range(3))


def test_budget_overspend_rule_fires_where_pacing_exceeds_its_threshold(
    client: Client, loaded: tuple[TruthReport, TimeRange]
) -> None:
    """The provisioned rule's chain: one series per campaign, firing exactly where pacing > 1.2."""
    truth, window = loaded
    rule = provisioned_rule("pulse-budget-overspend")
    states = evaluate_rule(rule, client, window.to_ms)
    step = rule["data"][0]
    span = TimeRange(window.to_ms - step["relativeTimeRange"]["from"] * 1000, window.to_ms)
    pacing = dict(client.query(expand_macros(step["model"]["rawSql"], QueryContext(span, 1000))).result_rows)
    spenders = spenders_today(client, window)
    assert {dict(labels)["campaign_id"] for labels in states} == spenders
    campaigns = {c.campaign_id for c in truth.campaigns}
    traffic_all_today = window.from_ms // 86_400_000 == window.to_ms // 86_400_000  # else it began yesterday
    assert spenders == campaigns if traffic_all_today else spenders <= campaigns
    for labels, fires in states.items():
        value = pacing[dict(labels)["campaign_id"]]
        assert fires == (value is not None and value > 1.2)
    fresh = evaluate_rule(provisioned_rule("pulse-freshness"), client, window.to_ms)
    assert len(fresh) == 1
