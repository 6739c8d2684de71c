"""`pulse bench viewers`' model of the viewers: who looks at what, and what each mode sends (no timing here)."""

from __future__ import annotations

from pulse.bench.viewers import Viewer, _Sql, clickhouse_panels, unaligned, viewers, visible
from pulse.grafana.dashboards import unified
from pulse.grafana.generate import dashboard_json

BOARD = visible(dashboard_json(unified))
NOW_MS = 1_796_550_000_000  # 2026-12-05 ... :00 UTC, a whole minute


def test_one_unusual_viewer_a_tenth_filtered_the_rest_default_and_staggered() -> None:
    tabs = viewers(200, 5.0, {"country": ["DE", "US"], "device_type": ["mobile"], "segment": ["new"]})
    kinds = [t.kind for t in tabs]
    assert kinds.count("unusual") == 1
    assert kinds.count("filtered") == 20
    assert all(t.chosen for t in tabs if t.kind != "default")
    offsets = [t.offset_s for t in tabs]
    assert offsets == sorted(offsets) and offsets[0] >= 0 and offsets[-1] < 5.0


def test_collapsed_rows_are_not_loaded() -> None:
    full = dashboard_json(unified)
    assert clickhouse_panels(full) == len(_Sql(BOARD).panels(Viewer(0, "default", (), 0), NOW_MS, False))
    assert not any(p["type"] == "row" for p in BOARD["panels"])


def test_aligned_viewers_share_sql_within_the_minute_and_unaligned_ones_do_not() -> None:
    tab = Viewer(0, "default", (), 0)
    aligned, old = _Sql(BOARD), _Sql(unaligned(BOARD))
    assert aligned.panels(tab, NOW_MS + 1_000, False) == aligned.panels(tab, NOW_MS + 58_000, False)
    assert old.panels(tab, NOW_MS + 1_000, False) != old.panels(tab, NOW_MS + 58_000, False)
    assert aligned.panels(tab, NOW_MS, True) != aligned.panels(tab, NOW_MS, False)  # the wide range
