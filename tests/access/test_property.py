"""Over randomly generated definitions and schemas: no rendered grant exceeds the definition.

The XML and the SQL are parsed back into (user, table, column) grants and row filters and compared
with what the definition allows, computed here without the renderer: nothing more, and nothing less.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.access import render
from pulse.access.catalog import Catalog, DbObject
from pulse.access.definition import AccessDefinition, parse

NAMES = st.sampled_from(["a", "b", "c", "spend", "revenue", "user_id", "category", "dimension", "value", "x_1"])
_SELECT = re.compile(r"^GRANT SELECT\((?P<cols>[^)]*)\) ON (?P<db>\w+)\.(?P<table>\w+)(?: TO (?P<to>\w+))?;?$")
_DICT = re.compile(r"^GRANT dictGet ON (?P<db>\w+)\.(?P<table>\w+)(?: TO (?P<to>\w+))?;?$")
_POLICY = re.compile(
    r"^CREATE ROW POLICY OR REPLACE \w+ ON (?P<db>\w+)\.(?P<table>\w+) FOR SELECT USING (?P<expr>.*) TO (?P<to>\w+);$"
)
_ROLE_TO_USER = re.compile(r"^GRANT (?P<role>\w+) TO (?P<user>\w+);$")

Grants = set[tuple[str, str, str]]  # (user, table, column); column "*" for dictGet


@st.composite
def schemas(draw: Any) -> Catalog:
    catalog: Catalog = {}
    for index in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["table", "table", "view", "dictionary"]))
        columns = tuple(draw(st.lists(NAMES, min_size=1, max_size=6, unique=True)))
        catalog[f"t{index}"] = DbObject(f"t{index}", kind, columns)
    return catalog


@st.composite
def definitions(draw: Any, catalog: Catalog) -> AccessDefinition:
    tables = sorted(catalog)
    columns = sorted({c for obj in catalog.values() for c in obj.columns})
    patterns = st.one_of(
        st.sampled_from(columns),
        st.builds(lambda t, c: f"{t}.{c}", st.sampled_from(tables), st.sampled_from(columns)),
        st.sampled_from(["*e*", "user_*", "?", "t1.*"]),
    )
    classes = {
        f"k{i}": {"description": "d", "columns": draw(st.lists(patterns, min_size=1, max_size=3))}
        for i in range(draw(st.integers(0, 3)))
    }
    class_names = st.lists(st.sampled_from(sorted(classes)), unique=True) if classes else st.just([])
    roles: dict[str, Any] = {
        "Manager": {"description": "d", "reads": draw(class_names)},
        "Analyst": {"description": "d", "reads": draw(class_names)},
    }
    if draw(st.booleans()):
        roles["Admin"] = {"description": "d", "scope": "global", "tables": "*", "reads": draw(class_names)}
    departments: dict[str, Any] = {}
    for index in range(draw(st.integers(1, 3))):
        cut = draw(st.one_of(st.none(), st.sampled_from(columns)))
        eligible = (
            tables
            if cut is None
            else [
                t
                for t in tables
                if catalog[t].kind == "table"
                and (cut in catalog[t].columns or {"dimension", "value"} <= set(catalog[t].columns))
            ]
        )
        if not eligible:
            cut, eligible = None, tables
        department: dict[str, Any] = {
            "description": "d",
            "roles": draw(st.lists(st.sampled_from(["Manager", "Analyst"]), min_size=1, unique=True)),
            "reads": draw(class_names),
            "tables": draw(st.lists(st.sampled_from(eligible), min_size=1, unique=True)),
        }
        if cut is not None:
            department["slice"] = {"column": cut, "values": draw(st.lists(st.text("xyz'\\", min_size=1), min_size=1))}
        departments[f"d{index}"] = department
    return parse({"database": "db", "sensitive": classes, "roles": roles, "departments": departments})


def allowed(definition: AccessDefinition, catalog: Catalog) -> tuple[Grants, dict[tuple[str, str], bool]]:
    """What the definition allows, from the definition alone: grants, and which (user, table) is row-filtered."""
    grants: Grants = set()
    filtered: dict[tuple[str, str], bool] = {}
    for grantee in definition.grantees():
        for name in sorted(catalog) if grantee.tables == "*" else grantee.tables:
            obj = catalog[name]
            readable = [c for c in obj.columns if definition.classes_of(name, c) <= grantee.reads]
            if obj.kind == "dictionary":
                if len(readable) == len(obj.columns):
                    grants.add((grantee.user, name, "*"))
                    filtered[(grantee.user, name)] = grantee.slice is not None
                continue
            grants |= {(grantee.user, name, c) for c in readable}
            if readable:
                filtered[(grantee.user, name)] = grantee.slice is not None
    return grants, filtered


def _grant(user: str, text: str) -> Grants:
    if match := _SELECT.match(text):
        return {(user, match["table"], c.strip()) for c in match["cols"].split(",")}
    match = _DICT.match(text)
    assert match, text
    return {(user, match["table"], "*")}


def from_xml(files: dict[str, str]) -> tuple[Grants, dict[tuple[str, str], str]]:
    grants: Grants = set()
    filters: dict[tuple[str, str], str] = {}
    for rel, text in files.items():
        if not rel.endswith(".xml"):
            continue
        root = ET.fromstring(text)
        users = root.find("users")
        assert users is not None
        (user,) = list(users)
        for query in user.iterfind("grants/query"):
            grants |= _grant(user.tag, query.text or "")
        for table in user.iterfind("databases/db/*"):
            filters[(user.tag, table.tag)] = table.findtext("filter") or ""
    return grants, filters


def from_sql(sql: str) -> tuple[Grants, dict[tuple[str, str], str]]:
    users = {m["role"]: m["user"] for line in sql.splitlines() if (m := _ROLE_TO_USER.match(line))}
    grants: Grants = set()
    filters: dict[tuple[str, str], str] = {}
    for line in sql.splitlines():
        if line.startswith("GRANT ") and " ON " in line:
            role = line.rsplit(" TO ", 1)[1].rstrip(";")
            grants |= _grant(users[role], line.rsplit(" TO ", 1)[0])
        elif (match := _POLICY.match(line)) and match["to"] in users:
            filters[(users[match["to"]], match["table"])] = match["expr"]
    return grants, filters


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_no_rendered_grant_exceeds_the_definition(data: st.DataObject) -> None:
    catalog = data.draw(schemas())
    definition = data.draw(definitions(catalog))
    files = render.outputs(definition, catalog)
    expected, filtered = allowed(definition, catalog)
    xml_grants, xml_filters = from_xml(files)
    sql_grants, sql_filters = from_sql(files[render.SQL_FILE.as_posix()])

    assert xml_grants <= expected, f"granted beyond the definition: {sorted(xml_grants - expected)}"
    assert xml_grants == expected, f"readable but not granted: {sorted(expected - xml_grants)}"
    assert sql_grants == xml_grants
    assert sql_filters == xml_filters
    assert {key for key, cut in filtered.items() if cut} == set(xml_filters)
    for grantee in definition.grantees():
        for (user, _), expression in xml_filters.items():
            if user == grantee.user and grantee.slice is not None:
                assert all(render.literal(v) in expression for v in grantee.slice.values)
