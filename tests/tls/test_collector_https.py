"""The collector as the chart runs it with TLS on: HTTPS server, TLS-only Redis (keys, rate limits), SSL Kafka;
then the hot-layer updater reading that Kafka and writing that Redis. Real processes, real handshakes."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from pulse.contracts.events import Family
from pulse.settings import Settings
from pulse.stack.env import child_env
from pulse.tls import async_redis, kafka_options
from pulse.worker.health import answers_ok

from .pki import Pki
from .servers import free_port, stop, wait_until


def run_pulse(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pulse", *args], env=dict(env), capture_output=True, text=True, timeout=120
    )


@contextmanager
def pulse_process(env: Mapping[str, str], log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pulse", *args], env=dict(env), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        stop(process)


def https_settings(settings: Settings, pki: Pki) -> Settings:
    collector = settings.collector.model_copy(
        update={"port": free_port(), "tls_certfile": pki.server_cert, "tls_keyfile": pki.server_key}
    )
    hot = settings.hot.model_copy(
        update={"metrics_port": free_port(), "key_prefix": f"pulse:tls:{uuid.uuid4().hex[:6]}"}
    )
    return settings.model_copy(update={"collector": collector, "hot": hot})


async def find_message(settings: Settings, message_id: str, timeout_s: float = 30) -> dict[str, Any]:
    """The enriched event with this messageId, read back over SSL."""
    topic = settings.kafka.topic(Family.INTERACTIONS)
    consumer = AIOKafkaConsumer(**kafka_options(settings.kafka), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for message in messages:
                    value: dict[str, Any] = orjson.loads(message.value or b"{}")
                    if message_id in message.value.decode(errors="replace"):
                        return value
        raise AssertionError(f"{message_id} never reached {topic}")
    finally:
        await consumer.stop()


def track(message_id: str) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": message_id,
        "event": "like",
        "userId": "u-tls",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "properties": {"post_id": "p-tls", "author_id": "a-1", "category": "sports", "hashtags": ["tls"]},
    }


async def test_collector_https_to_ssl_kafka_and_tls_redis_then_hot_layer(
    tls_settings: Settings, pki: Pki, tmp_path: Path
) -> None:
    settings = https_settings(tls_settings, pki)
    env = child_env(settings)
    (tmp_path / "keys").mkdir()
    key = f"pk_tls_{uuid.uuid4().hex}"
    (tmp_path / "keys" / "web-tls").write_text(key + "\n")
    imported = run_pulse(env, "keys", "import", str(tmp_path / "keys"))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("created web-tls")

    url = f"https://127.0.0.1:{settings.collector.port}"
    trusted = ssl.create_default_context(cafile=str(pki.ca))
    serve = ("collector", "serve", "--workers", "1")
    with pulse_process(env, tmp_path / "collector.log", *serve) as collector:
        wait_until(lambda: answers_ok(f"{url}/readyz", trusted), collector, tmp_path / "collector.log", 60)
        message_id = f"m-tls-{uuid.uuid4().hex}"
        async with httpx.AsyncClient(base_url=url, verify=trusted, timeout=10) as client:
            sent = await client.post("/v1/track", json=track(message_id), auth=(key, ""))
            assert sent.status_code == 200, sent.text
            refused = await client.post("/v1/track", json=track("m-x"), auth=("pk_not-a-key-0000", ""))
            assert refused.status_code == 401  # the key lookup really went to the TLS Redis

        wrong = ssl.create_default_context(cafile=str(pki.wrong_ca))
        started = time.monotonic()
        async with httpx.AsyncClient(verify=wrong, timeout=10) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(f"{url}/readyz")
        assert time.monotonic() - started < 10
        async with httpx.AsyncClient(timeout=5) as client:
            with pytest.raises(httpx.HTTPError):  # no plaintext HTTP on the HTTPS port
                await client.get(url.replace("https://", "http://") + "/readyz")

    event = await find_message(settings, message_id)
    assert event["source"] == "web-tls"

    hot = ("hot", "run", "--metrics-port", str(settings.hot.metrics_port))
    redis = async_redis(settings.redis)
    try:
        with pulse_process(env, tmp_path / "hot.log", *hot) as updater:
            deadline = time.monotonic() + 60
            found: list[bytes] = []
            while not found:
                found = [k async for k in redis.scan_iter(match=f"{settings.hot.key_prefix}:*", count=1000)]
                if updater.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "hot.log").read_text(errors="replace")[-3000:])
                await asyncio.sleep(0.5)
            updater.send_signal(signal.SIGTERM)
    finally:
        await redis.aclose()


def test_keys_import_is_idempotent_and_keeps_revocations(tls_redis_settings: Settings, tmp_path: Path) -> None:
    env = child_env(tls_redis_settings)
    source = f"app-{uuid.uuid4().hex[:8]}"
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# initial sources\n{source}=pk_{uuid.uuid4().hex}\n")
    first = run_pulse(env, "keys", "import", str(keys))
    again = run_pulse(env, "keys", "import", str(keys))
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert first.stdout.split()[:2] == ["created", source]
    assert again.stdout.split()[:2] == ["kept", source]
    assert run_pulse(env, "keys", "revoke", source).returncode == 0
    after = run_pulse(env, "keys", "import", str(keys))
    assert after.stdout.startswith(f"kept, revoked {source}"), after.stdout + after.stderr
    listed = run_pulse(env, "keys", "list", "--json")
    mine = [orjson.loads(line) for line in listed.stdout.splitlines() if source in line]
    assert len(mine) == 1 and mine[0]["revoked_at"]


def test_keys_import_refuses_weak_or_reused_keys(tls_redis_settings: Settings, tmp_path: Path) -> None:
    env = child_env(tls_redis_settings)
    weak = tmp_path / "weak.txt"
    weak.write_text("app=short\n")
    done = run_pulse(env, "keys", "import", str(weak))
    assert done.returncode != 0 and "16+ characters" in done.stderr
    shared = f"pk_{uuid.uuid4().hex}"
    reused = tmp_path / "reused.txt"
    reused.write_text(f"one-{shared[-6:]}={shared}\ntwo-{shared[-6:]}={shared}\n")
    done = run_pulse(env, "keys", "import", str(reused))
    assert done.returncode != 0 and "already the key of source" in done.stderr


def test_keys_import_waits_for_redis_and_never_prints_the_password(tmp_path: Path, stack_settings: Settings) -> None:
    port = free_port()  # nothing listens here
    env = {**os.environ, **child_env(stack_settings), "PULSE_REDIS__URL": f"redis://:hunter2-secret@127.0.0.1:{port}/0"}
    keys = tmp_path / "keys.txt"
    keys.write_text(f"app=pk_{uuid.uuid4().hex}\n")
    started = time.monotonic()
    done = run_pulse(env, "keys", "import", str(keys), "--wait-s", "2")
    assert done.returncode != 0
    assert time.monotonic() - started >= 2
    assert "hunter2-secret" not in done.stdout + done.stderr
    assert "***" in done.stderr
