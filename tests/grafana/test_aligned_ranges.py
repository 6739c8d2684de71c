"""Viewers in the same minute send byte-identical SQL (issue 16), computed the way Grafana computes ranges.

The dashboards' default range is ``now-1h/m`` .. ``now/m`` and panels with a relative-time override carry
``timeShift: 0m/m``; the proof harness evaluates both with Grafana's date math (pulse.grafana.emulation.datemath)
and expands every panel with the plugin's macros. Identical SQL is what lets ClickHouse's query cache
(the data source's customSettings) answer a thousand viewers with one computation per refresh.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.generator.truth import TruthReport
from pulse.grafana.dashboards import DASHBOARDS, unified
from pulse.grafana.datasources import CLICKHOUSE, QUERY_CACHE_SETTINGS
from pulse.grafana.emulation import datemath
from pulse.grafana.emulation.macros import TimeRange
from pulse.grafana.emulation.render import dashboard_range, expand, panel_range, panels
from pulse.grafana.emulation.variables import ALL, VariableState
from pulse.grafana.generate import dashboard_json

BOARD = dashboard_json(unified)
MINUTE = datetime(2026, 12, 5, 9, 41, tzinfo=UTC)


def _all(board: dict[str, Any], **chosen: str) -> dict[str, VariableState]:
    names = [v["name"] for v in board.get("templating", {}).get("list", [])]
    return {name: VariableState(name, [chosen.get(name, ALL)]) for name in names}


def _sql(board: dict[str, Any], now: datetime, **chosen: str) -> dict[tuple[int, str], str]:
    return {(q.panel_id, q.ref_id): q.sql for q in expand(board, dashboard_range(board, now), _all(board, **chosen))}


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_grafana_date_math_rounds_from_down_and_to_up() -> None:
    now = _ms("2026-12-05T09:41:37.250+00:00")
    assert datemath.relative("now-1h/m", "now/m", now) == TimeRange(
        _ms("2026-12-05T08:41:00+00:00"), _ms("2026-12-05T09:41:59.999+00:00"), now
    )
    assert datemath.relative("now-1d/d", "now-1d/d", now) == TimeRange(  # Grafana's "Yesterday"
        _ms("2026-12-04T00:00:00+00:00"), _ms("2026-12-04T23:59:59.999+00:00"), now
    )
    assert datemath.parse("now-1M/M", now, False) == _ms("2026-11-01T00:00:00+00:00")
    assert datemath.describe_text_range("5m") == ("now-5m", "now")
    shifted = datemath.shifted(TimeRange(_ms("2026-12-05T09:36:37.250+00:00"), now, now), "0m/m")
    assert (shifted.from_ms, shifted.to_ms) == (_ms("2026-12-05T09:36:00+00:00"), _ms("2026-12-05T09:41:59.999+00:00"))


def test_every_clickhouse_panel_is_aligned_to_the_minute() -> None:
    """The default range and every override: both ends on minute boundaries, whatever second the viewer loads."""
    for module in DASHBOARDS:
        board = dashboard_json(module)
        assert board["time"] == {"from": "now-1h/m", "to": "now/m"}, module.UID
        window = dashboard_range(board, MINUTE + timedelta(seconds=17))
        for panel in panels(board):
            if panel.get("timeFrom"):
                assert panel.get("timeShift") == "0m/m", (module.UID, panel["title"])
            own = panel_range(panel, window)
            assert own.from_ms % 60_000 == 0 and own.to_ms % 60_000 == 59_999, (module.UID, panel["title"])


@settings(max_examples=60, deadline=None)
@given(
    first=st.integers(0, 59_999),
    second=st.integers(0, 59_999),
    country=st.sampled_from([ALL, "DE", "US"]),
)
def test_viewers_in_the_same_minute_send_identical_sql(first: int, second: int, country: str) -> None:
    one = _sql(BOARD, MINUTE + timedelta(milliseconds=first), country=country)
    other = _sql(BOARD, MINUTE + timedelta(milliseconds=second), country=country)
    assert one and one == other


def test_the_next_minute_and_another_filter_send_other_sql() -> None:
    """The proof would be empty if the SQL never changed: a minute later, or another filter, it does."""
    base = _sql(BOARD, MINUTE)
    later = _sql(BOARD, MINUTE + timedelta(minutes=1))
    filtered = _sql(BOARD, MINUTE, country="DE")
    assert base.keys() == later.keys() == filtered.keys()
    assert all(base[key] != later[key] for key in base if "toDateTime(" in base[key])
    assert any(base[key] != filtered[key] for key in base)


@pytest.mark.parametrize("module", DASHBOARDS, ids=lambda m: m.UID)
def test_the_query_cache_settings_return_the_same_rows(
    client: Client, loaded: tuple[TruthReport, TimeRange], module: Any
) -> None:
    """Every ClickHouse panel, at a viewer's aligned range over loaded traffic, with and without the data
    source's query-cache settings (on the embedded engine the cache holds nothing: the settings must be
    accepted -- now() in the SQL needs the 'save' handling -- and change no row)."""
    _, window = loaded
    board = dashboard_json(module)
    view = dashboard_range(board, datetime.fromtimestamp(window.to_ms / 1000, UTC))
    cached = dict(QUERY_CACHE_SETTINGS)
    checked = 0
    for query in expand(board, view, _all(board)):
        if query.named and query.named.startswith("archive_"):
            continue  # the S3 archive, not the warehouse
        if "system." in query.sql:
            continue  # live server state (the audit's query log): bypasses the cache ('ignore'), changes by itself
        plain = client.query(query.sql).result_rows
        first = client.query(query.sql, settings=cached).result_rows
        second = client.query(query.sql, settings=cached).result_rows
        if client.query(query.sql).result_rows != plain:
            continue  # a clock-driven answer (freshness: now() - newest event) differs call to call anyway
        assert first == second == plain, query.title
        checked += 1
    assert checked or not any(
        (t.get("datasource") or {}).get("uid") == CLICKHOUSE["uid"]
        for p in panels(board)
        for t in p.get("targets", []) or []
    )
