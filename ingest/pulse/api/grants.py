"""From a verified caller to the one data source it runs as, through the access definition Grafana uses.

The role and department claims are mapped to the definition's names (``settings.api.role_groups`` /
``department_groups``; a name of the definition itself also counts), and the pair picks a rendered
ClickHouse user (:meth:`AccessDefinition.grantees`). A caller with several roles gets the first in
the definition's order (Admin before Manager before Analyst), as Grafana's first matching group wins.
Whatever the definition does not give the caller is refused here, with the reason, before the
warehouse sees a query; the ClickHouse user's grants enforce the same again in the engine.
"""

from __future__ import annotations

from pulse.access.definition import AccessDefinition, Grantee
from pulse.api.tokens import Caller
from pulse.settings import ApiSettings


class Forbidden(Exception):
    """The caller may not do this: 403 with the reason."""


def _mapped(values: tuple[str, ...], mapping: dict[str, str], known: list[str]) -> list[str]:
    names = {mapping.get(value, value) for value in values}
    return [name for name in known if name in names]  # in the definition's order


def data_source(definition: AccessDefinition, settings: ApiSettings, caller: Caller) -> Grantee:
    """The grantee (ClickHouse user) a caller runs as, or :class:`Forbidden` saying what is missing."""
    roles = _mapped(caller.roles, settings.role_groups, list(definition.roles))
    if not roles:
        raise Forbidden(
            f"the token's {settings.role_claim!r} claim names no Pulse role "
            f"(expected one of {', '.join(sorted(settings.role_groups))} or a role name)"
        )
    role = roles[0]
    grantees = definition.grantees()
    if definition.roles[role].scope == "global":
        return next(g for g in grantees if g.role == role and g.department is None)
    departments = _mapped(caller.departments, settings.department_groups, list(definition.departments))
    if not departments:
        raise Forbidden(
            f"role {role} reads one department's data, and the token's {settings.department_claim!r} claim "
            f"names none (expected one of {', '.join(sorted(settings.department_groups))} or a department name)"
        )
    if len(departments) > 1:
        raise Forbidden(
            f"role {role} in several departments ({', '.join(departments)}): which data is meant is unclear"
        )
    found = [g for g in grantees if g.role == role and g.department == departments[0]]
    if not found:
        raise Forbidden(f"department {departments[0]} has no data source for role {role}")
    return found[0]


def check_query(grantee: Grantee, name: str) -> None:
    """Refuse a named query the grantee's data source does not run."""
    if name not in grantee.runnable:
        raise Forbidden(
            f"{grantee.title} (ClickHouse user {grantee.user}) may not run {name}: "
            "it is not among that data source's queries in the access definition"
        )
