"""The business units' metric alerts, generated from ``metrics/*.yaml`` (docs/metrics.md)."""

from __future__ import annotations

from pulse.metrics.grafana import group
from pulse.metrics.load import load_folder

GROUP = group(load_folder())
