"""Kafka 4 in KRaft mode (one broker+controller), run straight from Maven Central jars.

No Kafka tarball, no ZooKeeper, no Docker: the broker is ``java -cp libs/* kafka.Kafka`` with a
generated ``server.properties``. Topics for every event family are created here so producers never
depend on auto-creation and always get ``settings.kafka.partitions`` partitions.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic

from pulse import content
from pulse.contracts.events import Family
from pulse.errors import PulseError
from pulse.settings import Settings
from pulse.stack import maven, tools
from pulse.stack.process import ServiceSpec
from pulse.stack.service import Service
from pulse.tls import kafka_options

NAME = "kafka"
#: The Prometheus JMX exporter, run as a Java agent inside the broker (Strimzi runs the same exporter).
JMX_EXPORTER = "1.0.1"
RULES = "kafka-metrics.yaml"  # package data beside this module: which MBeans become which metrics
LOG4J = "2.24.3"
SLF4J = "2.0.17"
TOPIC_ALREADY_EXISTS = 36
T = TypeVar("T")

LOG4J2_PROPERTIES = """\
# Everything to stdout, which the supervisor writes to <logs>/kafka.log.
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
"""


def libs_dir(settings: Settings) -> Path:
    return maven.libs_dir(settings, "kafka", settings.stack.kafka_version)


def _pom(settings: Settings) -> str:
    # kafka_2.13 drags in slf4j-api 1.7, which cannot bind log4j2's slf4j2 provider: pin 2.x.
    return maven.pom(
        "kafka-runtime",
        [
            maven.Artifact("org.apache.kafka", "kafka_2.13", settings.stack.kafka_version),
            maven.Artifact("org.apache.logging.log4j", "log4j-slf4j2-impl", LOG4J),
            maven.Artifact("org.apache.logging.log4j", "log4j-core", LOG4J),
            maven.Artifact("org.slf4j", "slf4j-api", SLF4J),
        ],
    )


def _exporter_dir(settings: Settings) -> Path:
    return maven.libs_dir(settings, "jmx-exporter", JMX_EXPORTER)


def _exporter_pom() -> str:
    return maven.pom("jmx-exporter", [maven.Artifact("io.prometheus.jmx", "jmx_prometheus_javaagent", JMX_EXPORTER)])


def install(settings: Settings) -> bool:
    kafka = maven.install(settings, NAME, _pom(settings), libs_dir(settings))
    exporter = maven.install(settings, "jmx-exporter", _exporter_pom(), _exporter_dir(settings))
    return kafka or exporter


def exporter_agent(settings: Settings) -> str:
    """The broker's ``-javaagent`` option: the JMX exporter serving this package's rules on the metrics port."""
    jar = _exporter_dir(settings) / f"jmx_prometheus_javaagent-{JMX_EXPORTER}.jar"
    if not jar.is_file():
        raise PulseError(f"kafka: {jar} is missing; run `pulse stack install`")
    rules = content.folder("pulse.stack") / RULES
    return f"-javaagent:{jar}={settings.stack.host}:{settings.kafka.metrics_port}:{rules}"


def _config_dir(settings: Settings) -> Path:
    return settings.stack.run_dir / NAME


def _data_dir(settings: Settings) -> Path:
    return settings.stack.data_dir / NAME


def server_properties(settings: Settings) -> str:
    host, port, ctrl = settings.stack.host, settings.kafka.port, settings.kafka.controller_port
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{ctrl}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{ctrl}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(_data_dir(settings).absolute()),
        "num.partitions": str(settings.kafka.partitions),
        "offsets.topic.replication.factor": "1",
        # Fewer offset partitions than the default 50: the first consumer group is ready sooner.
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


def _cluster_id() -> str:
    """A Kafka Uuid (base64url of 16 random bytes), as ``StorageTool random-uuid`` makes, minus a JVM start."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _format_storage(settings: Settings, java: str, properties: Path, log4j: Path) -> None:
    """Format the KRaft log dir once; later starts reuse it (topics and offsets survive restarts)."""
    data = _data_dir(settings)
    if (data / "meta.properties").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    command = [
        java, f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs_dir(settings)}/*",
        "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(properties),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        raise PulseError(f"kafka: formatting {data} failed: {lines[-1] if lines else result.returncode}")


def spec(settings: Settings) -> ServiceSpec:
    java = tools.java(settings.stack.java)
    config = _config_dir(settings)
    config.mkdir(parents=True, exist_ok=True)
    properties = config / "server.properties"
    properties.write_text(server_properties(settings))
    log4j = config / "log4j2.properties"
    log4j.write_text(LOG4J2_PROPERTIES)
    _format_storage(settings, java, properties, log4j)
    argv = [
        java, f"-Xmx{settings.stack.kafka_heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true", f"-Dkafka.logs.dir={settings.stack.logs_dir.absolute()}",
        f"-Dlog4j2.configurationFile={log4j.absolute()}", exporter_agent(settings),
        "-cp", f"{libs_dir(settings)}/*", "kafka.Kafka", str(properties.absolute()),
    ]  # fmt: skip
    return ServiceSpec(
        name=NAME,
        argv=argv,
        port=settings.kafka.port,
        host=settings.stack.host,
        extra_ports=(settings.kafka.controller_port, settings.kafka.metrics_port),
        ready=lambda: healthy(settings),
    )


def _admin(settings: Settings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        **kafka_options(settings.kafka),
        client_id=f"{settings.kafka.client_id}-stack",
        request_timeout_ms=5000,
    )


async def _healthy(settings: Settings) -> bool:
    admin = _admin(settings)
    try:
        await asyncio.wait_for(admin.start(), timeout=3)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout=3)
        return bool(cluster.get("brokers")) and cluster.get("controller_id", -1) >= 0
    finally:
        await admin.close()


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also from code already inside an event loop (async tests)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def healthy(settings: Settings) -> bool:
    """The broker answers metadata requests and knows its controller."""
    try:
        return _run(_healthy(settings))
    except Exception:
        return False


def topics(settings: Settings) -> dict[str, int]:
    """Topic name -> partitions the stack guarantees: one topic per event family."""
    return {settings.kafka.topic(family): settings.kafka.partitions for family in Family}


async def _ensure_topics(settings: Settings) -> None:
    wanted = topics(settings)
    admin = _admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, count, 1) for name, count in wanted.items() if name not in existing]
        if missing:
            _raise_errors(await admin.create_topics(missing, timeout_ms=30_000))
        present = [name for name in wanted if name in existing]
        grow: dict[str, NewPartitions] = {}
        for described in await admin.describe_topics(present) if present else []:
            have = len(described["partitions"])
            if have < wanted[described["topic"]]:
                grow[described["topic"]] = NewPartitions(total_count=wanted[described["topic"]])
        if grow:
            _raise_errors(await admin.create_partitions(grow, timeout_ms=30_000))
    finally:
        await admin.close()


def _raise_errors(response: Any) -> None:
    """Admin responses carry per-topic error codes instead of raising; "already exists" is success."""
    for topic, code, *rest in response.topic_errors:
        if code not in (0, TOPIC_ALREADY_EXISTS):
            message = rest[0] if rest and rest[0] else f"error code {code}"
            raise PulseError(f"kafka: topic {topic}: {message}")


def ensure_topics(settings: Settings) -> None:
    """Create missing family topics, and grow ones with too few partitions (idempotent)."""
    try:
        _run(_ensure_topics(settings))
    except PulseError:
        raise
    except Exception as error:
        raise PulseError(f"kafka: creating topics failed: {error!r}") from error


SERVICE = Service(
    name=NAME,
    port=lambda settings: settings.kafka.port,
    spec=spec,
    healthy=healthy,
    install=install,
    after_start=ensure_topics,
)
