"""The chart configures the services through the one Settings object: every collector setting has a value,
every PULSE_* variable it sets is a real setting, TLS files point into mounted Secrets, and write keys are
bootstrapped from a Secret by an idempotent hook Job."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, get_origin

import pytest
from pydantic import BaseModel

from pulse.settings import CollectorSettings, Settings

from .test_policy import containers, test_every_container_has_requests_and_limits, test_every_container_is_hardened
from .tools import Helm, Manifest, by_kind, named, workload_pod_spec

PULSE_SERVICES = ("pulse-collector", "pulse-loader", "pulse-hot-layer", "pulse-archiver")
# Not a setting: the Secret-backed variable Kubernetes expands inside PULSE_REDIS__URL.
EXPANSION_ONLY = {"PULSE_REDIS_PASSWORD"}
# Collector settings the chart sets on purpose to something other than the code's default.
CHART_OVERRIDES = {"host", "workers", "tls_certfile", "tls_keyfile", "tracking_plans"}
TLS_FILE_VARIABLES = (
    "PULSE_KAFKA__SSL_CAFILE",
    "PULSE_KAFKA__SSL_CERTFILE",
    "PULSE_KAFKA__SSL_KEYFILE",
    "PULSE_CLICKHOUSE__CA_CERT",
    "PULSE_REDIS__SSL_CA_CERTS",
    "PULSE_S3__CA_BUNDLE",
    "PULSE_COLLECTOR__TLS_CERTFILE",
    "PULSE_COLLECTOR__TLS_KEYFILE",
)
KEYS_SECRET = "pulse-write-keys"
REPO = Path(__file__).resolve().parents[2]


def setting_variables(model: type[BaseModel] = Settings, prefix: str = "PULSE_") -> set[str]:
    """Every variable pydantic-settings reads: PULSE_<FIELD>, nested sections joined by ``__``."""
    names = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= setting_variables(annotation, f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
            if get_origin(annotation) is dict:  # one entry per key: PULSE_API__PASSWORDS__<USER>
                names.add(f"{prefix}{name.upper()}__*")
    return names


def is_setting(variable: str, known: set[str]) -> bool:
    return variable in known or any(k.endswith("__*") and variable.startswith(k[:-1]) for k in known)


def container_env(obj: Manifest, index: int = 0) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in obj["spec"]["template"]["spec"]["containers"][index]["env"]}


def test_every_collector_setting_is_a_chart_value(rendered: list[Manifest]) -> None:
    env = container_env(named(rendered, "Deployment", "pulse-collector"))
    missing = sorted(f"PULSE_COLLECTOR__{f.upper()}" for f in CollectorSettings.model_fields) - env.keys()
    assert not missing, f"collector settings with no chart mapping (values.yaml + _helpers.tpl): {missing}"


def test_every_variable_the_chart_sets_is_a_setting(rendered: list[Manifest]) -> None:
    """A misspelt or removed key would be ignored silently (extra="ignore"): here it fails."""
    known = setting_variables()
    for obj in rendered:
        for _, c in containers(obj):
            variables = {e["name"] for e in c.get("env", []) if e["name"].startswith("PULSE_")} - EXPANSION_ONLY
            unknown = {v for v in variables if not is_setting(v, known)}
            assert not unknown, f"{obj['metadata']['name']}/{c['name']}: not settings: {sorted(unknown)}"


def test_the_chart_values_are_valid_settings_and_default_like_the_code(
    default_docs: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = container_env(named(default_docs, "Deployment", "pulse-collector"))
    for name, entry in env.items():
        value = entry.get("value", "from-a-secret")
        monkeypatch.setenv(name, value.replace("$(PULSE_REDIS_PASSWORD)", "pw"))
    settings = Settings()  # raises on a value the service would refuse at start
    defaults = CollectorSettings()
    drift = {
        field: (getattr(settings.collector, field), getattr(defaults, field))
        for field in CollectorSettings.model_fields
        if field not in CHART_OVERRIDES and getattr(settings.collector, field) != getattr(defaults, field)
    }
    assert not drift, f"values.yaml defaults differ from settings.py (chart, code): {drift}"
    assert settings.stack.host == "0.0.0.0", "metrics servers must listen on the pod IP for probes"


def _mounted(obj: Manifest, container: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """The volume whose mount holds ``path`` in this container, and the file name inside it."""
    spec = workload_pod_spec(obj) or {}
    folder, name = str(PurePosixPath(path).parent), PurePosixPath(path).name
    mount = next((m for m in container["volumeMounts"] if m["mountPath"] == folder), None)
    assert mount is not None, f"{obj['metadata']['name']}: {path} is not in a mounted volume"
    assert mount.get("readOnly") is True, f"{obj['metadata']['name']}: {folder} should be mounted read-only"
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    return volume, name


EXTERNAL = [
    "kafka.deploy=false",
    "kafka.external.bootstrapServers=k.example:9093",
    "redis.deploy=false",
    "redis.external.url=rediss://r.example:6379/0",
    "clickhouse.deploy=false",
    "clickhouse.external.url=https://ch.example:8443",
]


@pytest.mark.parametrize("sets", [[], ["tls.s3UsesCaSecret=true"], EXTERNAL], ids=["default", "s3-ca", "external"])
def test_tls_files_come_from_mounted_secrets(helm: Helm, sets: list[str]) -> None:
    docs = helm.template(sets=sets)
    # What each Secret holds: cert-manager/kubernetes.io/tls (tls.crt, tls.key, ca.crt), Strimzi (ca.crt; user.*).
    holds = {"ca.crt", "tls.crt", "tls.key", "user.crt", "user.key"}
    for name in (*PULSE_SERVICES, "pulse-migrate-"):
        obj = next(d for d in docs if d["kind"] in {"Deployment", "Job"} and d["metadata"]["name"].startswith(name))
        container = obj["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["PULSE_KAFKA__SECURITY_PROTOCOL"] == "SSL"
        for variable in TLS_FILE_VARIABLES:
            path = env[variable]
            if not path or (variable.startswith("PULSE_COLLECTOR__") and name != "pulse-collector"):
                continue  # the server certificate is only read by `pulse collector serve`
            volume, file = _mounted(obj, container, path)
            assert "secret" in volume, f"{name}: {variable} is not from a Secret"
            items = [i["path"] for i in volume["secret"].get("items", [])]
            assert file in (items or holds), f"{name}: {variable}={path} but the Secret volume projects {items}"
    collector = container_env(named(docs, "Deployment", "pulse-collector"))
    assert collector["PULSE_COLLECTOR__TLS_CERTFILE"]["value"] == "/etc/pulse/tls/collector/tls.crt"
    assert bool(collector["PULSE_S3__CA_BUNDLE"]["value"]) is ("tls.s3UsesCaSecret=true" in sets)


def test_tls_off_means_plaintext_settings_and_no_certificate_volumes(helm: Helm) -> None:
    docs = helm.template(sets=["tls.enabled=false"])
    for name in PULSE_SERVICES:
        dep = named(docs, "Deployment", name)
        env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["PULSE_KAFKA__SECURITY_PROTOCOL"] == "PLAINTEXT"
        assert all(env[v] == "" for v in TLS_FILE_VARIABLES), name
        assert env["PULSE_REDIS__URL"].startswith("redis://") and env["PULSE_CLICKHOUSE__URL"].startswith("http://")
        volumes = dep["spec"]["template"]["spec"]["volumes"]
        assert {v["name"] for v in volumes if "configMap" not in v} == {"tmp"}, "no certificate volume"


def test_the_collector_reads_the_repository_tracking_plans_from_a_mounted_config_map(
    default_docs: list[Manifest],
) -> None:
    collector = named(default_docs, "Deployment", "pulse-collector")
    (container,) = collector["spec"]["template"]["spec"]["containers"]
    folder = container_env(collector)["PULSE_COLLECTOR__TRACKING_PLANS"]["value"]
    volume, _ = _mounted(collector, container, f"{folder}/any.yaml")
    config = named(default_docs, "ConfigMap", volume["configMap"]["name"])
    plans = sorted((REPO / "provisioning" / "tracking-plans").glob("*.yaml"))
    assert plans and {p.name: p.read_text() for p in plans} == config["data"]
    assert collector["spec"]["template"]["metadata"]["annotations"]["checksum/tracking-plans"]


def test_write_keys_are_bootstrapped_from_a_secret_by_a_hook_job(helm: Helm, default_docs: list[Manifest]) -> None:
    assert not [j for j in by_kind(default_docs, "Job") if "-keys-" in j["metadata"]["name"]], "no Secret: no Job"
    docs = helm.template(
        sets=[
            f"collector.bootstrapKeys.existingSecret={KEYS_SECRET}",
            "collector.bootstrapKeys.rateLimitEventsPerS=5000",
        ]
    )
    (job,) = [j for j in by_kind(docs, "Job") if j["metadata"]["name"].startswith("pulse-keys-")]
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"  # in-chart Redis exists by then
    assert int(annotations["helm.sh/hook-weight"]) > 5  # after the migrations hook
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][:3] == ["keys", "import", "/etc/pulse/keys"]
    assert container["args"][3:] == ["--rate", "5000", "--wait-s", "300"]
    volume, _ = _mounted(job, container, "/etc/pulse/keys/any-source")
    assert volume["secret"]["secretName"] == KEYS_SECRET
    # Same configuration (Redis URL, password, CA) as the collector that will look the keys up.
    collector = named(docs, "Deployment", "pulse-collector")
    assert container_env(job) == container_env(collector)
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/etc/pulse/tls/redis", "/tmp"}
    # The same policy as every workload: resources, hardening; and it may reach Redis.
    test_every_container_has_requests_and_limits([job])
    test_every_container_is_hardened([job])
    egress = named(docs, "NetworkPolicy", "pulse-egress")["spec"]["podSelector"]["matchExpressions"][0]
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] in egress["values"]
    assert "pulse-write-keys" not in {s["metadata"]["name"] for s in by_kind(docs, "Secret")}, "never chart-made"
