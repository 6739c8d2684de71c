"""The HTTP sender against a real local server that sometimes fails: retries keep the very same
messageIds, and the truth counts exactly the batches the server acknowledged."""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pulse.contracts.segment import decode_batch
from pulse.generator.sender import send
from pulse.generator.traffic import BurstSpec, TrafficConfig, TrafficGenerator
from pulse.generator.truth import load_truth
from tests.support.recount import assert_truth_matches

START = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)


@dataclass
class Received:
    path: str
    auth: str
    body: bytes
    status: int
    at_ms: int


@dataclass
class FlakyCollector:
    """Answers 200, except: every 3rd batch fails once with 503, every 7th twice with 429, and
    every 13th always with 503 (so the sender gives up on it)."""

    requests: list[Received] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    flaky: bool = True
    retry_after: str = "0"
    #: Until this ``time.monotonic()``, every request is answered 503 (an outage).
    down_until: float = 0.0

    def answer(self, first_id: str) -> int:
        with self.lock:
            self.attempts[first_id] += 1
            tries = self.attempts[first_id]
        if time.monotonic() < self.down_until:
            return 503
        if not self.flaky:
            return 200
        number = int(first_id[-12:], 16)  # the counter part of the id
        if number % 13 == 0:
            return 503
        if number % 7 == 0 and tries <= 2:
            return 429
        if number % 3 == 0 and tries == 1:
            return 503
        return 200


@pytest.fixture
def collector() -> Iterator[tuple[str, FlakyCollector]]:
    state = FlakyCollector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            first_id = decode_batch(body).batch[0].message_id
            status = state.answer(first_id)
            with state.lock:
                state.requests.append(
                    Received(self.path, self.headers.get("Authorization", ""), body, status, int(time.time() * 1000))
                )
            payload = b'{"success":true}' if status == 200 else b'{"error":"try later"}'
            self.send_response(status)
            if status != 200:
                self.send_header("Retry-After", state.retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


FLAKY = BurstSpec("flaky", 2, 4)
CONFIG = TrafficConfig(
    seed=21, start=START, rate=500.0, users=3_000, posts=500, campaigns=4, batch_size=50, bursts=(FLAKY,)
)


async def test_retries_keep_message_ids_and_truth_counts_only_acknowledged(
    collector: tuple[str, FlakyCollector],
) -> None:
    url, server = collector
    report = await send(
        TrafficGenerator(CONFIG),
        url,
        "test-key",
        events=6_000,
        paced=False,
        concurrency=4,
        max_attempts=4,
        backoff_s=0.001,
    )
    expected_auth = "Basic " + base64.b64encode(b"test-key:").decode()
    assert all(r.path == "/v1/batch" and r.auth == expected_auth for r in server.requests)

    bodies: dict[str, set[bytes]] = {}
    acked: dict[str, bytes] = {}
    for received in server.requests:
        first_id = decode_batch(received.body).batch[0].message_id
        bodies.setdefault(first_id, set()).add(received.body)
        if received.status == 200:
            assert first_id not in acked, "a batch was acknowledged twice"
            acked[first_id] = received.body
    # a retry re-sends the very same messages (its sentAt is its own: see the next test)
    assert all(decode_batch(b).batch == decode_batch(next(iter(v))).batch for v in bodies.values() for b in v)
    retried = [first for first, n in server.attempts.items() if n > 1]
    assert len(retried) > 10
    lost = set(bodies) - set(acked)
    assert lost and all(server.attempts[first] == 4 for first in lost)

    lost_ids = sorted(m.message_id for first in lost for m in decode_batch(next(iter(bodies[first]))).batch)
    assert report.unacknowledged.message_ids == lost_ids
    assert report.unacknowledged.batches == len(lost)
    assert report.unacknowledged.statuses == {"503": len(lost)}
    assert report.events + report.unacknowledged.events == 6_000
    assert report.delivery is not None and report.delivery.retries == len(server.requests) - len(bodies)
    # every figure of the truth is a recount of exactly the acknowledged bodies
    assert_truth_matches(b"\n".join(acked.values()), report, unacknowledged=len(lost_ids))


async def test_a_retry_is_stamped_with_its_own_sent_at(collector: tuple[str, FlakyCollector]) -> None:
    """As Segment's SDKs do: the collector corrects clock skew by receivedAt - sentAt, so a retry
    keeping its first sentAt would shift its events by the time it waited."""
    url, server = collector
    server.retry_after = "1"
    await send(TrafficGenerator(CONFIG), url, "k", events=300, paced=False, max_attempts=2, backoff_s=0.001)
    tries: dict[str, list[tuple[int, int]]] = {}
    for received in server.requests:
        body = decode_batch(received.body)
        assert body.sent_at is not None
        tries.setdefault(body.batch[0].message_id, []).append((int(body.sent_at.timestamp() * 1000), received.at_ms))
    retried = [sorted(attempts) for attempts in tries.values() if len(attempts) > 1]
    assert retried, "the collector asked for no retry"
    for (first_sent, _), (again_sent, again_received) in retried:
        assert again_sent - first_sent >= 900  # it waited Retry-After: 1 ...
        assert 0 <= again_received - again_sent < 500  # ... and says when it really sent


async def test_paced_sending_follows_the_wall_clock(collector: tuple[str, FlakyCollector]) -> None:
    url, server = collector
    server.flaky = False
    began = time.monotonic()
    # traffic starting a second from now: building the generator is not counted as sending late
    soon = datetime.now(UTC) + timedelta(seconds=1)
    report = await send(TrafficGenerator(replace(CONFIG, start=soon, rate=400.0, batch_size=40)), url, "k", seconds=2.0)
    elapsed = time.monotonic() - began
    assert report.events == 800
    assert 2.8 <= elapsed < 7
    for received in server.requests:
        body = decode_batch(received.body)
        last = max(m.timestamp for m in body.batch if m.timestamp is not None)
        lag_ms = received.at_ms - last.timestamp() * 1000
        assert -5 <= lag_ms < 1500, lag_ms  # never sent before its events happened, never far behind
        assert body.sent_at is not None and body.sent_at >= last


async def test_paced_sending_catches_up_after_an_outage(collector: tuple[str, FlakyCollector]) -> None:
    """After the collector was down for 2 s, the sender flushes what it held back (at up to twice the
    rate, as an SDK empties its queue) instead of staying 2 s behind for the rest of the run, which
    would count the client's delay as the pipeline's."""
    url, server = collector
    server.flaky = False
    soon = datetime.now(UTC) + timedelta(seconds=1)
    server.down_until = time.monotonic() + 3.0  # from the first batch to 2 s into the traffic
    generator = TrafficGenerator(replace(CONFIG, start=soon, rate=400.0, batch_size=40, bursts=()))
    report = await send(generator, url, "k", seconds=8.0, max_attempts=20, backoff_s=0.05)
    assert report.events == 3_200
    accepted = [r for r in server.requests if r.status == 200]
    assert len(accepted) == 80
    lags = []
    for received in accepted:
        body = decode_batch(received.body)
        last = max(m.timestamp for m in body.batch if m.timestamp is not None)
        lags.append(received.at_ms - last.timestamp() * 1000)
    assert max(lags) >= 1_500, "the outage should have held batches back"
    assert max(lags[-10:]) < 500, f"still behind at the end: {lags[-10:]}"


def test_cli_file_mode_is_reproducible(tmp_path: Path) -> None:
    def run(name: str) -> tuple[bytes, bytes]:
        out = tmp_path / f"{name}.jsonl"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pulse",
                "generate",
                "--out",
                str(out),
                "--seconds",
                "20",
                "--rate",
                "200",
                "--seed",
                "3",
                "--start",
                "2026-11-22T20:00:00Z",
                "--users",
                "2000",
                "--posts",
                "300",
                "--quiet",
                "--burst",
                "#CliTag:5:10",
            ],
            check=True,
            capture_output=True,
        )
        return out.read_bytes(), (tmp_path / f"{name}.jsonl.truth.json").read_bytes()

    first, second = run("a"), run("b")
    assert first == second
    report = load_truth(tmp_path / "a.jsonl.truth.json")
    assert report.events == 4_000 and report.bursts[0].tag == "clitag" and report.bursts[0].events > 0
    assert_truth_matches(first[0], report)


def test_cli_sends_to_a_collector(tmp_path: Path, collector: tuple[str, FlakyCollector]) -> None:
    url, server = collector
    server.flaky = False
    truth = tmp_path / "live.truth.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pulse",
            "generate",
            "--url",
            url,
            "--write-key",
            "wk",
            "--events",
            "300",
            "--rate",
            "1000",
            "--users",
            "2000",
            "--posts",
            "300",
            "--truth",
            str(truth),
            "--quiet",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    report = load_truth(truth)
    assert report.events == 300 and report.unacknowledged.events == 0, result.stderr
    assert sum(len(decode_batch(r.body).batch) for r in server.requests) == 300
