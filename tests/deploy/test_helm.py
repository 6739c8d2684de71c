"""helm lint / template for the default and production values; Kubernetes schemas; values.schema.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import PRODUCTION
from .tools import CHART, KUBE_VERSION, Helm, Manifest, Tools, by_kind

# Custom resources have no schema in kubernetes-validate (it ships only the built-in API); they are
# skipped in schema validation on purpose, and the test asserts it saw them so the skip stays visible.
CRD_GROUPS = {
    "kafka.strimzi.io",  # Kafka, KafkaNodePool, KafkaTopic, KafkaUser
    "clickhouse.altinity.com",  # ClickHouseInstallation
    "clickhouse-keeper.altinity.com",  # ClickHouseKeeperInstallation
    "cert-manager.io",  # Certificate
    "monitoring.coreos.com",  # ServiceMonitor, PodMonitor
    "postgresql.cnpg.io",  # Cluster (Grafana's shared database)
}
VALUE_SETS: dict[str, tuple[list[Path], list[str]]] = {
    "default": ([], []),
    "production": ([PRODUCTION], []),
    "external-endpoints": (
        [],
        [
            "kafka.deploy=false",
            "kafka.external.bootstrapServers=kafka-0.example:9093",
            "clickhouse.deploy=false",
            "clickhouse.external.url=https://ch.example:8443",
            "redis.deploy=false",
            "redis.external.url=rediss://redis.example:6379/0",
            "s3.endpointUrl=https://minio.example",
        ],
    ),
    "cert-manager": ([], ["tls.certManager.enabled=true"]),
    "no-tls": ([], ["tls.enabled=false"]),
}


def api_group(obj: Manifest) -> str:
    api: str = obj["apiVersion"]
    return api.split("/")[0] if "/" in api else ""


@pytest.mark.parametrize("values", [[], [PRODUCTION]], ids=["default", "production"])
def test_helm_lint_passes(tools: Tools, helm: Helm, values: list[Path]) -> None:
    args = ["lint", "--kube-version", KUBE_VERSION] + [a for v in values for a in ("-f", str(v))]
    # The real chart: the unfetched dependencies may only be a warning, never an error.
    real = helm.run(*args, chart=CHART)
    assert real.returncode == 0, real.stdout + real.stderr
    assert "[ERROR]" not in real.stdout, real.stdout
    warnings = [line for line in real.stdout.splitlines() if line.startswith("[WARNING]")]
    assert all("missing these dependencies: grafana,minio" in w for w in warnings), warnings
    # The offline copy (dependencies stripped) is clean even under --strict.
    strict = helm.run(*args, "--strict")
    assert strict.returncode == 0, strict.stdout + strict.stderr


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_helm_template_renders(helm: Helm, name: str) -> None:
    values, sets = VALUE_SETS[name]
    docs = helm.template(values, sets)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "Job", "PodDisruptionBudget", "HorizontalPodAutoscaler"} <= kinds
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), "duplicate objects"


def test_unvendored_dependencies_are_declared_and_never_rendered_here(
    offline: tuple[Path, list[dict[str, Any]]], default_docs: list[Manifest]
) -> None:
    """Grafana is on by default (an install runs `helm dependency build` first); MinIO is opt-in.

    The offline copy has no charts/, so nothing here renders the dependencies' own objects: their values are
    checked instead (test_grafana_dependency.py), and this test keeps the rendering honest about that.
    """
    _, removed = offline
    deps = {d["name"]: d for d in removed}
    assert deps["grafana"]["repository"] == "https://grafana-community.github.io/helm-charts"
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    production = yaml.safe_load(PRODUCTION.read_text())
    for dep in removed:
        key = dep["condition"].split(".")[0]
        assert dep["condition"] == f"{key}.enabled"
    assert defaults["grafana"]["enabled"] is True and production["grafana"].get("enabled", True) is True
    assert defaults["minio"]["enabled"] is False and production.get("minio", {}).get("enabled", False) is False
    assert not (CHART / "charts").exists(), "dependencies are not vendored"
    from_dependency = [
        d for d in default_docs if d["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "grafana"
    ]
    assert not from_dependency, "the offline rendering must not pretend to contain the Grafana chart's objects"


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_rendered_manifests_match_kubernetes_schemas(helm: Helm, name: str) -> None:
    values, sets = VALUE_SETS[name]
    docs = helm.template(values, sets)
    skipped = {d["kind"] for d in docs if api_group(d) in CRD_GROUPS}
    checked = 0
    for doc in docs:
        if api_group(doc) in CRD_GROUPS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
        checked += 1
    assert checked >= 15
    if name != "external-endpoints":
        assert {"Kafka", "KafkaTopic", "ClickHouseInstallation", "ServiceMonitor"} <= skipped


def test_values_schema_is_valid_json_schema_and_covers_values() -> None:
    import jsonschema

    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(defaults, schema)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("s3.sse=DES", "s3/sse"),
        ("collector.port=80", "collector/port"),
        ("containerSecurityContext.readOnlyRootFilesystem=false", "readOnlyRootFilesystem"),
        ("kafka.topics.ads.partitions=0", "partitions"),
        ("colector.replicas=3", "colector"),
        ("ingestion.mode=flink", "ingestion/mode"),
        ("grafanaDatabase.sslMode=prefer", "grafanaDatabase/sslMode"),
        ("clickhouse.cluster=a cluster", "clickhouse/cluster"),
    ],
)
def test_values_schema_rejects_bad_values(helm: Helm, bad: str, message: str) -> None:
    done = helm.run("template", "pulse", "--kube-version", KUBE_VERSION, "--set", bad)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


def test_every_native_kind_has_recommended_labels(default_docs: list[Manifest]) -> None:
    for doc in default_docs:
        labels = doc["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/instance") == "pulse", doc["metadata"]["name"]
        assert labels.get("app.kubernetes.io/part-of") == "pulse", doc["metadata"]["name"]
    assert by_kind(default_docs, "ServiceAccount")
