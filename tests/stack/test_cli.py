"""`pulse stack up | status | down` through the real CLI: idempotence, no orphans, one-line errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from pulse.settings import Settings
from pulse.stack.env import child_env
from pulse.stack.process import group_members
from tests.support.stack import Ports, StackHandle, isolated_settings


def _private_settings(home: Path) -> Settings:
    """A stack of the test's own (tmp home, free ports), apart from the session stack."""
    return isolated_settings(home, Ports.free())


def _pulse(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pulse", *args],
        env={**child_env(settings), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_up_twice_is_a_no_op_and_status_reports_running(
    test_stack: StackHandle, kafka_stack: Settings, redis_stack: Settings, s3_stack: Settings
) -> None:
    before = {row.name: row.pid for row in test_stack.status("kafka", "redis", "s3")}
    up = test_stack.pulse("stack", "up", "--only", "kafka,redis,s3")
    assert up.returncode == 0, up.stderr
    after = {row.name: row.pid for row in test_stack.status("kafka", "redis", "s3")}
    assert after == before
    status = test_stack.pulse("stack", "status", "--only", "kafka,redis,s3")
    assert status.returncode == 0, status.stdout + status.stderr
    for name, pid in before.items():
        assert name in status.stdout
        assert str(pid) in status.stdout


def test_status_exits_non_zero_when_a_service_is_down(tmp_path: Path) -> None:
    result = _pulse(_private_settings(tmp_path / "home"), "stack", "status", "--only", "redis")
    assert result.returncode == 1
    assert "redis" in result.stdout


def test_down_stops_every_process_group(tmp_path: Path) -> None:
    settings = _private_settings(tmp_path / "home")
    up = _pulse(settings, "stack", "up", "--only", "kafka,redis,s3")
    assert up.returncode == 0, up.stderr
    handle = StackHandle(settings)
    groups = {row.name: row.pid for row in handle.status("kafka", "redis", "s3")}
    assert all(groups.values()), groups
    down = _pulse(settings, "stack", "down")
    assert down.returncode == 0, down.stderr
    left = {name: group_members(pgid) for name, pgid in groups.items() if pgid and group_members(pgid)}
    assert left == {}, f"processes left behind: {left}"
    assert not [pid for pid in groups.values() if pid and _exists(pid)]
    assert not any(row.running for row in handle.status())
    assert list((settings.stack.run_dir).glob("*.pid")) == []


def test_port_taken_is_a_one_line_error_naming_port_and_service(tmp_path: Path) -> None:
    settings = _private_settings(tmp_path / "home")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.redis.port))
        squatter.listen()
        line = _one_line_error(_pulse(settings, "stack", "up", "--only", "redis"))
    assert "redis" in line
    assert str(settings.redis.port) in line
    assert "already taken" in line


def test_missing_java_is_a_one_line_error(tmp_path: Path) -> None:
    settings = _private_settings(tmp_path / "home")
    for command in (["stack", "install", "--only", "kafka"], ["stack", "up", "--only", "s3"]):
        line = _one_line_error(_pulse(settings, *command, PULSE_STACK__JAVA="/nonexistent/java"))
        assert "/nonexistent/java" in line
        assert "Java 17+" in line
        assert "PULSE_STACK__JAVA" in line


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
