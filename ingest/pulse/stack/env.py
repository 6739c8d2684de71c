"""Settings -> ``PULSE_*`` environment, so child processes see exactly the settings the stack runs with.

The stack (and the test session) may hold a ``Settings`` object that was built in code rather than
read from the environment; every service and CLI command it spawns must agree with it, ports and
folders included, so the object is flattened back into the variables ``Settings()`` reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pulse.settings import Settings

PREFIX = "PULSE_"
DELIMITER = "__"


def settings_env(settings: Settings) -> dict[str, str]:
    """Every set field as a ``PULSE_*`` variable; paths absolute, ``None`` left to its default."""
    env: dict[str, str] = {}
    _flatten(settings.model_dump(mode="python"), PREFIX, env)
    return env


def _flatten(values: Mapping[str, Any], prefix: str, env: dict[str, str]) -> None:
    for key, value in values.items():
        name = f"{prefix}{key.upper()}"
        if value is None:
            continue
        if isinstance(value, Mapping):
            _flatten(value, f"{name}{DELIMITER}", env)
        elif isinstance(value, Path):
            env[name] = str(value.absolute())
        elif isinstance(value, list | tuple | set):
            env[name] = json.dumps(list(value))
        elif isinstance(value, bool):
            env[name] = "true" if value else "false"
        else:
            env[name] = str(value)


def child_env(settings: Settings) -> dict[str, str]:
    """This process's environment with the settings laid over it (what every child gets)."""
    return {**os.environ, **settings_env(settings)}
