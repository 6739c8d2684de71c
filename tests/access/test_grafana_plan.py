"""``pulse access apply --grafana``: the plan computed from Grafana's API answers, on data.

Grafana cannot run here (docs/access.md names this stand-in): the state is the JSON Grafana's HTTP API
returns (``GET /api/orgs``, ``/api/orgs/1/users``, ``/api/users/:id/orgs``, a folder and its permissions,
shaped as Grafana 12 answers them) and the test checks the plan taken from it: a fresh Grafana gets
every organization with the id the provisioning files name; the old single-organization setup loses its
non-Admin members of organization 1; a converged Grafana plans nothing; an id Grafana cannot give stops it.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.access.definition import load
from pulse.access.grafana_api import FOLDER_PERMISSIONS, FOLDER_UID, State, plan, state_from_api
from pulse.access.orgs import organizations
from pulse.errors import PulseError
from tests.access.conftest import REPO

ORGS = organizations(load(REPO / "provisioning/access/access.yaml"))
ADMIN = "admin"


def member(user_id: int, login: str, role: str) -> dict[str, Any]:
    """An item of GET /api/orgs/:orgId/users."""
    return {
        "orgId": 1,
        "userId": user_id,
        "email": f"{login}@example.com",
        "login": login,
        "role": role,
        "lastSeenAt": "2026-12-04T10:00:00Z",
        "lastSeenAtAge": "1h",
        "avatarUrl": "/avatar/x",
    }


def permission_items() -> list[dict[str, Any]]:
    """GET /api/folders/:uid/permissions: the Pulse folder's items (Admin is implicit and listed too)."""
    items = [
        {"id": 1, "folderUid": FOLDER_UID, "role": role, "permission": level, "permissionName": "View"}
        for role, level in FOLDER_PERMISSIONS
    ]
    return [*items, {"id": 9, "folderUid": FOLDER_UID, "userId": 1, "userLogin": ADMIN, "permission": 4}]


def converged() -> State:
    return state_from_api(
        orgs=[{"id": org.id, "name": org.name} for org in ORGS],
        members=[member(1, ADMIN, "Admin"), member(7, "ops-lead", "Admin")],
        folders={org.id: True for org in ORGS},
        permissions={org.id: permission_items() for org in ORGS},
        admin_orgs=[{"orgId": org.id, "name": org.name, "role": "Admin"} for org in ORGS],
    )


def test_a_fresh_grafana_gets_every_organization_with_its_id_and_folder() -> None:
    fresh = state_from_api(
        orgs=[{"id": 1, "name": "Main Org."}],
        members=[member(1, ADMIN, "Admin")],
        admin_orgs=[{"orgId": 1, "name": "Main Org.", "role": "Admin"}],
    )
    steps = plan(ORGS, fresh, ADMIN)
    text = "\n".join(s.describe for s in steps)
    print(text)
    assert steps[0].method == "PUT" and steps[0].path == "/api/orgs/1" and steps[0].body == {"name": ORGS[0].name}
    creations = [s for s in steps if s.path == "/api/orgs" and s.method == "POST"]
    assert [s.expect_org_id for s in creations] == [org.id for org in ORGS if org.id != 1], "in id order"
    folders = [s for s in steps if s.path == "/api/folders"]
    assert [s.org_id for s in folders] == [org.id for org in ORGS]
    assert steps[-1].path == "/api/admin/provisioning/dashboards/reload", "new organizations load their files"
    assert not any(s.method == "DELETE" for s in steps)


def test_the_single_org_setup_loses_its_viewers_and_editors_of_organization_1() -> None:
    old = state_from_api(
        orgs=[{"id": 1, "name": ORGS[0].name}],
        members=[
            member(1, ADMIN, "Admin"),
            member(2, "ana", "Viewer"),
            member(3, "max", "Editor"),
            member(4, "owner", "Admin"),
        ],
        folders={1: True},
        permissions={1: permission_items()},
        admin_orgs=[{"orgId": 1, "name": ORGS[0].name, "role": "Admin"}],
    )
    removals = [s for s in plan(ORGS, old, ADMIN) if s.method == "DELETE"]
    assert [s.path for s in removals] == ["/api/orgs/1/users/2", "/api/orgs/1/users/3"]


def test_a_converged_grafana_plans_nothing() -> None:
    assert plan(ORGS, converged(), ADMIN) == []


def test_an_organization_the_admin_is_not_in_gets_the_admin_first() -> None:
    state = converged()
    state = State(state.orgs, state.members, state.folders, state.folder_permissions, frozenset({1}))
    steps = plan(ORGS, state, ADMIN)
    assert {s.path for s in steps} == {f"/api/orgs/{org.id}/users" for org in ORGS if org.id != 1}
    assert all(s.body == {"loginOrEmail": ADMIN, "role": "Admin"} for s in steps)


def test_an_id_grafana_cannot_give_stops_the_plan_naming_it() -> None:
    finance = ORGS[-1]
    state = state_from_api(orgs=[{"id": 1, "name": ORGS[0].name}, {"id": 42, "name": finance.name}])
    with pytest.raises(PulseError, match=rf"{finance.name}.*id 42.*gives it {finance.id}"):
        plan(ORGS, state, ADMIN)


@settings(max_examples=200, deadline=None)
@given(
    present=st.sets(st.sampled_from([org.id for org in ORGS])),
    misnamed=st.sets(st.sampled_from([org.id for org in ORGS])),
    foldered=st.sets(st.sampled_from([org.id for org in ORGS])),
    roles=st.lists(st.sampled_from(["Viewer", "Editor", "Admin"]), max_size=6),
)
def test_each_difference_is_planned_once(
    present: set[int], misnamed: set[int], foldered: set[int], roles: list[str]
) -> None:
    names = {org.id: org.name for org in ORGS}
    state = state_from_api(
        orgs=[{"id": i, "name": names[i] + (" (old)" if i in misnamed else "")} for i in sorted(present)],
        members=[member(10 + n, f"user{n}", role) for n, role in enumerate(roles)],
        folders={i: True for i in foldered & present},
        permissions={i: permission_items() for i in foldered & present},
        admin_orgs=[{"orgId": i, "name": names[i], "role": "Admin"} for i in present],
    )
    steps = plan(ORGS, state, ADMIN)
    created = {s.expect_org_id for s in steps if s.expect_org_id is not None}
    renamed = {int(s.path.rsplit("/", 1)[1]) for s in steps if s.method == "PUT"}
    assert created == set(names) - present
    assert renamed == misnamed & present
    assert {s.org_id for s in steps if s.path == "/api/folders"} == set(names) - (foldered & present)
    removed = [s for s in steps if s.method == "DELETE"]
    assert len(removed) == sum(r != "Admin" for r in roles), "organization 1 (all data) keeps only Admins"
