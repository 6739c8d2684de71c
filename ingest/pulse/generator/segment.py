"""Builds Segment messages fast, as JSON text: cached timestamp text, counter-based message ids,
and fragments encoded once (a session's ``userId``/``anonymousId``/``context`` tail, a post's
properties) that each message only concatenates. Every variable part is either encoded with
msgspec or drawn from a fixed ASCII vocabulary, so the text is valid JSON by construction.

The shape is the contract of :mod:`pulse.contracts.segment` (documented in ``docs/events.md``); the tests
decode every emitted message with it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import msgspec

from pulse.generator.population import (
    AGE_BANDS,
    COUNTRY_OF_CODE,
    DEVICES,
    REFERRERS,
    REGIONS,
    SEGMENTS,
    UTM_CAMPAIGNS,
    WEB_HOST,
    Population,
)

Json = dict[str, Any]

_encoder = msgspec.json.Encoder()


class Clock:
    """ISO 8601 UTC text with milliseconds for integer epoch milliseconds, cached per second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def iso(self, ms: int) -> str:
        second, milli = divmod(ms, 1000)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        return f"{self._prefix}{milli:03d}Z"


def iso_ms(ms: int) -> str:
    """One-off form of :meth:`Clock.iso`."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def minute_key(minute: int) -> str:
    """The truth's key of a UTC minute given as epoch minutes: ``2026-11-22T10:05:00Z``."""
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:00Z")


class MessageIds:
    """UUID-shaped message ids: a prefix derived from the run's identity plus a counter.

    Unique within a run and across runs that differ in seed or start, identical when replayed,
    so a collector deduplicating on messageId sees retries, never two runs, as duplicates.
    """

    __slots__ = ("_next", "prefix")

    def __init__(self, identity: str) -> None:
        digest = hashlib.sha256(identity.encode()).hexdigest()
        self.prefix = f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-{'89ab'[int(digest[16], 16) % 4]}{digest[17:20]}-"
        self._next = 0

    def __call__(self) -> str:
        value = self._next
        self._next = value + 1
        return self.at(value)

    def at(self, number: int) -> str:
        """The id of the ``number``-th message (the hot loop formats it inline from ``prefix``)."""
        return f"{self.prefix}{number:012x}"


def user_context(population: Population, user: int) -> str:
    """The part of ``context`` fixed for a user (device, locale, network, place), as JSON text
    without its closing brace, so a session only appends its own keys."""
    device = DEVICES[population.device[user]]
    region = REGIONS[population.region[user]]
    country = COUNTRY_OF_CODE[region.country]
    context: Json = {
        "userAgent": device.user_agent,
        "locale": country.locale,
        "ip": population.ip(user),
        "timezone": region.timezone,
        "location": {"country": region.country, "region": region.name, "city": region.cities[population.city[user]]},
        "library": {"name": device.library, "version": device.library_version},
        "os": {"name": device.os, "version": device.os_version},
    }
    if device.platform == "app":
        context["device"] = {"type": device.os.lower(), "manufacturer": device.manufacturer, "model": device.model}
    return json_text(context)[:-1]


def session_tail(
    user_id: str,
    anonymous_id: str,
    user_context: str,
    session_id: str,
    *,
    landing_path: str | None,
    referrer_index: int,
    utm_index: int,
) -> str:
    """The closing part shared by every message of a session: ids and the session's ``context``
    (web sessions add ``page`` and, with ``utm_index`` >= 0, the UTM ``campaign``). It ends the
    message object."""
    extra = f',"session_id":"{session_id}"'
    if landing_path is not None:
        page = {"url": f"{WEB_HOST}{landing_path}", "path": landing_path, "referrer": REFERRERS[referrer_index][0]}
        extra += f',"page":{json_text(page)}'
        if utm_index >= 0:
            source, medium, name = UTM_CAMPAIGNS[utm_index]
            extra += f',"campaign":{json_text({"source": source, "medium": medium, "name": name})}'
    return f'"userId":{json_text(user_id)},"anonymousId":{json_text(anonymous_id)},"context":{user_context}{extra}}}}}'


def track(event: str, message_id: str, timestamp: str, properties: str, tail: str) -> str:
    return (
        f'{{"type":"track","event":"{event}","messageId":"{message_id}","timestamp":"{timestamp}",'
        f'"properties":{properties},{tail}'
    )


def json_text(value: object) -> str:
    return _encoder.encode(value).decode()


def identify_traits(population: Population, user: int) -> Json:
    """The traits an ``identify`` call carries: the user's profile."""
    region = REGIONS[population.region[user]]
    country = COUNTRY_OF_CODE[region.country]
    return {
        "country": region.country,
        "region": region.name,
        "city": region.cities[population.city[user]],
        "age_band": AGE_BANDS[population.age_band[user]],
        "segment": SEGMENTS[population.segment[user]],
        "language": country.language,
    }


def encode_batch(messages: list[str], sent_at: str) -> bytes:
    """The ``POST /v1/batch`` body from message JSON texts."""
    return f'{{"batch":[{",".join(messages)}],"sentAt":"{sent_at}"}}'.encode()
