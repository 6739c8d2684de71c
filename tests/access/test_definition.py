"""The access definition: the committed one is valid and its files current; a bad one names its field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from pulse.access import render
from pulse.access.catalog import from_migrations
from pulse.access.cli import _unknown_queries
from pulse.access.definition import DEFINITION, AccessDefinition, parse
from pulse.errors import PulseError
from tests.access.conftest import REPO


def committed() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / DEFINITION).read_text())
    return data


def test_the_committed_rendering_is_current(definition: AccessDefinition) -> None:
    files = render.outputs(definition, from_migrations(definition.database))
    assert render.stale(REPO, files) == [], "run `pulse access generate` and commit the result"
    assert not _unknown_queries(definition)


def test_every_role_and_department_gets_its_data_source(definition: AccessDefinition) -> None:
    users = {g.user for g in definition.grantees()}
    for department in ("growth", "content", "ads", "finance"):
        assert {f"pulse_{department}_manager", f"pulse_{department}_analyst"} <= users
    assert {"pulse_admin", "pulse_api"} <= users


def test_money_is_sensitive_wherever_it_appears(definition: AccessDefinition) -> None:
    for table, column in [
        ("ad_performance_per_minute", "spend_micros"),
        ("events", "revenue_micros"),
        ("campaigns_dict", "daily_budget_micros"),
        ("later_table", "refund_revenue_micros"),
    ]:
        assert "money" in definition.classes_of(table, column)
    assert not definition.classes_of("ad_performance_per_minute", "clicks")
    assert definition.classes_of("user_days", "user") == {"personal"}
    assert not definition.classes_of("topic_mentions_per_minute", "users")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["roles"]["Analyst"].update(reads=["mony"]), "roles.Analyst.reads: unknown sensitive class 'mony'"),
        (
            lambda d: d["departments"]["ads"]["roles"].append("Intern"),
            "departments.ads.roles[2]: unknown role 'Intern'",
        ),
        (lambda d: d["departments"]["ads"]["roles"].append("api"), "departments.ads.roles[2]: api is a global role"),
        (lambda d: d["departments"]["content"]["slice"].update(values=[]), "departments.content.slice.values"),
        (lambda d: d["departments"]["finance"].update(tabels=["events"]), "departments.finance.tabels"),
        (lambda d: d["roles"]["api"].pop("tables"), "roles.api.tables: a global role lists the tables"),
        (lambda d: d["sensitive"]["money"].update(columns=["spend micros"]), "sensitive.money.columns[0]"),
        (lambda d: d["profile"].update(max_execution_time=900), "profile.max_execution_time: larger than"),
        (lambda d: d["departments"]["growth"]["role_queries"].update(Intern=[]), "departments.growth.role_queries"),
        (lambda d: d["grafana"]["organizations"][2].update(id=2), "grafana.organizations[2].id: 2 is used by another"),
        (
            lambda d: d["grafana"]["organizations"][3].update(group="pulse-growth-analysts"),
            "grafana.organizations[3].group: pulse-growth-analysts is used by another",
        ),
        (
            lambda d: d["grafana"]["organizations"].append({"id": 10, "user": "pulse_api", "group": "pulse-api"}),
            "grafana.organizations[9].user: pulse_api is a service user",
        ),
        (
            lambda d: d["grafana"]["organizations"].pop(),
            "grafana.organizations: no organization for pulse_finance_analyst",
        ),
        (lambda d: d["grafana"]["organizations"][1].update(group="a:b"), "grafana.organizations[1].group"),
    ],
)
def test_a_bad_definition_names_the_field(change: Any, field: str) -> None:
    data = copy.deepcopy(committed())
    change(data)
    with pytest.raises(PulseError) as raised:
        parse(data, "access.yaml")
    assert field in str(raised.value)


def test_a_table_outside_the_schema_or_that_cannot_be_sliced_is_refused(definition: AccessDefinition) -> None:
    catalog = from_migrations(definition.database)
    data = committed()
    data["departments"]["ads"]["tables"].append("ad_spend")
    with pytest.raises(PulseError, match=r"departments\.ads\.tables: 'ad_spend' is not a table"):
        render.outputs(parse(data), catalog)
    data = committed()
    data["departments"]["content"]["tables"].append("sessions_last_hour")
    with pytest.raises(PulseError, match=r"departments\.content\.tables: sessions_last_hour has no category column"):
        render.outputs(parse(data), catalog)


def test_an_unknown_named_query_is_reported_with_its_place() -> None:
    data = committed()
    data["departments"]["ads"]["queries"].append("ad_delivery")
    assert _unknown_queries(parse(data)) == ["departments.ads.queries[1]: 'ad_delivery'"]


def test_every_list_of_named_queries_is_checked_in_definition_order() -> None:
    """Per-role, role and archive lists are checked too, in the order the definition reads."""
    data = committed()
    data["roles"]["api"]["queries"].append("no_such_query")
    data["roles"]["Admin"]["archive"].append("no_such_archive_query")
    data["departments"]["ads"]["queries"].append("ad_delivery")
    data["departments"]["growth"]["role_queries"]["Manager"].append("no_such_manager_query")
    api_at = len(data["roles"]["api"]["queries"]) - 1
    archive_at = len(data["roles"]["Admin"]["archive"]) - 1
    assert _unknown_queries(parse(data)) == [
        "departments.ads.queries[1]: 'ad_delivery'",
        "departments.growth.role_queries.Manager[2]: 'no_such_manager_query'",
        f"roles.api.queries[{api_at}]: 'no_such_query'",
        f"roles.Admin.archive[{archive_at}]: 'no_such_archive_query'",
    ]
