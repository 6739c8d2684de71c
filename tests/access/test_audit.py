"""The audit trail: migrations, write keys and retention changes are recorded; `pulse audit` filters it; rows expire."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from pulse.settings import Settings
from pulse.warehouse.client import connect
from tests.access.standin import session
from tests.support.stack import StackHandle
from tests.support.warehouse import free_port


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


def test_write_keys_and_retention_changes_are_recorded(
    test_stack: StackHandle, redis_stack: Settings, warehouse_stack: Settings
) -> None:
    test_stack.pulse("migrate", check=True)
    operator = {"USER": "ops-carol", "LOGNAME": "ops-carol", "COLUMNS": "200"}
    source = f"audit-{uuid.uuid4().hex[:8]}"
    test_stack.pulse("keys", "create", source, "--rate", "50", env=operator, check=True)
    test_stack.pulse("keys", "revoke", source, env=operator, check=True)
    test_stack.pulse("audit", "retention", "--days", "400", env=operator, check=True)
    bad = test_stack.pulse("audit", "retention", "--days", "0", env=operator)
    assert bad.returncode != 0 and "--days" in bad.stderr

    client = connect(warehouse_stack)
    try:
        rows = client.query(
            "SELECT action, target, details FROM audit_log WHERE who = 'ops-carol' ORDER BY at"
        ).result_rows
        ttl = str(client.command("SELECT create_table_query FROM system.tables WHERE name = 'audit_reads'"))
        client.command(
            f"ALTER TABLE {warehouse_stack.clickhouse.database}.audit_reads MODIFY TTL toDateTime(at) + INTERVAL 1 YEAR"
        )
    finally:
        client.close()
    mine = [r for r in rows if r[1] == source or r[0] == "retention"]
    assert [(a, t) for a, t, _ in mine] == [
        ("keys.create", source),
        ("keys.revoke", source),
        ("retention", f"{warehouse_stack.clickhouse.database}.audit_reads"),
    ]
    assert '"rate_limit_events_per_s":50' in mine[0][2] and '"days":400' in mine[2][2]
    assert "toIntervalDay(400)" in ttl
    shown = test_stack.pulse("audit", "--who", "ops-carol", "--action", "keys.revoke", env=operator, check=True).stdout
    assert source in shown


def test_a_key_change_is_not_held_back_by_an_unreachable_warehouse(
    test_stack: StackHandle, redis_stack: Settings
) -> None:
    """Revoking a leaked key must work while the warehouse is down: done, and a warning that it went unrecorded."""
    source = f"audit-{uuid.uuid4().hex[:8]}"
    down = {"PULSE_CLICKHOUSE__URL": f"http://127.0.0.1:{free_port()}"}
    created = test_stack.pulse("keys", "create", source, env=down)
    assert created.returncode == 0, created.stderr
    assert "keys.create" in created.stderr and "not recorded in audit_log" in created.stderr
    listed = test_stack.pulse("keys", "list", "--json", check=True).stdout
    assert source in listed


def test_classify_marks_the_definitions_sensitive_columns_for_the_audit_of_reads(tmp_path: Path) -> None:
    path = tmp_path / "chdb"
    env = {**os.environ, "PULSE_CLICKHOUSE__URL": f"chdb://{path}", "USER": "ops-dan", "LOGNAME": "ops-dan"}
    repo = str(Path(__file__).resolve().parents[2])
    pulse("migrate", env=env)
    assert "sensitive columns marked" in pulse("access", "classify", "--root", repo, env=env)
    other = subprocess.run(
        [sys.executable, "-m", "pulse", "access", "classify", "--root", repo],
        env={**env, "PULSE_CLICKHOUSE__DATABASE": "elsewhere"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode != 0 and "'pulse'" in other.stderr and "'elsewhere'" in other.stderr
    with session(path) as client:
        marked = set(client.query("SELECT column, class FROM pulse.audit_sensitive_columns").result_rows)
        (recorded,) = client.query("SELECT who FROM pulse.audit_log WHERE action = 'access.classify'").result_rows
    assert {("pulse.events.revenue_micros", "money"), ("pulse.events.user_id", "personal")} <= marked
    assert not [c for c, _ in marked if c.endswith((".country", ".event_time"))]
    assert recorded == ("ops-dan",)
