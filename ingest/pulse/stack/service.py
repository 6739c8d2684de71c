"""What the stack needs to know about one service: how to install, run, finish and health-check it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pulse.settings import Settings
from pulse.stack.process import ServiceSpec


def _nothing(settings: Settings) -> None:
    return None


def _nothing_to_install(settings: Settings) -> bool:
    return False


@dataclass(frozen=True)
class Service:
    name: str
    #: The port clients use (shown by `status`, checked free before starting).
    port: Callable[[Settings], int]
    #: Run the service in the foreground; writes its config files on the way.
    spec: Callable[[Settings], ServiceSpec]
    #: Is it answering real requests (not just holding a port)?
    healthy: Callable[[Settings], bool]
    #: Fetch what it needs into the cache; True when something was downloaded.
    install: Callable[[Settings], bool] = _nothing_to_install
    #: Idempotent setup once it answers (topics, bucket); runs on every `up`.
    after_start: Callable[[Settings], None] = _nothing
