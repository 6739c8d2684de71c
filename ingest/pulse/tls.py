"""TLS for every network client and server Pulse builds, from the one settings object.

Every Kafka, Redis, ClickHouse, S3 client and the collector's HTTP server take their connection
options from here, so no client can forget TLS: ``grep`` for a client constructor and it is next to a
call into this module (tests/tls/test_client_sites.py checks that). Misconfigurations fail at start
with a message naming the setting, instead of a plaintext connection or a handshake that hangs:

- a CA/certificate/key path that is not a readable file;
- TLS files given for a plaintext endpoint (``redis://``, ``http://``, ``PLAINTEXT``): refusing is
  safer than silently sending credentials in the clear.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis as redis_py
from aiokafka.helpers import create_ssl_context
from redis.asyncio import Redis as AsyncRedis

from pulse.errors import PulseError
from pulse.settings import (
    ApiSettings,
    ClickHouseSettings,
    CollectorSettings,
    KafkaSettings,
    RedisSettings,
    S3Settings,
    Settings,
)


def _file(path: Path | None, setting: str) -> str | None:
    """The path as text after checking it is a readable file (None stays None)."""
    if path is None:
        return None
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        raise PulseError(f"{setting}={path}: cannot read it ({error.strerror or error})") from error
    if not path.is_file():
        raise PulseError(f"{setting}={path}: not a file")
    return str(path)


def _plaintext_with_tls_files(what: str, given: dict[str, Path | None]) -> None:
    named = [name for name, value in given.items() if value is not None]
    if named:
        raise PulseError(f"{', '.join(named)} set but {what} is plaintext: fix the URL/protocol or unset them")


# ---------------------------------------------------------------------------------------------- Kafka
def kafka_ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    """The context aiokafka uses for SSL: the configured CA (else the system's) and an optional client cert."""
    context: ssl.SSLContext = create_ssl_context(
        cafile=_file(kafka.ssl_cafile, "PULSE_KAFKA__SSL_CAFILE"),
        certfile=_file(kafka.ssl_certfile, "PULSE_KAFKA__SSL_CERTFILE"),
        keyfile=_file(kafka.ssl_keyfile, "PULSE_KAFKA__SSL_KEYFILE"),
    )
    context.check_hostname = kafka.ssl_check_hostname
    return context


def kafka_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection keyword arguments for every aiokafka producer, consumer and admin client."""
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol == "SSL":
        options["ssl_context"] = kafka_ssl_context(kafka)
    else:
        _plaintext_with_tls_files(
            "PULSE_KAFKA__SECURITY_PROTOCOL=PLAINTEXT",
            {
                "PULSE_KAFKA__SSL_CAFILE": kafka.ssl_cafile,
                "PULSE_KAFKA__SSL_CERTFILE": kafka.ssl_certfile,
                "PULSE_KAFKA__SSL_KEYFILE": kafka.ssl_keyfile,
            },
        )
    return options


def rdkafka_options(kafka: KafkaSettings) -> dict[str, Any]:
    """The same connection as :func:`kafka_options`, in librdkafka's terms (confluent-kafka clients)."""
    options: dict[str, Any] = {"bootstrap.servers": kafka.bootstrap_servers}
    if kafka.security_protocol != "SSL":
        kafka_options(kafka)  # refuses TLS files for a plaintext broker, with the same message
        return {**options, "security.protocol": "plaintext"}
    files = {
        "ssl.ca.location": _file(kafka.ssl_cafile, "PULSE_KAFKA__SSL_CAFILE"),
        "ssl.certificate.location": _file(kafka.ssl_certfile, "PULSE_KAFKA__SSL_CERTFILE"),
        "ssl.key.location": _file(kafka.ssl_keyfile, "PULSE_KAFKA__SSL_KEYFILE"),
    }
    return {
        **options,
        "security.protocol": "ssl",
        "ssl.endpoint.identification.algorithm": "https" if kafka.ssl_check_hostname else "none",
        # The wheel's statically linked OpenSSL does not know the system's CA folder: probe for it.
        "ssl.ca.location": "probe",
        **{name: path for name, path in files.items() if path is not None},
    }


# ---------------------------------------------------------------------------------------------- Redis
def redis_options(redis: RedisSettings) -> dict[str, Any]:
    """Keyword arguments for ``Redis.from_url(settings.redis.url, ...)``: TLS comes from the ``rediss://`` scheme."""
    files = {
        "PULSE_REDIS__SSL_CA_CERTS": redis.ssl_ca_certs,
        "PULSE_REDIS__SSL_CERTFILE": redis.ssl_certfile,
        "PULSE_REDIS__SSL_KEYFILE": redis.ssl_keyfile,
    }
    if urlsplit(redis.url).scheme != "rediss":
        _plaintext_with_tls_files("PULSE_REDIS__URL (redis://)", files)
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    for option, (setting, path) in zip(("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"), files.items(), strict=True):
        if path is not None:
            options[option] = _file(path, setting)
    return options


def async_redis(redis: RedisSettings, **options: Any) -> AsyncRedis:
    """A ``redis.asyncio.Redis`` for ``settings.redis`` (TLS included); ``options`` add timeouts etc."""
    return AsyncRedis.from_url(redis.url, **redis_options(redis), **options)


def sync_redis(redis: RedisSettings, **options: Any) -> redis_py.Redis:
    """A blocking ``redis.Redis`` for ``settings.redis`` (TLS included)."""
    return redis_py.Redis.from_url(redis.url, **redis_options(redis), **options)


# ----------------------------------------------------------------------------------------- ClickHouse
def clickhouse_options(ch: ClickHouseSettings, scheme: str) -> dict[str, Any]:
    """TLS keyword arguments for ``clickhouse_connect.get_client`` (https only).

    With a client certificate and a password, both are checked (``tls_mode="strict"``); with a
    certificate and no password, ClickHouse authenticates the user by the certificate alone.
    """
    files = {
        "PULSE_CLICKHOUSE__CA_CERT": ch.ca_cert,
        "PULSE_CLICKHOUSE__CLIENT_CERT": ch.client_cert,
        "PULSE_CLICKHOUSE__CLIENT_CERT_KEY": ch.client_cert_key,
    }
    if scheme != "https":
        _plaintext_with_tls_files("PULSE_CLICKHOUSE__URL (http://)", files)
        return {}
    options: dict[str, Any] = {"verify": ch.verify}
    for option, (setting, path) in zip(("ca_cert", "client_cert", "client_cert_key"), files.items(), strict=True):
        if path is not None:
            options[option] = _file(path, setting)
    if ch.client_cert is not None and ch.password:
        options["tls_mode"] = "strict"
    return options


# ------------------------------------------------------------------------------------------------- S3
def s3_verify(s3: S3Settings) -> str | bool:
    """boto3's ``verify``: the CA bundle when one is set, else the system CAs."""
    return _file(s3.ca_bundle, "PULSE_S3__CA_BUNDLE") or True


# ------------------------------------------------------------------------------------ collector server
def uvicorn_ssl_options(server: CollectorSettings | ApiSettings, section: str = "collector") -> dict[str, Any]:
    """``uvicorn.run`` keyword arguments: HTTPS when ``tls_certfile`` is set, plain HTTP otherwise."""
    prefix = f"PULSE_{section.upper()}__"
    if server.tls_certfile is None:
        if server.tls_keyfile is not None:
            raise PulseError(f"{prefix}TLS_KEYFILE set without {prefix}TLS_CERTFILE")
        return {}
    options = {"ssl_certfile": _file(server.tls_certfile, f"{prefix}TLS_CERTFILE")}
    if server.tls_keyfile is not None:
        options["ssl_keyfile"] = _file(server.tls_keyfile, f"{prefix}TLS_KEYFILE")
    return options


def describe(settings: Settings) -> dict[str, bool]:
    """Which hops are encrypted, for start-up logs."""
    return {
        "kafka": settings.kafka.security_protocol == "SSL",
        "redis": urlsplit(settings.redis.url).scheme == "rediss",
        "clickhouse": urlsplit(settings.clickhouse.url).scheme == "https",
        "s3": urlsplit(settings.s3.endpoint_url or "https://s3.amazonaws.com").scheme == "https",
        "collector": settings.collector.tls_certfile is not None,
    }
