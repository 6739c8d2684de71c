"""prometheus, promtool and amtool for the tests, built from the Go module proxy by the project's own script.

``helm/scripts/install-tools.sh`` builds each pinned version once into ``~/.cache/pulse/bin`` (cold: several
minutes on 2 cores; warm: instant). A machine without Go skips the tests that need them, saying so; with
Go, a failed build fails them (a broken pin must not pass silently).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL_TOOLS = REPO / "helm" / "scripts" / "install-tools.sh"
# Below pytest-timeout (600 s): a cold build of prometheus is the slow one.
INSTALL_TIMEOUT_S = 580


def go_tools(*names: str) -> dict[str, Path]:
    """Tool name -> binary, building what is not cached yet."""
    go = os.environ.get("GO", "go")
    if shutil.which(go) is None:
        pytest.skip(f"Go toolchain '{go}' not found: {', '.join(names)} are built from the Go module proxy")
    try:
        done = subprocess.run(
            ["bash", str(INSTALL_TOOLS), *names],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{INSTALL_TOOLS} {' '.join(names)} took more than {INSTALL_TIMEOUT_S}s", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"{INSTALL_TOOLS} {' '.join(names)} failed (exit {done.returncode}):\n{done.stderr}", pytrace=False)
    paths = [Path(line) for line in done.stdout.splitlines() if line.strip()]
    found = {name: next((p for p in paths if p.name.startswith(f"{name}-")), None) for name in names}
    missing = [name for name, path in found.items() if path is None or not path.exists()]
    if missing:
        pytest.fail(f"{INSTALL_TOOLS} printed no binary for {missing}: {done.stdout!r}", pytrace=False)
    return {name: path for name, path in found.items() if path is not None}
