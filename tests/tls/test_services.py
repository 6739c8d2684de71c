"""Pulse's clients on real servers that only speak TLS: Redis (mutual TLS), Kafka (SSL listener, mutual TLS),
and the warehouse bridge and s3proxy behind a TLS front.

Each client is built the way the services build it (pulse.tls from the one Settings object); a
server that requires client certificates proves the certificate is sent, and a wrong CA must fail
quickly with a message that says so.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from botocore.exceptions import SSLError
from redis.exceptions import ConnectionError as RedisConnectionError

from pulse.archive.store import s3_client
from pulse.collector.producer import EventProducer, Record
from pulse.contracts.events import Family
from pulse.errors import PulseError
from pulse.settings import Settings
from pulse.tls import async_redis, kafka_options
from pulse.warehouse.client import connect

from .pki import Pki
from .servers import TlsFront


async def test_redis_client_speaks_mutual_tls(tls_redis_settings: Settings) -> None:
    redis = async_redis(tls_redis_settings.redis, socket_connect_timeout=3)
    try:
        assert await redis.set("pulse:tls:probe", "ok", ex=60)
        assert await redis.get("pulse:tls:probe") == b"ok"
    finally:
        await redis.aclose()


async def test_redis_refuses_plaintext_and_missing_client_cert(tls_redis_settings: Settings) -> None:
    """The server really is TLS-only with client certificates: so the passing test above used both."""
    plain = tls_redis_settings.redis.model_copy(
        update={"url": tls_redis_settings.redis.url.replace("rediss://", "redis://"), "ssl_ca_certs": None,
                "ssl_certfile": None, "ssl_keyfile": None}
    )  # fmt: skip
    no_cert = tls_redis_settings.redis.model_copy(update={"ssl_certfile": None, "ssl_keyfile": None})
    for settings in (plain, no_cert):
        redis = async_redis(settings, socket_connect_timeout=3, socket_timeout=3)
        try:
            with pytest.raises(RedisConnectionError):
                await redis.ping()
        finally:
            await redis.aclose()


async def test_redis_with_the_wrong_ca_fails_fast_and_says_why(tls_redis_settings: Settings, pki: Pki) -> None:
    wrong = tls_redis_settings.redis.model_copy(update={"ssl_ca_certs": pki.wrong_ca})
    redis = async_redis(wrong, socket_connect_timeout=3, socket_timeout=3)
    started = time.monotonic()
    try:
        with pytest.raises(RedisConnectionError, match="certificate verify failed"):
            await redis.ping()
    finally:
        await redis.aclose()
    assert time.monotonic() - started < 10


async def test_kafka_producer_and_consumer_over_ssl(tls_settings: Settings) -> None:
    topic = tls_settings.kafka.topic(Family.INTERACTIONS)
    producer = AIOKafkaProducer(**kafka_options(tls_settings.kafka), acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b"over-tls", key=b"k", partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(**kafka_options(tls_settings.kafka), enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, sent.offset)
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
        assert message.value == b"over-tls"
    finally:
        await consumer.stop()


async def test_the_collectors_librdkafka_producer_speaks_ssl(tls_settings: Settings) -> None:
    """The collector produces with librdkafka: its TLS options (rdkafka_options) must reach the broker too."""
    topic = tls_settings.kafka.topic(Family.INTERACTIONS)
    producer = EventProducer(tls_settings)
    await producer.start()
    try:
        await producer.send_all([Record(topic, b"collector", b"collector-over-tls")])
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(**kafka_options(tls_settings.kafka), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(tls_settings.kafka.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        values: list[bytes | None] = []
        deadline = time.monotonic() + 30
        while b"collector-over-tls" not in values and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            values += [message.value for messages in batches.values() for message in messages]
        assert b"collector-over-tls" in values
    finally:
        await consumer.stop()


async def test_kafka_with_the_wrong_ca_fails_fast_and_says_why(
    tls_settings: Settings, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = tls_settings.kafka.model_copy(update={"ssl_cafile": pki.wrong_ca})
    producer = AIOKafkaProducer(**kafka_options(wrong), request_timeout_ms=5000)
    started = time.monotonic()
    try:
        with caplog.at_level("ERROR", logger="aiokafka"), pytest.raises(KafkaConnectionError) as raised:
            await asyncio.wait_for(producer.start(), timeout=30)
    finally:
        await producer.stop()
    assert time.monotonic() - started < 30
    assert "Unable to bootstrap" in str(raised.value)
    # aiokafka's exception names no cause; its ERROR log (kept by pulse.logs) does: that is what operators see.
    errors = [r.getMessage() for r in caplog.records if r.name.startswith("aiokafka") and r.levelname == "ERROR"]
    assert any("CERTIFICATE_VERIFY_FAILED" in message for message in errors), errors


def test_plaintext_kafka_with_tls_files_is_refused(tls_settings: Settings) -> None:
    plaintext = tls_settings.kafka.model_copy(update={"security_protocol": "PLAINTEXT"})
    with pytest.raises(PulseError, match="PULSE_KAFKA__SSL_CAFILE"):
        kafka_options(plaintext)


# ------------------------------------------------------------- ClickHouse and S3 through a TLS front
def _through_front(settings: Settings, front: TlsFront, pki: Pki, **clickhouse: object) -> Settings:
    ch = settings.clickhouse.model_copy(
        update={"url": f"https://127.0.0.1:{front.port}", "ca_cert": pki.ca, "client_cert": pki.client_cert,
                "client_cert_key": pki.client_key, **clickhouse}
    )  # fmt: skip
    return settings.model_copy(update={"clickhouse": ch})


def test_warehouse_client_over_https_with_a_client_certificate(warehouse_stack: Settings, pki: Pki) -> None:
    """pulse.warehouse.client.connect to the real chDB bridge behind TLS that requires a client certificate."""
    front = TlsFront(pki, ("127.0.0.1", warehouse_stack.clickhouse.port), require_client_cert=True)
    try:
        client = connect(_through_front(warehouse_stack, front, pki), use_database=False)
        assert client.query("SELECT 40 + 2").result_rows == [(42,)]
        assert "pulse-client" in front.client_subjects
        started = time.monotonic()
        with pytest.raises(PulseError, match="CERTIFICATE_VERIFY_FAILED"):
            connect(_through_front(warehouse_stack, front, pki, ca_cert=pki.wrong_ca), use_database=False)
        assert time.monotonic() - started < 30
    finally:
        front.close()


def test_archive_s3_client_over_https_with_the_configured_ca(s3_stack: Settings, pki: Pki) -> None:
    """boto3 (the archiver's client) verifies an https endpoint with settings.s3.ca_bundle."""
    front = TlsFront(pki, ("127.0.0.1", s3_stack.s3.port))
    try:
        s3 = s3_stack.s3.model_copy(update={"endpoint_url": f"https://127.0.0.1:{front.port}", "ca_bundle": pki.ca})
        client = s3_client(s3_stack.model_copy(update={"s3": s3}))
        client.head_bucket(Bucket=s3.bucket)
        wrong = s3_stack.model_copy(update={"s3": s3.model_copy(update={"ca_bundle": pki.wrong_ca})})
        with pytest.raises(SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            s3_client(wrong).head_bucket(Bucket=s3.bucket)
    finally:
        front.close()
