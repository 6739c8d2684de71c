"""Routing pages the right person: Alertmanager's own router (amtool) over the generated policy tree.

The provisioned ``notifications.yaml`` is converted to an Alertmanager config (tests/support/alertmanager.py)
and ``amtool config routes test`` routes one alert per team x severity, and one per provisioned rule.
What stands in: amtool routes, it does not notify (contact points and templates are Grafana's).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from pulse.grafana import discover
from tests.support.alertmanager import alertmanager_config
from tests.support.go_tools import go_tools
from tests.support.provisioning import provisioned

CONFIG = discover.module("config")
SEVERITIES = ("critical", "warning", "info")
AUDIT = "audit-webhook"
#: Who hears of an alert, by team and severity: the on-call contract the policy tree must implement.
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("platform", "critical"): {AUDIT, "platform-pagerduty"},
    ("platform", "warning"): {AUDIT, "platform-slack"},
    ("platform", "info"): {"platform-slack"},
    **{("ads", s): {AUDIT, "ads-email", "business-slack"} for s in ("critical", "warning")},
    ("ads", "info"): {"ads-email", "business-slack"},
    **{("growth", s): {AUDIT, "business-slack"} for s in ("critical", "warning")},
    ("growth", "info"): {"business-slack"},
    # Finance has no channel of its own: platform hears of it (not only the audit log).
    **{("finance", s): {AUDIT, "platform-slack"} for s in ("critical", "warning")},
    ("finance", "info"): {"platform-slack"},
}


@pytest.fixture(scope="module")
def amtool() -> Path:
    return go_tools("amtool")["amtool"]


@pytest.fixture(scope="module")
def am_config(tmp_path_factory: pytest.TempPathFactory, amtool: Path) -> Path:
    path = tmp_path_factory.mktemp("alertmanager") / "alertmanager.yml"
    path.write_text(yaml.safe_dump(alertmanager_config(provisioned("alerting/notifications.yaml"))))
    checked = subprocess.run([str(amtool), "check-config", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return path


def receivers(amtool: Path, config: Path, labels: dict[str, str]) -> set[str]:
    done = subprocess.run(
        [str(amtool), "config", "routes", "test", f"--config.file={config}", *(f"{k}={v}" for k, v in labels.items())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.strip().split(","))


def test_the_contract_covers_every_team_and_severity() -> None:
    assert set(EXPECTED) == {(team, severity) for team in CONFIG.TEAMS for severity in SEVERITIES}


@pytest.mark.parametrize(("team", "severity"), sorted(EXPECTED))
def test_each_team_and_severity_reaches_its_receivers(amtool: Path, am_config: Path, team: str, severity: str) -> None:
    labels = {"alertname": "PulseRoutingProbe", "grafana_folder": CONFIG.FOLDER, "team": team, "severity": severity}
    assert receivers(amtool, am_config, labels) == EXPECTED[(team, severity)]


def test_every_provisioned_rule_reaches_a_person(amtool: Path, am_config: Path) -> None:
    for group in provisioned("alerting/rules.yaml")["groups"]:
        for rule in group["rules"]:
            labels = {"alertname": rule["title"], "grafana_folder": group["folder"], **rule["labels"]}
            got = receivers(amtool, am_config, labels)
            assert got == EXPECTED[(labels["team"], labels["severity"])], rule["title"]
            assert got - {AUDIT}, f"{rule['title']} reaches only the audit log"
