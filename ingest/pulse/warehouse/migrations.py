"""Versioned schema files applied in order, each exactly once, recorded in the database itself.

``clickhouse/schema/NNNN_name.sql`` files may hold several statements. ClickHouse DDL is
not transactional, so a file is recorded only after all its statements succeed; write
them idempotently (``IF NOT EXISTS``) so a half-applied file can simply be re-run. A file
changed after it was applied is refused: the database would no longer match the repo.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from pulse.content import SCHEMA, folder
from pulse.errors import PulseError
from pulse.warehouse.sqltext import split_statements

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


def migrate(client: Client, database: str, migrations: list[Migration], *, dry_run: bool = False) -> list[Migration]:
    """Create ``database`` if needed and apply pending migrations in order; return those applied (or due, if dry_run).

    Refuses (PulseError) if an applied file has changed. The client's database is set to
    ``database`` so schema files can name tables unqualified.
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
    pending = [m for m in migrations if m.version not in done]
    if dry_run:
        return pending
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}")
        client.database = database
        client.command(
            f"CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (version UInt32, name String, checksum String, "
            "applied_at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY version"
        )
    except ClickHouseError as error:
        raise PulseError(f"cannot prepare database {database!r}: {error}") from error
    for migration in pending:
        for index, statement in enumerate(migration.statements, start=1):
            try:
                client.command(statement)
            except ClickHouseError as error:
                raise PulseError(
                    f"{migration.path}: statement {index} failed (earlier statements of this file stay applied; "
                    f"fix the file and re-run): {error}"
                ) from error
        client.insert(
            LEDGER_TABLE,
            [[migration.version, migration.name, migration.checksum, datetime.now(UTC)]],
            column_names=["version", "name", "checksum", "applied_at"],
        )
    return pending
