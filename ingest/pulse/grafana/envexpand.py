"""How Grafana reads provisioning YAML: every string goes through ``os.ExpandEnv`` (``$$`` = ``$``).

Source: grafana ``pkg/services/provisioning/values`` (``interpolateValue``: split on ``$$``, expand
``$__env{…}``/``$__file{…}`` then ``$VAR``/``${VAR}`` in each part, join with ``$``). Alert rules
hold ``$__fromTime_ms``, ``${country:sqlstring}`` and ``{{ $values.A.Value }}``: unescaped, Grafana
would replace them with empty environment variables, so :func:`escape` doubles every ``$`` of the
rule files and :func:`expand` (a port of Go's ``os.Expand``) lets tests read files as Grafana does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_SPECIAL = set("*#$@!?-0123456789")
_EXPANDERS = re.compile(r"\$__(env|file)\{([^}]*)\}")


def escape(value: Any) -> Any:
    """Every ``$`` doubled, recursively: the file then means exactly what it says."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [escape(v) for v in value]
    if isinstance(value, dict):
        return {k: escape(v) for k, v in value.items()}
    return value


def _shell_name(s: str) -> tuple[str, int]:
    """Go's ``getShellName``: the variable name after ``$`` and the characters it spans."""
    if s[0] == "{":
        if len(s) > 2 and s[1] in _SPECIAL and s[2] == "}":
            return s[1:2], 3
        for i in range(1, len(s)):
            if s[i] == "}":
                return ("", 2) if i == 1 else (s[1:i], i + 1)
        return "", 1
    if s[0] in _SPECIAL:
        return s[0:1], 1
    i = 0
    while i < len(s) and (s[i] == "_" or (s[i].isascii() and s[i].isalnum())):
        i += 1
    return s[:i], i


def expand_env(s: str, env: Mapping[str, str]) -> str:
    """Go's ``os.Expand(s, os.Getenv)``."""
    out: list[str] = []
    i, j = 0, 0
    while j < len(s):
        if s[j] == "$" and j + 1 < len(s):
            out.append(s[i:j])
            name, width = _shell_name(s[j + 1 :])
            if name == "" and width == 0:
                out.append("$")
            elif name:
                out.append(env.get(name, ""))
            j += width
            i = j + 1
        j += 1
    out.append(s[i:])
    return "".join(out)


def interpolate_value(value: str, env: Mapping[str, str]) -> str:
    parts = []
    for part in value.split("$$"):
        part = _EXPANDERS.sub(
            lambda m: env.get(m.group(2), "") if m.group(1) == "env" else Path(m.group(2)).read_text().strip(), part
        )
        parts.append(expand_env(part, env))
    return "$".join(parts)


def expand(value: Any, env: Mapping[str, str]) -> Any:
    """A provisioning document as Grafana sees it after loading (all strings interpolated)."""
    if isinstance(value, str):
        return interpolate_value(value, env)
    if isinstance(value, list):
        return [expand(v, env) for v in value]
    if isinstance(value, dict):
        return {k: expand(v, env) for k, v in value.items()}
    return value
