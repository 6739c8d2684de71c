"""The collector's HTTP contract on real Kafka and Redis: auth, limits, validation, dead letters,
enrichment from stored context, OpenAPI and metrics."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import uuid
from pathlib import Path

import orjson
import pytest

from pulse.collector.openapi import openapi_document
from pulse.contracts.events import Family
from pulse.settings import Settings
from tests.support.collector import app_client, new_key, read_topics, track

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(kafka_stack: Settings, redis_stack: Settings) -> Settings:
    return kafka_stack


def source() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


async def test_keys_are_required_known_and_revocable(settings: Settings, pulse_cli: object) -> None:
    name = source()
    key = await new_key(settings, name)
    async with app_client(settings) as client:
        body = {"batch": [track("m-auth")]}
        missing = await client.post("/v1/batch", json=body)
        unknown = await client.post("/v1/batch", json=body, auth=("pk_nope", ""))
        good = await client.post("/v1/batch", json=body, auth=(key, ""))
    assert (missing.status_code, unknown.status_code, good.status_code) == (401, 401, 200)
    assert "write key" in missing.json()["error"]
    listed = pulse_cli("keys", "list", "--json", check=True).stdout  # type: ignore[operator]
    assert name in listed and key not in listed, "only the hash is stored"
    pulse_cli("keys", "revoke", name, check=True)  # type: ignore[operator]
    async with app_client(settings) as client:  # a new worker: no cached lookup
        revoked = await client.post("/v1/batch", json=body, auth=(key, ""))
    assert revoked.status_code == 401


async def test_a_batch_accepts_valid_events_and_dead_letters_each_invalid_one(settings: Settings) -> None:
    name = source()
    key = await new_key(settings, name)
    batch = [
        track("m-ok-1"),
        track("m-bad-1", properties={"author_id": "a"}),
        track("m-custom", event="teleport"),
        track("m-ok-2", event="search", properties={"query": "cats"}),
        {"type": "track", "messageId": "m-bad-3", "event": "like"},
        track(
            "m-bad-4", event="ad_impression", properties={"campaign_id": "c", "creative_id": "k", "spend_micros": "x"}
        ),
    ]
    async with app_client(settings) as client:
        response = await client.post("/v1/batch", json={"batch": batch}, auth=(key, ""))
    assert response.status_code == 200
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (3, 3)
    assert [e["index"] for e in result["errors"]] == [1, 4, 5]
    assert "spend_micros" in result["errors"][2]["reason"]
    topics = await read_topics(settings, source=name)
    stored = {e["message_id"]: e for e in topics[Family.INTERACTIONS]}
    assert sorted(stored) == ["m-custom", "m-ok-1", "m-ok-2"]
    assert stored["m-custom"]["flags"] == ["unplanned"], "a source without a plan stores custom events, flagged"
    dead = {orjson.loads(d["payload"])["messageId"]: d for d in topics[Family.DEAD_LETTER]}
    assert set(dead) == {"m-bad-1", "m-bad-3", "m-bad-4"}
    assert dead["m-bad-1"]["reason_code"] == "missing_property" and "post_id" in dead["m-bad-1"]["reason"]
    assert dead["m-bad-3"]["reason_code"] == "missing_identity"
    assert all(d["failed_at"] and d["source"] == name for d in dead.values())


async def test_single_calls_answer_400_naming_the_field_and_dead_letter_it(settings: Settings) -> None:
    name = source()
    key = await new_key(settings, name)
    async with app_client(settings) as client:
        bad = await client.post(
            "/v1/track", json={**track("m-s1"), "properties": {"query": 5}, "event": "search"}, auth=(key, "")
        )
        ok = await client.post(
            "/v1/page",
            json={"messageId": "m-s2", "anonymousId": "a", "name": "Home", "timestamp": "2026-11-22T10:00:00Z"},
            auth=(key, ""),
        )
        not_json = await client.post("/v1/batch", content=b"{nope", auth=(key, ""))
    assert bad.status_code == 400 and "query" in bad.json()["error"]
    assert ok.status_code == 200
    assert not_json.status_code == 400 and "invalid batch body" in not_json.json()["error"]
    topics = await read_topics(settings, source=name)
    assert [e["call"] for e in topics[Family.INTERACTIONS]] == ["page"]
    assert {d["reason_code"] for d in topics[Family.DEAD_LETTER]} == {"bad_property", "bad_batch"}


async def test_size_limits_give_413_and_a_per_key_rate_limit_429(settings: Settings) -> None:
    key = await new_key(settings, source())
    slow = await new_key(settings, source(), rate=5)
    big_event = track("m-big", properties={**track("x")["properties"], "blob": "x" * 33_000})
    async with app_client(settings) as client:
        one = await client.post("/v1/track", json=big_event, auth=(key, ""))
        in_batch = await client.post("/v1/batch", json={"batch": [big_event, track("m-small")]}, auth=(key, ""))
        huge = await client.post("/v1/batch", json={"batch": [big_event] * 16}, auth=(key, ""))
        bomb = await client.post(
            "/v1/batch", content=gzip.compress(b" " * 2_000_000), headers={"Content-Encoding": "gzip"}, auth=(key, "")
        )
        # The limiter counts per wall-clock second: both requests must fall into one, so start one afresh.
        await asyncio.sleep(1.0 - time.time() % 1.0)
        first = await client.post("/v1/batch", json={"batch": [track(f"r{i}") for i in range(5)]}, auth=(slow, ""))
        limited = await client.post("/v1/batch", json={"batch": [track("r9")]}, auth=(slow, ""))
    assert one.status_code == 400 and "exceeds" in one.json()["error"]
    assert in_batch.status_code == 200 and in_batch.json()["rejected"] == 1
    assert huge.status_code == 413 and bomb.status_code == 413
    assert first.status_code == 200
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


async def test_gzip_bodies_and_clock_skew_are_handled(settings: Settings) -> None:
    name = source()
    key = await new_key(settings, name)
    body = {"batch": [track("m-skew", timestamp="2020-01-01T00:00:00Z")], "sentAt": "2020-01-01T00:00:01Z"}
    async with app_client(settings) as client:
        response = await client.post(
            "/v1/batch", content=gzip.compress(orjson.dumps(body)), headers={"Content-Encoding": "gzip"}, auth=(key, "")
        )
    assert response.status_code == 200, response.text
    (event,) = (await read_topics(settings, (Family.INTERACTIONS,), source=name))[Family.INTERACTIONS]
    assert "clock_skew_corrected" in event["flags"]
    assert event["event_time"] > "2026", "shifted by the device clock's error to near the receive time"


async def test_stored_user_and_post_context_fill_unknown_fields(
    settings: Settings, pulse_cli: object, tmp_path: Path
) -> None:
    name = source()
    key = await new_key(settings, name)
    user, bulk_user, post = f"u-{name}", f"bu-{name}", f"p-{name}"
    dims = tmp_path / "dims.jsonl"
    dims.write_text(json.dumps({"user_id": bulk_user, "country": "NO", "segment": "creator"}) + "\n")
    assert "loaded 1 rows" in pulse_cli("dims", "load", str(dims), check=True).stdout  # type: ignore[operator]
    identify = {
        "type": "identify",
        "messageId": "m-id",
        "userId": user,
        "timestamp": "2026-11-22T10:00:00Z",
        "traits": {"country": "KZ", "age_band": "25-34", "language": "kk"},
    }
    created = track(
        "m-post",
        event="post_created",
        userId="author-1",
        properties={"post_id": post, "author_id": "author-1", "category": "music", "hashtags": ["Jazz"]},
    )
    like = track("m-like", userId=user, properties={"post_id": post})  # missing content context: dead-lettered...
    view = track("m-view", event="search", userId=bulk_user, properties={"query": "jazz"})
    async with app_client(settings) as client:
        first = await client.post("/v1/batch", json={"batch": [identify, created]}, auth=(key, ""))
        share = track(
            "m-share",
            event="share",
            userId=user,
            properties={"post_id": post, "author_id": "", "category": "unknown", "hashtags": []},
        )
        second = await client.post("/v1/batch", json={"batch": [share, like, view]}, auth=(key, ""))
    assert first.status_code == second.status_code == 200
    events = {e["message_id"]: e for e in (await read_topics(settings, source=name))[Family.INTERACTIONS]}
    shared = events["m-share"]
    assert (shared["country"], shared["age_band"], shared["language"]) == ("KZ", "25-34", "kk")
    assert (shared["category"], shared["author_id"], shared["hashtags"]) == ("music", "author-1", ["jazz"])
    assert (events["m-view"]["country"], events["m-view"]["segment"]) == ("NO", "creator")
    assert events["m-view"]["city"] == "unknown", "missing context never blocks an event"


async def test_openapi_is_served_and_matches_the_repository_copy(settings: Settings) -> None:
    kept = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert kept == json.loads(orjson.dumps(openapi_document())), "regenerate docs/openapi.json (see docs/ingestion.md)"
    async with app_client(settings) as client:
        served = (await client.get("/openapi.json")).json()
        metrics = (await client.get("/metrics")).text
        ready = await client.get("/readyz")
    assert served == kept
    assert set(served["paths"]) >= {
        f"/v1/{c}" for c in ("batch", "track", "identify", "page", "screen", "group", "alias")
    }
    assert ready.status_code == 200
    for name in (
        "pulse_collector_events_accepted_total",
        "pulse_collector_events_rejected_total",
        "pulse_collector_request_duration_seconds",
        "pulse_collector_produce_duration_seconds",
        "pulse_collector_requests_in_flight",
        "pulse_collector_buffered_events",
    ):
        assert name in metrics
