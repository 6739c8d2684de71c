"""The session stack's services do real work: Kafka round trips on every topic, Redis, S3, warehouse."""

from __future__ import annotations

import uuid

import httpx
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from pulse.contracts.events import Family
from pulse.settings import Settings
from pulse.stack import s3
from tests.support.stack import StackHandle


async def test_kafka_round_trip_on_every_partition_of_every_topic(kafka_stack: Settings) -> None:
    settings = kafka_stack
    marker = uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    try:
        sent: dict[TopicPartition, int] = {}
        for family in Family:
            topic = settings.kafka.topic(family)
            partitions = await producer.partitions_for(topic)
            assert partitions == set(range(settings.kafka.partitions)), topic
            for partition in sorted(partitions):
                meta = await producer.send_and_wait(topic, marker, partition=partition)
                sent[TopicPartition(topic, partition)] = meta.offset
        consumer.assign(list(sent))
        for tp, offset in sent.items():
            consumer.seek(tp, offset)
        received: set[TopicPartition] = set()
        while received != set(sent):
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, f"no records for {set(sent) - received}"
            for tp, records in batch.items():
                if any(record.value == marker for record in records):
                    received.add(tp)
    finally:
        await consumer.stop()
        await producer.stop()


def metric_values(text: str) -> dict[str, float]:
    """Sample line (name and labels) -> value of a Prometheus text exposition."""
    samples = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in samples}


def test_kafka_serves_the_broker_health_metrics_its_exporter_rules_name(kafka_stack: Settings) -> None:
    """The JMX exporter agent runs inside the broker with the package's rules: partition and traffic gauges."""
    answer = httpx.get(f"http://{kafka_stack.stack.host}:{kafka_stack.kafka.metrics_port}/metrics", timeout=10)
    assert answer.status_code == 200
    values = metric_values(answer.text)
    assert values["kafka_controller_kafkacontroller_activecontrollercount"] == 1
    assert values["kafka_controller_kafkacontroller_offlinepartitionscount"] == 0
    assert values["kafka_server_replicamanager_underreplicatedpartitions"] == 0
    assert values["kafka_server_replicamanager_partitioncount"] >= 1
    assert values["kafka_server_brokertopicmetrics_bytesin_total"] >= 0
    assert 'kafka_network_requestmetrics_totaltimems{quantile="0.99",request="Produce"}' in values


def test_redis_answers_ping_and_keeps_values(redis_stack: Settings) -> None:
    client = redis.Redis.from_url(redis_stack.redis.url)
    try:
        assert client.ping()
        client.set("pulse:test:stack", "1")
        assert client.get("pulse:test:stack") == b"1"
    finally:
        client.close()


def test_s3_bucket_exists_and_objects_round_trip(s3_stack: Settings) -> None:
    client = s3.client(s3_stack)
    names = [bucket["Name"] for bucket in client.list_buckets()["Buckets"]]
    assert s3_stack.s3.bucket in names
    client.put_object(Bucket=s3_stack.s3.bucket, Key="stack-test/a.bin", Body=b"\x00payload")
    body = client.get_object(Bucket=s3_stack.s3.bucket, Key="stack-test/a.bin")["Body"].read()
    assert body == b"\x00payload"


def test_s3_objects_survive_a_killed_server(test_stack: StackHandle, s3_stack: Settings) -> None:
    """The archiver's failure tests rely on this: s3proxy keeps objects on disk."""
    client = s3.client(s3_stack)
    client.put_object(Bucket=s3_stack.s3.bucket, Key="stack-test/durable", Body=b"kept")
    with test_stack.outage("s3", kill=True):
        assert not s3.healthy(s3_stack)
    assert s3.client(s3_stack).get_object(Bucket=s3_stack.s3.bucket, Key="stack-test/durable")["Body"].read() == b"kept"


def test_warehouse_answers_ping(warehouse_stack: Settings) -> None:
    response = httpx.get(f"{warehouse_stack.clickhouse.url}/ping", timeout=5)
    assert response.status_code == 200
    assert response.text == "Ok.\n"
