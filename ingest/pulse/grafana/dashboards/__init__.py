"""The dashboards: grafanalib code, one file per dashboard, in the repository's `grafana/dashboards/`.

They live beside the other code-as-config (`clickhouse/`, `provisioning/`, `helm/`) rather than in
the package; this module loads them by path so the generator, the CLI and the tests use them by
name. Each file exposes ``UID`` and ``dashboard()`` (a grafanalib Dashboard).
"""

from __future__ import annotations

import os
import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from pulse.errors import PulseError

DASHBOARDS_DIR = Path(
    os.environ.get("PULSE_GRAFANA_DASHBOARDS_DIR", Path(__file__).resolve().parents[4] / "grafana" / "dashboards")
)


def _load(name: str) -> ModuleType:
    path = DASHBOARDS_DIR / f"{name}.py"
    spec = spec_from_file_location(f"pulse_dashboards.{name}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise PulseError(f"dashboard {name!r} not found at {path} (set PULSE_GRAFANA_DASHBOARDS_DIR)")
    module = module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


unified = _load("unified")
pipeline_health = _load("pipeline_health")

DASHBOARDS: tuple[ModuleType, ...] = (unified, pipeline_health)
