"""The audit trail: `pulse migrate` records what it applied; `pulse audit` filters it; rows expire in a year."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.access.standin import session


def pulse(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "pulse", *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_migrate_is_recorded_and_pulse_audit_finds_it(tmp_path: Path) -> None:
    path = tmp_path / "chdb"
    env = {
        **os.environ,
        "PULSE_CLICKHOUSE__URL": f"chdb://{path}",
        "USER": "ops-alice",
        "LOGNAME": "ops-alice",
        "COLUMNS": "200",
    }
    pulse("migrate", env=env)
    pulse("migrate", env=env)  # nothing to apply: nothing recorded
    shown = pulse("audit", "--since", "1h", "--action", "migrate", env=env)
    assert "ops-alice" in shown
    assert "migrate" not in pulse("audit", "--who", "somebody-else", env=env).split("details", 1)[1]
    with session(path) as client:
        rows = client.query("SELECT who, action, target, details FROM pulse.audit_log").result_rows
        ttl = client.command("SELECT create_table_query FROM system.tables WHERE name = 'audit_log'")
    assert len(rows) == 1
    assert rows[0][:3] == ("ops-alice", "migrate", "pulse")
    assert "0010_audit.sql" in rows[0][3]
    assert "TTL toDateTime(at) + toIntervalYear(1)" in str(ttl)
