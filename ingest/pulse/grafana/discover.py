"""Finds the Grafana content (``grafana/``, shipped as ``pulse.grafana.content``) by kind, through importlib.

Library code never imports the content statically: the content imports the library's builders, and
the generator, the CLI and the tests meet it here. Adding a file under ``grafana/dashboards/`` or
``grafana/alerts/`` adds it everywhere.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from pulse.content import GRAFANA
from pulse.errors import PulseError


def module(name: str) -> ModuleType:
    """``grafana/<name>.py``, e.g. ``config`` or ``routing``."""
    return importlib.import_module(f"{GRAFANA}.{name}")


def modules(package: str) -> dict[str, ModuleType]:
    """Every public module of ``grafana/<package>/``, by name, in name order."""
    found = module(package)
    names = sorted(info.name for info in pkgutil.iter_modules(found.__path__) if not info.name.startswith("_"))
    return {name: importlib.import_module(f"{found.__name__}.{name}") for name in names}


def attribute(source: ModuleType, name: str, kind: type[Any]) -> Any:
    """``source.<name>``, checked to be a ``kind``: a content file that forgets it fails here, by name."""
    value = getattr(source, name, None)
    if not isinstance(value, kind):
        raise PulseError(f"{source.__name__}.{name} must be a {kind.__name__}, not {type(value).__name__}")
    return value
