"""The dashboards by name: every module of ``grafana/dashboards/`` (package ``pulse.grafana.content.dashboards``).

Each module exposes ``UID`` and ``dashboard()`` (a grafanalib Dashboard). They are imported here by
discovery, so adding a file adds a dashboard to the generator, the CLI and the tests.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from pulse.content import GRAFANA

_PACKAGE = f"{GRAFANA}.dashboards"


def _discover() -> dict[str, ModuleType]:
    package = importlib.import_module(_PACKAGE)
    names = sorted(info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_"))
    return {name: importlib.import_module(f"{_PACKAGE}.{name}") for name in names}


BY_NAME = _discover()
unified = BY_NAME["unified"]

#: The unified dashboard first: it is the one staff open.
DASHBOARDS: tuple[ModuleType, ...] = (unified, *(m for m in BY_NAME.values() if m is not unified))
