"""The image is built from the wheel alone: its build stage copies exactly what the wheel packages, and
its runtime stage takes nothing from the build context (no Docker engine here, so this reads the files)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def stages() -> dict[str, list[str]]:
    """Dockerfile instructions (continuations joined) by stage name."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())
    found: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if match := re.match(r"FROM \S+ AS (\w+)", line):
            current = match.group(1)
            found[current] = []
        elif current and line and not line.startswith("#"):
            found[current].append(line)
    return found


def wheel_sources() -> set[str]:
    """The folders `pip wheel .` reads: the package root and every content folder mapped into it."""
    package_dir = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    return set(package_dir.values())


def test_the_build_stage_copies_exactly_what_the_wheel_packages() -> None:
    copied = {line.split()[1] for line in stages()["build"] if line.startswith("COPY ") and "--from" not in line} - {
        "pyproject.toml"
    }
    assert copied == wheel_sources()
    allowed = {line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines() if line[:1] == "!"}
    assert wheel_sources() <= allowed, "the build context would not contain a folder the wheel needs"


def test_the_runtime_stage_installs_the_wheel_and_copies_nothing_from_the_context() -> None:
    runtime = stages()["runtime"]
    assert not [line for line in runtime if line.startswith(("COPY", "ADD"))]
    (install,) = [line for line in runtime if "pip install" in line]
    assert "from=build,source=/dist" in install
    assert re.search(r"/dist/pulse_analytics-\*\.whl$", install)


def test_deployments_migrate_with_the_shipped_schema() -> None:
    for path in (REPO / "docker-compose.yml", REPO / "helm/pulse/templates/migrate-job.yaml"):
        assert "--schema-dir" not in path.read_text(), f"{path.name} points migrate at a folder the image lacks"
