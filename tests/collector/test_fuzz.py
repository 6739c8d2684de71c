"""Fuzzing the collector with 10,000 hypothesis-generated requests on real Kafka and Redis:
no 5xx, and every event the collector rejected is in the dead-letter topic with its reason.

Every endpoint, plain and gzip, with odd headers, and bodies that break decoders (deep nesting,
huge numbers, invalid UTF-8). ``PULSE_FUZZ_REQUESTS=100000`` scales the same test up for the
figure in docs/reliability.md (requests/s and time are printed: ``pytest -s``).
"""

from __future__ import annotations

import asyncio
import gzip
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pulse.contracts.events import Family
from pulse.contracts.segment import REQUIRED_PROPERTIES
from pulse.settings import Settings
from tests.support.collector import app_client, new_key, read_topics

# Each sent plain and gzipped, concurrently; small examples keep generation cheap (a big run may raise it).
REQUESTS_PER_EXAMPLE = int(os.environ.get("PULSE_FUZZ_REQUESTS_PER_EXAMPLE", "10"))
REQUESTS = int(os.environ.get("PULSE_FUZZ_REQUESTS", "10000"))
EXAMPLES = max(1, REQUESTS // (2 * REQUESTS_PER_EXAMPLE))
JSON = {"Content-Type": "application/json"}
GZIP = {**JSON, "Content-Encoding": "gzip"}

integers = st.integers(-(2**63), 2**63 - 1)
scalars = st.one_of(st.none(), st.booleans(), integers, st.floats(allow_nan=False), st.text(max_size=12))
keys = st.sampled_from(["", "a", "type", "batch", "post_id", "userId", "x" * 40])
json_values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(keys, scalars, max_size=3))
property_values = st.one_of(st.text(max_size=10), integers, st.lists(st.text(max_size=6), max_size=3), scalars)
timestamps = st.one_of(
    st.sampled_from(["2026-11-22T10:00:00Z", "2026-11-22T10:00:00", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]),
    st.text(max_size=12),
    st.none(),
)


D5, D10, D20, D30 = (st.integers(0, n - 1) for n in (5, 10, 20, 30))
field_names = st.sampled_from(["type", "messageId", "timestamp", "event", "properties", "traits", "context", "userId"])
calls = st.sampled_from(["track"] * 6 + ["identify", "page", "screen", "group", "alias", "bogus"])
events = st.sampled_from([*REQUIRED_PROPERTIES, "teleport", ""])
identities = st.sampled_from(["userId", "anonymousId", None])
trait_maps = st.dictionaries(st.sampled_from(["country", "city", "age_band", "x"]), property_values, max_size=3)
contexts: st.SearchStrategy[Any] = st.one_of(
    st.just({}), st.fixed_dictionaries({"userAgent": st.text(max_size=40)}), json_values
)
message_ids = st.one_of(st.uuids().map(str), st.just(""), integers)
identity_values = st.one_of(st.text(min_size=1, max_size=10), integers)


@st.composite
def messages(draw: st.DrawFn) -> Any:
    """Mostly near-valid Segment messages with one thing wrong now and then, sometimes junk."""
    if draw(D10) == 0:
        return draw(json_values)
    call = draw(calls)
    event = draw(events)
    required = REQUIRED_PROPERTIES.get(event, ())
    properties = {name: draw(property_values) for name in required if draw(D20)}
    message: dict[str, Any] = {
        "type": call,
        "messageId": draw(message_ids),
        "timestamp": draw(timestamps),
        "event": event,
        "properties": properties,
        "traits": draw(trait_maps),
        "context": draw(contexts),
    }
    identity = draw(identities)
    if identity:
        message[identity] = draw(identity_values)
    if draw(D5) == 0:
        message[draw(field_names)] = draw(json_values)
    return message


message_lists = st.lists(messages(), max_size=5)
paths = st.sampled_from(["batch"] * 4 + ["import", "track", "identify", "page", "screen", "group", "alias"])
BATCH_PATHS = ("/v1/batch", "/v1/import")
junk = st.binary(max_size=64)
nesting = st.integers(100, 3000).map(lambda depth: b"[" * depth + b"]" * depth)
huge_numbers = st.integers(20, 400).map(lambda digits: b"9" * digits) | st.just(b"1e99999")
invalid_utf8 = st.sampled_from([b'"\xff"', b'"\xc3\x28"', b'"\xed\xa0\x80"', b'"\xf0\x28\x8c\xbc"'])
hostile_values = st.one_of(nesting, huge_numbers, invalid_utf8)
extra_headers = st.dictionaries(
    st.sampled_from(["X-Forwarded-For", "User-Agent", "X-Pad", "Accept", "Content-Type", "Content-Encoding"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=200),
    max_size=3,
)
booleans = st.booleans()
auth_modes = st.sampled_from(["key"] * 18 + ["none", "unknown"])


Request = tuple[str, bytes, str, bool, dict[str, str]]


def with_hostile_value(body: bytes, value: bytes) -> bytes:
    """The body with ``value`` spliced in as a property (or as the whole body when it is no object)."""
    if body.endswith(b"}"):
        return body[:-1] + (b"," if len(body) > 2 else b"") + b'"zz":' + value + b"}"
    return value


@st.composite
def requests(draw: st.DrawFn) -> Request:
    """(path, body, auth mode, corrupt gzip, headers) of one request; it is sent plain and gzip-compressed."""
    path = draw(paths)
    if path in ("batch", "import"):
        payload: Any = {"batch": draw(message_lists), "sentAt": draw(timestamps)}
        if draw(D20) == 0:
            payload = draw(json_values)
    else:
        payload = draw(messages())
    body = orjson.dumps(payload)
    if draw(D20) == 0:
        body = with_hostile_value(body, draw(hostile_values))
    if draw(D30) == 0:
        body = draw(junk)
    headers = draw(extra_headers) if draw(D5) == 0 else {}
    return f"/v1/{path}", body, draw(auth_modes), draw(D30) == 0, headers


class Loop:
    """One event loop in a thread, holding the app, so each hypothesis example reuses it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any, timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def fuzz_client(kafka_stack: Settings, redis_stack: Settings) -> Iterator[tuple[Loop, httpx.AsyncClient]]:
    loop = Loop()
    # One client address sends every unknown key here; the brute-force limit has its own tests.
    unlimited = kafka_stack.collector.model_copy(update={"auth_failures_per_minute": 0})
    context = app_client(kafka_stack.model_copy(update={"collector": unlimited}))
    client = loop.run(context.__aenter__())
    try:
        yield loop, client
    finally:
        loop.run(context.__aexit__(None, None, None))
        loop.close()


def test_fuzzed_requests_give_no_5xx_and_dead_letter_every_rejection(
    fuzz_client: tuple[Loop, httpx.AsyncClient], kafka_stack: Settings
) -> None:
    loop, client = fuzz_client
    source = f"fuzz-{uuid.uuid4().hex[:8]}"
    key = loop.run(new_key(kafka_stack, source))
    auths: dict[str, Any] = {"key": (key, ""), "unknown": ("pk_unknown", ""), "none": httpx.USE_CLIENT_DEFAULT}
    tally = {"requests": 0, "accepted": 0, "dead": 0}
    started = time.monotonic()
    statuses: dict[int, int] = {}

    async def send(batch: list[Request]) -> list[tuple[httpx.Response, httpx.Response]]:
        async def both(
            path: str, body: bytes, auth: str, corrupt: bool, headers: dict[str, str]
        ) -> tuple[httpx.Response, httpx.Response]:
            compressed = gzip.compress(body)
            if corrupt:
                compressed = compressed[: len(compressed) // 2]
            extra = {k: v for k, v in headers.items() if k != "Content-Encoding"}
            return await asyncio.gather(
                client.post(path, content=body, headers={**JSON, **headers}, auth=auths[auth]),
                client.post(path, content=compressed, headers={**GZIP, **extra}, auth=auths[auth]),
            )

        return await asyncio.gather(*(both(*request) for request in batch))

    def count(path: str, auth: str, response: httpx.Response) -> None:
        tally["requests"] += 1
        if tally["requests"] % 10_000 == 0 and REQUESTS > 10_000:  # a long run shows its pace as it goes
            elapsed = time.monotonic() - started
            print(f"fuzz: {tally['requests']:,} requests, {elapsed:.0f} s, load {os.getloadavg()[0]:.1f}", flush=True)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in (200, 400, 401, 413), response.text
        reply = response.json()
        if response.status_code == 200 and path in BATCH_PATHS:
            tally["accepted"] += reply["accepted"]
            tally["dead"] += reply["rejected"]
            assert reply["rejected"] == len(reply["errors"])
        elif response.status_code == 200:
            tally["accepted"] += 1
        elif response.status_code == 400:
            assert reply["error"], "every rejection says why"
            tally["dead"] += 1
        elif response.status_code == 401:
            assert auth != "key"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],  # shrinking would blow the CI budget; failures print the example
    )
    @given(st.lists(requests(), min_size=REQUESTS_PER_EXAMPLE, max_size=REQUESTS_PER_EXAMPLE))
    def example(batch: list[Request]) -> None:
        for (path, _, auth, corrupt, headers), (plain, gzipped) in zip(batch, loop.run(send(batch)), strict=True):
            count(path, auth, plain)
            count(path, auth, gzipped)
            if not corrupt and "Content-Encoding" not in headers:
                assert plain.status_code == gzipped.status_code, "gzip must not change the answer"

    example()
    seconds = time.monotonic() - started
    print(
        f"\nfuzz: {tally['requests']:,} requests in {seconds:.0f} s ({tally['requests'] / seconds:,.0f}/s), "
        f"load average {os.getloadavg()[0]:.2f}, statuses {dict(sorted(statuses.items()))}"
    )
    assert tally["requests"] >= EXAMPLES * REQUESTS_PER_EXAMPLE * 2
    assert statuses.get(200, 0) > 1_000 and statuses.get(400, 0) > 100, statuses
    topics = loop.run(read_topics(kafka_stack, source=source))
    dead = topics.pop(Family.DEAD_LETTER)
    assert len(dead) == tally["dead"]
    assert all(d["reason"] and d["reason_code"] and d["failed_at"] for d in dead)
    assert sum(len(events) for events in topics.values()) == tally["accepted"]
