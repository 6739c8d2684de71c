"""Dashboards name hot-layer keys the hot layer builds (``pulse.hot.keys``), for a default install."""

from __future__ import annotations

from pulse.grafana.dashboards import DASHBOARDS
from pulse.grafana.generate import dashboard_json
from pulse.hot.keys import DEFAULT_KEYS, DEFAULT_PREFIX, TRENDING, WINDOWS
from pulse.settings import HotSettings


def test_the_default_keys_are_the_default_settings_keys() -> None:
    assert HotSettings().key_prefix == DEFAULT_PREFIX == DEFAULT_KEYS.prefix
    assert DEFAULT_KEYS.window(5) == "pulse:hot:win:5m"


def test_every_redis_panel_reads_a_key_the_hot_layer_writes() -> None:
    built = {DEFAULT_KEYS.window(m) for m in WINDOWS} | {DEFAULT_KEYS.trending(k, m) for k in TRENDING for m in WINDOWS}
    built |= {DEFAULT_KEYS.users_window(m) for m in WINDOWS} | {DEFAULT_KEYS.summary, DEFAULT_KEYS.active_sessions}
    named = [
        target["keyName"]
        for module in DASHBOARDS
        for panel in dashboard_json(module).get("panels", [])
        for target in panel.get("targets", [])
        if target.get("keyName")
    ]
    assert named and set(named) <= built
