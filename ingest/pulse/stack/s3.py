"""An S3-compatible server: s3proxy (Maven Central) on its jclouds ``filesystem`` provider.

Chosen over moto's in-memory server because objects live on disk and survive a restart of the
server, which the archiver's failure tests rely on; it also checks real SigV4 signatures with the
credentials in ``settings.s3``. See docs/stack.md for the comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pulse.errors import PulseError
from pulse.settings import Settings
from pulse.stack import maven, tools
from pulse.stack.process import ServiceSpec
from pulse.stack.service import Service

NAME = "s3"
#: s3proxy 4.1 uses Jackson 3, whose databind needs jackson-annotations 2.20+; a transitive 2.18 wins
#: Maven's nearest-wins rule unless pinned here (symptom: NoClassDefFoundError JsonSerializeAs).
JACKSON_ANNOTATIONS = "2.22"

LOGBACK_XML = """\
<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{ISO8601} %-5level [%thread] %logger{36} - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
"""


def libs_dir(settings: Settings) -> Path:
    return maven.libs_dir(settings, "s3proxy", settings.stack.s3proxy_version)


def _pom(settings: Settings) -> str:
    return maven.pom(
        "s3proxy-runtime",
        [
            maven.Artifact("org.gaul", "s3proxy", settings.stack.s3proxy_version),
            maven.Artifact("com.fasterxml.jackson.core", "jackson-annotations", JACKSON_ANNOTATIONS),
        ],
    )


def install(settings: Settings) -> bool:
    return maven.install(settings, "s3proxy", _pom(settings), libs_dir(settings))


def _endpoint(settings: Settings) -> str:
    if settings.s3.endpoint_url is None:
        raise PulseError("s3: settings.s3.endpoint_url is None (real AWS S3); the local stack cannot serve it")
    return settings.s3.endpoint_url.rstrip("/")


def properties(settings: Settings) -> str:
    data = (settings.stack.data_dir / NAME).absolute()
    props = {
        "s3proxy.endpoint": f"http://{settings.stack.host}:{settings.s3.port}",
        "s3proxy.authorization": "aws-v2-or-v4",
        "s3proxy.identity": settings.s3.access_key_id,
        "s3proxy.credential": settings.s3.secret_access_key,
        "jclouds.provider": "filesystem",
        "jclouds.filesystem.basedir": str(data),
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


def spec(settings: Settings) -> ServiceSpec:
    java = tools.java(settings.stack.java)
    _endpoint(settings)
    (settings.stack.data_dir / NAME).mkdir(parents=True, exist_ok=True)
    config = settings.stack.run_dir / NAME
    config.mkdir(parents=True, exist_ok=True)
    props = config / "s3proxy.conf"
    props.write_text(properties(settings))
    logback = config / "logback.xml"
    logback.write_text(LOGBACK_XML)
    argv = [
        java, "-Xmx256m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
        f"-Dlogback.configurationFile={logback.absolute()}",
        "-cp", f"{libs_dir(settings)}/*", "org.gaul.s3proxy.Main", "--properties", str(props.absolute()),
    ]  # fmt: skip
    return ServiceSpec(
        name=NAME, argv=argv, port=settings.s3.port, host=settings.stack.host, ready=lambda: healthy(settings)
    )


def client(settings: Settings) -> Any:
    """A boto3 S3 client for the configured endpoint (path-style: no wildcard DNS on loopback)."""
    return boto3.client(
        "s3",
        endpoint_url=_endpoint(settings),
        region_name=settings.s3.region,
        aws_access_key_id=settings.s3.access_key_id,
        aws_secret_access_key=settings.s3.secret_access_key,
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=2,
            read_timeout=5,
            retries={"max_attempts": 1},
        ),
    )


def healthy(settings: Settings) -> bool:
    """The server lists buckets for our credentials (so auth works, not just the socket)."""
    try:
        client(settings).list_buckets()
    except (BotoCoreError, ClientError):
        return False
    return True


def ensure_bucket(settings: Settings) -> None:
    """Create ``settings.s3.bucket`` unless it exists (idempotent)."""
    s3 = client(settings)
    try:
        names = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
        if settings.s3.bucket not in names:
            s3.create_bucket(Bucket=settings.s3.bucket)
    except (BotoCoreError, ClientError) as error:
        raise PulseError(f"s3: creating bucket {settings.s3.bucket!r} failed: {error}") from error


SERVICE = Service(
    name=NAME,
    port=lambda settings: settings.s3.port,
    spec=spec,
    healthy=healthy,
    install=install,
    after_start=ensure_bucket,
)
