"""The TLS settings, as the chart and docker-compose set them, become the right client options, and every
client constructor in the package goes through pulse.tls (so a new client cannot forget TLS)."""

from __future__ import annotations

import ast
import ssl
from pathlib import Path

import pytest

from pulse.errors import PulseError
from pulse.settings import Settings
from pulse.tls import clickhouse_options, kafka_options, rdkafka_options, redis_options, s3_verify, uvicorn_ssl_options

from .pki import Pki

PACKAGE = Path(__file__).resolve().parents[2] / "ingest" / "pulse"


def chart_env(pki: Pki, monkeypatch: pytest.MonkeyPatch, **extra: str) -> Settings:
    """Settings read from the variables the chart sets with tls.enabled (files at our PKI's paths)."""
    env = {
        "PULSE_KAFKA__SECURITY_PROTOCOL": "SSL",
        "PULSE_KAFKA__SSL_CAFILE": str(pki.ca),
        "PULSE_KAFKA__SSL_CERTFILE": str(pki.client_cert),
        "PULSE_KAFKA__SSL_KEYFILE": str(pki.client_key),
        "PULSE_CLICKHOUSE__URL": "https://ch.example:8443",
        "PULSE_CLICKHOUSE__PASSWORD": "pw",
        "PULSE_CLICKHOUSE__CA_CERT": str(pki.ca),
        "PULSE_REDIS__URL": "rediss://:pw@redis.example:6379/0",
        "PULSE_REDIS__SSL_CA_CERTS": str(pki.ca),
        "PULSE_S3__CA_BUNDLE": str(pki.ca),
        "PULSE_COLLECTOR__TLS_CERTFILE": str(pki.server_cert),
        "PULSE_COLLECTOR__TLS_KEYFILE": str(pki.server_key),
        **extra,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_chart_tls_variables_become_client_options(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = chart_env(pki, monkeypatch)
    kafka = kafka_options(settings.kafka)
    context = kafka["ssl_context"]
    assert kafka["security_protocol"] == "SSL"
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "pulse-test-ca"),),)]
    assert redis_options(settings.redis) == {
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
        "ssl_ca_certs": str(pki.ca),
    }
    assert clickhouse_options(settings.clickhouse, "https") == {"verify": True, "ca_cert": str(pki.ca)}
    assert rdkafka_options(settings.kafka) == {
        "bootstrap.servers": settings.kafka.bootstrap_servers,
        "security.protocol": "ssl",
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": str(pki.ca),
        **({"ssl.certificate.location": str(settings.kafka.ssl_certfile)} if settings.kafka.ssl_certfile else {}),
        **({"ssl.key.location": str(settings.kafka.ssl_keyfile)} if settings.kafka.ssl_keyfile else {}),
    }
    assert s3_verify(settings.s3) == str(pki.ca)
    assert uvicorn_ssl_options(settings.collector) == {
        "ssl_certfile": str(pki.server_cert),
        "ssl_keyfile": str(pki.server_key),
    }


def test_empty_variables_mean_plaintext_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """docker-compose and the chart with tls.enabled=false set every TLS key to "": none of them is on."""
    for name in (
        "PULSE_KAFKA__SSL_CAFILE", "PULSE_KAFKA__SSL_CERTFILE", "PULSE_KAFKA__SSL_KEYFILE", "PULSE_CLICKHOUSE__CA_CERT",
        "PULSE_REDIS__SSL_CA_CERTS", "PULSE_COLLECTOR__TLS_CERTFILE", "PULSE_COLLECTOR__TLS_KEYFILE",
    ):  # fmt: skip
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("PULSE_KAFKA__SECURITY_PROTOCOL", "PLAINTEXT")
    settings = Settings()
    assert kafka_options(settings.kafka) == {
        "bootstrap_servers": settings.kafka.bootstrap_servers,
        "security_protocol": "PLAINTEXT",
    }
    assert rdkafka_options(settings.kafka) == {
        "bootstrap.servers": settings.kafka.bootstrap_servers,
        "security.protocol": "plaintext",
    }
    assert redis_options(settings.redis) == {}
    assert clickhouse_options(settings.clickhouse, "http") == {}
    assert uvicorn_ssl_options(settings.collector) == {}
    assert s3_verify(settings.s3) is True


def test_a_missing_file_names_its_setting(pki: Pki, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.crt")
    settings = chart_env(pki, monkeypatch, PULSE_KAFKA__SSL_CAFILE=missing, PULSE_REDIS__SSL_CA_CERTS=missing)
    with pytest.raises(PulseError, match=r"PULSE_KAFKA__SSL_CAFILE=.*nope.crt: cannot read it"):
        kafka_options(settings.kafka)
    with pytest.raises(PulseError, match=r"PULSE_KAFKA__SSL_CAFILE=.*nope.crt: cannot read it"):
        rdkafka_options(settings.kafka)
    with pytest.raises(PulseError, match="PULSE_REDIS__SSL_CA_CERTS"):
        redis_options(settings.redis)
    with pytest.raises(PulseError, match=r"PULSE_COLLECTOR__TLS_CERTFILE=.*(Is a directory|not a file)"):
        uvicorn_ssl_options(settings.collector.model_copy(update={"tls_certfile": tmp_path}))


def test_tls_files_with_a_plaintext_endpoint_are_refused(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    """Silently connecting in the clear when TLS was configured would send passwords unencrypted."""
    settings = chart_env(pki, monkeypatch, PULSE_REDIS__URL="redis://redis.example:6379/0")
    with pytest.raises(PulseError, match="PULSE_REDIS__SSL_CA_CERTS set but PULSE_REDIS__URL"):
        redis_options(settings.redis)
    with pytest.raises(PulseError, match="PULSE_CLICKHOUSE__CA_CERT set but"):
        clickhouse_options(settings.clickhouse, "http")
    with pytest.raises(PulseError, match="TLS_KEYFILE set without"):
        uvicorn_ssl_options(settings.collector.model_copy(update={"tls_certfile": None}))


def test_clickhouse_client_cert_with_a_password_checks_both(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = chart_env(
        pki, monkeypatch, PULSE_CLICKHOUSE__CLIENT_CERT=str(pki.client_cert),
        PULSE_CLICKHOUSE__CLIENT_CERT_KEY=str(pki.client_key),
    )  # fmt: skip
    options = clickhouse_options(settings.clickhouse, "https")
    assert options["tls_mode"] == "strict" and options["client_cert"] == str(pki.client_cert)
    certificate_only = settings.clickhouse.model_copy(update={"password": ""})
    assert "tls_mode" not in clickhouse_options(certificate_only, "https")


# ----------------------------------------------------------------------------------- client call sites
def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(call: ast.Call) -> str:
    return ast.unparse(call.func)


def _spreads(call: ast.Call, helper: str) -> bool:
    return any(
        k.arg is None and isinstance(k.value, ast.Call) and _name(k.value).endswith(helper) for k in call.keywords
    )


# Redis clients built outside pulse.tls on purpose: the local stack's own plaintext redis-server
# (stack/redis.py) and the benchmarks (bench/, which run against the local stack only).
REDIS_EXEMPT = {"stack/redis.py", "bench/tiers.py", "bench/collector.py"}


def test_every_client_in_the_package_is_built_through_pulse_tls() -> None:
    problems = []
    seen = {"kafka": 0, "redis": 0, "s3": 0, "clickhouse": 0, "uvicorn": 0}
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(PACKAGE))
        for call in _calls(ast.parse(path.read_text())):
            name = _name(call)
            line = f"{where}:{call.lineno} {name}"
            if name.split(".")[-1] in {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient"}:
                seen["kafka"] += 1
                if not _spreads(call, "kafka_options"):
                    problems.append(f"{line} without **kafka_options(...)")
            elif name == "Producer":  # confluent-kafka (librdkafka): the collector's producer
                seen["kafka"] += 1
                if not _spreads(call, "rdkafka_options"):
                    problems.append(f"{line} without **rdkafka_options(...)")
            elif name.endswith("Redis.from_url") or (name.endswith("Redis") and name != "AsyncRedis"):
                if where != "tls.py" and where not in REDIS_EXEMPT:
                    problems.append(f"{line}: use pulse.tls.async_redis/sync_redis")
                seen["redis"] += where == "tls.py"
            elif name == "boto3.client":
                seen["s3"] += 1
                if "verify" not in {k.arg for k in call.keywords} and where != "stack/s3.py":
                    problems.append(f"{line} without verify=s3_verify(...)")
            elif name == "clickhouse_connect.get_client":
                seen["clickhouse"] += 1
                if where != "warehouse/client.py":
                    problems.append(f"{line}: use pulse.warehouse.client.connect")
            elif name == "uvicorn.run":
                seen["uvicorn"] += 1
                if not any(k.arg is None for k in call.keywords):
                    problems.append(f"{line} without **uvicorn_ssl_options(...)")
    assert not problems, "\n".join(problems)
    # The scan found the real sites (a refactor that renames them must update this test, not skip it).
    assert seen["kafka"] == 7 and seen["redis"] == 2 and seen["s3"] >= 1 and seen["clickhouse"] == 2
    assert seen["uvicorn"] == 1
