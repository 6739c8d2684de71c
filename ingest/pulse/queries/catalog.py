"""The metric catalog: from a metric's name to everything that defines, feeds, shows and alerts on it.

Generated from the code, never written by hand: ``pulse catalog`` prints it and ``pulse catalog
--write`` writes ``docs/metrics-catalog.md``; a test fails when the committed file is stale.

What a query reads is decided by the engine, not by regexes over SQL. The shipped migrations are
applied in order to a throwaway in-process chDB (the ClickHouse build the warehouse serves; about
a second, no running stack), and ``system.tables`` after each file says which migration created or
changed each object. A query's reads are what ClickHouse's own parser (``EXPLAIN AST``) marks as a
table reference or a table function, kept only if the schema holds an object of that name -- so CTE
names, aliases, strings and comments are never mistaken for tables. ``EXPLAIN QUERY TREE`` would
resolve more but runs scalar subqueries while analysing, and the snapshot checks are scalar
subqueries. What feeds an object comes from the same catalogue: materialized views whose ``TO`` is
the object, a view's own ``SELECT`` (``as_select``, through the same parser), a dictionary's source.

Who uses a query comes from the Grafana code through its public surface: each dashboard's JSON
(``pulse.grafana.generate.dashboard_json``), whose targets carry ``pulseQuery``, and the alert rules
(``pulse.grafana.alerting.all_rules``), each naming its query. A query no panel or rule uses says so
in its header (``@api-only reason``), so an unused query is a decision, not an accident.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulse.queries.registry import NamedQuery, load_all, placeholders
from pulse.warehouse.migrations import Migration, discover

if TYPE_CHECKING:
    from pulse.grafana.alerting import Rule

DEFAULT_OUT = Path("docs/metrics-catalog.md")
_DATABASE = "catalog"
# `TO db.target` of a materialized view, before its column list (engine-normalised DDL).
_TARGET = re.compile(r"\bTO (?:`?\w+`?\.)?`?(\w+)`?\s*$")
# A dictionary's source table (engine-normalised DDL; system.dictionaries knows it only once loaded).
_DICT_SOURCE = re.compile(r"SOURCE\(CLICKHOUSE\(.*?\bTABLE '(?:\w+\.)?(\w+)'")
_KINDS = {
    "MaterializedView": "materialized view",
    "View": "view",
    "Dictionary": "dictionary",
}


@dataclass(frozen=True)
class Use:
    """A dashboard panel or an alert rule that runs a named query."""

    where: str  # dashboard title, or "alert"
    title: str  # panel title, or rule title
    ident: str = ""  # the rule's uid


@dataclass(frozen=True)
class SchemaObject:
    name: str
    kind: str  # table (engine), view, parameterized view, refreshable view, materialized view, dictionary, function
    created_in: str
    changed_in: tuple[str, ...] = ()
    target: str | None = None  # a materialized view's TO table
    reads: tuple[str, ...] = ()  # a view's or a materialized view's source objects


@dataclass
class Schema:
    objects: dict[str, SchemaObject] = field(default_factory=dict)
    reads: dict[str, tuple[str, ...]] = field(default_factory=dict)  # named query -> objects it reads

    def feeders(self, name: str) -> list[SchemaObject]:
        """Materialized views whose target is ``name``."""
        return sorted((o for o in self.objects.values() if o.target == name), key=lambda o: o.name)


# ----------------------------------------------------------------------------------------------
# Consumers: panels and alert rules, through the Grafana code's public surface.


def panel_uses() -> dict[str, list[Use]]:
    """Named query -> the dashboard panels that run it (dashboard title, panel title)."""
    from pulse.grafana.dashboards import DASHBOARDS
    from pulse.grafana.generate import dashboard_json

    found: dict[str, list[Use]] = {}
    for module in DASHBOARDS:
        dashboard = dashboard_json(module)
        for panel in _panels(dashboard):
            for target in panel.get("targets", []):
                name = target.get("pulseQuery")
                if name:
                    found.setdefault(name, []).append(Use(dashboard["title"], panel["title"]))
    return {name: sorted(set(uses), key=lambda u: (u.where, u.title)) for name, uses in found.items()}


def _panels(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def rule_uses() -> dict[str, list[Use]]:
    """Named query -> the alert rules that evaluate it."""
    from pulse.grafana.alerts import all_rules

    found: dict[str, list[Use]] = {}
    for rule in all_rules():
        name = _rule_query(rule)
        if name:
            found.setdefault(name, []).append(Use("alert", rule.title, rule.uid))
    return {name: sorted(uses, key=lambda u: u.title) for name, uses in found.items()}


def _rule_query(rule: Rule) -> str | None:
    """The named query a rule evaluates (None for PromQL rules)."""
    from pulse.grafana.named import Use as NamedUse

    return rule.query.name if isinstance(rule.query, NamedUse) else None


# ----------------------------------------------------------------------------------------------
# Lineage: the engine's own reading of the migrations and the queries.


def _dummy(ch_type: str) -> str:
    """A value of ``ch_type`` as query-parameter text: only the statement's shape matters here."""
    if ch_type.startswith("Array("):
        return "[]"
    if ch_type.startswith("DateTime"):
        return "2000-01-01 00:00:00"
    if ch_type == "Date":
        return "2000-01-01"
    return "" if ch_type == "String" else "0"


def sample_params(sql: str) -> dict[str, str]:
    """A value of the right type for every ``{name:Type}`` placeholder, so the engine can parse the query."""
    return {name: _dummy(ch_type) for name, ch_type in placeholders(sql).items()}


def ast_references(ast: str) -> tuple[set[str], set[str]]:
    """(table names, function names) in an ``EXPLAIN AST`` dump; a table function counts as a table."""
    tables: set[str] = set()
    functions: set[str] = set()
    lines = [line.strip() for line in ast.splitlines()]
    for index, line in enumerate(lines):
        word, _, rest = line.partition(" ")
        name = rest.split(" ", 1)[0].split(".")[-1] if rest else ""
        if word == "TableExpression" and index + 1 < len(lines):
            child, _, child_rest = lines[index + 1].partition(" ")
            if child in ("TableIdentifier", "Function") and child_rest:
                tables.add(child_rest.split(" ", 1)[0].split(".")[-1])
        elif word == "Function" and name:
            functions.add(name)
            if name.startswith(("dictGet", "dictHas")):  # the dictionary is the first literal argument
                literal = next((x for x in lines[index + 1 :] if x.startswith("Literal ")), "")
                tables.add(literal.removeprefix("Literal ").strip("'\\").split(".")[-1])
    return tables, functions


class _Engine:
    """A throwaway in-process chDB holding the shipped schema."""

    def __init__(self) -> None:
        from chdb import session

        self._path = Path(tempfile.mkdtemp(prefix="pulse-catalog-"))
        self._session: Any = session.Session(str(self._path / "data"))  # type: ignore[no-untyped-call]
        self.run(f"CREATE DATABASE IF NOT EXISTS {_DATABASE}")
        self.run(f"USE {_DATABASE}")

    def close(self) -> None:
        self._session.close()
        shutil.rmtree(self._path, ignore_errors=True)

    def run(self, sql: str, params: Mapping[str, str] | None = None) -> str:
        result = self._session.query(sql, "TSVRaw", params=dict(params or {}))
        return bytes(result.bytes()).decode()

    def rows(self, sql: str) -> list[list[str]]:
        return [line.split("\t") for line in self.run(sql).splitlines()]

    def references(self, sql: str) -> tuple[set[str], set[str]]:
        return ast_references(self.run(f"EXPLAIN AST {sql}", sample_params(sql)))

    def snapshot(self) -> dict[str, tuple[str, str]]:
        """Object name -> (engine, normalised DDL), SQL functions included."""
        objects = {
            name: (engine, ddl)
            for name, engine, ddl in self.rows(
                "SELECT name, engine, replaceRegexpAll(create_table_query, '[\\t\\n]', ' ') FROM system.tables "
                f"WHERE database = '{_DATABASE}' AND NOT startsWith(name, '.') AND name != 'schema_migrations'"
            )
        }
        for name, ddl in self.rows(
            "SELECT name, replaceRegexpAll(create_query, '[\\t\\n]', ' ') FROM system.functions "
            "WHERE origin = 'SQLUserDefined'"
        ):
            objects[name] = ("Function", ddl)
        return objects


def lineage(migrations: list[Migration] | None = None, queries: Mapping[str, NamedQuery] | None = None) -> Schema:
    """Apply the migrations to a throwaway engine and read back what each object and query reads."""
    migrations = discover() if migrations is None else migrations
    queries = load_all() if queries is None else queries
    engine = _Engine()
    try:
        created: dict[str, str] = {}
        changed: dict[str, list[str]] = {}
        before: dict[str, tuple[str, str]] = {}
        for migration in migrations:
            label = migration.path.stem
            for statement in migration.statements:
                engine.run(statement)
            after = engine.snapshot()
            for name, (_, ddl) in after.items():
                if name not in before:
                    created[name] = label
                elif before[name][1] != ddl:
                    changed.setdefault(name, []).append(label)
            before = after
        schema = Schema()
        known = set(before)
        udfs = {name for name, (engine_name, _) in before.items() if engine_name == "Function"}
        selects = dict(
            engine.rows(
                "SELECT name, replaceRegexpAll(as_select, '[\\t\\n]', ' ') FROM system.tables "
                f"WHERE database = '{_DATABASE}' AND as_select != ''"
            )
        )
        for name, (engine_name, ddl) in sorted(before.items()):
            as_select = selects.get(name, "")
            reads: set[str] = set()
            if as_select:
                tables, functions = engine.references(as_select)
                reads = (tables | (functions & udfs)) & known
            match = _DICT_SOURCE.search(ddl) if engine_name == "Dictionary" else None
            if match:
                reads.add(match.group(1))
            target = _TARGET.search(ddl.split("(", 1)[0]) if engine_name == "MaterializedView" else None
            schema.objects[name] = SchemaObject(
                name,
                _kind(engine_name, ddl),
                created[name],
                tuple(changed.get(name, ())),
                target.group(1) if target else None,
                tuple(sorted(reads - {name})),
            )
        for name, query in sorted(queries.items()):
            tables, functions = engine.references(query.sql)
            schema.reads[name] = tuple(sorted((tables | (functions & udfs)) & known))
        return schema
    finally:
        engine.close()


def _kind(engine_name: str, ddl: str) -> str:
    if engine_name == "MaterializedView":
        return "refreshable view" if " REFRESH " in ddl.split("(", 1)[0] else "materialized view"
    if engine_name == "View":
        return "parameterized view" if placeholders(ddl) else "view"
    if engine_name == "Function":
        return "SQL function"
    return _KINDS.get(engine_name, f"table ({engine_name})")


# ----------------------------------------------------------------------------------------------
# The document.


def render(
    queries: Mapping[str, NamedQuery],
    schema: Schema,
    panels: Mapping[str, list[Use]],
    rules: Mapping[str, list[Use]],
) -> str:
    out = [
        "# Metrics catalog",
        "",
        "<!-- Generated by `pulse catalog --write` (ingest/pulse/queries/catalog.py); do not edit. -->",
        "",
        "Every metric by its one name: the named query (`clickhouse/queries/<name>.sql`), what it reads "
        "and which migration creates and feeds that, the dashboard panels that show it and the alert "
        "rules that watch it. Tables are found by the engine: the migrations applied to an in-process "
        "chDB, the queries read through its parser (`EXPLAIN AST`).",
        "",
        "| metric | unit | reads | panels | alerts |",
        "|---|---|---|---|---|",
    ]
    for name, query in sorted(queries.items()):
        reads = ", ".join(f"`{table}`" for table in schema.reads.get(name, ()))
        shown = "API only" if query.api_only is not None else str(len(panels.get(name, [])))
        alerts = str(len(rules.get(name, [])))
        out.append(f"| [`{name}`](#{name}) | {query.unit} | {reads} | {shown} | {alerts} |")
    for name, query in sorted(queries.items()):
        out += ["", f"## {name}", "", query.description, ""]
        out.append(f"- **unit**: {query.unit}")
        out.append(f"- **query**: `clickhouse/queries/{name}.sql` (`pulse query {name}`)")
        params = ", ".join(f"`{p.name}`" for p in query.params.values())
        out.append(f"- **parameters**: {params or 'none'}")
        out.append(f"- **columns**: {', '.join(f'`{c.name}`' for c in query.columns)}")
        out.append("- **panels**:" + _uses(panels.get(name, []), "(none)"))
        out.append("- **alerts**:" + _uses(rules.get(name, []), "(none)"))
        if query.api_only is not None:
            out.append(f"- **API only**: {query.api_only}")
        out.append("- **reads**:")
        seen: set[str] = set()
        for table in schema.reads.get(name, ()):
            out += _tree(schema, table, 1, seen)
    out.append("")
    return "\n".join(out)


def _uses(uses: list[Use], empty: str) -> str:
    if not uses:
        return f" {empty}"
    return "".join(
        f"\n  - {use.where}: {use.title}" if use.where != "alert" else f"\n  - {use.title} (`{use.ident}`)"
        for use in uses
    )


def _describe(obj: SchemaObject) -> str:
    text = f"`{obj.name}`: {obj.kind}, created in `{obj.created_in}`"
    if obj.changed_in:
        text += ", changed in " + ", ".join(f"`{label}`" for label in obj.changed_in)
    return text


def _tree(schema: Schema, name: str, depth: int, seen: set[str]) -> list[str]:
    """One object and, indented below it, what feeds it, down to the raw events."""
    obj = schema.objects[name]
    indent = "  " * depth
    if name in seen:
        return [f"{indent}- `{name}` (above)"]
    seen.add(name)
    lines = [f"{indent}- {_describe(obj)}"]
    for source in obj.reads:
        lines += _tree(schema, source, depth + 1, seen)
    for view in schema.feeders(name):
        sources = ", ".join(f"`{s}`" for s in view.reads)
        lines.append(f"{indent}  - fed by `{view.name}` (materialized view, `{view.created_in}`) from {sources}")
        for source in view.reads:
            if source not in seen:
                lines += _tree(schema, source, depth + 2, seen)
    return lines


def build() -> str:
    """The catalog of the shipped queries, migrations, dashboards and rules."""
    queries = load_all()
    return render(queries, lineage(queries=queries), panel_uses(), rule_uses())


def unused(queries: Mapping[str, NamedQuery] | None = None) -> list[str]:
    """Named queries that no panel or rule runs and that are not marked ``@api-only``."""
    queries = load_all() if queries is None else queries
    used = set(panel_uses()) | set(rule_uses())
    return sorted(name for name, query in queries.items() if name not in used and query.api_only is None)
