"""The read API in the chart: a Deployment running `pulse api run` as every data source user, its Service,
PDB, ServiceMonitor and NetworkPolicy, the access definition it maps callers through, passwords from a Secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pulse.settings import Settings

from .test_policy import containers
from .test_settings_mapping import container_env
from .tools import KUBE_VERSION, Helm, Manifest, by_kind, named

REPO = Path(__file__).resolve().parents[2]
USERS = sorted(p.stem for p in (REPO / "provisioning/access/clickhouse/users.d").glob("*.xml"))


def test_the_api_runs_with_a_password_from_the_secret_for_every_data_source_user(default_docs: list[Manifest]) -> None:
    deployment = named(default_docs, "Deployment", "pulse-api")
    (container,) = (c for _, c in containers(deployment))
    assert container["args"] == ["api", "run"]
    env = container_env(deployment)
    passwords = {k.removeprefix("PULSE_API__PASSWORDS__").lower(): v for k, v in env.items() if "PASSWORDS__" in k}
    assert sorted(passwords) == USERS and len(USERS) >= 2
    for user, entry in passwords.items():
        assert entry["valueFrom"]["secretKeyRef"] == {
            "name": "pulse-clickhouse-access",
            "key": f"PULSE_ACCESS_{user.upper()}_PASSWORD",
        }
    assert env["PULSE_API__ISSUER"]["value"].startswith("https://")
    assert env["PULSE_API__DEFINITION"]["value"] == "/etc/pulse/access/access.yaml"


def test_the_api_maps_callers_through_the_committed_access_definition(default_docs: list[Manifest]) -> None:
    config = named(default_docs, "ConfigMap", "pulse-api-access")
    assert config["data"]["access.yaml"].strip() == (REPO / "provisioning/access/access.yaml").read_text().strip()
    pod = named(default_docs, "Deployment", "pulse-api")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "access")
    assert volume["configMap"]["name"] == "pulse-api-access"


def test_the_chart_settings_of_the_api_are_valid(default_docs: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, entry in container_env(named(default_docs, "Deployment", "pulse-api")).items():
        monkeypatch.setenv(name, entry.get("value", "from-a-secret").replace("$(PULSE_REDIS_PASSWORD)", "pw"))
    settings = Settings()
    assert sorted(settings.api.passwords) == USERS
    assert settings.api.port == 8090 and settings.api.tls_certfile is not None


def test_the_api_is_served_scraped_and_protected(default_docs: list[Manifest]) -> None:
    service = named(default_docs, "Service", "pulse-api")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    monitor = named(default_docs, "ServiceMonitor", "pulse-api")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics" and endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"]["serverName"].startswith("pulse-api.")
    assert named(default_docs, "PodDisruptionBudget", "pulse-api")["spec"]["minAvailable"] >= 1
    policy = named(default_docs, "NetworkPolicy", "pulse-api")
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]
    egress = named(default_docs, "NetworkPolicy", "pulse-egress")
    assert "api" in egress["spec"]["podSelector"]["matchExpressions"][0]["values"]


def test_cert_manager_issues_the_api_its_certificate(production_docs: list[Manifest]) -> None:
    certificates = {c["spec"]["secretName"]: c for c in by_kind(production_docs, "Certificate")}
    assert "pulse-api.pulse.svc" in certificates["pulse-api-tls"]["spec"]["dnsNames"]


@pytest.mark.parametrize(("sets", "present"), [([], True), (["api.enabled=false"], False)])
def test_the_api_can_be_left_out(helm: Helm, sets: list[str], present: bool) -> None:
    docs = helm.template(sets=sets)
    names: set[Any] = {d["metadata"]["name"] for d in docs if d["kind"] in {"Deployment", "Service", "ServiceMonitor"}}
    assert ("pulse-api" in names) is present


def test_an_api_without_an_issuer_does_not_render(helm: Helm) -> None:
    done = helm.run("template", "pulse", "--kube-version", KUBE_VERSION, "--set", "api.issuer=")
    assert done.returncode != 0
    assert "api" in done.stderr and "issuer" in done.stderr
