"""SSO and roles: generic OAuth2/OIDC with group -> role mapping, folders per department.

Grafana OSS maps IdP groups to the basic roles (``role_attribute_path``, strict) but cannot
provision teams or folder permissions from files (Enterprise only): ``permissions.yaml`` is the
desired state and ``pulse grafana apply-permissions`` applies it through the HTTP API. The groups,
teams and folders are data in ``grafana/config.py``; this module has their types and file shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from pulse.errors import PulseError

#: IdP group -> Grafana basic role, first match wins (the groups and roles themselves: ``grafana/config.py``).
GroupRoles = Sequence[tuple[str, str]]
Permission = Literal["View", "Edit", "Admin"]
_LEVEL = {"View": 1, "Edit": 2, "Admin": 4}


@dataclass(frozen=True)
class Grant:
    """A permission on a folder, for a team (named after its IdP group) or a basic role."""

    permission: Permission
    team: str | None = None
    role: str | None = None

    def to_file(self) -> dict[str, str]:
        who = {"team": self.team} if self.team is not None else {"role": str(self.role)}
        return {**who, "permission": self.permission}


def team(name: str, permission: Permission) -> Grant:
    return Grant(permission, team=name)


def role(name: str, permission: Permission) -> Grant:
    return Grant(permission, role=name)


@dataclass(frozen=True, kw_only=True)
class Folder:
    uid: str
    title: str
    grants: Sequence[Grant]

    def to_file(self) -> dict[str, Any]:
        return {"uid": self.uid, "title": self.title, "permissions": [g.to_file() for g in self.grants]}


def role_attribute_path(group_roles: GroupRoles) -> str:
    """JMESPath over the ID token / userinfo: the first matching group wins; no group -> no login (strict)."""
    clauses = [f"contains(groups[*], '{group}') && '{role}'" for group, role in group_roles]
    return " || ".join(clauses)


def grafana_ini(group_roles: GroupRoles) -> dict[str, dict[str, Any]]:
    """The ``grafana.ini`` sections (also the Helm chart's ``grafana.grafana.ini``); secrets via env."""
    mapping = role_attribute_path(group_roles)
    return {
        # The audit's Grafana half (OSS has no audit log): every HTTP request, every plugin query with its user.
        "server": {"root_url": "${PULSE_GRAFANA_ROOT_URL}", "router_logging": True},
        "plugins": {"log_backend_requests": True},
        "auth": {"disable_login_form": True, "oauth_auto_login": True, "oauth_allow_insecure_email_lookup": False},
        "auth.basic": {"enabled": False},
        "auth.anonymous": {"enabled": False},
        "users": {"allow_sign_up": False, "auto_assign_org": True, "auto_assign_org_role": "Viewer"},
        "auth.generic_oauth": {
            "enabled": True,
            "name": "Pulse SSO",
            "allow_sign_up": True,
            "auto_login": True,
            "client_id": "${GF_AUTH_GENERIC_OAUTH_CLIENT_ID}",
            "client_secret": "${GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET}",
            "scopes": "openid profile email groups",
            "auth_url": "${PULSE_OIDC_ISSUER}/authorize",
            "token_url": "${PULSE_OIDC_ISSUER}/token",
            "api_url": "${PULSE_OIDC_ISSUER}/userinfo",
            "use_pkce": True,
            "use_refresh_token": True,
            "groups_attribute_path": "groups",
            "role_attribute_path": mapping,
            "role_attribute_strict": True,
            "allow_assign_grafana_admin": False,
            "skip_org_role_sync": False,
        },
        "auth.jwt": {
            "enabled": True,
            "header_name": "X-JWT-Assertion",
            "username_claim": "sub",
            "email_claim": "email",
            "jwk_set_url": "${PULSE_OIDC_ISSUER}/jwks",
            "role_attribute_path": mapping,
            "role_attribute_strict": True,
            "auto_sign_up": True,
        },
    }


def desired_state(*, group_roles: GroupRoles, teams: Sequence[str], folders: Sequence[Folder]) -> dict[str, Any]:
    """``permissions.yaml``: what ``apply_permissions`` converges a Grafana to."""
    return {
        "apiVersion": 1,
        "groupRoles": [{"group": g, "role": r} for g, r in group_roles],
        "teams": list(teams),
        "folders": [f.to_file() for f in folders],
    }


def apply_permissions(url: str, token: str, state: dict[str, Any], *, dry_run: bool = False) -> list[str]:
    """Create teams and folders, then set each folder's permission list (replaces it, so it converges)."""
    actions: list[str] = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as api:

        def call(method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
            actions.append(f"{method} {path}")
            if dry_run:
                return {}
            response = api.request(method, path, json=body)
            if response.status_code not in ok:
                raise PulseError(f"{method} {path}: {response.status_code} {response.text[:200]}")
            return response.json() if response.content else {}

        team_ids: dict[str, int] = {}
        for team in state["teams"]:
            found = call("GET", "/api/teams/search", None) if not dry_run else {}
            match = [t for t in found.get("teams", []) if t.get("name") == team]
            team_ids[team] = match[0]["id"] if match else call("POST", "/api/teams", {"name": team}).get("teamId", 0)
        for folder in state["folders"]:
            call("POST", "/api/folders", {"uid": folder["uid"], "title": folder["title"]}, ok=(200, 409, 412))
            items = []
            for grant in folder["permissions"]:
                item: dict[str, Any] = {"permission": _LEVEL[grant["permission"]]}
                if "team" in grant:
                    item["teamId"] = team_ids[grant["team"]]
                else:
                    item["role"] = grant["role"]
                items.append(item)
            call("POST", f"/api/folders/{folder['uid']}/permissions", {"items": items})
    return actions
