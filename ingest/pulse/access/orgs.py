"""The Grafana side of the access definition: one organization per data source user, and the login mapping to it.

Grafana OSS has no data source permissions: a member of an organization can query every data source
of it. So the organization is the boundary: each holds one ClickHouse data source (its user's), and
the IdP group of that user maps to it through ``org_mapping``. ``role_attribute_path`` only admits a
user who is in one of those groups (Viewer, the lowest role: Grafana keeps the higher of it and the
organization's role), and ``role_attribute_strict`` refuses everyone else, so nobody lands in an
organization the definition does not name (``auto_assign_org`` is off too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pulse.access.definition import AccessDefinition, Grantee
from pulse.errors import PulseError

#: What a mapped group gets from role_attribute_path: the floor; org_mapping gives the real role.
ADMITTED = "Viewer"
#: The claim holding the IdP groups, in the ID token, the userinfo answer and the JWT alike.
GROUPS_CLAIM = "groups"


@dataclass(frozen=True, slots=True)
class Organization:
    id: int
    name: str
    group: str
    role: str  # Grafana basic role of the group's members in this organization
    grantee: Grantee

    @property
    def folder(self) -> str:
        """The provisioning folder of this organization's dashboards (under dashboards/pulse/)."""
        return self.grantee.user


def organizations(definition: AccessDefinition) -> list[Organization]:
    """The organizations of ``definition.grafana``, in id order."""
    if definition.grafana is None:
        raise PulseError("the access definition has no grafana.organizations: Grafana cannot be generated from it")
    grantees = {g.user: g for g in definition.grantees()}
    found = []
    for org in sorted(definition.grafana.organizations, key=lambda o: o.id):
        grantee = grantees[org.user]
        role = definition.roles[grantee.role].grafana_role
        assert role is not None  # checked by AccessDefinition._check_organizations
        found.append(Organization(org.id, f"Pulse — {grantee.title}", org.group, role, grantee))
    return found


def org_mapping(orgs: list[Organization]) -> str:
    """``[auth.generic_oauth] org_mapping``: ``<group>:<org id>:<role>``, space-separated (Grafana's SplitString)."""
    return " ".join(f"{org.group}:{org.id}:{org.role}" for org in orgs)


def role_attribute_path(orgs: list[Organization]) -> str:
    """JMESPath: the floor role for a member of any mapped group, nothing (refused, strict) for anyone else."""
    return " || ".join(f"contains({GROUPS_CLAIM}[*], '{org.group}') && '{ADMITTED}'" for org in orgs)


def login_settings(orgs: list[Organization]) -> dict[str, Any]:
    """The keys [auth.generic_oauth] and [auth.jwt] share: groups -> organizations and roles, strictly."""
    return {
        "groups_attribute_path": GROUPS_CLAIM,
        "org_attribute_path": GROUPS_CLAIM,
        "org_mapping": org_mapping(orgs),
        "role_attribute_path": role_attribute_path(orgs),
        "role_attribute_strict": True,
        "allow_assign_grafana_admin": False,
        "skip_org_role_sync": False,
    }
