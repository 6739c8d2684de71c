"""Proof on the real engine, per data source: what the rendered users.d fragment lets its user do.

Each data source's committed fragment is given to a chDB session as its ``default`` user (see
standin.py), one session after another on one migrated warehouse. For every user: the named queries of
its dashboards succeed and those only another role of its department may run fail with 497; every
column of every object it must not read fails with 497 ACCESS_DENIED and every column it may read is
readable (a view's, unless the view reads a column hidden from it: views run with the invoker's grants,
so a grant on a view never widens access); a sliced department sees only its rows; writes are refused.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from pulse.access.definition import AccessDefinition, Grantee, load
from pulse.access.render import USERS_D
from pulse.queries.run import run
from tests.access.conftest import REPO, Warehouse
from tests.access.standin import session, session_config

GRANTEES = load(REPO / "provisioning/access/access.yaml").grantees()


def _code(client: Client, sql: str) -> int:
    """0 when ``sql`` runs, else the ClickHouse error code."""
    try:
        client.query(sql)
    except DatabaseError as error:
        text = str(error)
        start = text.find("Code: ")
        return int(text[start + 6 : text.index(".", start)]) if start >= 0 else -1
    return 0


def _readable(definition: AccessDefinition, grantee: Grantee, warehouse: Warehouse, table: str, column: str) -> bool:
    """What the definition says, computed without the renderer: listed, and no unread class on the column."""
    listed = grantee.tables == "*" or table in grantee.tables
    return listed and definition.classes_of(table, column) <= grantee.reads


def _denied_queries(grantee: Grantee) -> list[str]:
    if grantee.department is None:
        return []
    same_department = [g for g in GRANTEES if g.department == grantee.department and g is not grantee]
    return sorted({q for g in same_department for q in g.queries} - set(grantee.queries))


def _probe(warehouse: Warehouse, table: str, column: str) -> str:
    obj = warehouse.catalog[table]
    db = warehouse.database
    if obj.kind == "dictionary":
        key = obj.columns[0]
        return f"SELECT dictGetOrNull('{db}.{table}', '{column}', tuple('c0'))" if column != key else "SELECT 1"
    return f"SELECT ignore(`{column}`) FROM {db}.`{table}` LIMIT 1"


@pytest.mark.parametrize("grantee", GRANTEES, ids=[g.user for g in GRANTEES])
def test_a_data_source_user_reads_exactly_what_the_definition_grants(
    grantee: Grantee, definition: AccessDefinition, warehouse: Warehouse, tmp_path: Path
) -> None:
    fragment = (REPO / USERS_D / f"{grantee.user}.xml").read_text()
    config = session_config(fragment, tmp_path / "config")
    problems: list[str] = []
    began = time.perf_counter()
    with session(warehouse.path, config, database=warehouse.database) as client:
        for name in grantee.queries:
            try:
                run(client, name)
            except Exception as error:
                problems.append(f"query {name} failed: {str(error)[:300]}")

        # the queries another role of the department may run and this one may not: refused by the engine
        for name in _denied_queries(grantee):
            try:
                run(client, name)
                problems.append(f"query {name} ran, but {grantee.role} must not read what it reads")
            except Exception as error:
                if "Code: 497" not in str(error):
                    problems.append(f"query {name} failed otherwise than ACCESS_DENIED: {str(error)[:300]}")

        probes = narrowed = 0
        for table, obj in warehouse.catalog.items():
            whole = all(_readable(definition, grantee, warehouse, table, c) for c in obj.columns)
            for column in obj.columns:
                expected = _readable(definition, grantee, warehouse, table, column)
                if obj.kind == "dictionary":
                    expected = whole  # dictGet reads every attribute or none
                    if column == obj.columns[0]:
                        continue
                code = _code(client, _probe(warehouse, table, column))
                probes += 1
                if expected and code == 497 and obj.kind == "view":
                    narrowed += 1  # views run as the invoker: one over a hidden column stays closed
                elif expected and code != 0:
                    problems.append(f"{table}.{column}: granted but failed with code {code}")
                if not expected and code != 497:
                    problems.append(f"{table}.{column}: must be denied (497) but got code {code}")

        cut = grantee.slice
        if cut is not None:
            for table in grantee.tables:
                obj = warehouse.catalog[table]
                if cut.column in obj.columns:
                    seen = {r[0] for r in client.query(f"SELECT DISTINCT {cut.column} FROM {table}").result_rows}
                    shown = int(client.command(f"SELECT count() FROM {table}"))  # type: ignore[arg-type]
                    if not seen <= set(cut.values) or (warehouse.rows[table] and not seen):
                        problems.append(f"{table}: {cut.column} values {sorted(seen)}, expected within {cut.values}")
                    if warehouse.rows[table] and shown >= warehouse.rows[table]:
                        problems.append(f"{table}: {shown} of {warehouse.rows[table]} rows shown, the slice cut none")
                else:
                    dims = {r[0] for r in client.query(f"SELECT DISTINCT dimension, value FROM {table}").result_rows}
                    if dims - {cut.column}:
                        problems.append(f"{table}: slices {sorted(dims)} shown, expected only {cut.column}")

        for write in (
            f"INSERT INTO {warehouse.database}.events (message_id) VALUES ('forged')",
            f"INSERT INTO {warehouse.database}.audit_log (who) VALUES ('forged')",
            f"ALTER TABLE {warehouse.database}.audit_log DELETE WHERE 1",
            f"TRUNCATE TABLE {warehouse.database}.audit_log",
        ):
            if (code := _code(client, write)) not in (497, 164):
                problems.append(f"{write}: must be refused (497 ACCESS_DENIED or 164 READONLY), got {code}")
        if (code := _code(client, "SELECT 1 SETTINGS readonly = 0")) == 0:
            problems.append("readonly could be lifted")
        if _code(client, "SELECT 1 SETTINGS max_execution_time = 120") != 0:
            problems.append("a data source could not raise max_execution_time within the limit")
        if _code(client, "SELECT 1 SETTINGS max_execution_time = 100000") == 0:
            problems.append("max_execution_time could exceed the profile's limit")
    spent = time.perf_counter() - began
    print(f"{grantee.user}: {len(grantee.queries)} queries, {probes} column probes ({narrowed} view columns closed by")
    print(f"  the invoker's grants), {spent:.1f} s")
    assert not problems, f"{grantee.title}:\n  " + "\n  ".join(problems)
