"""Smoke test of the image and docker-compose.yml with pytest-docker: needs a Docker engine.

Skipped (with the reason) where no engine is reachable, as on the development machines and CI of this
project, which have the docker CLI but no daemon. Everything else in tests/deploy runs everywhere.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .tools import COMPOSE_FILE


def docker_engine_problem() -> str | None:
    """Why Docker cannot be used here, or None when an engine answers."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "`docker info` timed out"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["docker info failed"]
        return f"no Docker engine reachable: {lines[-1]}"
    compose = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=20, check=False)
    if compose.returncode != 0:
        return "the docker compose plugin is not installed"
    return None


@pytest.fixture(scope="session")
def docker_compose_file() -> list[str]:
    """pytest-docker: the repository's compose file."""
    return [str(COMPOSE_FILE)]


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    return "pulse-smoke"


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    # Only what the smoke needs: the image, the stores, migrations and the collector.
    return ["build", "up -d --wait collector"]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return status == 200
    except OSError:
        return False


def test_collector_container_serves_health(request: pytest.FixtureRequest) -> None:
    problem = docker_engine_problem()
    if problem:
        pytest.skip(f"Docker smoke test skipped: {problem}")
    services: Any = request.getfixturevalue("docker_services")
    port = services.port_for("collector", 8080)
    url = f"http://127.0.0.1:{port}/healthz"
    services.wait_until_responsive(timeout=180.0, pause=2.0, check=lambda: _healthy(url))
    assert _healthy(f"http://127.0.0.1:{port}/readyz")
    assert Path(COMPOSE_FILE).exists()
