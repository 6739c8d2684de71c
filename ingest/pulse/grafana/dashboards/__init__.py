"""The dashboards by name: every module of ``grafana/dashboards/`` (package ``pulse.grafana.content.dashboards``).

Each module exposes ``UID`` and ``dashboard()`` (a grafanalib Dashboard). They are imported here by
discovery, so adding a file adds a dashboard to the generator, the CLI and the tests.
"""

from __future__ import annotations

from types import ModuleType

from pulse.grafana.discover import modules

BY_NAME = modules("dashboards")
unified = BY_NAME["unified"]

#: The unified dashboard first: it is the one staff open.
DASHBOARDS: tuple[ModuleType, ...] = (unified, *(m for m in BY_NAME.values() if m is not unified))
