"""The committed ``provisioning/`` files, read the way Grafana reads them (env-expanded), for the tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pulse.grafana.envexpand import expand

REPO = Path(__file__).resolve().parents[2]
PROVISIONING = REPO / "provisioning"


def provisioned(relative: str, env: Mapping[str, str] | None = None) -> Any:
    """``provisioning/<relative>`` after Grafana's ``os.ExpandEnv`` pass."""
    return expand(yaml.safe_load((PROVISIONING / relative).read_text()), env or {})


def provisioned_rule(uid: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A rule as Grafana loads it from the committed ``provisioning/alerting/rules.yaml``."""
    for group in provisioned("alerting/rules.yaml", env)["groups"]:
        for rule in group["rules"]:
            if rule["uid"] == uid:
                return dict(rule)
    raise KeyError(uid)
