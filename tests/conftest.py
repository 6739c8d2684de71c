"""Session fixtures: one isolated local stack (its own home and ports), started lazily, stopped at the end.

- ``stack``: every service up (Kafka with its topics, Redis, S3 with its bucket, warehouse); yields Settings.
- ``kafka_stack`` / ``redis_stack`` / ``s3_stack`` / ``warehouse_stack``: only that service; yields Settings.
- ``test_stack``: the ``StackHandle`` itself: ``up("kafka", "redis")``, ``stop``, ``kill``,
  ``outage("s3")`` (down inside a ``with``, back after), ``status()``, ``pulse("stack", "status")``.
- ``pulse_cli``: run ``python -m pulse ...`` against the test stack (``test_stack.pulse``).
- ``stack_settings``: the Settings alone (nothing started); ``stack_env``: the same as ``PULSE_*`` variables.

Tests that use any of these are marked ``stack`` automatically, so ``pytest -m "not stack"`` stays fast.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from pulse.settings import Settings
from tests.support.stack import Ports, StackHandle, isolated_settings

REPO = Path(__file__).resolve().parents[1]
TEST_HOME = REPO / ".pulse-test"
SERVICES = ("kafka", "redis", "s3", "warehouse")
STACK_FIXTURES = frozenset({"stack", "test_stack", "pulse_cli", *(f"{service}_stack" for service in SERVICES)})

PulseCli = Callable[..., CompletedProcess[str]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if STACK_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def stack_settings() -> Settings:
    """Home ``.pulse-test``; kafka 19092/19093, redis 16379, s3 19000, warehouse 18123, collector 18080.

    Two test sessions at once (parallel work on one machine) set ``PULSE_TEST_HOME`` to their own
    folder and ``PULSE_TEST_PORTS=free`` to take free ports instead of the fixed ones.
    """
    home = Path(os.environ.get("PULSE_TEST_HOME", TEST_HOME)).absolute()
    ports = Ports.free() if os.environ.get("PULSE_TEST_PORTS") == "free" else Ports()
    return isolated_settings(home, ports)


@pytest.fixture(scope="session")
def stack_env(test_stack: StackHandle) -> dict[str, str]:
    """This process's environment plus the test stack's ``PULSE_*`` variables (for subprocesses)."""
    return dict(test_stack.env)


@pytest.fixture(scope="session")
def test_stack(stack_settings: Settings) -> Iterator[StackHandle]:
    """The session's stack handle: nothing runs until a test asks; everything stops at session end."""
    with contextlib.closing(StackHandle(stack_settings)) as handle:
        handle.reset()
        yield handle


@pytest.fixture(scope="session")
def stack(test_stack: StackHandle) -> Settings:
    """Every service up and healthy: Kafka (+topics), Redis, S3 (+bucket), warehouse."""
    return test_stack.up()


def _only(service: str) -> Callable[[StackHandle], Settings]:
    """The session fixture ``<service>_stack``: that one service up and healthy (others only if asked)."""

    @pytest.fixture(scope="session", name=f"{service}_stack")
    def only_service(test_stack: StackHandle) -> Settings:
        return test_stack.up(service)

    return only_service


kafka_stack = _only("kafka")
redis_stack = _only("redis")
s3_stack = _only("s3")
warehouse_stack = _only("warehouse")


@pytest.fixture(scope="session")
def pulse_cli(test_stack: StackHandle) -> PulseCli:
    """``pulse_cli("stack", "status")`` -> CompletedProcess (text); ``env=`` adds variables, ``check=`` raises."""
    return test_stack.pulse
