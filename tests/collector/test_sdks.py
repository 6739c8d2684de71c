"""Official Segment and RudderStack SDKs, unchanged and pointed at a real collector, deliver
track/identify/page events that arrive enriched in Kafka (gzip bodies, their own messageIds)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any, Protocol

import orjson
import pytest

from pulse.contracts.events import Family
from pulse.settings import Settings
from tests.support.collector import collector_server, new_key, read_topics

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
POST = {"post_id": "p-sdk", "author_id": "a-sdk", "category": "travel", "hashtags": ["Alps"]}


class Sdk(Protocol):
    def identify(self, *args: Any, **kwargs: Any) -> Any: ...
    def track(self, *args: Any, **kwargs: Any) -> Any: ...
    def page(self, *args: Any, **kwargs: Any) -> Any: ...
    def flush(self) -> None: ...
    def shutdown(self) -> None: ...


@pytest.fixture(scope="module")
def collector_url(kafka_stack: Settings, redis_stack: Settings, stack_env: dict[str, str]) -> Iterator[str]:
    with collector_server(stack_env) as (url, _):
        yield url


def segment_client(key: str, url: str, errors: list[Any]) -> Sdk:
    from segment.analytics import Client

    return Client(key, host=url, gzip=True, on_error=lambda e, _: errors.append(e))  # type: ignore[no-any-return]


def rudder_client(key: str, url: str, errors: list[Any]) -> Sdk:
    from rudderstack.analytics import Client

    return Client(key, host=url, gzip=True, on_error=lambda e, _: errors.append(e))  # type: ignore[no-any-return]


@pytest.mark.parametrize("make_client", [segment_client, rudder_client], ids=["segment", "rudderstack"])
def test_an_official_sdk_delivers_enriched_events(make_client: Any, collector_url: str, kafka_stack: Settings) -> None:
    source = f"sdk-{uuid.uuid4().hex[:8]}"
    key = asyncio.run(new_key(kafka_stack, source))
    user = f"user-{source}"
    errors: list[Any] = []
    client = make_client(key, collector_url, errors)
    context = {"userAgent": IPHONE, "page": {"url": "https://pulse.example/p", "referrer": "https://www.google.com/"}}
    client.identify(user, {"country": "JP", "city": "Osaka", "age_band": "18-24", "segment": "casual"})
    client.track(user, "like", POST, context=context)
    client.page(user, "Feed", "Home", {"path": "/"}, context=context)
    client.track(user, "teleport", {"to": "Mars"}, context=context)  # a custom event: stored, flagged unplanned
    client.track(user, "like", {"author_id": "a-sdk"}, context=context)  # no post_id: dead-lettered, not lost
    client.flush()
    client.shutdown()
    assert errors == []
    topics = asyncio.run(read_topics(kafka_stack, source=source))
    (identified,) = topics[Family.IDENTITIES]
    assert (identified["call"], identified["country"], identified["user_id"]) == ("identify", "JP", user)
    by_event = {e["event"]: e for e in topics[Family.INTERACTIONS]}
    assert set(by_event) == {"like", "page", "teleport"}
    like = by_event["like"]
    assert (like["event"], like["category"], like["hashtags"]) == ("like", "travel", ["alps"])
    assert (like["country"], like["city"], like["age_band"], like["segment"]) == ("JP", "Osaka", "18-24", "casual")
    assert (like["device_type"], like["os"], like["referrer_source"]) == ("mobile", "iOS", "search")
    assert like["message_id"] and like["message_id"] != by_event["page"]["message_id"], "the SDK's own ids travel"
    teleport = by_event["teleport"]
    assert orjson.loads(teleport["properties"]) == {"to": "Mars"} and "unplanned" in teleport["flags"]
    (dead,) = topics[Family.DEAD_LETTER]
    assert dead["reason_code"] == "missing_property" and "post_id" in dead["reason"]
