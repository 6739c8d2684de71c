"""Supervision of local background services: pid files, one log per service, clean stops.

Each service runs in its own session (process group), so stopping it also stops every child it
spawned: `pulse stack down` leaves no orphans. Starting is idempotent: a service whose pid file
names a live process is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pulse.errors import PulseError


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service and how to tell that it is ready."""

    name: str
    argv: Sequence[str]
    port: int | None = None
    host: str = "127.0.0.1"
    #: Ports the service binds besides ``port`` (Kafka's controller): checked free before starting.
    extra_ports: Sequence[int] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    ready: Callable[[], bool] | None = None
    stop_signal: signal.Signals = signal.SIGTERM


@dataclass(frozen=True)
class ServiceState:
    name: str
    pid: int | None
    running: bool
    log: Path


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by us) is not alive.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    # Nor is one whose parent is not us (`pulse stack up` has exited) and not yet reaped by init.
    return not _is_zombie(pid)


def _group_alive(pgid: int) -> bool:
    """The leader or any other process of its group (its children) still runs."""
    return _pid_alive(pgid) or bool(group_members(pgid))


def group_members(pgid: int) -> list[int]:
    """Running (not zombie) pids whose process group is ``pgid``; from /proc, empty where it is absent."""
    members = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.getpgid(int(entry.name)) == pgid and not _is_zombie(int(entry.name)):
                    members.append(int(entry.name))
    return members


def _is_zombie(pid: int) -> bool:
    """Every thread has exited. A killed multi-threaded process shows its leader as Z while other
    threads still tear down, and until the last one is gone its sockets stay open."""
    task_dir = Path(f"/proc/{pid}/task")
    try:
        stats = [path.read_text() for path in task_dir.glob("*/stat")] or [Path(f"/proc/{pid}/stat").read_text()]
    except OSError:
        return False
    # Format: "pid (comm) state ...": comm may hold spaces and parentheses, so split after the last ")".
    return all(stat.rpartition(")")[2].split()[:1] == ["Z"] for stat in stats)


class Supervisor:
    """Starts, checks and stops services whose state lives in ``run_dir`` and ``logs_dir``."""

    def __init__(self, run_dir: Path, logs_dir: Path) -> None:
        self.run_dir = run_dir
        self.logs_dir = logs_dir

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def supervised(self) -> list[str]:
        """Names of every service this supervisor has a pid file for (running or not)."""
        return sorted(path.stem for path in self.run_dir.glob("*.pid")) if self.run_dir.is_dir() else []

    def state(self, name: str) -> ServiceState:
        pid_file = self._pid_file(name)
        pid: int | None = None
        if pid_file.exists():
            with contextlib.suppress(ValueError):
                pid = int(pid_file.read_text().strip())
        running = pid is not None and _pid_alive(pid)
        return ServiceState(name=name, pid=pid, running=running, log=self.log_file(name))

    def start(self, spec: ServiceSpec, timeout_s: float) -> ServiceState:
        """Start ``spec`` unless it already runs, then wait until it is ready or fail clearly."""
        current = self.state(spec.name)
        if current.running:
            return current
        for port in (spec.port, *spec.extra_ports):
            if port is not None and port_is_open(spec.host, port):
                raise PulseError(
                    f"{spec.name}: port {spec.host}:{port} is already taken by another process; "
                    f"free it or choose another port (see `pulse stack status` and PULSE_* settings)"
                )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_file(spec.name)
        with log_path.open("ab") as log:
            try:
                process = subprocess.Popen(
                    list(spec.argv),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=spec.cwd,
                    env={**os.environ, **spec.env},
                    start_new_session=True,
                )
            except FileNotFoundError as error:
                raise PulseError(f"{spec.name}: cannot run {spec.argv[0]!r}: {error.strerror}") from error
        self._pid_file(spec.name).write_text(str(process.pid))
        self._wait_ready(spec, process, timeout_s, log_path)
        return self.state(spec.name)

    def _wait_ready(self, spec: ServiceSpec, process: subprocess.Popen[bytes], timeout_s: float, log: Path) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._pid_file(spec.name).unlink(missing_ok=True)
                raise PulseError(
                    f"{spec.name} exited with code {process.returncode} while starting (log {log}): {_last_line(log)}"
                )
            port_ok = spec.port is None or port_is_open(spec.host, spec.port)
            if port_ok and (spec.ready is None or _safe(spec.ready)):
                return
            time.sleep(0.2)
        self.stop(spec.name)
        raise PulseError(f"{spec.name} was not ready after {timeout_s:.0f}s (log {log}): {_last_line(log)}")

    def stop(self, name: str, timeout_s: float = 30.0, stop_signal: signal.Signals = signal.SIGTERM) -> bool:
        """Stop the service's whole process group; True if something was running."""
        current = self.state(name)
        pid_file = self._pid_file(name)
        if not current.running or current.pid is None:
            pid_file.unlink(missing_ok=True)
            return False
        _signal_group(current.pid, stop_signal)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _group_alive(current.pid):
            time.sleep(0.05)
        if _group_alive(current.pid):
            # The leader or one of its children ignored the polite signal: no orphans either way.
            _signal_group(current.pid, signal.SIGKILL)
            while _group_alive(current.pid):
                time.sleep(0.05)
        pid_file.unlink(missing_ok=True)
        return True

    def kill(self, name: str) -> bool:
        """kill -9 the service (failure tests): no chance to flush or drain."""
        return self.stop(name, timeout_s=0.0, stop_signal=signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception:
        return False


def _last_line(path: Path) -> str:
    """The log's last non-empty line: errors stay one line, the log path says where the rest is."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1][:300] if lines else "(empty log)"
