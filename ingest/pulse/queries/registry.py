"""Named queries: ``clickhouse/queries/<name>.sql`` files with a header that declares them.

The metric name is the file name (and the rollup's name where one exists), so a Grafana panel, an
alert and ``pulse query`` all say the same thing. A header declares every parameter with its
ClickHouse type, default and allowed values; the registry refuses a file whose header and SQL
disagree, so the declared contract is the one the engine binds.

Header lines (``--`` comments before the SQL)::

    -- free text: the description
    -- @unit events
    -- @param NAME TYPE [= DEFAULT] [in a|b|c] : description
    -- @column NAME TYPE : description
    -- @api-only reason                  (no panel or alert runs it, on purpose: see the catalog)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pulse.content import QUERIES, folder
from pulse.errors import PulseError

DEFAULT_QUERY_DIR = folder(QUERIES)

_PLACEHOLDER = re.compile(r"\{(\w+):([^{}]+)\}")
_PARAM = re.compile(r"^@param\s+(\w+)\s+(\S+)(?:\s*=\s*(\S+))?(?:\s+in\s+(\S+))?\s*:\s*(.*)$")
_COLUMN = re.compile(r"^@column\s+(\w+)\s+(\S+)\s*:\s*(.*)$")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: str | None
    choices: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    unit: str
    sql: str
    params: dict[str, Param] = field(default_factory=dict)
    columns: tuple[Column, ...] = ()
    path: Path | None = None
    api_only: str | None = None  # why no panel or alert runs it (``@api-only``); None: some do


def placeholders(sql: str) -> dict[str, str]:
    """Each ``{name:Type}`` parameter of ``sql`` with its type; one name used with two types is an error."""
    used: dict[str, str] = {}
    for pname, ptype in _PLACEHOLDER.findall(sql):
        if used.setdefault(pname, ptype) != ptype:
            raise PulseError(f"parameter {pname} is used as {used[pname]} and as {ptype}")
    return used


def parse(name: str, text: str, path: Path | None = None) -> NamedQuery:
    """One query file; a header that does not match the SQL's placeholders is an error."""
    description: list[str] = []
    unit = ""
    api_only: str | None = None
    params: dict[str, Param] = {}
    columns: list[Column] = []
    body: list[str] = []
    in_header = True
    for line in text.splitlines():
        stripped = line.strip()
        if in_header and stripped.startswith("--"):
            tag = stripped[2:].strip()
            if tag.startswith("@unit"):
                unit = tag.removeprefix("@unit").strip()
            elif tag.startswith("@api-only"):
                api_only = tag.removeprefix("@api-only").strip()
                if not api_only:
                    raise PulseError(f"{name}: @api-only needs a reason")
            elif tag.startswith("@param"):
                match = _PARAM.match(tag)
                if match is None:
                    raise PulseError(f"{name}: malformed header line {stripped!r}")
                pname, ptype, default, choices, text_ = match.groups()
                params[pname] = Param(pname, ptype, default, tuple(choices.split("|")) if choices else (), text_)
            elif tag.startswith("@column"):
                match = _COLUMN.match(tag)
                if match is None:
                    raise PulseError(f"{name}: malformed header line {stripped!r}")
                columns.append(Column(*match.groups()))
            else:
                description.append(tag)
            continue
        in_header = False
        body.append(line)
    sql = "\n".join(body).strip()
    try:
        used = placeholders(sql)
    except PulseError as error:
        raise PulseError(f"{name}: {error}") from error
    declared = {p.name: p.type for p in params.values()}
    if declared != used:
        raise PulseError(f"{name}: header declares {declared} but the SQL uses {used}")
    return NamedQuery(name, " ".join(description).strip(), unit, sql, params, tuple(columns), path, api_only)


@cache
def load_all(query_dir: Path = DEFAULT_QUERY_DIR) -> dict[str, NamedQuery]:
    """Every named query of the folder, by name."""
    if not query_dir.is_dir():
        raise PulseError(f"query folder {query_dir} does not exist")
    return {path.stem: parse(path.stem, path.read_text(), path) for path in sorted(query_dir.glob("*.sql"))}


def get(name: str, query_dir: Path = DEFAULT_QUERY_DIR) -> NamedQuery:
    queries = load_all(query_dir)
    if name not in queries:
        raise PulseError(f"no query named {name!r}; known: {', '.join(sorted(queries))}")
    return queries[name]
