"""One module per dashboard; each exposes ``UID`` and ``dashboard()`` (a grafanalib Dashboard)."""

from __future__ import annotations

from types import ModuleType

from pulse.grafana.dashboards import pipeline_health, unified

DASHBOARDS: tuple[ModuleType, ...] = (unified, pipeline_health)
