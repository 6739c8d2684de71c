"""The metric catalog: committed and current, and every named query accounted for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pulse.errors import PulseError
from pulse.queries.catalog import ast_references, panel_uses, rule_uses, unused
from pulse.queries.registry import load_all, parse

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "docs" / "metrics-catalog.md"


def test_the_committed_catalog_is_what_the_code_generates() -> None:
    # A subprocess: the catalog opens its own in-process chDB, which wants a process of its own.
    done = subprocess.run(
        [sys.executable, "-m", "pulse", "catalog"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == COMMITTED.read_text(), "docs/metrics-catalog.md is stale: run `pulse catalog --write`"


def test_every_named_query_is_on_a_panel_or_a_rule_or_marked_api_only() -> None:
    assert unused() == [], "add a panel or rule, or an `@api-only reason` header line"
    used = set(panel_uses()) | set(rule_uses())
    for name in used:
        assert name in load_all(), f"a panel or rule names {name!r}, which is not a named query"
    for name, query in load_all().items():
        if query.api_only is not None:
            assert name not in used, f"{name} is marked @api-only but a panel or rule runs it"


def test_panels_and_rules_are_found_by_the_query_they_name() -> None:
    panels, rules = panel_uses(), rule_uses()
    assert any(use.title == "Budget pacing" for use in panels["budget_pacing"])
    assert [use.ident for use in rules["budget_pacing"]] == ["pulse-budget-overspend"]
    assert len(rules["metric_anomaly"]) == 3


def test_api_only_needs_a_reason() -> None:
    text = "-- d\n-- @unit x\n-- @api-only\n-- @column n UInt64 : n\nSELECT 1 AS n"
    with pytest.raises(PulseError, match="needs a reason"):
        parse("bad", text)
    marked = parse("ok", text.replace("@api-only", "@api-only for exports"))
    assert marked.api_only == "for exports" and marked.description == "d"


def test_tables_are_the_parsers_table_references_and_dictionaries() -> None:
    ast = """SelectWithUnionQuery (children 1)
 TablesInSelectQuery (children 1)
  TablesInSelectQueryElement (children 1)
   TableExpression (children 1)
    TableIdentifier pulse.engagement_per_minute
   TableExpression (children 1)
    Function sessions_in_range (children 1)
 Function dictGetString (children 1)
  ExpressionList (children 3)
   Literal 'campaigns_dict'
   Literal 'name'
 Identifier events"""
    tables, functions = ast_references(ast)
    assert tables == {"engagement_per_minute", "sessions_in_range", "campaigns_dict"}
    assert {"sessions_in_range", "dictGetString"} <= functions
