"""Policy over rendered manifests: resources, probes, hardening, PDBs, secrets, rollout and hooks."""

from __future__ import annotations

import base64
import json
from typing import Any

import yaml

from .conftest import SENTINEL_PASSWORD, SENTINEL_SETS
from .tools import CHART, Helm, Manifest, by_kind, migrate_job, named, workload_pod_spec

PULSE_SERVICES = ("pulse-collector", "pulse-loader", "pulse-hot-layer", "pulse-archiver")


def containers(obj: Manifest) -> list[tuple[str, dict[str, Any]]]:
    spec = workload_pod_spec(obj)
    if spec is None:
        return []
    out = [("init", c) for c in spec.get("initContainers", [])]
    return out + [("main", c) for c in spec["containers"]]


def plain_env(docs: list[Manifest], deployment: str) -> dict[str, str | None]:
    """name -> literal value (None for Secret-backed variables) of a Deployment's first container."""
    container = named(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def workloads(docs: list[Manifest]) -> list[Manifest]:
    return [d for d in docs if workload_pod_spec(d) is not None]


def test_every_container_has_requests_and_limits(rendered: list[Manifest]) -> None:
    for obj in workloads(rendered):
        for _, c in containers(obj):
            res = c.get("resources", {})
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(part, {})), f"{obj['metadata']['name']}/{c['name']} {part}"


def test_every_long_running_container_has_probes(rendered: list[Manifest]) -> None:
    for obj in workloads(rendered):
        if obj["kind"] in {"Job", "CronJob"}:
            continue  # run to completion: no probes
        for role, c in containers(obj):
            if role == "init":
                continue
            where = f"{obj['metadata']['name']}/{c['name']}"
            assert "readinessProbe" in c, where
            assert "livenessProbe" in c, where


def test_every_container_is_hardened(rendered: list[Manifest]) -> None:
    for obj in workloads(rendered):
        pod = workload_pod_spec(obj) or {}
        pod_sc = pod.get("securityContext", {})
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", obj["metadata"]["name"]
        for _, c in containers(obj):
            sc = c.get("securityContext", {})
            where = f"{obj['metadata']['name']}/{c['name']}"
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not sc.get("privileged", False), where


def test_read_only_root_has_a_writable_tmp(default_docs: list[Manifest]) -> None:
    for name in PULSE_SERVICES:
        dep = named(default_docs, "Deployment", name)
        pod = dep["spec"]["template"]["spec"]
        tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp
        mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert "/tmp" in mounts
        assert pod["securityContext"]["runAsUser"] == 10001


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_every_replicated_workload_has_a_pdb(rendered: list[Manifest]) -> None:
    hpa_targets = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"]["minReplicas"]
        for h in by_kind(rendered, "HorizontalPodAutoscaler")
    }
    pdbs = by_kind(rendered, "PodDisruptionBudget")
    for obj in rendered:
        if obj["kind"] not in {"Deployment", "StatefulSet"}:
            continue
        replicas = obj["spec"].get("replicas", hpa_targets.get(obj["metadata"]["name"], 1))
        if replicas <= 1:
            continue
        labels = obj["spec"]["template"]["metadata"]["labels"]
        assert any(selects(p["spec"]["selector"], labels) for p in pdbs), obj["metadata"]["name"]


def test_secret_values_appear_only_in_secrets(sentinel_text: str) -> None:
    docs = [d for d in yaml.safe_load_all(sentinel_text) if d]
    encoded = base64.b64encode(SENTINEL_PASSWORD.encode()).decode()
    found_in_secrets = 0
    for doc in docs:
        text = json.dumps(doc)
        if doc["kind"] == "Secret":
            found_in_secrets += sum(
                SENTINEL_PASSWORD in base64.b64decode(v).decode() for v in doc.get("data", {}).values()
            )
            continue
        assert SENTINEL_PASSWORD not in text, f"{doc['kind']}/{doc['metadata']['name']} leaks a secret"
        assert encoded[:16] not in text, f"{doc['kind']}/{doc['metadata']['name']} leaks an encoded secret"
    assert found_in_secrets == len(SENTINEL_SETS)
    collector = named(docs, "Deployment", "pulse-collector")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in collector["env"]}
    for key in ("PULSE_CLICKHOUSE__PASSWORD", "PULSE_S3__SECRET_ACCESS_KEY", "PULSE_REDIS_PASSWORD"):
        assert "secretKeyRef" in env[key]["valueFrom"], key
    # The Redis URL refers to the Secret-backed variable, defined before it (Kubernetes expansion order).
    names = list(env)
    assert "$(PULSE_REDIS_PASSWORD)" in env["PULSE_REDIS__URL"]["value"]
    assert names.index("PULSE_REDIS_PASSWORD") < names.index("PULSE_REDIS__URL")


def test_existing_secrets_are_used_and_not_created(helm: Helm) -> None:
    docs = helm.template(
        sets=[
            "secrets.clickhouse.existingSecret=vault-ch",
            "secrets.redis.existingSecret=vault-redis",
            "secrets.s3.existingSecret=vault-s3",
            "secrets.alerting.existingSecret=vault-alerting",
            "secrets.access.existingSecret=vault-access",
            *SENTINEL_SETS,
        ]
    )
    assert SENTINEL_PASSWORD not in json.dumps(docs), "values ignored when existingSecret is set"
    created = {s["metadata"]["name"] for s in by_kind(docs, "Secret")}
    assert created == {"pulse-datasources"}
    refs = set()
    for obj in workloads(docs):
        for _, c in containers(obj):
            for e in c.get("env", []):
                if "secretKeyRef" in e.get("valueFrom", {}):
                    refs.add(e["valueFrom"]["secretKeyRef"]["name"])
    # The data source users' passwords (Grafana, ClickHouse, the read API): secrets.access.existingSecret.
    assert refs == {"vault-ch", "vault-redis", "vault-s3", "vault-access"}
    chi = by_kind(docs, "ClickHouseInstallation")[0]
    assert chi["spec"]["configuration"]["users"]["pulse/k8s_secret_password"] == "vault-ch/password"
    (server,) = chi["spec"]["templates"]["podTemplates"][0]["spec"]["containers"]
    access = {e["valueFrom"]["secretKeyRef"]["name"] for e in server["env"] if e["name"].startswith("PULSE_ACCESS_")}
    assert access == {"vault-access"}


def test_collector_rolls_out_without_downtime(rendered: list[Manifest]) -> None:
    dep = named(rendered, "Deployment", "pulse-collector")
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + 10
    assert c["args"] == ["collector", "serve"]


def test_collector_autoscales_on_cpu_and_requests_per_second(rendered: list[Manifest]) -> None:
    hpa = named(rendered, "HorizontalPodAutoscaler", "pulse-collector")
    assert hpa["apiVersion"] == "autoscaling/v2"
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Pods"]["pods"]["metric"]["name"] == "pulse_collector_requests_per_second"
    assert "replicas" not in named(rendered, "Deployment", "pulse-collector")["spec"], "the HPA owns replicas"


def test_consumers_probe_their_metrics_port(rendered: list[Manifest]) -> None:
    for name, args in (
        ("pulse-loader", ["loader", "run"]),
        ("pulse-hot-layer", ["hot", "run"]),
        ("pulse-archiver", ["archive", "run"]),
    ):
        c = named(rendered, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        assert c["args"] == args
        assert c["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
        assert any(p["name"] == "metrics" for p in c["ports"])


def test_migrations_run_as_a_hook_before_upgrades(helm: Helm, default_docs: list[Manifest]) -> None:
    job = migrate_job(default_docs)
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][0] == "migrate"
    # In-chart ClickHouse only exists after the first install; upgrades always migrate first.
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    external = helm.template(sets=["clickhouse.deploy=false", "clickhouse.external.url=https://ch.example:8443"])
    job = migrate_job(external)
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    # What the hook needs exists before it: the ServiceAccount and the chart-made Secrets are earlier hooks.
    for obj in by_kind(external, "Secret")[:-1] + by_kind(external, "ServiceAccount"):
        # Grafana's and the ClickHouse data source users', not the hook's
        if obj["metadata"]["name"] in {"pulse-datasources", "pulse-grafana-alerting", "pulse-clickhouse-access"}:
            continue
        assert int(obj["metadata"]["annotations"]["helm.sh/hook-weight"]) < 5


def test_kafka_is_replicated_and_topics_follow_values(helm: Helm, default_docs: list[Manifest]) -> None:
    kafka = by_kind(default_docs, "Kafka")[0]
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert kafka["spec"]["kafka"]["config"]["default.replication.factor"] == 3
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    pools = {p["metadata"]["name"]: p["spec"] for p in by_kind(default_docs, "KafkaNodePool")}
    assert pools["broker"]["replicas"] == 3 and pools["broker"]["roles"] == ["broker"]
    assert pools["controller"]["roles"] == ["controller"]
    topics = {t["spec"]["topicName"] for t in by_kind(default_docs, "KafkaTopic")}
    assert topics == {f"pulse.{f}" for f in ("interactions", "content", "ads", "identities", "deadletter")}
    docs = helm.template(sets=["kafka.topics.ads.partitions=7"])
    ads = next(t for t in by_kind(docs, "KafkaTopic") if t["spec"]["topicName"] == "pulse.ads")
    assert ads["spec"]["partitions"] == 7
    assert ads["spec"]["config"]["min.insync.replicas"] == 2


def test_clickhouse_has_replicas_and_keeper(production_docs: list[Manifest]) -> None:
    chi = by_kind(production_docs, "ClickHouseInstallation")[0]
    layout = chi["spec"]["configuration"]["clusters"][0]["layout"]
    assert layout["replicasCount"] == 2 and layout["shardsCount"] >= 2
    keeper = by_kind(production_docs, "ClickHouseKeeperInstallation")[0]
    assert keeper["spec"]["configuration"]["clusters"][0]["layout"]["replicasCount"] == 3
    assert chi["spec"]["configuration"]["zookeeper"]["nodes"][0]["host"] == f"keeper-{keeper['metadata']['name']}"


def test_redis_has_replicas_and_sentinels(default_docs: list[Manifest]) -> None:
    sts = named(default_docs, "StatefulSet", "pulse-redis")
    assert sts["spec"]["replicas"] == 3
    assert {c["name"] for c in sts["spec"]["template"]["spec"]["containers"]} == {"redis", "sentinel"}


def test_each_store_switches_to_an_existing_endpoint(external_docs: list[Manifest]) -> None:
    kinds = {d["kind"] for d in external_docs}
    assert not kinds & {"Kafka", "ClickHouseInstallation", "StatefulSet"}
    env = plain_env(external_docs, "pulse-loader")
    assert env["PULSE_KAFKA__BOOTSTRAP_SERVERS"] == "k.example:9093"
    assert env["PULSE_CLICKHOUSE__URL"] == "https://ch.example:8443"
    assert env["PULSE_REDIS__URL"] == "rediss://:$(PULSE_REDIS_PASSWORD)@r.example:6379/0"


def test_tls_on_every_hop_by_default(default_docs: list[Manifest]) -> None:
    env = plain_env(default_docs, "pulse-collector")
    assert env["PULSE_KAFKA__SECURITY_PROTOCOL"] == "SSL"
    assert str(env["PULSE_CLICKHOUSE__URL"]).startswith("https://")
    assert str(env["PULSE_REDIS__URL"]).startswith("rediss://")
    assert env["PULSE_S3__SSE"] == "AES256"
    listeners = by_kind(default_docs, "Kafka")[0]["spec"]["kafka"]["listeners"]
    assert all(listener["tls"] for listener in listeners)


def test_network_policies_and_monitors_exist(default_docs: list[Manifest]) -> None:
    assert len(by_kind(default_docs, "NetworkPolicy")) >= 3
    monitors = {m["metadata"]["name"] for m in by_kind(default_docs, "ServiceMonitor")}
    assert {"pulse-collector", "pulse-loader", "pulse-hot-layer", "pulse-archiver"} <= monitors
    for m in by_kind(default_docs, "ServiceMonitor"):
        assert m["apiVersion"] == "monitoring.coreos.com/v1"


def test_grafana_content_is_sidecar_labelled(default_docs: list[Manifest]) -> None:
    dashboards = sorted((CHART / "files" / "dashboards" / "pulse").glob("*/*.json"))
    maps = [c for c in by_kind(default_docs, "ConfigMap") if c["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert len(maps) == len(dashboards) >= 1, "one ConfigMap per dashboard file of each organization"
    shipped = set()
    for cm in maps:
        ((name, content),) = cm["data"].items()
        folder = cm["metadata"]["annotations"]["k8s-sidecar-target-directory"]
        assert json.loads(content) == json.loads((CHART / "files/dashboards/pulse" / folder / name).read_text())
        shipped.add((folder, name))
    assert shipped == {(p.parent.name, p.name) for p in dashboards}
    providers = named(default_docs, "ConfigMap", "pulse-grafana-dashboard-providers")["data"]["pulse.yaml"]
    assert yaml.safe_load(providers) == yaml.safe_load((CHART / "files/dashboards/pulse.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())["grafana"]
    (mount,) = [m for m in values["extraConfigmapMounts"] if m["configMap"] == "pulse-grafana-dashboard-providers"]
    for provider in yaml.safe_load(providers)["providers"]:
        assert provider["options"]["path"].startswith(values["sidecar"]["dashboards"]["folder"] + "/")
    assert mount["mountPath"] == "/etc/grafana/provisioning/dashboards/pulse.yaml"
    alerts = [c for c in by_kind(default_docs, "ConfigMap") if c["metadata"]["labels"].get("grafana_alert") == "1"]
    assert len(alerts) == 1 and len(alerts[0]["data"]) == len(list((CHART / "files" / "alerting").glob("*.yaml")))
    sources = [s for s in by_kind(default_docs, "Secret") if s["metadata"]["labels"].get("grafana_datasource") == "1"]
    assert len(sources) == 1


def test_example_grafana_files_are_valid_and_hold_no_password() -> None:
    # Generated by `pulse grafana generate` (tests/grafana proves them in depth).
    board = json.loads((CHART / "files" / "dashboards" / "pulse" / "pulse_admin" / "pipeline-health.json").read_text())
    sqls = [t["rawSql"] for p in board["panels"] for t in p.get("targets") or [] if "rawSql" in t]
    assert any("FROM events" in sql for sql in sqls)
    assert all(p["title"] and p["description"] for p in board["panels"] if p["type"] != "row")
    alerting = yaml.safe_load((CHART / "files" / "alerting" / "rules.yaml").read_text())
    rule = alerting["groups"][0]["rules"][0]
    assert rule["condition"] in {d["refId"] for d in rule["data"]}
    assert rule["annotations"]["runbook_url"].endswith("#pulsefreshnesshigh")
    for path in (CHART / "files" / "datasources").glob("*.yaml"):
        for ds in yaml.safe_load(path.read_text())["datasources"]:
            for key, value in ds.get("secureJsonData", {}).items():
                assert str(value).startswith("$__env{"), f"{path.name}: {ds['name']} {key} is a literal"


def test_grafana_oauth_maps_groups_to_roles_strictly() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    ini = (CHART / "files" / "access" / "grafana.ini").read_text()  # the chart's, as GF_* (test_grafana_wiring)
    assert ini.count("role_attribute_strict = true") == 2 and "auto_assign_org = false" in ini
    assert {"grafana-clickhouse-datasource", "redis-datasource"} <= set(values["grafana"]["plugins"])
    assert not any("SECRET" in k and "value" in v for k, v in values["grafana"].get("env", {}).items())
