"""Every panel query of every dashboard, expanded as Grafana would, runs on the real engine over
generated traffic, returns what its panel type needs, and the key panels equal the ground truth."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from clickhouse_connect.driver.client import Client

from pulse.access import reads
from pulse.access.definition import DEFINITION, load
from pulse.generator.truth import TruthReport
from pulse.grafana import alerts
from pulse.grafana.dashboards import DASHBOARDS, unified
from pulse.grafana.datasources import CLICKHOUSE
from pulse.grafana.emulation import datemath
from pulse.grafana.emulation.links import explore_panes, render_link
from pulse.grafana.emulation.macros import QueryContext, TimeRange, calculate_interval, expand_macros
from pulse.grafana.emulation.render import PanelQuery, expand, panel_range, panels, resolve_variables
from pulse.grafana.emulation.variables import VariableState, interpolate
from pulse.grafana.generate import dashboard_json
from tests.grafana.conftest import DATABASE
from tests.support.grafana_expressions import evaluate_rule
from tests.support.pipeline import ad_totals
from tests.support.provisioning import provisioned_rule

NUMERIC = ("Int", "UInt", "Float", "Decimal", "Nullable(Int", "Nullable(UInt", "Nullable(Float")


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
    if module.UID == "pulse-audit":
        audited(client)
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
    # The archive panels read the S3 archive, which this traffic (loaded straight into the warehouse)
    # never reaches: tests/archive/test_archive_queries.py proves them on archived traffic.
    # Nobody is refused on this unrestricted warehouse (tests/access proves refusals are audited).
    allowed = {"Running merges", "Rejected events by reason", "Denied attempts", *archive_panels(board)}
    if not spenders_today(client, window):
        allowed.add("Budget pacing")
    # A unit's generated metric dashboard counts its own custom events, which generated social traffic
    # never sends: here its queries must run and fit; tests/e2e/test_metrics.py proves their values.
    if module.UID.startswith("pulse-metrics-"):
        allowed.update(query.title for query in queries)
    assert not set(empty) - allowed, f"panels without data: {empty}"


def archive_panels(board: dict[str, Any]) -> set[str]:
    """Titles of the panels of the collapsed History (S3 archive) row."""
    return {p["title"] for row in board["panels"] if row.get("collapsed") for p in row["panels"]}


def audited(client: Client) -> None:
    """The audit of this database up to now: its sensitive columns classified, a read of money, all copied."""
    definition = load(Path(__file__).resolve().parents[2] / DEFINITION).model_copy(update={"database": DATABASE})
    reads.classify(client, definition)
    client.query("SELECT sum(revenue_micros) FROM events")
    reads.capture(client, DATABASE)


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
    assert f"decodeURLComponent('{quote(country, safe='')}')" in query.sql
    _, _, rows = run(client, query)
    assert rows  # drilled into regions of that country
    assert sum(r[1] for r in rows) == truth.per_country[country]


def explored(board: dict[str, Any], window: TimeRange, variables: dict[str, VariableState]) -> dict[str, str]:
    """Panel title -> the final SQL Explore runs when that panel's "Explore this query" link is followed:
    the link rendered by Grafana for this view, its ``panes`` decoded, the query's macros expanded for the
    pane's range (and the panel's interval: Explore's own depends on its width)."""
    out = {}
    for panel in panels(board):
        if not any(t.get("datasource", {}).get("uid") == CLICKHOUSE["uid"] for t in panel.get("targets") or []):
            continue
        links = {link["title"]: link["url"] for link in panel["links"]}
        assert "Explore this query" in links, f"{panel['title']}: no Explore link"
        range_ = panel_range(panel, window)
        (pane,) = explore_panes(render_link(links["Explore this query"], variables, range_)).values()
        assert pane.datasource == CLICKHOUSE["uid"] and pane.time_range == TimeRange(range_.from_ms, range_.to_ms)
        (query,) = pane.queries
        (target,) = panel["targets"]
        assert {k: query[k] for k in ("refId", "datasource", "format", "editorType")} == {
            k: target[k] for k in ("refId", "datasource", "format", "editorType")
        }
        assert query["rawSql"] == interpolate(target["rawSql"], variables), f"{panel['title']}: not the panel's SQL"
        interval = calculate_interval(pane.time_range, int(panel.get("maxDataPoints") or 1000), panel.get("interval"))
        out[panel["title"]] = expand_macros(query["rawSql"], QueryContext(pane.time_range, interval))
    return out


@pytest.mark.parametrize("module", DASHBOARDS, ids=lambda m: m.UID)
def test_every_panel_opens_its_query_in_explore(
    client: Client, loaded: tuple[TruthReport, TimeRange], module: Any
) -> None:
    """The link carries the panel's SQL (macros kept), the view's variables and the panel's range: what
    Explore runs is exactly what the panel runs, and it runs on the engine."""
    truth, window = loaded
    board = dashboard_json(module)
    country = max(truth.per_country, key=lambda c: truth.per_country[c])
    ranges = (window, TimeRange.last(window.span_ms, window.to_ms))  # absolute, and relative (overrides apply)
    selections = ({}, {"country": country}) if module is unified else ({},)
    for range_ in ranges:
        for chosen in selections:
            variables = resolve_variables(board, client, range_, chosen)
            in_explore = explored(board, range_, variables)
            queries = expand(board, range_, variables)
            assert set(in_explore) == {q.title for q in queries}
            for query in queries:
                assert in_explore[query.title] == query.sql, query.title
    for sql in explored(board, window, resolve_variables(board, client, window)).values():
        client.query(sql)


def test_explore_link_of_the_pacing_panel_opens_campaign_kpis(
    client: Client, loaded: tuple[TruthReport, TimeRange]
) -> None:
    """The pacing panel's extra link opens the Campaign KPIs query, not an empty pane."""
    _, window = loaded
    board = dashboard_json(unified)
    variables = resolve_variables(board, client, window)
    by_title = {p["title"]: p for p in panels(board)}
    url = {link["title"]: link["url"] for link in by_title["Budget pacing"]["links"]}["Campaign KPIs (Explore)"]
    (pane,) = explore_panes(render_link(url, variables, window)).values()
    assert pane.queries[0]["rawSql"] == interpolate(by_title["Campaign KPIs"]["targets"][0]["rawSql"], variables)
    kpis = {q.title: q for q in expand(board, window, variables)}["Campaign KPIs"]
    sql = expand_macros(pane.queries[0]["rawSql"], QueryContext(pane.time_range, 1000))
    assert client.query(sql).result_rows == client.query(kpis.sql).result_rows


def test_panel_overrides_apply_only_under_a_relative_range(
    client: Client, loaded: tuple[TruthReport, TimeRange]
) -> None:
    """Grafana gives a panel with ``timeFrom`` the range ``now-<timeFrom>``..``now`` when the dashboard's range
    is relative, and the dashboard's own range when it is absolute (the override is ignored); the panel's
    ``timeShift`` (``0m/m``, issue 16) then rounds either to whole minutes."""
    _, window = loaded
    board = dashboard_json(unified)
    variables = resolve_variables(board, client, window)
    relative = TimeRange.last(window.span_ms, window.to_ms)
    live = "Events per second (live)"
    assert {q.title: q for q in expand(board, window, variables)}[live].time_range == datemath.shifted(window, "0m/m")
    assert {q.title: q for q in expand(board, relative, variables)}[live].time_range == datemath.shifted(
        TimeRange.last(300_000, window.to_ms), "0m/m"
    )
    plain = {q.title: q for q in expand(board, relative, variables)}["Events by type"]
    assert plain.time_range == relative


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


@pytest.mark.parametrize(
    "uid", [r.uid for r in alerts.all_rules() if r.to_file("")["data"][0]["datasourceUid"] == CLICKHOUSE["uid"]]
)
def test_every_clickhouse_rule_evaluates_on_the_engine(
    client: Client, loaded: tuple[TruthReport, TimeRange], uid: str
) -> None:
    """Each provisioned rule's chain (its SQL with the macros expanded, then the expressions) runs at the
    end of the loaded traffic; the generated metric rules included. tests/grafana/test_alert_rules.py and
    tests/e2e/test_metrics.py prove when they fire."""
    _, window = loaded
    states = evaluate_rule(provisioned_rule(uid), client, window.to_ms)
    assert all(isinstance(firing, bool) for firing in states.values())
