"""Login mapping proof: the committed grafana.ini, evaluated with Grafana's org/role mapping rules (pulse.access.login).

Every IdP group of the access definition lands in its organization with its role; a user in no mapped
group gets no organization (login refused); for any set of groups, a user gets exactly the
organizations of the mapped groups among them -- for generic OAuth and JWT alike.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.access.definition import load
from pulse.access.login import LoginConfig, map_login, parse_org_mapping, split_org_mapping, split_string
from pulse.access.orgs import organizations
from tests.access.conftest import REPO

ORGS = organizations(load(REPO / "provisioning/access/access.yaml"))
INI = (REPO / "provisioning/access/grafana.ini").read_text()
SECTIONS = ("auth.generic_oauth", "auth.jwt")
CONFIGS = {section: LoginConfig.from_ini(INI, section) for section in SECTIONS}
GROUPS = [org.group for org in ORGS]


def test_every_group_maps_to_its_organization_and_role() -> None:
    for section, config in CONFIGS.items():
        for org in ORGS:
            outcome = map_login(config, {"sub": "u", "groups": [org.group]})
            assert outcome.refused is None and outcome.org_roles == {org.id: org.role}, (section, org.group)
    assert {org.id: org.role for org in ORGS if org.grantee.tables == "*"} == {1: "Admin"}
    assert {org.role for org in ORGS if org.id != 1} == {"Editor"}, "analysts and managers get Explore (Editor)"


def test_a_user_in_no_mapped_group_gets_no_organization() -> None:
    for config in CONFIGS.values():
        for claims in ({"sub": "u"}, {"sub": "u", "groups": []}, {"sub": "u", "groups": ["staff", "pulse-admin"]}):
            outcome = map_login(config, claims)
            assert outcome.refused is not None and outcome.org_roles == {}, claims
        assert not config.auto_assign_org and config.role_attribute_strict


@settings(max_examples=300, deadline=None)
@given(
    mapped=st.sets(st.sampled_from(GROUPS)),
    others=st.sets(st.text(alphabet="abcdefghijklmnopqrstuvwxyz-:", min_size=1, max_size=20)),
    section=st.sampled_from(SECTIONS),
)
def test_any_group_set_gets_exactly_the_organizations_of_its_mapped_groups(
    mapped: set[str], others: set[str], section: str
) -> None:
    groups = sorted(mapped | (others - set(GROUPS)))
    outcome = map_login(CONFIGS[section], {"sub": "u", "email": "u@example.com", "groups": groups})
    expected = {org.id: org.role for org in ORGS if org.group in mapped}
    assert outcome.org_roles == expected
    assert (outcome.refused is None) == bool(expected)


def test_the_evaluator_follows_grafanas_org_role_mapper() -> None:
    """Cases of Grafana's org_role_mapper_test.go: escaping, strict parsing, the top role, the default org."""
    assert split_org_mapping(r"domain\:group:2:Editor") == ["domain:group", "2", "Editor"]
    assert split_org_mapping("a:b:c:d") == []
    assert split_string("a:1:Viewer, b:2:Editor  c:3") == ["a:1:Viewer", "b:2:Editor", "c:3"]
    assert split_string('["a b:1:Admin"]') == ["a b:1:Admin"]
    assert parse_org_mapping(["a:1:Viewer", "b:2"], strict=True) == {}, "strict: a mapping without a role voids all"
    assert parse_org_mapping(["a:1:Viewer", "b:2"], strict=False) == {"a": {1: "Viewer"}, "b": {2: "Viewer"}}
    config = LoginConfig(
        role_attribute_path="contains(groups[*], 'x') && 'Editor'",
        role_attribute_strict=False,
        org_attribute_path="groups",
        org_mapping="x:2:Viewer y:2:Admin",
        auto_assign_org=False,
        auto_assign_org_id=1,
        auto_assign_org_role="Viewer",
    )
    assert map_login(config, {"groups": ["x"]}).org_roles == {2: "Editor"}, "top of direct and mapped role"
    assert map_login(config, {"groups": ["x", "y"]}).org_roles == {2: "Admin"}
    # Why the generated role path admits mapped groups only: a role with no mapped group lands in org 1,
    # auto_assign_org = false notwithstanding (Grafana's getDefaultOrgMapping / cfg.DefaultOrgID).
    everyone = LoginConfig("'Editor'", True, "groups", "x:2:Viewer", False, 1, "Viewer")
    assert map_login(everyone, {"groups": ["stranger"]}).org_roles == {1: "Editor"}
