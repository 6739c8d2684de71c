"""Pulse's clients on real servers that only speak TLS: Redis (mutual TLS), Kafka (SSL listener, mutual TLS).

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
from redis.exceptions import ConnectionError as RedisConnectionError

from pulse.errors import PulseError
from pulse.events import Family
from pulse.settings import Settings
from pulse.tls import async_redis, kafka_options

from .pki import Pki


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
