"""Failures under load against a real collector and broker: a worker killed with SIGKILL, and
the broker stopped. Every event whose request got a 2xx must be in Kafka; while the broker is
down clients get 503 + Retry-After, and ingestion resumes by itself when it returns."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import orjson
import pytest

from pulse.settings import Settings
from tests.support.collector import collector_server, new_key, read_topics, track, worker_pids
from tests.support.stack import StackHandle


@dataclass
class Load:
    """What the clients saw: message ids of 2xx batches, and every status (or error) in order."""

    acked: set[str] = field(default_factory=set)
    statuses: list[tuple[float, int]] = field(default_factory=list)
    retry_after: set[str] = field(default_factory=set)


async def drive(url: str, key: str, seconds: float, load: Load, *, clients: int = 6, batch: int = 20) -> None:
    deadline = time.monotonic() + seconds

    async def client(number: int) -> None:
        async with httpx.AsyncClient(base_url=url, auth=(key, ""), timeout=30) as http:
            sequence = 0
            while time.monotonic() < deadline:
                ids = [f"{number}-{sequence}-{i}" for i in range(batch)]
                sequence += 1
                try:
                    response = await http.post("/v1/batch", json={"batch": [track(m, user=m) for m in ids]})
                except httpx.HTTPError:
                    load.statuses.append((time.monotonic(), 0))
                    await asyncio.sleep(0.05)
                    continue
                load.statuses.append((time.monotonic(), response.status_code))
                if response.status_code == 200:
                    load.acked.update(ids)
                elif response.status_code == 503:
                    load.retry_after.add(response.headers.get("retry-after", ""))
                    await asyncio.sleep(0.2)

    await asyncio.gather(*(client(n) for n in range(clients)))


def kafka_ids(settings: Settings, source: str) -> set[str]:
    topics = asyncio.run(read_topics(settings, source=source))
    return {event["message_id"] for events in topics.values() for event in events}


def run_with(action: Callable[[], None], after_s: float, url: str, key: str, seconds: float) -> Load:
    load = Load()

    async def scenario() -> None:
        sending = asyncio.create_task(drive(url, key, seconds, load))
        await asyncio.sleep(after_s)
        await asyncio.to_thread(action)
        await sending

    asyncio.run(scenario())
    return load


@pytest.fixture
def source_key(kafka_stack: Settings, redis_stack: Settings) -> tuple[str, str]:
    source = f"fail-{uuid.uuid4().hex[:8]}"
    return source, asyncio.run(new_key(kafka_stack, source))


def test_sigkill_of_a_worker_under_load_loses_no_acknowledged_event(
    kafka_stack: Settings, stack_env: dict[str, str], source_key: tuple[str, str]
) -> None:
    source, key = source_key
    with collector_server(stack_env, workers=2) as (url, process):
        victims = worker_pids(process.pid)
        assert len(victims) == 2
        load = run_with(lambda: os.kill(victims[0], signal.SIGKILL), 1.5, url, key, seconds=5.0)
        metrics = httpx.get(f"{url}/metrics", timeout=5).text  # summed over workers (multiprocess mode)
    accepted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("pulse_collector_events_accepted_total{")
    )
    assert accepted >= len(load.acked), "every worker's counters, the killed one's too, are summed"
    assert len(load.acked) > 500
    missing = load.acked - kafka_ids(kafka_stack, source)
    assert not missing, f"{len(missing)} acknowledged events are not in Kafka"


def test_a_stopped_broker_gives_503_and_ingestion_resumes_by_itself(
    kafka_stack: Settings, stack_env: dict[str, str], source_key: tuple[str, str], test_stack: StackHandle
) -> None:
    source, key = source_key
    extra = {"PULSE_COLLECTOR__DELIVERY_TIMEOUT_S": "3"}
    marks: dict[str, float] = {}

    def outage() -> None:
        with test_stack.outage("kafka"):
            marks["down"] = time.monotonic()
            time.sleep(6.0)
            marks["restarting"] = time.monotonic()  # the broker is surely down until here
        marks["up"] = time.monotonic()

    with collector_server(stack_env, extra=extra) as (url, _):
        load = run_with(outage, 1.5, url, key, seconds=40.0)
    during = [status for at, status in load.statuses if marks["down"] + 4 < at < marks["restarting"]]
    after = [status for at, status in load.statuses if at > marks["up"] + 10]
    assert during and set(during) == {503}, sorted(set(during))
    assert load.retry_after == {"5"}
    assert after and after.count(200) / len(after) > 0.9, "ingestion resumed without a restart"
    missing = load.acked - kafka_ids(kafka_stack, source)
    assert not missing, f"{len(missing)} acknowledged events are not in Kafka"


def test_sigterm_lets_an_in_flight_request_finish_before_exit(
    kafka_stack: Settings, stack_env: dict[str, str], source_key: tuple[str, str]
) -> None:
    source, key = source_key
    body = orjson.dumps({"batch": [track("drain-1")]})
    auth = base64.b64encode(f"{key}:".encode()).decode()
    head = f"POST /v1/batch HTTP/1.1\r\nHost: c\r\nAuthorization: Basic {auth}\r\nContent-Length: {len(body)}\r\n\r\n"
    with collector_server(stack_env) as (url, process):
        host, port = url.rsplit("//", 1)[1].split(":")
        with socket.create_connection((host, int(port)), timeout=30) as connection:
            connection.sendall(head.encode() + body[:10])  # the request is now in flight
            time.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            assert process.poll() is None, "the collector waits for the in-flight request"
            connection.sendall(body[10:])
            reply = connection.recv(65536)
        assert reply.startswith(b"HTTP/1.1 200"), reply
        process.wait(timeout=30)
    assert kafka_ids(kafka_stack, source) == {"drain-1"}
