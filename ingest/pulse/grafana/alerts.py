"""The alert rule groups and the notification routing: ``grafana/alerts/*.py`` and ``grafana/routing.py``.

Each module of ``grafana/alerts/`` exposes ``GROUP`` (an :class:`~pulse.grafana.alerting.Group`);
``grafana/routing.py`` exposes ``ROUTING``. Found by discovery, like the dashboards.
"""

from __future__ import annotations

from pulse.grafana.alerting import Group, Routing, Rule
from pulse.grafana.discover import attribute, module, modules

_BY_NAME: dict[str, Group] = {name: attribute(m, "GROUP", Group) for name, m in modules("alerts").items()}
#: The pipeline's rules first: whether the business rules can be trusted depends on them.
GROUPS: tuple[Group, ...] = (_BY_NAME["pipeline"], *(g for name, g in _BY_NAME.items() if name != "pipeline"))
ROUTING: Routing = attribute(module("routing"), "ROUTING", Routing)


def all_rules() -> tuple[Rule, ...]:
    return tuple(rule for group in GROUPS for rule in group.rules)


def rule(uid: str) -> Rule:
    return next(r for r in all_rules() if r.uid == uid)
