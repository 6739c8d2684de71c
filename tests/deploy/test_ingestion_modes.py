"""The migrations Job renders the schema for what the chart deploys; kafka-engine mode swaps the loader for ClickHouse.

``pulse migrate --cluster NAME`` (ON CLUSTER, Replicated*/Distributed tables) whenever ClickHouse is a cluster, named
as the ClickHouseInstallation names it; ``--ingestion kafka-engine`` when ``ingestion.mode: kafka-engine``, where
the loader is not deployed (ClickHouse consumes the topics itself) and the CHI carries the ``pulse_kafka`` named
collection the Kafka tables read, its TLS material from the Kafka Secrets through the environment.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from clickhouse_connect.driver.exceptions import DatabaseError

from pulse.settings import Settings
from pulse.tls import kafka_options
from tests.access.standin import session

from .conftest import PRODUCTION
from .test_policy import plain_env
from .tools import Helm, Manifest, by_kind, migrate_job

KAFKA_ENGINE = "ingestion.mode=kafka-engine"
EXTERNAL_CH = ["clickhouse.deploy=false", "clickhouse.external.url=https://ch.example:8443"]
FILE = "config.d/pulse_kafka.xml"


def migrate_args(docs: list[Manifest]) -> list[str]:
    args: list[str] = migrate_job(docs)["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def chi(docs: list[Manifest]) -> Manifest:
    (installation,) = by_kind(docs, "ClickHouseInstallation")
    return installation


def names(docs: list[Manifest], kind: str) -> set[str]:
    return {d["metadata"]["name"] for d in by_kind(docs, kind)}


@pytest.mark.parametrize("cluster", ["pulse", "analytics_eu"])
def test_an_in_chart_clickhouse_is_migrated_as_the_cluster_the_installation_defines(helm: Helm, cluster: str) -> None:
    docs = helm.template(sets=[f"clickhouse.cluster={cluster}"])
    (defined,) = chi(docs)["spec"]["configuration"]["clusters"]
    assert defined["name"] == cluster
    assert migrate_args(docs) == ["migrate", "--cluster", cluster]


def test_production_migrates_its_shards_on_the_cluster(production_docs: list[Manifest]) -> None:
    (defined,) = chi(production_docs)["spec"]["configuration"]["clusters"]
    assert defined["layout"]["shardsCount"] >= 2
    assert migrate_args(production_docs) == ["migrate", "--cluster", defined["name"]]


def test_an_external_server_is_migrated_plainly_unless_a_cluster_is_named(helm: Helm) -> None:
    assert migrate_args(helm.template(sets=EXTERNAL_CH)) == ["migrate"]
    named_cluster = helm.template(sets=[*EXTERNAL_CH, "clickhouse.external.cluster=prod"])
    assert migrate_args(named_cluster) == ["migrate", "--cluster", "prod"]


def test_loader_mode_is_the_default_and_leaves_clickhouse_without_kafka(default_docs: list[Manifest]) -> None:
    assert "--ingestion" not in migrate_args(default_docs)
    assert "pulse-loader" in names(default_docs, "Deployment")
    assert FILE not in chi(default_docs)["spec"]["configuration"]["files"]


@pytest.mark.parametrize("values", [[], [PRODUCTION]], ids=["default", "production"])
def test_kafka_engine_mode_migrates_the_kafka_tables_and_deploys_no_loader(helm: Helm, values: list) -> None:
    docs = helm.template(values, sets=[KAFKA_ENGINE])
    args = migrate_args(docs)
    assert args[args.index("--ingestion") + 1] == "kafka-engine"
    assert "--cluster" in args
    for kind in ("Deployment", "PodDisruptionBudget", "ServiceMonitor"):
        assert not any("loader" in name for name in names(docs, kind)), kind
    assert {"pulse-collector", "pulse-hot-layer", "pulse-archiver"} <= names(docs, "Deployment")


def kafka_collection(docs: list[Manifest]) -> tuple[ET.Element, dict[str, dict[str, str]]]:
    """The rendered config.d file, and the ClickHouse container's Secret-backed variables."""
    installation = chi(docs)
    root = ET.fromstring(installation["spec"]["configuration"]["files"][FILE])
    (container,) = installation["spec"]["templates"]["podTemplates"][0]["spec"]["containers"]
    env = {
        e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})
    }
    return root, env


def test_the_kafka_tables_reach_the_brokers_the_services_use_over_mutual_tls(helm: Helm) -> None:
    docs = helm.template(sets=[KAFKA_ENGINE])
    root, env = kafka_collection(docs)
    collection = root.find("named_collections/pulse_kafka")
    assert collection is not None
    assert (
        collection.findtext("kafka_broker_list") == plain_env(docs, "pulse-collector")["PULSE_KAFKA__BOOTSTRAP_SERVERS"]
    )
    assert collection.findtext("kafka_security_protocol") == "ssl"
    librdkafka = root.find("kafka")
    assert librdkafka is not None
    from_env = {child.tag: child.get("from_env") for child in librdkafka}
    assert all(not (child.text or "").strip() for child in librdkafka), "no key material in the file"
    # The CA Strimzi signs the brokers with, and the certificate of the KafkaUser whose ACLs admit pulse-* groups.
    assert env[from_env["ssl_ca_pem"]] == {"name": "pulse-cluster-ca-cert", "key": "ca.crt"}
    assert env[from_env["ssl_certificate_pem"]] == {"name": "pulse-app", "key": "user.crt"}
    assert env[from_env["ssl_key_pem"]] == {"name": "pulse-app", "key": "user.key"}
    user = next(u for u in by_kind(docs, "KafkaUser") if u["metadata"]["name"] == "pulse-app")
    groups = [a["resource"] for a in user["spec"]["authorization"]["acls"] if a["resource"]["type"] == "group"]
    assert groups == [{"type": "group", "name": "pulse-", "patternType": "prefix"}]


def test_an_external_kafka_is_trusted_through_the_ca_secret_without_a_client_certificate(helm: Helm) -> None:
    docs = helm.template(sets=[KAFKA_ENGINE, "kafka.deploy=false", "kafka.external.bootstrapServers=k1.example:9093"])
    root, env = kafka_collection(docs)
    assert root.findtext("named_collections/pulse_kafka/kafka_broker_list") == "k1.example:9093"
    librdkafka = root.find("kafka")
    assert librdkafka is not None and [child.tag for child in librdkafka] == ["ssl_ca_pem"]
    assert env[librdkafka[0].get("from_env", "")] == {"name": "pulse-ca", "key": "ca.crt"}


def test_plaintext_kafka_gets_no_tls_settings(helm: Helm) -> None:
    root, env = kafka_collection(helm.template(sets=[KAFKA_ENGINE, "tls.enabled=false"]))
    assert root.findtext("named_collections/pulse_kafka/kafka_broker_list") == "pulse-kafka-bootstrap.pulse.svc:9092"
    assert root.find("named_collections/pulse_kafka/kafka_security_protocol") is None
    assert root.find("kafka") is None and not [name for name in env if name.startswith("KAFKA_")]
    assert root.findtext("macros/pulse_topic_prefix") == "pulse", "the Kafka tables of 1001 name their topics by it"


def test_the_engine_consumes_a_topic_through_the_chart_rendered_collection(
    helm: Helm, kafka_stack: Settings, tmp_path: Path
) -> None:
    """The rendered config.d file, loaded by the real engine as a server's config.d, reaches the real broker.

    Plaintext only: the TLS half (librdkafka's ``<kafka>`` PEM settings from the Kafka Secrets) is rendered and
    checked above but not run here, since the session's broker speaks PLAINTEXT. The chDB path is throwaway (a
    path that held a Kafka table cannot be reopened) and the Kafka table is dropped before the session closes.
    """
    brokers = kafka_stack.kafka.bootstrap_servers
    docs = helm.template(
        sets=[KAFKA_ENGINE, "tls.enabled=false", "kafka.deploy=false", f"kafka.external.bootstrapServers={brokers}"]
    )
    folder = tmp_path / "config"
    (folder / "config.d").mkdir(parents=True)
    (folder / "config.d" / "pulse_kafka.xml").write_text(chi(docs)["spec"]["configuration"]["files"][FILE])
    (folder / "config.xml").write_text("<clickhouse></clickhouse>")
    topic = f"pulse.test.chart.{uuid.uuid4().hex[:8]}"
    sent = [{"n": n} for n in range(5)]
    asyncio.run(produce(kafka_stack, topic, sent))
    with session(tmp_path / "chdb", folder / "config.xml") as client:
        collections = client.query("SELECT name FROM system.named_collections").result_rows
        assert ("pulse_kafka",) in collections
        client.command("CREATE TABLE got (n UInt32) ENGINE = MergeTree ORDER BY n")
        try:
            client.command(
                f"CREATE TABLE feed (n UInt32) ENGINE = Kafka(pulse_kafka, kafka_topic_list = '{topic}', "
                "kafka_group_name = '{pulse_topic_prefix}-chart-probe', "  # the chart's macro, as 1001 uses it
                "kafka_format = 'JSONEachRow', kafka_flush_interval_ms = 200)"
            )
        except DatabaseError as exc:  # chDB reports this after creating the table (docs/evidence/chkafka2.out)
            assert "Shutdown was called" in str(exc), exc
        assert client.query("SELECT engine FROM system.tables WHERE name = 'feed'").result_rows == [("Kafka",)]
        client.command("CREATE MATERIALIZED VIEW feed_mv TO got AS SELECT n FROM feed")
        try:
            deadline = time.monotonic() + 60
            while (rows := client.query("SELECT n FROM got ORDER BY n").result_rows) != [(e["n"],) for e in sent]:
                assert time.monotonic() < deadline, f"consumed {rows}"
                time.sleep(0.5)
        finally:
            client.command("DROP TABLE feed_mv")
            client.command("DROP TABLE feed")


async def produce(settings: Settings, topic: str, events: list[dict[str, int]]) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(settings.kafka))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**kafka_options(settings.kafka), acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topic, json.dumps(event).encode())
    finally:
        await producer.stop()
