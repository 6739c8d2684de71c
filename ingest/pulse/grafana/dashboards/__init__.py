"""The dashboards by name: every module of ``grafana/dashboards/`` (package ``pulse.grafana.content.dashboards``),
then one per business unit of ``metrics/`` (:mod:`pulse.metrics.grafana`).

Each exposes ``UID``, ``TITLE`` and ``dashboard()`` (a grafanalib Dashboard). Modules are imported
here by discovery, so adding a file adds a dashboard to the generator, the CLI and the tests; a
unit's file in ``metrics/`` adds its dashboard the same way.
"""

from __future__ import annotations

from typing import Protocol

import grafanalib.core as g

from pulse.grafana.discover import modules
from pulse.metrics.grafana import boards
from pulse.metrics.load import load_folder


class Board(Protocol):
    @property
    def UID(self) -> str: ...
    @property
    def TITLE(self) -> str: ...

    def dashboard(self) -> g.Dashboard: ...


BY_NAME = modules("dashboards")
unified = BY_NAME["unified"]

#: The unified dashboard first: it is the one staff open; the units' metric dashboards last.
DASHBOARDS: tuple[Board, ...] = (
    unified,
    *(m for m in BY_NAME.values() if m is not unified),
    *boards(load_folder()),
)
