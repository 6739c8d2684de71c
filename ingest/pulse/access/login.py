"""What Grafana does with a login's claims under a grafana.ini: which organizations, with which role, or refused.

Grafana cannot run here, so this is its logic ported, applied to the generated file: the stand-in that
shows every IdP group lands in its organization and a user in no mapped group in none. Sources
(Grafana 12): ``pkg/login/social/connectors/social_base.go`` (``extractRoleAndAdminOptional``,
``searchRole``, ``extractOrgs``), ``org_role_mapper.go`` (``ParseOrgMappingSettings``, ``MapOrgRoles``,
``splitOrgMapping``), ``generic_oauth.go`` (strict: no organization -> login refused) and
``pkg/util/strings.go`` (``SplitString``). ``role_attribute_path`` is JMESPath, evaluated with the
``jmespath`` library as Grafana evaluates it with its Go port. Not covered: ``org_mapping`` by organization
*name* (Pulse names ids), the ``*`` wildcards (Pulse uses none), GrafanaAdmin (not allowed).
"""

from __future__ import annotations

import configparser
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

ROLES = ("Viewer", "Editor", "Admin")  # ascending: Admin includes Editor includes Viewer


@dataclass(frozen=True, slots=True)
class LoginConfig:
    """The keys of one auth section that decide organizations and roles."""

    role_attribute_path: str
    role_attribute_strict: bool
    org_attribute_path: str
    org_mapping: str
    auto_assign_org: bool
    auto_assign_org_id: int
    auto_assign_org_role: str

    @classmethod
    def from_ini(cls, text: str, section: str) -> LoginConfig:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(text)
        auth = parser[section]
        users = parser["users"] if parser.has_section("users") else {}
        return cls(
            role_attribute_path=auth.get("role_attribute_path", ""),
            role_attribute_strict=auth.get("role_attribute_strict", "false").lower() == "true",
            org_attribute_path=auth.get("org_attribute_path", ""),
            org_mapping=auth.get("org_mapping", ""),
            auto_assign_org=str(users.get("auto_assign_org", "true")).lower() == "true",
            auto_assign_org_id=int(users.get("auto_assign_org_id", "1")),
            auto_assign_org_role=str(users.get("auto_assign_org_role", "Viewer")),
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    refused: str | None  # why the login is refused, or None
    org_roles: dict[int, str]


def split_string(text: str) -> list[str]:
    """Grafana's ``util.SplitString``: a JSON list, or items separated by commas and whitespace."""
    if not text:
        return []
    if text.strip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            return []
        return [str(i) for i in items] if isinstance(items, list) else []
    return text.replace(",", " ").split()


def split_org_mapping(mapping: str) -> list[str]:
    """``splitOrgMapping``: split on unescaped ``:`` (``\\:`` is a literal colon); more than 3 parts is invalid."""
    parts: list[str] = []
    current = ""
    i = 0
    while i < len(mapping):
        char = mapping[i]
        if char == ":":
            parts.append(current)
            current = ""
        elif char == "\\" and i + 1 < len(mapping) and mapping[i + 1] == ":":
            current += ":"
            i += 1
        else:
            current += char
        i += 1
    parts.append(current)
    return parts if len(parts) <= 3 else []


def _includes(role: str, other: str) -> bool:
    return role in ROLES and other in ROLES and ROLES.index(role) >= ROLES.index(other)


def top_role(current: str, other: str) -> str:
    """``getTopRole``: the one that includes the other (``current`` when it does)."""
    if current == "":
        return other
    return current if _includes(current, other) else other


def parse_org_mapping(mappings: Sequence[str], strict: bool) -> dict[str, dict[int, str]]:
    """``ParseOrgMappingSettings`` for ids: strict turns any bad entry into no mapping at all."""
    result: dict[str, dict[int, str]] = {}
    for entry in mappings:
        parts = split_org_mapping(entry)
        if not 1 < len(parts) < 4:
            if strict:
                return {}
            continue
        try:
            org_id = int(parts[1])
        except ValueError:  # an organization name: Grafana looks it up; Pulse maps ids only
            if strict:
                return {}
            continue
        if strict and (len(parts) < 3 or parts[2] not in ROLES):
            return {}
        role = parts[2] if len(parts) > 2 and parts[2] in ROLES else "Viewer"
        result.setdefault(parts[0], {})[org_id] = role
    return result


def search_role(path: str, claims: Mapping[str, Any], groups: Sequence[str]) -> str:
    """``searchRole``: the path over the claims, then over ``{"groups": [...]}``; title-cased like Grafana."""
    for document in (claims, {"groups": list(groups)}):
        try:
            found = jmespath.search(path, document)
        except JMESPathError:
            found = None
        if isinstance(found, str) and found:
            return found[:1].upper() + found[1:].lower()
    return ""


def string_list(path: str, claims: Mapping[str, Any]) -> list[str]:
    """``SearchJSONForStringSliceAttr``: a list of strings at ``path`` (a lone string counts as one)."""
    try:
        found = jmespath.search(path, claims)
    except JMESPathError:
        return []
    if isinstance(found, str):
        return [found]
    return [str(item) for item in found] if isinstance(found, list) else []


def map_login(config: LoginConfig, claims: Mapping[str, Any], groups: Sequence[str] = ()) -> Outcome:
    """Organizations and roles of a login with these claims, or why it is refused."""
    role = ""
    if not config.role_attribute_path:
        if config.role_attribute_strict:
            return Outcome("role_attribute_path not set and role_attribute_strict is set", {})
    else:
        role = search_role(config.role_attribute_path, claims, groups)
        if role and role not in ROLES:
            return Outcome(f"invalid role: {role}", {})
        if not role and config.role_attribute_strict:
            return Outcome("the IdP returned no role attribute and role_attribute_strict is set", {})
    external = string_list(config.org_attribute_path, claims) if config.org_attribute_path else []
    mapping = parse_org_mapping(split_string(config.org_mapping), config.role_attribute_strict)
    org_roles = _map_org_roles(config, mapping, external, role)
    if config.role_attribute_strict and not org_roles:
        return Outcome("could not evaluate any valid roles using IdP provided data", {})
    return Outcome(None, org_roles)


def _map_org_roles(
    config: LoginConfig, mapping: dict[str, dict[int, str]], external: list[str], role: str
) -> dict[int, str]:
    """``MapOrgRoles``: the mapped organizations (top role with the direct one), else the default organization."""
    mapped: dict[int, str] = {}
    for group in external:
        for org_id, org_role in mapping.get(group, {}).items():
            mapped[org_id] = top_role(mapped.get(org_id, ""), org_role)
    if not mapping or not mapped:
        if config.role_attribute_strict and role not in ROLES:
            return {}
        # cfg.DefaultOrgID(): auto_assign_org off does not keep a user with a role out of organization 1
        default = config.auto_assign_org_id if config.auto_assign_org and config.auto_assign_org_id > 0 else 1
        return {default: role if role in ROLES else config.auto_assign_org_role}
    if role:
        mapped = {org_id: top_role(role, org_role) for org_id, org_role in mapped.items()}
    return mapped
