"""docker-compose.yml: valid against the Compose Specification and configured like the chart."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml

from .tools import COMPOSE_FILE, REPO, Manifest, Tools, migrate_job, named

PULSE_SERVICES = {
    "collector": "pulse-collector",
    "loader": "pulse-loader",
    "hot": "pulse-hot-layer",
    "archiver": "pulse-archiver",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def test_compose_file_matches_the_compose_specification(tools: Tools, compose: dict[str, Any]) -> None:
    schema = json.loads(tools.compose_schema.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_compose_schema_rejects_a_broken_file(tools: Tools) -> None:
    """Guard against a vacuous schema: a misspelt key must fail."""
    schema = json.loads(tools.compose_schema.read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"services": {"x": {"image": "a", "enviroment": {}}}}, schema)


def pulse_keys(env: dict[str, Any] | list[str]) -> set[str]:
    names = env.keys() if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
    return {n for n in names if n.startswith("PULSE_")}


def test_compose_uses_the_same_pulse_keys_as_the_chart(compose: dict[str, Any], default_docs: list[Manifest]) -> None:
    for service, deployment in PULSE_SERVICES.items():
        container = named(default_docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]
        chart_keys = {e["name"] for e in container["env"] if e["name"].startswith("PULSE_")}
        compose_keys = pulse_keys(compose["services"][service]["environment"])
        only_chart, only_compose = sorted(chart_keys - compose_keys), sorted(compose_keys - chart_keys)
        assert compose_keys == chart_keys, f"{service}: only in chart {only_chart}, only in compose {only_compose}"
    migrate_keys = pulse_keys(compose["services"]["migrate"]["environment"])
    job = migrate_job(default_docs)["spec"]["template"]["spec"]["containers"][0]
    assert migrate_keys == {e["name"] for e in job["env"]}


def test_compose_runs_the_services_like_the_chart(compose: dict[str, Any], default_docs: list[Manifest]) -> None:
    for service, deployment in PULSE_SERVICES.items():
        svc = compose["services"][service]
        container = named(default_docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]
        assert svc["command"] == container["args"]
        assert svc["read_only"] is True
        assert svc["user"] == "10001:10001"
        assert svc["cap_drop"] == ["ALL"]
    assert compose["services"]["migrate"]["command"][0] == "migrate"


def test_compose_grafana_has_plugins_and_chart_provisioning(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    plugins = set(grafana["environment"]["GF_INSTALL_PLUGINS"].split(","))
    assert plugins == {"grafana-clickhouse-datasource", "redis-datasource"}
    mounts = [v.split(":")[0] for v in grafana["volumes"] if v.startswith("./")]
    wanted = {f"./provisioning/{d}" for d in ("datasources", "alerting", "dashboards")}
    assert wanted <= set(mounts)
    for mount in mounts:
        assert (REPO / mount).is_dir(), mount


def test_compose_uses_official_images(compose: dict[str, Any]) -> None:
    images = {name: svc.get("image", "") for name, svc in compose["services"].items()}
    assert images["kafka"].startswith("apache/kafka:")
    assert images["clickhouse"].startswith("clickhouse/clickhouse-server:")
    assert images["redis"].startswith("redis:")
    assert images["minio"].startswith("minio/minio")
    assert images["grafana"].startswith("grafana/grafana:")
    assert compose["services"]["migrate"]["build"] == "."
