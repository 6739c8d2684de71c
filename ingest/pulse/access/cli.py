"""``pulse access check | generate | apply`` and ``pulse audit``: access as code, and who changed what."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pulse.access.definition import AccessDefinition
from pulse.errors import PulseError

app = typer.Typer(
    help="Access as code: roles, departments, sensitive columns -> ClickHouse users.", no_args_is_help=True
)
console = Console()

Root = Annotated[Path, typer.Option("--root", help="repository root the files are read from and written under")]
DefinitionFile = Annotated[
    Path | None,
    typer.Option("--definition", help="the access definition (default: ROOT/provisioning/access/access.yaml)"),
]


def _definition_and_files(root: Path, definition_file: Path | None) -> tuple[AccessDefinition, dict[str, str]]:
    from pulse.access import catalog, definition, render

    access = definition.load(definition_file or root / definition.DEFINITION)
    queries = _unknown_queries(access)
    if queries:
        raise PulseError("unknown named queries: " + "; ".join(queries))
    return access, render.outputs(access, catalog.from_migrations(access.database))


def _unknown_queries(access: AccessDefinition) -> list[str]:
    """Named queries the definition lists that the registry does not know."""
    from pulse.queries.registry import load_all

    known = load_all()
    return [
        f"{where}[{i}]: {q!r}" for where, listed in _query_lists(access) for i, q in enumerate(listed) if q not in known
    ]


def _query_lists(access: AccessDefinition) -> Iterator[tuple[str, Sequence[str]]]:
    """Every list of named queries in the definition, with where it stands (the order errors are reported in)."""
    for name, d in access.departments.items():
        yield f"departments.{name}.queries", d.queries
    for name, d in access.departments.items():
        for role, listed in d.role_queries.items():
            yield f"departments.{name}.role_queries.{role}", listed
    for name, r in access.roles.items():
        yield f"roles.{name}.queries", r.queries
    for name, r in access.roles.items():
        yield f"roles.{name}.archive", r.archive


@app.command("check")
def check_command(root: Root = Path(), definition: DefinitionFile = None) -> None:
    """Validate the definition and fail when the committed rendered files are stale."""
    from pulse.access import render

    _, files = _definition_and_files(root, definition)
    differ = render.stale(root, files)
    if differ:
        raise PulseError("stale access files (run `pulse access generate`): " + ", ".join(differ))
    console.print(f"[green]access definition valid; {len(files)} rendered files up to date[/]")


@app.command("generate")
def generate_command(root: Root = Path(), definition: DefinitionFile = None) -> None:
    """Render users.d XML (one ClickHouse user per Grafana data source) and access.sql under ROOT."""
    from pulse.access import render

    _, files = _definition_and_files(root, definition)
    changed = set(render.write(root, files))
    for rel in sorted(files):
        console.print(f"{'wrote' if rel in changed else 'unchanged'} {rel}")


@app.command("apply")
def apply_command(
    root: Root = Path(),
    definition: DefinitionFile = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the statements or the plan, change nothing")
    ] = False,
    grafana: Annotated[
        str | None,
        typer.Option(
            "--grafana", help="converge this Grafana's organizations instead (URL; admin from PULSE_GRAFANA__*)"
        ),
    ] = None,
) -> None:
    """Run the rendered access.sql on a ClickHouse server with SQL access control; record it in audit_log.

    Password hashes come from PULSE_ACCESS_<USER>_PASSWORD_SHA256. chDB has no writable access storage:
    give it the users.d files instead (a ClickHouse server or the Altinity operator takes the same files).
    With --grafana URL: create and name the organizations of the definition, clear organization 1 of
    non-Admins, set up each organization's folder -- the plan is printed first (docs/access.md).
    """
    if grafana is not None:
        _apply_grafana(root, definition, grafana, dry_run)
        return
    import os

    from clickhouse_connect.driver.exceptions import ClickHouseError

    from pulse.access import audit, reads, render
    from pulse.settings import get_settings
    from pulse.warehouse.client import connect

    access, files = _definition_and_files(root, definition)
    sql = files[render.SQL_FILE.as_posix()]
    missing = sorted({name for name in re.findall(r"\$\{(\w+)\}", sql) if not dry_run and name not in os.environ})
    if missing:
        raise PulseError("set the password hashes first: " + ", ".join(missing))
    statements = render.statements(re.sub(r"\$\{(\w+)\}", lambda m: os.environ.get(m.group(1), m.group(0)), sql))
    if dry_run:
        for statement in statements:
            console.print(escape(statement) + ";")
        return
    settings = get_settings()
    client = connect(settings)
    try:
        for index, statement in enumerate(statements, start=1):
            try:
                client.command(statement)
            except ClickHouseError as error:
                raise PulseError(f"access.sql statement {index} failed ({statement[:80]}...): {error}") from error
        users = [g.user for g in access.grantees()]
        sensitive = reads.classify(client, access)
        audit.record(
            client, settings.clickhouse.database, "access.apply", "clickhouse", {"users": users, "sensitive": sensitive}
        )
    finally:
        client.close()
    console.print(f"applied {len(statements)} statements for {len(users)} users")


def _apply_grafana(root: Path, definition_file: Path | None, url: str, dry_run: bool) -> None:
    """Plan against what Grafana's API answers, print it, apply it, record it in audit_log."""
    from pulse.access import audit, definition, grafana_api, orgs
    from pulse.settings import get_settings
    from pulse.warehouse.client import connect

    desired = orgs.organizations(definition.load(definition_file or root / definition.DEFINITION))
    settings = get_settings()
    admin = settings.grafana
    _, steps = grafana_api.read_and_plan(
        url, admin.admin_user, admin.admin_password, desired, timeout_s=admin.timeout_s
    )
    console.print(f"plan for {escape(url)}: {len(steps)} step(s)" + ("" if steps else ", nothing to change"))
    for step in steps:
        console.print(f"  {escape(step.describe)}")
    if dry_run or not steps:
        return
    details: dict[str, object] = {
        "url": url,
        "steps": [s.describe for s in steps],
        "organizations": [o.id for o in desired],
    }
    try:
        grafana_api.run(url, admin.admin_user, admin.admin_password, steps, timeout_s=admin.timeout_s)
    except PulseError as error:
        details["error"] = str(error)  # a half-applied plan is recorded too
        raise
    finally:
        client = connect(settings)
        try:
            audit.record(client, settings.clickhouse.database, "access.apply", "grafana", details)
        finally:
            client.close()
    console.print(f"applied {len(steps)} step(s)")


@app.command("classify")
def classify_command(root: Root = Path(), definition: DefinitionFile = None) -> None:
    """Tell the audit of reads which warehouse columns are sensitive (the definition's classes); recorded."""
    from pulse.access import audit, reads
    from pulse.access import definition as access_definition
    from pulse.settings import get_settings
    from pulse.warehouse.client import connect

    access = access_definition.load(definition or root / access_definition.DEFINITION)
    settings = get_settings()
    if access.database != settings.clickhouse.database:
        raise PulseError(
            f"the definition is for database {access.database!r}, the warehouse is {settings.clickhouse.database!r}"
        )
    client = connect(settings)
    try:
        count = reads.classify(client, access)
        audit.record(client, access.database, "access.classify", access.database, {"sensitive_columns": count})
    finally:
        client.close()
    console.print(f"{count} sensitive columns marked for the audit of reads")


_SPAN = re.compile(r"^(\d+)([smhdw])$")


def _since(text: str | None) -> datetime | None:
    """``7d`` / ``12h`` / ``30m`` ago, or an ISO date or time (UTC when no zone is given)."""
    if not text:
        return None
    match = _SPAN.match(text.strip())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise PulseError(f"--since {text!r}: expected 7d, 12h, 30m or an ISO date/time") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


audit_app = typer.Typer(help="The audit trail: admin actions (audit_log) and reads of data (audit_reads).")

Since = Annotated[str | None, typer.Option("--since", help="7d, 12h, 30m or an ISO date/time")]
Limit = Annotated[int, typer.Option("--limit", help="newest entries shown")]


@audit_app.callback(invoke_without_command=True)
def audit_command(
    ctx: typer.Context,
    since: Since = None,
    who: Annotated[str | None, typer.Option("--who", help="only this actor")] = None,
    action: Annotated[str | None, typer.Option("--action", help="only this action, e.g. migrate, access.apply")] = None,
    limit: Limit = 100,
) -> None:
    """Show the admin actions (audit_log): who changed access, the schema, keys or retention, when; API calls."""
    if ctx.invoked_subcommand is not None:
        return
    from pulse.access import audit
    from pulse.settings import get_settings
    from pulse.warehouse.client import connect

    settings = get_settings()
    client = connect(settings)
    try:
        entries = audit.read(
            client, settings.clickhouse.database, since=_since(since), who=who, action=action, limit=limit
        )
    finally:
        client.close()
    table = Table(title=f"audit_log of {settings.clickhouse.database}")
    for column in ("at", "who", "action", "target"):
        table.add_column(column, no_wrap=True)
    table.add_column("details", overflow="fold")
    for entry in entries:
        table.add_row(f"{entry.at:%Y-%m-%d %H:%M:%S}", entry.who, entry.action, entry.target, escape(entry.details))
    Console(width=160).print(table)


@audit_app.command("reads")
def reads_command(
    since: Since = None,
    user: Annotated[str | None, typer.Option("--user", help="only this Grafana login or ClickHouse user")] = None,
    sensitive: Annotated[bool, typer.Option("--sensitive", help="only reads of sensitive columns")] = False,
    denied: Annotated[bool, typer.Option("--denied", help="only refused queries (ACCESS_DENIED)")] = False,
    limit: Limit = 100,
) -> None:
    """Show who read which data (audit_reads), after copying what the engine logged until now."""
    from pulse.access import reads
    from pulse.settings import get_settings
    from pulse.warehouse.client import connect

    settings = get_settings()
    database = settings.clickhouse.database
    client = connect(settings)
    try:
        reads.capture(client, database)
        found = reads.read(
            client, database, since=_since(since), who=user, sensitive_only=sensitive, denied_only=denied, limit=limit
        )
    finally:
        client.close()
    table = Table(title=f"audit_reads of {database}")
    for column in ("at", "who", "user", "denied", "sensitive", "dashboard/panel", "ms", "rows"):
        table.add_column(column, no_wrap=True)
    table.add_column("tables", overflow="fold")
    for entry in found:
        table.add_row(
            f"{entry.at:%Y-%m-%d %H:%M:%S}",
            escape(entry.who),
            entry.ch_user,
            "DENIED" if entry.denied else "",
            ",".join(entry.sensitive),
            f"{entry.dashboard}/{entry.panel}" if entry.dashboard or entry.panel else "",
            str(entry.duration_ms),
            str(entry.read_rows),
            escape(", ".join(entry.tables)),
        )
    Console(width=200).print(table)


@audit_app.command("retention")
def retention_command(
    days: Annotated[int, typer.Option("--days", min=1, help="keep reads this many days (default retention: 365)")],
) -> None:
    """Change how long audit_reads keeps reads; the change itself is recorded in audit_log."""
    from pulse.access import reads
    from pulse.settings import get_settings
    from pulse.warehouse.client import connect

    settings = get_settings()
    client = connect(settings)
    try:
        reads.set_retention(client, settings.clickhouse.database, days)
    finally:
        client.close()
    console.print(f"audit_reads keeps {days} days")


def register(root: typer.Typer) -> None:
    """Add ``pulse access ...`` and ``pulse audit``."""
    root.add_typer(app, name="access")
    root.add_typer(audit_app, name="audit")
