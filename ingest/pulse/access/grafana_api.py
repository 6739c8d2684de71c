"""``pulse access apply --grafana URL``: converge a Grafana's organizations to the access definition.

Provisioning files cannot create organizations (and Grafana refuses a data source or dashboard
provider whose ``orgId`` does not exist), so the organizations come from the HTTP API. The work is
split so the decision can be tested without a Grafana: :func:`read_state` collects what the API
returns, :func:`plan` (pure) turns desired organizations and that state into steps, printed first,
and :func:`apply` runs them. Every step converges, so a second run plans nothing.

Steps: create a missing organization (Grafana assigns ids itself: creation must yield the id the
provisioning files name, else apply stops), rename one whose name drifted, remove from organization
1 (all data) every member who is not Admin there -- the members the old single-org setup put there --
create each organization's Pulse folder and set its permissions (Viewer and Editor view: the
provisioned dashboards are not edited in Grafana), then reload provisioning so the files load into
the new organizations. Users themselves are placed by Grafana at each login (``org_mapping``,
``skip_org_role_sync = false``), not here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from pulse.access.orgs import Organization
from pulse.errors import PulseError

FOLDER_UID = "pulse"
FOLDER_TITLE = "Pulse"
#: Folder permission items as POST /api/folders/:uid/permissions takes them (1 = View).
FOLDER_PERMISSIONS: tuple[tuple[str, int], ...] = (("Viewer", 1), ("Editor", 1))
ALL_DATA_ORG = 1


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    login: str
    role: str


@dataclass(frozen=True, slots=True)
class State:
    """What Grafana's API answered: organizations by id, organization 1's members, each org's Pulse folder."""

    orgs: dict[int, str]
    members: tuple[Member, ...] = ()
    folders: dict[int, bool] = field(default_factory=dict)  # org id -> the Pulse folder exists
    folder_permissions: dict[int, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    admin_orgs: frozenset[int] = frozenset()  # organizations the applying admin is a member of


@dataclass(frozen=True, slots=True)
class Step:
    """One API call of the plan; ``describe`` is what the plan prints."""

    describe: str
    method: str
    path: str
    body: Mapping[str, Any] | None = None
    org_id: int | None = None  # sent as X-Grafana-Org-Id
    expect_org_id: int | None = None  # a creation must yield this id
    done_if: tuple[int, ...] = ()  # statuses meaning "already so" (a folder the admin could not see before)


def state_from_api(
    orgs: Sequence[Mapping[str, Any]],
    members: Sequence[Mapping[str, Any]] = (),
    folders: Mapping[int, bool] | None = None,
    permissions: Mapping[int, Sequence[Mapping[str, Any]]] | None = None,
    admin_orgs: Sequence[Mapping[str, Any]] = (),
) -> State:
    """A :class:`State` from the JSON Grafana answers: ``GET /api/orgs``, ``GET /api/orgs/1/users``, per
    organization ``GET /api/folders/pulse`` (found or 404) and its ``/permissions``, ``GET /api/users/:id/orgs``."""
    role_items = {
        org_id: tuple(sorted((str(i["role"]), int(i["permission"])) for i in items if i.get("role")))
        for org_id, items in (permissions or {}).items()
    }
    return State(
        orgs={int(o["id"]): str(o["name"]) for o in orgs},
        members=tuple(Member(int(m["userId"]), str(m["login"]), str(m["role"])) for m in members),
        folders=dict(folders or {}),
        folder_permissions=role_items,
        admin_orgs=frozenset(int(o["orgId"]) for o in admin_orgs),
    )


def plan(desired: Sequence[Organization], state: State, admin_login: str | None = None) -> list[Step]:
    """The calls that take ``state`` to ``desired``; an id the API cannot give is an error naming it."""
    steps: list[Step] = []
    by_name = {name: org_id for org_id, name in state.orgs.items()}
    problems = [
        f"organization {org.name!r} exists with id {by_name[org.name]}, access.yaml gives it {org.id}: "
        "Grafana cannot renumber it (rename it or change the id in access.yaml)"
        for org in desired
        if org.name in by_name and by_name[org.name] != org.id
    ]
    if problems:
        raise PulseError("; ".join(problems))
    for org in sorted(desired, key=lambda o: o.id):
        current = state.orgs.get(org.id)
        if current is None:
            steps.append(
                Step(
                    f"create organization {org.id} {org.name!r}",
                    "POST",
                    "/api/orgs",
                    {"name": org.name},
                    expect_org_id=org.id,
                )
            )
        elif current != org.name:
            steps.append(
                Step(
                    f"rename organization {org.id} {current!r} -> {org.name!r}",
                    "PUT",
                    f"/api/orgs/{org.id}",
                    {"name": org.name},
                )
            )
    if any(org.id == ALL_DATA_ORG for org in desired):
        steps += [
            Step(
                f"remove {m.login} ({m.role}) from organization 1: all data is for Admins "
                "(org_mapping gives them their organization at their next login)",
                "DELETE",
                f"/api/orgs/{ALL_DATA_ORG}/users/{m.user_id}",
            )
            for m in state.members
            if m.role != "Admin" and m.login != admin_login
        ]
    items = [{"role": role, "permission": level} for role, level in FOLDER_PERMISSIONS]
    for org in sorted(desired, key=lambda o: o.id):
        if admin_login and org.id in state.orgs and org.id not in state.admin_orgs:
            steps.append(
                Step(
                    f"add {admin_login} to organization {org.id} as Admin (to manage its folder)",
                    "POST",
                    f"/api/orgs/{org.id}/users",
                    {"loginOrEmail": admin_login, "role": "Admin"},
                )
            )
        if not state.folders.get(org.id, False):
            steps.append(
                Step(
                    f"create folder {FOLDER_TITLE!r} in organization {org.id}",
                    "POST",
                    "/api/folders",
                    {"uid": FOLDER_UID, "title": FOLDER_TITLE},
                    org_id=org.id,
                    done_if=(409, 412),
                )
            )
        if state.folder_permissions.get(org.id) != tuple(sorted(FOLDER_PERMISSIONS)):
            steps.append(
                Step(
                    f"set folder {FOLDER_TITLE!r} permissions in organization {org.id}: Viewer, Editor view",
                    "POST",
                    f"/api/folders/{FOLDER_UID}/permissions",
                    {"items": items},
                    org_id=org.id,
                )
            )
    if any(s.expect_org_id is not None for s in steps):
        steps += [
            Step(
                f"reload {kind} provisioning (the new organizations' files)",
                "POST",
                f"/api/admin/provisioning/{kind}/reload",
            )
            for kind in ("datasources", "dashboards")
        ]
    return steps


def _client(url: str, user: str, password: str, timeout_s: float) -> httpx.Client:
    return httpx.Client(base_url=url.rstrip("/"), auth=(user, password), timeout=timeout_s)


def _json(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise PulseError(f"Grafana {what}: HTTP {response.status_code} {response.text[:200]}")
    return response.json() if response.content else {}


def read_state(api: httpx.Client, desired: Sequence[Organization], admin_login: str) -> State:
    """Ask Grafana for what :func:`plan` compares (organization-scoped calls only where the admin is a member)."""
    orgs = _json(api.get("/api/orgs", params={"perpage": 1000}), "GET /api/orgs")
    known = {int(o["id"]) for o in orgs}
    members = (
        _json(api.get(f"/api/orgs/{ALL_DATA_ORG}/users"), "GET /api/orgs/1/users") if ALL_DATA_ORG in known else []
    )
    admin = _json(api.get("/api/users/lookup", params={"loginOrEmail": admin_login}), "GET /api/users/lookup")
    admin_orgs = _json(api.get(f"/api/users/{admin['id']}/orgs"), "GET /api/users/:id/orgs")
    member_of = {int(o["orgId"]) for o in admin_orgs}
    folders: dict[int, bool] = {}
    permissions: dict[int, Sequence[Mapping[str, Any]]] = {}
    for org in desired:
        if org.id not in member_of:
            continue
        headers = {"X-Grafana-Org-Id": str(org.id)}
        found = api.get(f"/api/folders/{FOLDER_UID}", headers=headers)
        folders[org.id] = found.status_code == 200
        if folders[org.id]:
            permissions[org.id] = _json(
                api.get(f"/api/folders/{FOLDER_UID}/permissions", headers=headers), "GET folder permissions"
            )
    return state_from_api(orgs, members, folders, permissions, admin_orgs)


def apply(api: httpx.Client, steps: Sequence[Step]) -> None:
    """Run the steps in order; a created organization must get the id the provisioning files name."""
    for step in steps:
        headers = {"X-Grafana-Org-Id": str(step.org_id)} if step.org_id is not None else {}
        response = api.request(step.method, step.path, json=step.body, headers=headers)
        if response.status_code in step.done_if:
            continue
        answer = _json(response, step.describe)
        if step.expect_org_id is not None and int(answer.get("orgId", -1)) != step.expect_org_id:
            raise PulseError(
                f"{step.describe}: Grafana gave it id {answer.get('orgId')}, the provisioning files name "
                f"{step.expect_org_id} (Grafana never reuses an id): change its id in access.yaml and regenerate"
            )


def read_and_plan(
    url: str, user: str, password: str, desired: Sequence[Organization], *, timeout_s: float = 10.0
) -> tuple[State, list[Step]]:
    """Read the state and compute the plan (nothing changed yet)."""
    with _client(url, user, password, timeout_s) as api:
        state = read_state(api, desired, user)
    return state, plan(desired, state, user)


def run(url: str, user: str, password: str, steps: Sequence[Step], *, timeout_s: float = 10.0) -> None:
    with _client(url, user, password, timeout_s) as api:
        apply(api, steps)
