"""Where the content Pulse ships as package data lives: migrations, named queries, Grafana content.

People edit these folders at the repository's top level (``clickhouse/schema``, ``clickhouse/queries``,
``grafana``); ``pyproject.toml`` maps each one into the package (``package-dir``), so a wheel carries
them and an editable install reads them in place. Code finds them only through ``importlib.resources``,
never by a path relative to the source tree, so the image's ``pulse`` works wherever it is installed.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from pulse.errors import PulseError

#: ``clickhouse/schema/NNNN_name.sql``: the versioned migrations ``pulse migrate`` applies.
SCHEMA = "pulse.warehouse.schema"
#: ``clickhouse/queries/<name>.sql``: the named dashboard and alert queries.
QUERIES = "pulse.queries.sql"
#: ``metrics/``: metric definitions, one YAML file per business unit (``pulse metrics``).
METRICS = "pulse.metrics.definitions"
#: ``grafana/``: dashboards (grafanalib), alert rules and routing as code.
GRAFANA = "pulse.grafana.content"


def folder(package: str) -> Path:
    """The folder of a content package on the file system (pip always unpacks wheels)."""
    location = files(package)
    if not isinstance(location, Path):
        raise PulseError(f"{package} is not installed as a folder ({location}); reinstall pulse-analytics with pip")
    return location
