"""Versioned schema files applied in order, each exactly once, recorded in the database itself.

``clickhouse/schema/NNNN_name.sql`` files may hold several statements. ClickHouse DDL is
not transactional, so a file is recorded only after all its statements succeed; write
them idempotently (``IF NOT EXISTS``) so a half-applied file can simply be re-run. A file
changed after it was applied is refused: the database would no longer match the repo.

On a ClickHouse cluster the same files are applied as ``pulse.warehouse.cluster`` renders them
(replicated local tables, Distributed tables under the readers' names, ``ON CLUSTER``), the ledger
included: there is no second copy of the SQL to keep in step.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from pulse.content import SCHEMA, folder
from pulse.errors import PulseError
from pulse.warehouse.sqltext import split_statements

if TYPE_CHECKING:
    from pulse.warehouse.cluster import ClusterRenderer, Rendered

LEDGER_TABLE = "schema_migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([A-Za-z0-9][A-Za-z0-9_\-]*)\.sql$")
DEFAULT_SCHEMA_DIR = folder(SCHEMA)

State = Literal["applied", "pending", "changed", "missing"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    path: Path
    checksum: str  # sha256 of the file's bytes

    @property
    def statements(self) -> list[str]:
        return split_statements(self.path.read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    version: int
    name: str
    state: State
    applied_at: datetime | None


def discover(schema_dir: Path = DEFAULT_SCHEMA_DIR) -> list[Migration]:
    """The migration files in version order; a misnamed .sql file or a duplicate version is an error."""
    if not schema_dir.is_dir():
        raise PulseError(f"schema folder {schema_dir} does not exist")
    migrations: dict[int, Migration] = {}
    for path in sorted(schema_dir.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise PulseError(f"{path}: migration files must be named NNNN_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise PulseError(f"{path}: version {version:04d} is also used by {migrations[version].path.name}")
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        migrations[version] = Migration(version, match.group(2), path, checksum)
    return [migrations[v] for v in sorted(migrations)]


def _database_exists(client: Client, database: str) -> bool:
    return bool(client.command("EXISTS DATABASE {db:Identifier}", parameters={"db": database}))


def applied(client: Client, database: str) -> dict[int, AppliedMigration]:
    """What the ledger says was applied (empty if the database or ledger does not exist yet)."""
    if not _database_exists(client, database):
        return {}
    if not client.command(
        "EXISTS TABLE {db:Identifier}.{t:Identifier}", parameters={"db": database, "t": LEDGER_TABLE}
    ):
        return {}
    rows = client.query(
        f"SELECT version, name, checksum, applied_at FROM {quote_identifier(database)}.{LEDGER_TABLE} ORDER BY version"
    ).result_rows
    return {int(v): AppliedMigration(int(v), str(n), str(c), applied_at) for v, n, c, applied_at in rows}


def status(client: Client, database: str, migrations: list[Migration]) -> list[MigrationStatus]:
    """Each file's state: applied, pending, changed since applied, or applied but missing from the repo."""
    done = applied(client, database)
    rows: list[MigrationStatus] = []
    for migration in migrations:
        record = done.get(migration.version)
        if record is None:
            rows.append(MigrationStatus(migration.version, migration.name, "pending", None))
        else:
            state: State = "applied" if record.checksum == migration.checksum else "changed"
            rows.append(MigrationStatus(migration.version, migration.name, state, record.applied_at))
    known = {m.version for m in migrations}
    rows += [
        MigrationStatus(r.version, r.name, "missing", r.applied_at) for r in done.values() if r.version not in known
    ]
    return sorted(rows, key=lambda row: row.version)


def ledger_ddl() -> str:
    """The ledger's own table, single-node; the cluster rendering makes it replicated like any other table."""
    return (
        f"CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (version UInt32, name String, checksum String, "
        "applied_at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY version"
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """What a run does: the statements preparing the database and ledger, then each pending file's."""

    prepare: list[str]
    pending: list[tuple[Migration, list[str]]]


def plan(client: Client, database: str, migrations: list[Migration], cluster: str | None = None) -> Plan:
    """The statements to run, single-node as written or rendered for ``cluster`` (pulse.warehouse.cluster).

    Refuses (PulseError) an applied file that changed, and a cluster the server does not know (before
    anything is applied). The cluster rendering reads every file, applied ones too: a later file's
    rule depends on what earlier files created.
    """
    done = applied(client, database)
    for migration in migrations:
        record = done.get(migration.version)
        if record is not None and record.checksum != migration.checksum:
            raise PulseError(
                f"{migration.path} was changed after it was applied on {record.applied_at:%Y-%m-%d %H:%M} "
                f"(checksum {record.checksum[:12]} -> {migration.checksum[:12]}); "
                "add a new migration instead of editing an applied one"
            )
    if cluster is None:
        prepare = [f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}", ledger_ddl()]
        return Plan(prepare, [(m, m.statements) for m in migrations if m.version not in done])
    require_cluster(client, cluster)
    require_cluster_ledger(client, database, cluster)
    from pulse.warehouse.cluster import ClusterRenderer, EngineParser, on_cluster_name

    renderer = ClusterRenderer(EngineParser(client), cluster, database)
    prepare = [f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)} ON CLUSTER {on_cluster_name(cluster)}"]
    prepare += [r.sql for r in renderer.render(ledger_ddl())]
    pending: list[tuple[Migration, list[str]]] = []
    for migration in migrations:
        rendered = [r.sql for statement in migration.statements for r in render_one(renderer, migration, statement)]
        if migration.version not in done:
            pending.append((migration, rendered))
    return Plan(prepare, pending)


def render_one(renderer: ClusterRenderer, migration: Migration, statement: str) -> list[Rendered]:
    """One statement rendered, an error naming the file when there is no rule for it."""
    from pulse.warehouse.cluster import UnknownStatement

    try:
        return renderer.render(statement)
    except UnknownStatement as error:
        raise UnknownStatement(f"{migration.path.name}: {error}") from error
    except ClickHouseError as error:
        raise PulseError(f"{migration.path.name}: the engine cannot parse a statement: {error}") from error


def _one_line(statement: str) -> str:
    return " ".join(statement.split())[:200]


def require_cluster(client: Client, cluster: str) -> None:
    """A cluster the server does not define is an error naming it and the ones it does."""
    rows = client.query("SELECT DISTINCT cluster FROM system.clusters ORDER BY cluster").result_rows
    known = [str(row[0]) for row in rows]
    if cluster not in known:
        listed = ", ".join(known) if known else "none"
        raise PulseError(
            f"cluster {cluster!r} is not in system.clusters of this server (defined: {listed}); nothing was applied"
        )


def require_cluster_ledger(client: Client, database: str, cluster: str) -> None:
    """A database migrated single-node cannot be continued as a cluster: its tables have the readers' names."""
    engine = client.query(
        "SELECT engine FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": database, "t": LEDGER_TABLE},
    ).result_rows
    if engine and engine[0][0] != "Distributed":
        raise PulseError(
            f"database {database!r} was migrated for one node ({LEDGER_TABLE} is {engine[0][0]}, not Distributed): "
            f"its tables hold the names the cluster's Distributed tables need; migrate a new database with "
            f"--cluster {cluster} and move the data (INSERT ... SELECT, or replay the archive); nothing was applied"
        )


def migrate(
    client: Client,
    database: str,
    migrations: list[Migration],
    *,
    dry_run: bool = False,
    cluster: str | None = None,
) -> list[Migration]:
    """Create ``database`` if needed and apply pending migrations in order; return those applied (or due, if dry_run).

    Refuses (PulseError) if an applied file has changed. The client's database is set to
    ``database`` so schema files can name tables unqualified. With ``cluster`` the statements are
    the cluster rendering, and inserts through Distributed tables (the ledger's, backfills) wait
    until every shard has them, so a run that returns has applied everything it recorded.
    """
    steps = plan(client, database, migrations, cluster)
    if dry_run:
        return [migration for migration, _ in steps.pending]
    settings = {"distributed_foreground_insert": 1} if cluster else {}
    try:
        for statement in steps.prepare:
            client.command(statement, settings=settings)
            client.database = database
    except ClickHouseError as error:
        raise PulseError(f"cannot prepare database {database!r}: {error}") from error
    for migration, statements in steps.pending:
        for index, statement in enumerate(statements, start=1):
            try:
                client.command(statement, settings=settings)
            except ClickHouseError as error:
                raise PulseError(
                    f"{migration.path}: statement {index} of {len(statements)} failed: {_one_line(statement)}"
                    f"\n  statements 1-{index - 1} stay applied and are safe to run again; fix the cause and re-run "
                    f"`pulse migrate` to resume this file: {error}"
                ) from error
        client.insert(
            LEDGER_TABLE,
            [[migration.version, migration.name, migration.checksum, datetime.now(UTC)]],
            column_names=["version", "name", "checksum", "applied_at"],
            settings=settings,
        )
    return [migration for migration, _ in steps.pending]
