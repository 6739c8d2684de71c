"""The values this chart hands the official Grafana chart: HA, the shared database and every name they refer to.

The Grafana chart is a dependency that cannot be fetched here (no Helm repository is reachable), so the offline
rendering never contains Grafana's own Deployment or Services: these tests check the values passed to it and the
objects this chart renders for it, not what the dependency makes of them. Each key under ``grafana:`` was checked
against the official chart's documented values, cited in ``DOCUMENTED`` below; a key added without a citation
fails ``test_every_key_handed_to_grafana_is_one_the_official_chart_documents``.
"""

from __future__ import annotations

import posixpath
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import PRODUCTION
from .tools import CHART, KUBE_VERSION, Helm, Manifest, by_kind, named

VALUES: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
PROD_VALUES: dict[str, Any] = yaml.safe_load(PRODUCTION.read_text())
GRAFANA: dict[str, Any] = VALUES["grafana"]
DATABASE: dict[str, Any] = VALUES["grafanaDatabase"]
RELEASE = "pulse"
# The dependency's fullname for release "pulse" (grafana.fullname: <release>-grafana).
GRAFANA_FULLNAME = f"{RELEASE}-grafana"

# Where each key is documented: grafana-community/helm-charts, charts/grafana/values.yaml at commit 309f281c
# (read with the search tools, December 2026), and for ports/env the pod template charts/grafana/templates/_pod.tpl.
UPSTREAM = "grafana-community/helm-charts@309f281c charts/grafana/values.yaml"
DOCUMENTED: dict[str, str] = {
    "enabled": "not a Grafana value: the dependency's condition in Chart.yaml (grafana.enabled)",
    "replicas": f"{UPSTREAM}: replicas (default 1)",
    "headlessService": f"{UPSTREAM}: headlessService ('Create a headless service'; templates/headless-service.yaml "
    "names it <fullname>-headless)",
    "plugins": f"{UPSTREAM}: plugins (list of plugin ids)",
    "sidecar": f"{UPSTREAM}: sidecar.dashboards|datasources|alerts.{{enabled,label,labelValue}}, "
    "sidecar.dashboards.{folder,defaultFolderName,folderAnnotation,provider.allowUiUpdates}",
    "envFromConfigMaps": f"{UPSTREAM}: envFromConfigMaps (list of {{name, optional, prefix}})",
    "envFromSecrets": f"{UPSTREAM}: envFromSecrets (list of {{name, optional, prefix}})",
    "extraConfigmapMounts": f"{UPSTREAM}: extraConfigmapMounts (name, mountPath, subPath, configMap, readOnly)",
    "extraSecretMounts": f"{UPSTREAM}: extraSecretMounts (name, mountPath, secretName, readOnly, subPath)",
    "envValueFrom": f"{UPSTREAM}: envValueFrom (name -> EnvVarSource rendered as valueFrom)",
    "grafana.ini": f"{UPSTREAM}: grafana.ini (map converted to ini; assertNoLeakedSecrets refuses literal "
    "passwords in it, so the database password comes from envValueFrom)",
    "podDisruptionBudget": f"{UPSTREAM}: podDisruptionBudget (minAvailable / maxUnavailable)",
    "resources": f"{UPSTREAM}: resources",
}
SIDECAR_KEYS = {"enabled", "label", "labelValue", "folder", "defaultFolderName", "folderAnnotation", "provider"}
# The official pod template already opens the gossip port and sets POD_IP (charts/grafana/templates/_pod.tpl:
# ports gossip-tcp/gossip-udp containerPort 9094, env POD_IP from status.podIP); values only point Grafana at them.
GOSSIP = "${POD_IP}:9094"


def test_every_key_handed_to_grafana_is_one_the_official_chart_documents() -> None:
    assert set(GRAFANA) == set(DOCUMENTED), "cite where the official chart documents a new key (DOCUMENTED)"
    for kind, sidecar in GRAFANA["sidecar"].items():
        assert kind in {"dashboards", "datasources", "alerts"}, kind
        assert set(sidecar) <= SIDECAR_KEYS, (kind, set(sidecar) - SIDECAR_KEYS)
    assert set(GRAFANA["sidecar"]["dashboards"]["provider"]) == {"allowUiUpdates"}
    for mount in GRAFANA["extraSecretMounts"]:
        assert set(mount) <= {"name", "mountPath", "secretName", "readOnly", "subPath"}, mount
    for mount in GRAFANA["extraConfigmapMounts"]:
        assert set(mount) <= {"name", "mountPath", "subPath", "configMap", "readOnly"}, mount


def test_grafana_is_on_by_default_and_runs_as_more_than_one_replica() -> None:
    assert GRAFANA["enabled"] is True
    assert PROD_VALUES["grafana"].get("enabled", GRAFANA["enabled"]) is True
    for values in (GRAFANA, {**GRAFANA, **PROD_VALUES["grafana"]}):
        assert values["replicas"] >= 2
        assert values["podDisruptionBudget"]["minAvailable"] < values["replicas"], "a node drain may move one"


def test_alertmanagers_gossip_over_the_headless_service_so_one_incident_pages_once() -> None:
    alerting = GRAFANA["grafana.ini"]["unified_alerting"]
    assert alerting["enabled"] is True
    assert GRAFANA["headlessService"] is True
    assert alerting["ha_peers"] == f"{GRAFANA_FULLNAME}-headless:9094"
    assert alerting["ha_listen_address"] == GOSSIP
    assert alerting["ha_advertise_address"] == GOSSIP


def secret_refs(values: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        name: (source["secretKeyRef"]["name"], source["secretKeyRef"]["key"])
        for name, source in values["envValueFrom"].items()
        if "secretKeyRef" in source
    }


def test_grafana_reads_its_database_from_the_chart_and_its_password_from_a_secret(
    default_docs: list[Manifest],
) -> None:
    config = named(default_docs, "ConfigMap", "pulse-grafana-database")["data"]
    assert {"name": "pulse-grafana-database"} in GRAFANA["envFromConfigMaps"]
    assert config["GF_DATABASE_TYPE"] == "postgres"
    assert secret_refs(GRAFANA)["GF_DATABASE_PASSWORD"] == (f"{DATABASE['name']}-app", "password")
    assert not {"database"} & set(GRAFANA["grafana.ini"]), "connection settings live in one place: the ConfigMap"
    # verify-full: the CA file Grafana is told to use is the one the mounted Secret holds.
    assert config["GF_DATABASE_SSL_MODE"] == "verify-full"
    (mount,) = [m for m in GRAFANA["extraSecretMounts"] if m["secretName"] == f"{DATABASE['name']}-ca"]
    assert posixpath.dirname(config["GF_DATABASE_CA_CERT_PATH"]) == mount["mountPath"]
    assert posixpath.basename(config["GF_DATABASE_CA_CERT_PATH"]) == "ca.crt" and mount["readOnly"] is True


def test_the_chart_deploys_a_replicated_postgresql_that_grafana_points_at(default_docs: list[Manifest]) -> None:
    (cluster,) = by_kind(default_docs, "Cluster")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["metadata"]["name"] == DATABASE["name"]
    spec = cluster["spec"]
    assert spec["instances"] >= 2, "a primary and a standby: Grafana survives losing either"
    assert spec["affinity"]["enablePodAntiAffinity"] is True
    config = named(default_docs, "ConfigMap", "pulse-grafana-database")["data"]
    assert config["GF_DATABASE_HOST"] == f"{DATABASE['name']}-rw:5432"  # CloudNativePG's read-write Service
    assert spec["bootstrap"]["initdb"] == {"database": config["GF_DATABASE_NAME"], "owner": config["GF_DATABASE_USER"]}
    assert {"requests", "limits"} <= set(spec["resources"])


def test_an_external_postgresql_replaces_the_cluster(helm: Helm) -> None:
    docs = helm.template(sets=["grafanaDatabase.deploy=false", "grafanaDatabase.external.host=pg.example:5433"])
    assert not by_kind(docs, "Cluster")
    assert named(docs, "ConfigMap", "pulse-grafana-database")["data"]["GF_DATABASE_HOST"] == "pg.example:5433"
    done = helm.run("template", "pulse", "--kube-version", "1.33.0", "--set", "grafanaDatabase.deploy=false")
    assert done.returncode != 0 and "grafanaDatabase.external.host is required" in done.stderr


def test_without_grafana_nothing_of_its_wiring_is_rendered(helm: Helm) -> None:
    docs = helm.template(sets=["grafana.enabled=false"])
    assert not by_kind(docs, "Cluster")
    assert not [c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"] == "pulse-grafana-database"]


# Secrets Grafana's values name that this chart does not render, and who makes each.
MADE_ELSEWHERE = {
    f"{DATABASE['name']}-app": "CloudNativePG (bootstrap.initdb owner), or you for an external database",
    f"{DATABASE['name']}-ca": "CloudNativePG (the cluster's CA), or you for an external database",
    "pulse-grafana-oauth": "you (secrets.grafanaOAuth: client-id, client-secret)",
}


@pytest.mark.parametrize("values", ["default", "production"])
def test_every_secret_and_configmap_grafana_names_exists(helm: Helm, values: str) -> None:
    """Each name in the values handed to Grafana is an object this release renders or one listed as made elsewhere."""
    docs = helm.template([PRODUCTION] if values == "production" else [])
    grafana = {**GRAFANA, **(PROD_VALUES["grafana"] if values == "production" else {})}
    rendered = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for ref in grafana["envFromConfigMaps"]:
        assert ("ConfigMap", ref["name"]) in rendered, ref
    for mount in grafana["extraConfigmapMounts"]:
        assert ("ConfigMap", mount["configMap"]) in rendered, mount
    secrets = [r["name"] for r in grafana["envFromSecrets"]]
    secrets += [m["secretName"] for m in grafana["extraSecretMounts"]]
    secrets += [name for name, _ in secret_refs(grafana).values()]
    production = PROD_VALUES["secrets"] if values == "production" else {}
    existing = {block["existingSecret"] for block in production.values() if block.get("existingSecret")}
    for name in secrets:
        assert ("Secret", name) in rendered or name in MADE_ELSEWHERE or name in existing, name


def notes(helm: Helm, tmp_path: Path, sets: list[str]) -> str:
    """NOTES.txt as `helm install` prints it (`helm template` skips it: wrapped in a ConfigMap of a copy)."""
    copy = tmp_path / "pulse"
    shutil.copytree(helm.chart, copy)
    shutil.copy(copy / "templates" / "NOTES.txt", copy / "notes.txt")
    wrapped = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
    wrapped += 'data:\n  notes: {{ tpl (.Files.Get "notes.txt") . | toJson }}\n'
    (copy / "templates" / "notes-as-configmap.yaml").write_text(wrapped)
    args = ["template", RELEASE, "--namespace", RELEASE, "--kube-version", KUBE_VERSION]
    args += ["--show-only", "templates/notes-as-configmap.yaml", *[a for s in sets for a in ("--set", s)]]
    done = Helm(helm.binary, copy).run(*args)
    assert done.returncode == 0, done.stderr
    rendered: str = yaml.safe_load(done.stdout)["data"]["notes"]
    return rendered


def test_notes_name_each_empty_contact_point_and_the_secrets_grafana_waits_for(helm: Helm, tmp_path: Path) -> None:
    default = notes(helm, tmp_path / "default", [])
    assert "secrets.alerting.pagerdutyKey (PULSE_ALERT_PAGERDUTY_KEY)" in default
    assert "pulse-grafana-oauth" in default and "CloudNativePG" in default
    filled = notes(helm, tmp_path / "filled", ["secrets.alerting.pagerdutyKey=pd", "secrets.alerting.adsEmails=a@x"])
    assert (
        "pagerdutyKey" not in filled and "adsEmails" not in filled and "webhookUrl (PULSE_ALERT_WEBHOOK_URL)" in filled
    )
    existing = notes(helm, tmp_path / "existing", ["secrets.alerting.existingSecret=vault-alerting"])
    assert "WARNING" not in existing
    external = notes(
        helm, tmp_path / "external", ["grafanaDatabase.deploy=false", "grafanaDatabase.external.host=pg:5432"]
    )
    assert "pulse-grafana-db-app (password)" in external and "pulse-grafana-db-ca (ca.crt)" in external
