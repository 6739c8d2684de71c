"""Grafana's wiring in the chart: every variable the provisioning files reference has its key, from values/Secrets.

Grafana expands ``$VAR`` / ``${VAR}`` / ``$__env{VAR}`` in the files the chart ships (``files/`` ->
``provisioning/``); a reference without a key in Grafana's environment becomes an empty string at start-up
(a contact point without endpoint, a data source without URL). Also: the ServiceMonitors' job labels are the
ones the component-down rules select, and Strimzi's exporter runs the rules file ``pulse stack`` runs.
"""

from __future__ import annotations

import base64
import configparser
import re
from typing import Any

import yaml

from pulse import content
from pulse.access.definition import load
from pulse.access.orgs import organizations
from pulse.grafana import discover
from pulse.stack import kafka as kafka_stack
from tests.support.provisioning import PROVISIONING

from .conftest import PRODUCTION
from .tools import CHART, Helm, Manifest, by_kind, named

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
PROD_VALUES = yaml.safe_load(PRODUCTION.read_text())
SENTINEL = "https://hooks.example/S3ntinel-webhook-do-not-leak"
ORGS = organizations(load(PROVISIONING / "access/access.yaml"))


def references(relative: str) -> tuple[set[str], set[str]]:
    """Plain ``$VAR``/``${VAR}`` references and ``$__env{VAR}`` ones of a provisioning file."""
    text = (PROVISIONING / relative).read_text()
    env = set(re.findall(r"\$__env\{(\w+)\}", text))
    plain = {a or b for a, b in re.findall(r"(?<!\$)\$(?:\{(PULSE_\w+)\}|(PULSE_\w+))", text)}
    return plain, env


def secret_data(doc: Manifest) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}


def test_every_contact_point_variable_is_a_key_of_the_alerting_secret(default_docs: list[Manifest]) -> None:
    plain, _ = references("alerting/notifications.yaml")
    assert plain and all(name.startswith("PULSE_ALERT_") for name in plain), plain
    secret = named(default_docs, "Secret", "pulse-grafana-alerting")
    assert set(secret_data(secret)) == plain
    assert {"name": "pulse-grafana-alerting"} in VALUES["grafana"]["envFromSecrets"]


def test_every_datasource_variable_comes_from_the_env_configmap_or_a_secret(default_docs: list[Manifest]) -> None:
    plain, env = references("datasources/pulse.yaml")
    config = named(default_docs, "ConfigMap", "pulse-grafana-env")
    assert set(config["data"]) == plain
    users = {f"PULSE_ACCESS_{org.grantee.user.upper()}_PASSWORD" for org in ORGS}
    assert env & users == users, "every organization's data source user has its password variable"
    assert env - users <= set(VALUES["grafana"]["envValueFrom"]), "secrets come from envValueFrom (secretKeyRef)"
    assert {"name": "pulse-clickhouse-access"} in VALUES["grafana"]["envFromSecrets"], "data source users' passwords"
    assert {"name": "pulse-grafana-env"} in VALUES["grafana"]["envFromConfigMaps"]
    assert config["data"]["PULSE_GRAFANA_PROMETHEUS_URL"] == VALUES["grafanaContent"]["prometheusUrl"]


def test_prometheus_url_and_endpoints_come_from_values_and_stay_in_secrets(helm: Helm) -> None:
    sets = [
        "grafanaContent.prometheusUrl=http://prometheus.observability.svc:9090",
        f"secrets.alerting.slackPlatformWebhook={SENTINEL}",
        "secrets.alerting.pagerdutyKey=pd-key",
    ]
    text = helm.template_text(sets=sets)
    docs = [d for d in yaml.safe_load_all(text) if d]
    config = named(docs, "ConfigMap", "pulse-grafana-env")
    assert config["data"]["PULSE_GRAFANA_PROMETHEUS_URL"] == "http://prometheus.observability.svc:9090"
    data = secret_data(named(docs, "Secret", "pulse-grafana-alerting"))
    assert data["PULSE_ALERT_SLACK_PLATFORM_WEBHOOK"] == SENTINEL
    assert data["PULSE_ALERT_PAGERDUTY_KEY"] == "pd-key"
    assert SENTINEL not in text, "endpoints are only ever base64 inside the Secret"


def test_external_endpoints_reach_grafana(external_docs: list[Manifest]) -> None:
    data = named(external_docs, "ConfigMap", "pulse-grafana-env")["data"]
    assert data["PULSE_GRAFANA_CLICKHOUSE_HOST"] == "ch.example"
    assert data["PULSE_GRAFANA_REDIS_URL"] == "rediss://r.example:6379/0"


def test_production_names_an_existing_alerting_secret_that_grafana_takes(production_docs: list[Manifest]) -> None:
    existing = PROD_VALUES["secrets"]["alerting"]["existingSecret"]
    assert existing
    assert not [d for d in by_kind(production_docs, "Secret") if d["metadata"]["name"] == "pulse-grafana-alerting"]
    default: list[dict[str, Any]] = VALUES["grafana"]["envFromSecrets"]
    envs = PROD_VALUES.get("grafana", {}).get("envFromSecrets", default)
    assert {"name": existing} in envs


def test_service_monitors_set_the_jobs_the_down_rules_select(default_docs: list[Manifest]) -> None:
    jobs = discover.module("config").JOBS
    rules = "\n".join(
        r.query.expr for g in discover.modules("alerts").values() for r in g.GROUP.rules if hasattr(r.query, "expr")
    )
    found: dict[str, Manifest] = {}
    endpoints = [(m, e) for m in by_kind(default_docs, "ServiceMonitor") for e in m["spec"]["endpoints"]]
    endpoints += [(m, e) for m in by_kind(default_docs, "PodMonitor") for e in m["spec"]["podMetricsEndpoints"]]
    for monitor, endpoint in endpoints:
        relabel = [r for r in endpoint.get("relabelings", []) if r.get("targetLabel") == "job"]
        assert len(relabel) == 1, monitor["metadata"]["name"]
        found[relabel[0]["replacement"]] = monitor
    # kafka-exporter (consumer groups) is scraped too; no Pulse rule reads it.
    assert set(found) == {*jobs.values(), "pulse-kafka-exporter"}
    for job in jobs.values():
        assert f'up{{job="{job}"}}' in rules, f"no down rule selects job {job}"
    cluster = by_kind(default_docs, "Kafka")[0]["metadata"]["name"]
    brokers = found[jobs["kafka"]]["spec"]
    assert brokers["selector"]["matchLabels"]["strimzi.io/name"] == f"{cluster}-kafka"  # Strimzi's node pods
    assert brokers["podMetricsEndpoints"][0]["port"] == "tcp-prometheus"


def test_the_chart_logs_in_exactly_as_the_generated_grafana_ini_says(default_docs: list[Manifest]) -> None:
    """files/access/grafana.ini reaches Grafana as GF_<SECTION>_<KEY> variables: no hand-kept copy in values."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string((PROVISIONING / "access/grafana.ini").read_text())
    expected = {
        f"GF_{section.upper().replace('.', '_')}_{key.upper()}": value
        for section in parser.sections()
        for key, value in parser[section].items()
    }
    expected = {name: value for name, value in expected.items() if value != "${" + name + "}"}  # from envValueFrom
    data = named(default_docs, "ConfigMap", "pulse-grafana-ini")["data"]
    assert {k: v for k, v in data.items() if k.startswith("GF_")} == expected
    assert data["GF_AUTH_GENERIC_OAUTH_ORG_MAPPING"].split() == [f"{o.group}:{o.id}:{o.role}" for o in ORGS]
    assert data["PULSE_OIDC_ISSUER"] == VALUES["grafanaContent"]["oidcIssuer"]
    assert data["PULSE_GRAFANA_ROOT_URL"] == VALUES["grafanaContent"]["rootUrl"]
    assert {"name": "pulse-grafana-ini"} in VALUES["grafana"]["envFromConfigMaps"]
    assert not {"auth", "auth.generic_oauth", "auth.jwt", "users"} & set(VALUES["grafana"]["grafana.ini"]), (
        "values keep no second copy of the login settings"
    )
    for name in ("GF_AUTH_GENERIC_OAUTH_CLIENT_ID", "GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET"):
        assert name not in data and name in VALUES["grafana"]["envValueFrom"]


def test_strimzi_runs_the_exporter_rules_pulse_stack_runs(default_docs: list[Manifest]) -> None:
    """One rules file: the chart's metricsConfig ConfigMap carries the package's, which the broker rules read."""
    kafka = by_kind(default_docs, "Kafka")[0]["spec"]["kafka"]
    ref = kafka["metricsConfig"]["valueFrom"]["configMapKeyRef"]
    config_map = next(c for c in by_kind(default_docs, "ConfigMap") if c["metadata"]["name"] == ref["name"])
    shipped = yaml.safe_load(config_map["data"][ref["key"]])
    assert shipped == yaml.safe_load((content.folder("pulse.stack") / kafka_stack.RULES).read_text())
