"""Every SQL block of docs/explore-cookbook.md runs in Explore's conditions: macros expanded by the
plugin's rules for the range of the loaded traffic, on the real engine, with rows where rows are due."""

from __future__ import annotations

import re

import pytest
from clickhouse_connect.driver.client import Client

from pulse.generator.truth import TruthReport
from pulse.grafana.emulation.macros import QueryContext, TimeRange, expand_macros
from tests.support.provisioning import REPO

COOKBOOK = REPO / "docs/explore-cookbook.md"
#: Questions whose answer is legitimately empty on generated traffic (it holds no rejected input).
MAY_BE_EMPTY = {"10"}


def recipes() -> list[tuple[str, str]]:
    """(question number, SQL) for each ``## N. …`` section's ```sql block."""
    text = COOKBOOK.read_text()
    found = re.findall(r"^## (\d+)\. [^\n]*\n(?:(?!^## ).)*?```sql\n(.*?)```", text, flags=re.MULTILINE | re.DOTALL)
    return [(number, sql) for number, sql in found]


def test_the_cookbook_has_ten_questions() -> None:
    assert [number for number, _ in recipes()] == [str(n) for n in range(1, 11)]


@pytest.mark.parametrize(("number", "sql"), recipes(), ids=[n for n, _ in recipes()])
def test_recipe_runs_and_answers(client: Client, loaded: tuple[TruthReport, TimeRange], number: str, sql: str) -> None:
    truth, window = loaded
    final = expand_macros(sql, QueryContext(window, 60_000))
    assert "$__" not in final
    rows = client.query(final).result_rows
    if number not in MAY_BE_EMPTY:
        assert rows, f"question {number}: no rows on generated traffic"
    if number == "1":
        assert {event: count for event, count, _ in rows} == truth.totals
