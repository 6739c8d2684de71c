"""Start and stop a real `pulse warehouse serve` subprocess on a free port and a temp chDB path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import clickhouse_connect
import httpx
from clickhouse_connect.driver.client import Client

from pulse.settings import Settings
from pulse.web import free_port


@dataclass
class Warehouse:
    """One bridge process; `start`/`stop` can be called again on the same path."""

    path: Path
    home: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PULSE_STACK__HOME": str(self.home),
            "PULSE_STACK__HOST": "127.0.0.1",
            "PULSE_CLICKHOUSE__URL": self.url,
            "PULSE_CLICKHOUSE__EMBEDDED_PATH": str(self.path),
            "PULSE_CLICKHOUSE__DATABASE": "pulse_test",
            **self.extra_env,
        }

    def settings(self) -> Settings:
        return Settings(
            stack={"home": self.home, "host": "127.0.0.1"},  # type: ignore[arg-type]
            clickhouse={"url": self.url, "embedded_path": self.path, "database": "pulse_test"},  # type: ignore[arg-type]
        )

    def start(self, timeout_s: float = 60.0) -> None:
        self.log_path = self.home / f"warehouse-{time.monotonic_ns()}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pulse", "warehouse", "serve", "--pool-size", "4"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"warehouse exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).text == "Ok.\n":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"warehouse did not answer /ping in {timeout_s}s:\n{self.log_path.read_text()}")

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

    def client(self, **options: Any) -> Client:
        return clickhouse_connect.get_client(host="127.0.0.1", port=self.port, **options)

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path else ""
