"""The cluster flavour of the schema, rendered statement by statement from the single-node files.

There is one schema source, ``clickhouse/schema/NNNN_name.sql``, written for one node (what chDB
runs). On a ClickHouse cluster each statement is rewritten by one rule per statement kind; the
engine's own parser decides the kind and the table references (``formatQuery``, ``EXPLAIN AST``),
so comments, strings, aliases and columns that share a table's name are never touched:

- ``CREATE TABLE t ... ENGINE = XMergeTree`` -> ``t_local`` (``ReplicatedXMergeTree`` at
  ``/clickhouse/tables/{shard}/{database}/{table}``, replica ``{replica}``) plus ``t`` as a
  ``Distributed`` table over it, sharded by the user (``user_id``, else ``anonymous_id``, hashed like
  ``user_key``) when the table has both columns, else at random. Readers and writers keep using
  ``t``: the named queries, Grafana and the loader are unchanged.
- Incremental materialized views read and write the local tables: each shard rolls up its own rows,
  and queries finish the merge across shards through the Distributed tables (sum, uniqMerge, ...).
- Refreshable views with their own engine (the live snapshots) read the Distributed names: every
  node computes the whole snapshot. ``APPEND TO t`` views (per-node feeds, e.g. the audit of each
  node's query log) append to ``t_local`` and read ``t_local`` where they read their own target.
- Views, dictionaries, functions and other tables (Merge, Memory) are created ``ON CLUSTER``
  unchanged: they read the Distributed names, so every node sees every shard.
- ``ALTER`` of a table's indexes, projections, TTL or settings goes to ``t_local``; column changes go
  to ``t_local`` and to ``t``; ``MODIFY QUERY`` follows the view's rule above.
- ``INSERT`` (a guarded backfill) runs once, through the Distributed names.

A statement kind or ALTER command not listed here is refused (UnknownStatement) rather than guessed,
and so is a statement that could not be re-run after a kill (a CREATE or ADD without IF NOT EXISTS).
``replicated=False`` renders the same layout with plain engines and no ``ON CLUSTER``: what a single
chDB can create, which is how the tests check the layout (chDB has no Keeper and no TCP port).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal, Protocol

from clickhouse_connect.driver.client import Client

from pulse.errors import PulseError
from pulse.warehouse.sqltext import Token, tokens

LOCAL_SUFFIX = "_local"
REPLICA_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
#: The user's shard: the same hash as ``events.user_key`` (0003), so one user's events -- and so
#: their sessions and funnels -- live on one shard.
USER_SHARDING_KEY = "cityHash64(if(user_id != '', user_id, anonymous_id))"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")  # Kubernetes-style names (pulse-ch) too
# ALTER commands by where they go on a cluster (names as EXPLAIN AST prints them).
_COLUMN_COMMANDS = frozenset({"ADD_COLUMN", "DROP_COLUMN", "MODIFY_COLUMN", "COMMENT_COLUMN", "RENAME_COLUMN"})
_LOCAL_COMMANDS = frozenset(
    {
        "ADD_INDEX",
        "DROP_INDEX",
        "MATERIALIZE_INDEX",
        "ADD_PROJECTION",
        "DROP_PROJECTION",
        "MATERIALIZE_PROJECTION",
        "MODIFY_TTL",
        "MATERIALIZE_TTL",
        "REMOVE_TTL",
        "MODIFY_SETTING",
        "RESET_SETTING",
        "ADD_CONSTRAINT",
        "DROP_CONSTRAINT",
    }
)
_VIEW_COMMANDS = frozenset({"MODIFY_QUERY", "MODIFY_REFRESH"})
# Words after which a name is a table reference in engine-formatted SQL.
_TABLE_CONTEXT = frozenset({"FROM", "JOIN", "TO", "INTO", "TABLE"})

ViewKind = Literal["incremental", "snapshot", "append"]


class UnknownStatement(PulseError):
    """A statement the cluster rendering has no rule for: add the rule, do not guess."""


class Parser(Protocol):
    """The engine's parser: canonical text and the syntax tree of a statement."""

    def format(self, sql: str) -> str: ...

    def ast(self, sql: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class EngineParser:
    """``formatQuery`` and ``EXPLAIN AST`` of the warehouse the client reaches (server, bridge or chDB)."""

    client: Client

    def format(self, sql: str) -> str:
        rows = self.client.query("SELECT formatQuery({q:String})", parameters={"q": sql}).result_rows
        return str(rows[0][0])

    def ast(self, sql: str) -> list[str]:
        # Plain text: the tree is one line per node, and text reads the same from every interface.
        return self.client.raw_query(f"EXPLAIN AST {sql}\nFORMAT TSVRaw").decode().splitlines()


@dataclass(frozen=True, slots=True)
class Rendered:
    """One statement of the cluster flavour, with what it does (for the operator and the tests)."""

    sql: str
    role: Literal["local", "distributed", "object", "once"]
    name: str


@dataclass
class ClusterRenderer:
    """Renders single-node statements in file order; it remembers the tables and views seen so far."""

    parser: Parser
    cluster: str
    database: str
    replicated: bool = True
    tables: dict[str, frozenset[str]] = field(default_factory=dict)  # sharded table -> its columns
    views: dict[str, tuple[ViewKind, str | None]] = field(default_factory=dict)  # MV -> (kind, target)

    def __post_init__(self) -> None:
        if not _CLUSTER_NAME.match(self.cluster):
            raise PulseError(f"cluster name {self.cluster!r}: use letters, digits, _ and - only")
        if not _NAME.match(self.database):
            raise PulseError(f"database name {self.database!r}: use letters, digits and _ only")

    def render(self, statement: str) -> list[Rendered]:
        """The cluster statements for one single-node statement (UnknownStatement if there is no rule)."""
        sql = self.parser.format(statement).strip()
        ast = self.parser.ast(sql)
        root = ast[0].split(" ", 1)[0] if ast else ""
        code = [t for t in tokens(sql) if t.kind != "comment"]
        words = [_word(t) for t in code]
        if root == "CreateQuery":
            return self._create(sql, ast, code, words)
        if root == "CreateSQLFunctionQuery":
            _require_if_not_exists(sql, words, 2)
            return [Rendered(self._on_cluster(sql, code[5]), "object", _name(code[5]))]
        if root == "AlterQuery":
            return self._alter(sql, ast, code)
        if root == "InsertQuery":
            return [Rendered(sql, "once", _name(code[2]))]
        raise UnknownStatement(f"no cluster rule for {root or 'this statement'}: {_head(sql)}")

    # -- CREATE ------------------------------------------------------------------------------------
    def _create(self, sql: str, ast: list[str], code: list[Token], words: list[str]) -> list[Rendered]:
        kind = words[1]
        if kind == "MATERIALIZED" and words[2] == "VIEW":
            _require_if_not_exists(sql, words, 3)
            return self._materialized_view(sql, ast, code, words, code[6])
        if kind not in ("TABLE", "VIEW", "DICTIONARY"):
            raise UnknownStatement(f"no cluster rule for CREATE {kind}: {_head(sql)}")
        _require_if_not_exists(sql, words, 2)
        name_token = code[5]
        if len(code) > 6 and code[6].text == ".":
            raise UnknownStatement(f"qualified names are not rendered (the runner sets the database): {_head(sql)}")
        if kind != "TABLE":
            return [Rendered(self._on_cluster(sql, name_token), "object", _name(name_token))]
        engine = storage_engine(ast)
        if not engine and len(words) > 6 and words[6] == "AS":
            raise UnknownStatement(f"a copy without ENGINE would copy a Distributed table; write one: {_head(sql)}")
        if not engine.endswith("MergeTree"):
            return [Rendered(self._on_cluster(sql, name_token), "object", _name(name_token))]
        return self._sharded_table(sql, ast, code, words, name_token, engine)

    def _sharded_table(
        self, sql: str, ast: list[str], code: list[Token], words: list[str], name_token: Token, engine: str
    ) -> list[Rendered]:
        name = _name(name_token)
        edits: list[tuple[int, int, str]] = [(name_token.start, name_token.end, self._local_name(name))]
        if self.replicated:
            edits.append((name_token.end, name_token.end, f" ON CLUSTER {on_cluster_name(self.cluster)}"))
        columns = _declared_columns(ast)
        if len(words) > 7 and words[6] == "AS":  # CREATE TABLE t AS other ENGINE = ...
            other = _name(code[7])
            if other not in self.tables:
                raise UnknownStatement(f"{name} copies {other}, which is not a sharded table rendered before it")
            columns = self.tables[other]
            edits.append((code[7].start, code[7].end, self._local_name(other)))
        if self.replicated:
            edits += _replicated_engine(code, words, engine)
        self.tables[name] = columns
        local = Rendered(_apply(sql, edits), "local", self._local_name(name))
        key = USER_SHARDING_KEY if {"user_id", "anonymous_id"} <= columns else "rand()"
        on_cluster = f" ON CLUSTER {on_cluster_name(self.cluster)}" if self.replicated else ""
        distributed = (
            f"CREATE TABLE IF NOT EXISTS {name}{on_cluster} AS {self._local_name(name)}\n"
            f"ENGINE = Distributed('{self.cluster}', '{self.database}', '{self._local_name(name)}', {key})"
        )
        return [local, Rendered(distributed, "distributed", name)]

    def _materialized_view(
        self, sql: str, ast: list[str], code: list[Token], words: list[str], name_token: Token
    ) -> list[Rendered]:
        name = _name(name_token)
        head = _before_as(code, words)
        if "." in head or words[7:8] == ["."]:
            raise UnknownStatement(f"qualified names are not rendered (the runner sets the database): {_head(sql)}")
        refresh = "REFRESH" in head
        target_at = next((i for i in range(len(head)) if head[i] == "TO"), None)
        target = _name(code[7 + target_at + 1]) if target_at is not None else None  # head starts at code[7]
        if target is None and not refresh:
            raise UnknownStatement(
                f"materialized view {name} has no TO table: its inner table could not be sharded; write TO"
            )
        if target is not None and target not in self.tables:
            kind: ViewKind = "snapshot"
        elif not refresh:
            kind = "incremental"
        else:
            kind = "append" if "APPEND" in head else "snapshot"
        self.views[name] = (kind, target)
        renamed = self._rename_references(sql, ast, self._view_locals(kind, target))
        return [Rendered(self._on_cluster(renamed, name_token), "object", name)]

    # -- ALTER -------------------------------------------------------------------------------------
    def _alter(self, sql: str, ast: list[str], code: list[Token]) -> list[Rendered]:
        name_token = code[2]
        name = _name(name_token)
        commands = [line.split()[1] for line in ast if line.strip().startswith("AlterCommand ")]
        _require_guarded_adds(sql, code)
        if name in self.views:
            unknown = [c for c in commands if c not in _VIEW_COMMANDS]
            if unknown:
                raise UnknownStatement(f"no cluster rule for ALTER of view {name}: {', '.join(unknown)}")
            kind, target = self.views[name]
            renamed = self._rename_references(sql, ast, self._view_locals(kind, target))
            return [Rendered(self._on_cluster(renamed, name_token), "object", name)]
        settings = _replicated_settings(code) if self.replicated else []
        if name not in self.tables:
            return [Rendered(self._on_cluster(_apply(sql, settings), name_token), "object", name)]
        unknown = [c for c in commands if c not in _COLUMN_COMMANDS | _LOCAL_COMMANDS]
        if unknown:
            raise UnknownStatement(f"no cluster rule for ALTER TABLE {name} {', '.join(unknown)}: {_head(sql)}")
        local_edits = [(name_token.start, name_token.end, self._local_name(name)), *settings]
        local_sql = self._on_cluster(_apply(sql, local_edits), None)
        local = Rendered(local_sql, "local", self._local_name(name))
        if all(c in _LOCAL_COMMANDS for c in commands):
            return [local]
        if any(c in _LOCAL_COMMANDS for c in commands):
            raise UnknownStatement(f"ALTER TABLE {name} mixes column and storage commands: split it in two")
        return [local, Rendered(self._on_cluster(sql, name_token), "distributed", name)]

    # -- helpers -----------------------------------------------------------------------------------
    def _local_name(self, name: str) -> str:
        return name + LOCAL_SUFFIX

    def _view_locals(self, kind: ViewKind, target: str | None) -> set[str]:
        """The sharded tables a view reads and writes on its own node (the rest: Distributed names)."""
        if kind == "incremental":
            return set(self.tables)
        if kind == "append" and target is not None:
            return {target}
        return set()

    def _on_cluster(self, sql: str, name_token: Token | None) -> str:
        """``ON CLUSTER`` right after the object's name (re-lexed when the name was just rewritten)."""
        if not self.replicated:
            return sql
        if name_token is None:
            code = [t for t in tokens(sql) if t.kind != "comment"]
            name_token = code[2]
        return _apply(sql, [(name_token.end, name_token.end, f" ON CLUSTER {on_cluster_name(self.cluster)}")])

    def _rename_references(self, sql: str, ast: list[str], local: set[str]) -> str:
        """``t`` -> ``t_local`` where ``t`` is a table reference, checked against the engine's own tree."""
        if not local:
            return sql
        code = [t for t in tokens(sql) if t.kind != "comment"]
        edits = [
            (token.start, token.end, self._local_name(_name(token)))
            for previous, token in pairwise(code)
            if _word(previous) in _TABLE_CONTEXT and token.kind in ("word", "quoted") and _name(token) in local
        ]
        renamed = _apply(sql, edits)
        expected = Counter(self._local_name(n) if n in local else n for n in _table_identifiers(ast))
        if Counter(_table_identifiers(self.parser.ast(renamed))) != expected:
            raise UnknownStatement(f"cannot tell every table reference from the SQL text safely: {_head(sql)}")
        return renamed


def on_cluster_name(cluster: str) -> str:
    """The cluster as ``ON CLUSTER`` takes it: bare when it is a plain identifier, else back-quoted."""
    return cluster if _NAME.match(cluster) else f"`{cluster}`"


def _word(token: Token) -> str:
    return token.text.upper() if token.kind == "word" else token.text


def _name(token: Token) -> str:
    return token.text.strip('`"') if token.kind == "quoted" else token.text


def _head(sql: str) -> str:
    return " ".join(sql.split())[:120]


def _apply(sql: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (start, end, replacement) edits of non-overlapping spans."""
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        sql = sql[:start] + text + sql[end:]
    return sql


def _require_if_not_exists(sql: str, words: list[str], at: int) -> None:
    if words[at : at + 3] != ["IF", "NOT", "EXISTS"]:
        raise UnknownStatement(f"not re-runnable after a kill, write IF NOT EXISTS: {_head(sql)}")


def _require_guarded_adds(sql: str, code: list[Token]) -> None:
    words = [_word(t) for t in code]
    for i, word in enumerate(words):
        if word == "ADD" and words[i + 1 : i + 2] != ["CONSTRAINT"] and words[i + 2 : i + 5] != ["IF", "NOT", "EXISTS"]:
            raise UnknownStatement(f"not re-runnable after a kill, write ADD ... IF NOT EXISTS: {_head(sql)}")


def _before_as(code: list[Token], words: list[str]) -> list[str]:
    """The words of a view's head: from its name to its top-level ``AS`` (REFRESH, TO, ENGINE ...)."""
    depth = 0
    for i, token in enumerate(code):
        depth += token.kind == "open"
        depth -= token.kind == "close"
        if i > 6 and depth == 0 and words[i] == "AS":
            return words[7:i]
    return words[7:]


def storage_engine(ast: list[str]) -> str:
    """The table engine an ``EXPLAIN AST`` of a CREATE TABLE names ('' when it names none)."""
    for i, line in enumerate(ast):
        if line.strip().startswith("Storage definition") and i + 1 < len(ast):
            child = ast[i + 1].split()
            if child[0] == "Function":
                return child[1]
    return ""


def _declared_columns(ast: list[str]) -> frozenset[str]:
    return frozenset(line.split()[1] for line in ast if line.strip().startswith("ColumnDeclaration "))


def _table_identifiers(ast: list[str]) -> list[str]:
    return [line.split()[1].split(".")[-1] for line in ast if line.strip().startswith("TableIdentifier ")]


def _replicated_engine(code: list[Token], words: list[str], engine: str) -> list[tuple[int, int, str]]:
    """``ENGINE = XMergeTree[(args)]`` -> ``ReplicatedXMergeTree('<path>', '{replica}'[, args])``; settings follow."""
    at = next(i for i in range(len(code) - 2) if words[i] == "ENGINE" and words[i + 1] == "=")
    name = code[at + 2]
    arguments = f"'{REPLICA_PATH}', '{{replica}}'"
    edits = [(name.start, name.end, f"Replicated{engine}")]
    if at + 3 < len(code) and code[at + 3].kind == "open" and code[at + 3].start == name.end:
        empty = code[at + 4].kind == "close"
        edits.append((code[at + 3].end, code[at + 3].end, arguments + ("" if empty else ", ")))
    else:
        edits.append((name.end, name.end, f"({arguments})"))
    return edits + _replicated_settings(code)


def _replicated_settings(code: list[Token]) -> list[tuple[int, int, str]]:
    """The insert-dedup window of a replicated table has the replicated name."""
    return [
        (t.start, t.end, "replicated_deduplication_window")
        for t in code
        if t.kind == "word" and t.text == "non_replicated_deduplication_window"
    ]
