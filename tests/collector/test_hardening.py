"""Hostile clients against the collector on real Redis and Kafka: write-key guessing is limited per
client address across workers, slow or endless bodies and headers are cut off with a reason, bodies
that break decoders get 400 (never 5xx), and a worker past its in-flight budget sheds with 503."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from ipaddress import ip_address, ip_network
from typing import Any

import httpx
import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from pulse.collector.app import create_app
from pulse.collector.clients import PREFIX, WINDOW_S, client_address
from pulse.collector.keys import INDEX, KeyStore, hash_key
from pulse.contracts.events import Family
from pulse.settings import Settings
from tests.support.collector import collector_server, new_key, read_topics, track

LIMIT = 3
BODY_TIMEOUT_S = 1.0
MAX_HEADER_BYTES = 4096
MAX_BATCH_BYTES = 64 * 1024
MAX_IN_FLIGHT = 2


def with_collector(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"collector": settings.collector.model_copy(update=changes)})


@asynccontextmanager
async def client_of(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process; its peer is 127.0.0.1, a trusted proxy here, so X-Forwarded-For names the client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
            yield client


def fresh_address() -> str:
    return str(ip_address(0x0A000000 + uuid.uuid4().int % 0xFFFFFF))  # somewhere in 10.0.0.0/8


def wait_for_a_fresh_window(needed_s: float = 15.0) -> None:
    """Failures count per minute: start where the window will not roll over mid-test."""
    left = WINDOW_S - time.time() % WINDOW_S
    if left < needed_s:
        time.sleep(left + 0.1)


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


# --- client address ---------------------------------------------------------------------------

octets = st.integers(0, 255)
addresses = st.tuples(octets, octets, octets, octets).map(lambda o: ".".join(map(str, o)))
PROXIES = [ip_network("10.9.0.0/16"), ip_network("192.168.7.7/32")]
proxy_hops = st.sampled_from(["10.9.0.1", "10.9.255.254", "192.168.7.7"])


def scope_of(peer: str, forwarded: list[str]) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", ", ".join(forwarded).encode())] if forwarded else []
    return {"client": (peer, 5555), "headers": headers}


@given(peer=addresses, forwarded=st.lists(addresses, max_size=4))
def test_an_untrusted_peer_is_the_client_whatever_it_forwards(peer: str, forwarded: list[str]) -> None:
    if any(ip_address(peer) in net for net in PROXIES):
        return
    assert client_address(scope_of(peer, forwarded), PROXIES) == peer
    assert client_address(scope_of(peer, forwarded), []) == peer


@given(
    proxy=proxy_hops,
    spoofed=st.lists(addresses, max_size=3),
    client=addresses,
    chain=st.lists(proxy_hops, max_size=3),
)
def test_behind_trusted_proxies_the_client_is_the_last_untrusted_hop(
    proxy: str, spoofed: list[str], client: str, chain: list[str]
) -> None:
    """Whatever a client writes into X-Forwarded-For itself (``spoofed``) comes before its real address."""
    if any(ip_address(client) in net for net in PROXIES):
        return
    assert client_address(scope_of(proxy, [*spoofed, client, *chain]), PROXIES) == client


def test_garbage_forwarded_for_falls_back_to_the_peer() -> None:
    assert client_address(scope_of("10.9.0.1", ["not-an-address"]), PROXIES) == "10.9.0.1"


# --- write keys: brute force and the constant-time compare ------------------------------------


async def test_unknown_keys_past_the_limit_block_the_address_for_the_minute(
    kafka_stack: Settings, redis_stack: Settings
) -> None:
    wait_for_a_fresh_window()
    limited = with_collector(kafka_stack, auth_failures_per_minute=LIMIT, trusted_proxies=[ip_network("127.0.0.1/32")])
    key = await new_key(kafka_stack, f"hard-{uuid.uuid4().hex[:8]}")
    attacker, bystander = fresh_address(), fresh_address()
    body = {"batch": [track(str(uuid.uuid4()))]}
    async with client_of(limited) as client:

        async def post(write_key: str, address: str) -> httpx.Response:
            headers = {**basic(write_key), "X-Forwarded-For": address}
            return await client.post("/v1/batch", json=body, headers=headers)

        deadline = time.monotonic() + 60
        while (await post(key, bystander)).status_code != 200:  # a fresh broker elects its leaders first
            assert time.monotonic() < deadline, "the collector never accepted a valid request"
            await asyncio.sleep(0.5)
        for guess in range(LIMIT):
            assert (await post(f"pk_guess{guess}", attacker)).status_code == 401
        blocked = await post(key, attacker)  # even the right key: a blocked guess must not be confirmed
        assert blocked.status_code == 429
        assert "too many unknown write keys" in blocked.json()["error"]
        assert 1 <= int(blocked.headers["retry-after"]) <= WINDOW_S
        assert (await post("pk_guess_more", attacker)).status_code == 429
        assert (await post(key, bystander)).status_code == 200, "other addresses are not affected"
        # A missing key is a misconfigured SDK, not a guess: it is refused without counting.
        missing = await client.post("/v1/track", json=track("m"), headers={"X-Forwarded-For": bystander})
        assert missing.status_code == 401
        assert (await post(key, bystander)).status_code == 200


def test_the_failure_budget_is_shared_by_all_workers(stack_env: dict[str, str], kafka_stack: Settings) -> None:
    """Guesses spread over two worker processes count against one budget in Redis."""
    wait_for_a_fresh_window(30)
    key = asyncio.run(new_key(kafka_stack, f"hard-{uuid.uuid4().hex[:8]}"))
    extra = {"PULSE_COLLECTOR__AUTH_FAILURES_PER_MINUTE": str(LIMIT * 2), "PULSE_COLLECTOR__WORKERS": "2"}
    asyncio.run(_forget_failures("127.0.0.1", kafka_stack))
    with collector_server(stack_env, workers=2, extra=extra) as (url, _):
        try:
            _shared_budget(url, key, kafka_stack)
        finally:  # other tests of the session post from 127.0.0.1 too
            asyncio.run(_forget_failures("127.0.0.1", kafka_stack))


def _shared_budget(url: str, key: str, kafka_stack: Settings) -> None:
    statuses = []
    for guess in range(LIMIT * 2):  # a new connection each time: the kernel spreads them over the workers
        with httpx.Client(base_url=url) as http:
            statuses.append(http.post("/v1/track", json=track("g"), headers=basic(f"pk_guess{guess}")).status_code)
    assert statuses == [401] * (LIMIT * 2)
    counted = asyncio.run(_failures_of("127.0.0.1", kafka_stack))
    assert counted == LIMIT * 2
    time.sleep(1.1)  # each worker's copy of the count is at most a second old
    for _ in range(4):
        with httpx.Client(base_url=url) as http:
            response = http.post("/v1/track", json=track(str(uuid.uuid4())), headers=basic(key))
        assert response.status_code == 429, response.text
        assert response.headers["retry-after"]
    # X-Forwarded-For from an untrusted peer changes nothing (no trusted proxies are configured).
    with httpx.Client(base_url=url) as http:
        spoofed = http.post("/v1/track", json=track("s"), headers={**basic(key), "X-Forwarded-For": "10.1.2.3"})
    assert spoofed.status_code == 429


async def _failures_of(address: str, settings: Settings) -> int:
    redis = Redis.from_url(settings.redis.url)
    try:
        return int(await redis.get(f"{PREFIX}{address}:{int(time.time() // WINDOW_S)}") or 0)
    finally:
        await redis.aclose()


async def _forget_failures(address: str, settings: Settings) -> None:
    redis = Redis.from_url(settings.redis.url)
    try:
        keys = [k async for k in redis.scan_iter(f"{PREFIX}{address}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def test_a_record_is_trusted_only_when_its_stored_hash_matches_the_key(redis_stack: Settings) -> None:
    """The stored hash is compared (in constant time) to the presented key's: a record filed under the
    wrong field is refused rather than granting another key's source."""
    redis = Redis.from_url(redis_stack.redis.url)
    try:
        store = KeyStore(redis, cache_ttl_s=0.01)
        write_key, record = await store.create(f"hard-{uuid.uuid4().hex[:8]}")
        assert await store.lookup(write_key) == record
        other = f"pk_other_{uuid.uuid4().hex}"
        misfiled = msgspec.structs.replace(record, source="x")  # still carries write_key's hash
        await redis.hset(INDEX, hash_key(other), msgspec.json.encode(misfiled))
        assert await store.lookup(other) is None
        await redis.hdel(INDEX, hash_key(other))
    finally:
        await redis.aclose()


# --- bodies that break decoders -----------------------------------------------------------------

depths = st.integers(200, 200_000)
digits = st.integers(20, 20_000)
bad_utf8 = st.binary(min_size=1, max_size=8).filter(lambda b: not _is_utf8(b))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


@st.composite
def hostile_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """(path, body): deep nesting, huge numbers or invalid UTF-8, in the envelope or inside one message."""
    kind = draw(st.sampled_from(["deep", "number", "utf8"]))
    if kind == "deep":
        depth = draw(depths)
        value = draw(st.sampled_from([b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth]))
    elif kind == "number":
        number = draw(st.sampled_from([b"1", b"-9", b"1e", b"0."])) + b"9" * draw(digits)
        value = number + draw(st.sampled_from([b"", b"e999999", b".5"]))
    else:
        value = b'"' + draw(bad_utf8).replace(b'"', b"") + b'"'
    message = orjson.dumps(track(str(uuid.uuid4())))[:-1] + b',"properties":{"x":' + value + b"}}"
    path, body = draw(
        st.sampled_from(
            [
                ("/v1/batch", b'{"batch":[' + message + b"]}"),
                ("/v1/batch", b'{"batch":[],"x":' + value + b"}"),
                ("/v1/import", b'{"batch":' + value + b"}"),
                ("/v1/track", message),
                ("/v1/identify", b'{"userId":"u","traits":' + value + b"}"),
            ]
        )
    )
    return path, body


@pytest.fixture(scope="module")
def hostile_source() -> str:
    return f"hostile-{uuid.uuid4().hex[:8]}"


async def test_deep_nesting_huge_numbers_and_invalid_utf8_get_a_reason_never_a_5xx(
    kafka_stack: Settings, redis_stack: Settings, hostile_source: str
) -> None:
    key = await new_key(kafka_stack, hostile_source)
    seen: list[tuple[str, bytes, int, dict[str, Any]]] = []
    async with client_of(kafka_stack) as client:
        loop = asyncio.get_running_loop()

        @settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(hostile_bodies())
        def example(request: tuple[str, bytes]) -> None:
            path, body = request
            future = asyncio.run_coroutine_threadsafe(
                client.post(path, content=body, headers={**basic(key), "Content-Type": "application/json"}), loop
            )
            response = future.result(60)
            seen.append((path, body, response.status_code, response.json()))

        await loop.run_in_executor(None, example)
    dead_expected = 0
    for path, body, status, reply in seen:
        assert status in (200, 400, 413), (path, body[:200], status, reply)
        if status == 400:
            assert reply["error"], "every rejection says why"
            dead_expected += 1
        elif status == 200:
            assert reply.get("rejected", 0) == len(reply.get("errors", []))
            assert all(e["reason"] for e in reply.get("errors", []))
            dead_expected += reply.get("rejected", 0)
        else:
            assert reply["error"]
    assert any(status == 400 for *_, status, _ in seen)
    dead = (await read_topics(kafka_stack, (Family.DEAD_LETTER,), source=hostile_source))[Family.DEAD_LETTER]
    assert len(dead) == dead_expected, "every rejected event or body is a dead letter with its reason"
    assert all(d["reason"] for d in dead)


async def test_a_batch_nested_past_the_decoders_limit_is_400_with_its_reason(
    kafka_stack: Settings, redis_stack: Settings
) -> None:
    """This one answered 500 before: msgspec raised RecursionError out of the batch decoder."""
    key = await new_key(kafka_stack, f"hard-{uuid.uuid4().hex[:8]}")
    async with client_of(kafka_stack) as client:
        response = await client.post(
            "/v1/batch", content=b'{"batch":' + b"[" * 50_000 + b"]" * 50_000 + b"}", headers=basic(key)
        )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["error"]


# --- slow bodies, big bodies, big headers, and shedding, on a real server ------------------------


@pytest.fixture(scope="module")
def guarded(stack_env: dict[str, str], kafka_stack: Settings, redis_stack: Settings) -> Iterator[tuple[str, str]]:
    """A one-worker collector with small limits: (base URL, write key)."""
    key = asyncio.run(new_key(kafka_stack, f"hard-{uuid.uuid4().hex[:8]}"))
    extra = {
        "PULSE_COLLECTOR__BODY_READ_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "PULSE_COLLECTOR__MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
        "PULSE_COLLECTOR__MAX_BATCH_BYTES": str(MAX_BATCH_BYTES),
        "PULSE_COLLECTOR__MAX_IN_FLIGHT": str(MAX_IN_FLIGHT),
        "PULSE_COLLECTOR__RETRY_AFTER_S": "2",
    }
    with collector_server(stack_env, workers=1, extra=extra) as (url, _):
        yield url, key


def connect(url: str) -> socket.socket:
    host, port = url.rsplit("//", 1)[1].split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def head(key: str, *, length: int | None = None, chunked: bool = False, extra: str = "") -> bytes:
    auth = base64.b64encode(f"{key}:".encode()).decode()
    lines = [
        "POST /v1/batch HTTP/1.1",
        "Host: collector",
        f"Authorization: Basic {auth}",
        "Content-Type: application/json",
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def response_of(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Status, headers and JSON body of one response (read until the body is complete or the peer closes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    top, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(status_line.split()[1]), headers, orjson.loads(rest[:length]) if length else {}


def valid_body() -> bytes:
    return orjson.dumps({"batch": [track(str(uuid.uuid4()))]})


def test_a_body_trickling_past_the_deadline_gets_408(guarded: tuple[str, str]) -> None:
    url, key = guarded
    body = valid_body()
    with connect(url) as sock:
        started = time.monotonic()
        sock.sendall(head(key, length=len(body)) + body[:10])
        status, headers, reply = response_of(sock)
        waited = time.monotonic() - started
    assert status == 408
    assert "not received within" in reply["error"]
    assert headers.get("connection") == "close"
    assert BODY_TIMEOUT_S * 0.9 <= waited < BODY_TIMEOUT_S + 5


def test_a_chunked_body_past_the_limit_gets_413_without_reading_it_all(guarded: tuple[str, str]) -> None:
    url, key = guarded
    chunk = b"x" * 16384
    with connect(url) as sock:
        sock.sendall(head(key, chunked=True))
        try:
            for _ in range(MAX_BATCH_BYTES // len(chunk) + 2):
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except OSError:
            pass  # the server may close before the client has finished: that is the point
        status, _, reply = response_of(sock)
    assert status == 413
    assert f"exceeds {MAX_BATCH_BYTES} bytes" in reply["error"]


def test_a_chunked_body_within_the_limit_is_accepted(guarded: tuple[str, str]) -> None:
    url, key = guarded
    body = valid_body()
    with connect(url) as sock:
        sock.sendall(head(key, chunked=True))
        for start in range(0, len(body), 50):
            part = body[start : start + 50]
            sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        status, _, reply = response_of(sock)
    assert status == 200, reply
    assert reply["accepted"] == 1


@given(size=st.integers(MAX_HEADER_BYTES + 1, 20 * MAX_HEADER_BYTES), pieces=st.integers(1, 8))
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_headers_past_the_limit_get_431_whole_or_trickled(guarded: tuple[str, str], size: int, pieces: int) -> None:
    url, key = guarded
    request = head(key, length=2, extra=f"X-Padding: {'p' * size}\r\n") + b"{}"
    step = len(request) // pieces + 1
    with connect(url) as sock:
        try:
            for start in range(0, len(request), step):
                sock.sendall(request[start : start + step])
                time.sleep(0.01)
        except OSError:
            pass
        status, _, reply = response_of(sock)
    assert status == 431
    assert f"exceed {MAX_HEADER_BYTES} bytes" in reply["error"]


def test_a_header_that_never_ends_is_cut_off(guarded: tuple[str, str]) -> None:
    url, key = guarded
    with connect(url) as sock:
        sock.sendall(head(key, length=2)[:-2] + b"X-Endless: ")
        sent = 0
        try:
            while sent < 50 * MAX_HEADER_BYTES:
                sock.sendall(b"e" * 1024)
                sent += 1024
        except OSError:
            pass
        status, _, reply = response_of(sock)
    assert status == 431, "refused while the header is still coming"
    assert reply["error"]


def test_headers_just_within_the_limit_are_served(guarded: tuple[str, str]) -> None:
    url, key = guarded
    body = valid_body()
    padding = "p" * (MAX_HEADER_BYTES - 400)
    with connect(url) as sock:
        sock.sendall(head(key, length=len(body), extra=f"X-Padding: {padding}\r\n") + body)
        status, _, reply = response_of(sock)
    assert status == 200, reply


def test_past_the_in_flight_budget_requests_are_shed_at_once_with_retry_after(guarded: tuple[str, str]) -> None:
    url, key = guarded
    body = valid_body()
    before = shed_total(url)
    holders = [connect(url) for _ in range(MAX_IN_FLIGHT)]
    try:
        for sock in holders:  # each holds a slot while its body is still coming
            sock.sendall(head(key, length=len(body)) + body[:5])
        time.sleep(0.2)
        started = time.monotonic()
        shed = httpx.post(f"{url}/v1/batch", content=body, headers=basic(key), timeout=5)
        assert time.monotonic() - started < BODY_TIMEOUT_S / 2, "shed at once, not after a wait"
        assert shed.status_code == 503
        assert shed.headers["retry-after"] == "2"
        assert "at capacity" in shed.json()["error"]
        for sock in holders:
            sock.sendall(body[5:])
        for sock in holders:
            assert response_of(sock)[0] == 200
    finally:
        for sock in holders:
            sock.close()
    assert shed_total(url) == before + 1
    assert httpx.post(f"{url}/v1/batch", content=body, headers=basic(key), timeout=5).status_code == 200


def shed_total(url: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith("pulse_collector_requests_shed_total "):
            return float(line.split()[1])
    return 0.0
