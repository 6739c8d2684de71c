"""A handle on an isolated local stack for test sessions: start subsets, break services, run the CLI.

The root ``tests/conftest.py`` builds one per session; tests of every area use it to get real
Kafka / Redis / S3 / warehouse processes on non-default ports without touching a developer's stack.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from pulse.settings import LOOPBACK, Settings
from pulse.stack import stack
from pulse.stack.env import child_env
from pulse.stack.stack import ServiceStatus
from pulse.web import free_port


@dataclass(frozen=True)
class Ports:
    """Every port a Pulse stack binds; the defaults are the test session's (never a dev stack's)."""

    kafka: int = 19092
    kafka_controller: int = 19093
    kafka_metrics: int = 19404
    redis: int = 16379
    s3: int = 19000
    warehouse: int = 18123
    collector: int = 18080
    loader_metrics: int = 19464
    hot_metrics: int = 19465
    archive_metrics: int = 19466

    @classmethod
    def free(cls) -> Ports:
        """Ports the kernel says are free right now (a stack of a test's own)."""
        return cls(*(free_port() for _ in fields(cls)))


def isolated_settings(home: Path, ports: Ports | None = None) -> Settings:
    """Settings from the environment, with home, host and every port forced: isolation from other stacks."""
    p, host = ports or Ports(), LOOPBACK
    base = Settings()
    return base.model_copy(
        update={
            "stack": base.stack.model_copy(update={"home": home, "host": host}),
            "kafka": base.kafka.model_copy(
                update={
                    "bootstrap_servers": f"{host}:{p.kafka}",
                    "controller_port": p.kafka_controller,
                    "metrics_port": p.kafka_metrics,
                }
            ),
            "redis": base.redis.model_copy(update={"url": f"redis://{host}:{p.redis}/0"}),
            "s3": base.s3.model_copy(update={"endpoint_url": f"http://{host}:{p.s3}"}),
            "clickhouse": base.clickhouse.model_copy(
                update={"url": f"http://{host}:{p.warehouse}", "embedded_path": None}
            ),
            "collector": base.collector.model_copy(update={"host": host, "port": p.collector}),
            "loader": base.loader.model_copy(update={"metrics_port": p.loader_metrics}),
            "hot": base.hot.model_copy(update={"metrics_port": p.hot_metrics}),
            "archive": base.archive.model_copy(update={"metrics_port": p.archive_metrics}),
        }
    )


class StackHandle:
    """Lazily started services of one ``Settings``; what it starts, ``close`` stops."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env: dict[str, str] = child_env(settings)
        self._ready: set[str] = set()

    @property
    def home(self) -> Path:
        return self.settings.stack.home

    def reset(self) -> None:
        """Stop leftovers of an interrupted session and wipe its data, so each session starts clean."""
        stack.down(self.settings, stack.select())
        shutil.rmtree(self.settings.stack.data_dir, ignore_errors=True)
        shutil.rmtree(self.settings.stack.run_dir, ignore_errors=True)
        self._ready.clear()

    def up(self, *names: str) -> Settings:
        """Start the named services (all when none), in stack order; cheap when they already run."""
        services = stack.select(names)
        sup = stack.supervisor(self.settings)
        todo = [s for s in services if s.name not in self._ready or not sup.state(s.name).running]
        if todo:
            stack.up(self.settings, todo)
            self._ready.update(s.name for s in todo)
        return self.settings

    def stop(self, *names: str) -> list[str]:
        """Stop the named services gracefully (all when none)."""
        self._ready.difference_update(names or stack.NAMES)
        return stack.down(self.settings, stack.select(names))

    def kill(self, name: str) -> bool:
        """SIGKILL one service's process group: a crash, not a shutdown (failure tests)."""
        self._ready.discard(name)
        return stack.supervisor(self.settings).kill(name)

    @contextlib.contextmanager
    def outage(self, name: str, *, kill: bool = False) -> Iterator[None]:
        """The service is down inside the block and running again after it, even if the block fails."""
        if kill:
            self.kill(name)
        else:
            self.stop(name)
        try:
            yield
        finally:
            self.up(name)

    def status(self, *names: str) -> list[ServiceStatus]:
        return stack.status(self.settings, stack.select(names))

    def pulse(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300.0, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m pulse ARGS`` against this stack (its ``PULSE_*`` env), capturing text output."""
        return subprocess.run(
            [sys.executable, "-m", "pulse", *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def close(self) -> None:
        """Stop every service of this stack (reverse order)."""
        stack.down(self.settings, stack.select())
        self._ready.clear()
