"""Turns one validated Segment message into the enriched event the warehouse stores.

Missing context never blocks an event: unknown values are stored as ``unknown``. Whether a
custom event may be stored is its source's tracking plan's decision (:mod:`pulse.contracts.tracking`);
what the plan tolerates is noted in ``flags``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import msgspec
import orjson
from ua_parser import parse as parse_user_agent

from pulse.contracts.events import UNKNOWN, EnrichedEvent, format_time
from pulse.contracts.money import BadAmount, to_micros
from pulse.contracts.segment import (
    MONEY_PROPERTIES,
    TRACK_EVENTS,
    Message,
    Properties,
    contract_errors,
    typed_properties,
)
from pulse.contracts.tracking import CompiledPlan, default_plan

#: Clock differences below this are network delay, not a wrong device clock.
SKEW_TOLERANCE = timedelta(seconds=5)
#: An event may not claim to be later than it was received by more than this.
MAX_FUTURE = timedelta(minutes=5)

_PROMOTED_PROPERTIES = frozenset(
    {
        "post_id",
        "author_id",
        "category",
        "hashtags",
        "query",
        "campaign_id",
        "creative_id",
        "spend_micros",
        "revenue_micros",
        "session_id",
    }
)
_SEARCH_ENGINES = ("google.", "bing.", "duckduckgo.", "yahoo.", "yandex.", "baidu.", "ecosia.")
_SOCIAL_SITES = ("facebook.", "instagram.", "t.co", "twitter.", "x.com", "tiktok.", "linkedin.", "reddit.", "youtube.")


_PLATFORM_FORM_FACTOR = {
    "ios": "mobile",
    "android": "mobile",
    "ipados": "tablet",
    "macos": "desktop",
    "windows": "desktop",
}


class InvalidEvent(ValueError):
    """The message is well-formed JSON but not an event Pulse can store; the text is the reason.

    ``code`` is a short, low-cardinality label for metrics and the dead-letter table.
    """

    def __init__(self, reason: str, code: str = "invalid") -> None:
        super().__init__(reason)
        self.code = code


@lru_cache(maxsize=16_384)
def device_of(user_agent: str) -> tuple[str, str, str]:
    """(device_type, os, browser) from a user agent; cached because agents repeat heavily."""
    if not user_agent:
        return UNKNOWN, UNKNOWN, UNKNOWN
    parsed = parse_user_agent(user_agent)
    os_family = parsed.os.family if parsed.os else UNKNOWN
    browser = parsed.user_agent.family if parsed.user_agent else UNKNOWN
    device_family = (parsed.device.family if parsed.device else "") or ""
    if "iPad" in device_family or "Tablet" in user_agent:
        device_type = "tablet"
    elif os_family in ("iOS", "Android") or "Mobile" in user_agent:
        device_type = "mobile"
    elif os_family in ("Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora"):
        device_type = "desktop"
    else:
        device_type = UNKNOWN
    return device_type, os_family or UNKNOWN, browser or UNKNOWN


def referrer_source(message: Message) -> str:
    """search | social | campaign | direct | internal | referral, from UTM and the page referrer."""
    context = message.context
    if context.campaign is not None and (context.campaign.source or context.campaign.medium):
        return "campaign"
    page = context.page
    referrer = page.referrer if page is not None else None
    if not referrer:
        return "direct"
    referrer_host = urlsplit(referrer).netloc.lower()
    page_host = urlsplit(page.url).netloc.lower() if page is not None and page.url else ""
    if page_host and referrer_host == page_host:
        return "internal"
    if any(engine in referrer_host for engine in _SEARCH_ENGINES):
        return "search"
    if any(site in referrer_host for site in _SOCIAL_SITES):
        return "social"
    return "referral"


def event_time(message: Message, received_at: datetime, flags: list[str]) -> datetime:
    """Segment's clock-skew rule: shift the device timestamp by the device clock's error."""
    timestamp = message.timestamp or received_at
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    sent_at = message.sent_at
    if sent_at is not None:
        if sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=UTC)
        skew = sent_at - received_at
        if abs(skew) > SKEW_TOLERANCE:
            try:
                timestamp = timestamp - skew
            except OverflowError:  # e.g. year 9999 shifted forward: no usable device time
                timestamp = received_at
            flags.append("clock_skew_corrected")
    if timestamp - received_at > MAX_FUTURE:
        flags.append("future_timestamp")
        timestamp = received_at
    return timestamp


def _text(value: Any) -> str:
    return "" if value is None else str(value)


_ALLOW_ALL = default_plan("")
_NO_PROPERTIES = Properties()
_NO_TRAITS: dict[str, Any] = {}
_SPEND_NAMES = MONEY_PROPERTIES["spend_micros"]
_REVENUE_NAMES = MONEY_PROPERTIES["revenue_micros"]


def plan_flags(plan: CompiledPlan, message: Message, name: str) -> list[str]:
    """The plan's verdict on a track event: flags to store it with, or ``InvalidEvent`` in block mode.

    A vocabulary event a plan does not list is planned by the vocabulary, unless the plan blocks.
    """
    if message.type != "track" or (name in TRACK_EVENTS and not plan.block and not plan.planned(name)):
        return []
    problems = plan.problems(name, message.properties)
    if problems and plan.block:
        code = "unplanned_event" if problems[0].flag == "unplanned" else "plan_violation"
        raise InvalidEvent("; ".join(problem.reason for problem in problems), code)
    return [problem.flag for problem in problems]


def lenient_properties(message: Message, flags: list[str]) -> Properties | None:
    """A custom event's promotable properties, or None (flagged) when one has the wrong type:
    then nothing is promoted and every property stays, as sent, in ``properties``."""
    try:
        return typed_properties(message)
    except msgspec.ValidationError as error:
        # msgspec names the field last: "Expected `str`, got `int` - at `$.post_id`"
        field = str(error).rpartition("$.")[2].rstrip("`").split(".")[0].split("[")[0]
        flags.append(f"invalid:{field}")
        return None


def micros_of(
    micros: int | None, properties: dict[str, Any], names: tuple[str, ...], flags: list[str], *, strict: bool
) -> int:
    """Money in micros: the ``*_micros`` integer if sent, else the first decimal of ``names``, exactly."""
    if micros is not None:
        return micros
    for name in names:
        value = properties.get(name)
        if value is None:
            continue
        try:
            amount, rounded = to_micros(value)
        except BadAmount as error:
            if strict:
                raise InvalidEvent(f"properties: {name}: {error}", "bad_property") from error
            flags.append(f"invalid:{name}")
            return 0
        if rounded:
            flags.append(f"rounded:{name}")
        return amount
    return 0


def _code_of(problem: str) -> str:
    """A low-cardinality label for a contract problem (metrics, dead-letter table)."""
    for prefix, code in (
        ("neither userId", "missing_identity"),
        ("track without event", "missing_event"),
        ("event ", "unknown_event"),
        ("timestamp", "bad_timestamp"),
        ("properties", "bad_property"),
        ("traits", "bad_trait"),
        ("messageId", "missing_message_id"),
    ):
        if problem.startswith(prefix):
            return code
    return "missing_property" if " lacks properties " in problem else "invalid"


@dataclass(frozen=True, slots=True)
class Arrival:
    """What every message of one request shares: computed once per request, not once per event."""

    received_at: datetime
    source: str
    #: The batch's ``sentAt``, used for messages without their own.
    sent_at: datetime | None
    plan: CompiledPlan
    received_text: str
    sent_text: str | None

    @classmethod
    def of(
        cls, *, received_at: datetime, source: str, sent_at: datetime | None, plan: CompiledPlan = _ALLOW_ALL
    ) -> Arrival:
        sent_text = format_time(sent_at) if sent_at is not None else None
        return cls(received_at, source, sent_at, plan, format_time(received_at), sent_text)


def enrich(
    message: Message,
    *,
    received_at: datetime,
    source: str,
    sent_at: datetime | None,
    plan: CompiledPlan = _ALLOW_ALL,
) -> EnrichedEvent:
    """Validate what the types cannot express, apply the source's tracking plan, build the event.

    A message without ``messageId`` gets a random one (flagged): every event carries an id, so
    duplicates from client retries can be removed downstream.
    """
    return enrich_arrived(message, Arrival.of(received_at=received_at, source=source, sent_at=sent_at, plan=plan))


def enrich_arrived(message: Message, arrival: Arrival) -> EnrichedEvent:
    """:func:`enrich` with the request's shared part prepared: the collector's per-event path.

    The event is built once, as the Struct that is encoded; nothing goes through a dict on the way.
    """
    generated_id = not message.message_id
    if generated_id:
        message.message_id = str(uuid.uuid4())
    problems = contract_errors(message, strict_vocabulary=False)
    if problems:
        raise InvalidEvent("; ".join(problems), _code_of(problems[0]))
    call = message.type
    name = message.event if call == "track" and message.event else call
    custom = call == "track" and name not in TRACK_EVENTS
    flags: list[str] = ["message_id_generated"] if generated_id else []
    if call == "track":
        flags += plan_flags(arrival.plan, message, name)
    properties = message.properties
    promotable = lenient_properties(message, flags) if custom else typed_properties(message)
    typed = promotable or _NO_PROPERTIES
    spend, revenue = typed.spend_micros, typed.revenue_micros
    if spend is None or revenue is None:
        strict = not custom
        if spend is None:
            spend = micros_of(None, properties, _SPEND_NAMES, flags, strict=strict)
        if revenue is None:
            revenue = micros_of(None, properties, _REVENUE_NAMES, flags, strict=strict)
    if message.sent_at is None:
        message.sent_at = arrival.sent_at
        sent_text = arrival.sent_text
    else:
        sent_text = format_time(message.sent_at)
    moment = event_time(message, arrival.received_at, flags)
    context = message.context
    location = context.location
    if call == "identify" and message.traits:
        traits = {**(context.traits or {}), **message.traits}
    else:
        traits = context.traits or _NO_TRAITS
    device_type, os_family, browser = device_of(context.user_agent or "")
    if device_type == UNKNOWN and context.device is not None and context.device.type:
        # Segment's mobile libraries put the platform here (ios, android), not the form factor.
        device_type = _PLATFORM_FORM_FACTOR.get(context.device.type.lower(), context.device.type.lower())
    if promotable is None or _PROMOTED_PROPERTIES.isdisjoint(properties):
        extra = properties
    else:
        extra = {k: v for k, v in properties.items() if k not in _PROMOTED_PROPERTIES}
    hashtags = typed.hashtags
    return EnrichedEvent(
        message_id=message.message_id,
        call=call,
        event=name,
        event_time=format_time(moment),
        received_at=arrival.received_text,
        sent_at=sent_text,
        user_id=_text(message.user_id),
        anonymous_id=_text(message.anonymous_id),
        source=arrival.source,
        session_id=typed.session_id or context.session_id or "",
        country=(location.country if location and location.country else _text(traits.get("country"))) or UNKNOWN,
        region=(location.region if location and location.region else _text(traits.get("region"))) or UNKNOWN,
        city=(location.city if location and location.city else _text(traits.get("city"))) or UNKNOWN,
        age_band=_text(traits.get("age_band")) or UNKNOWN,
        segment=_text(traits.get("segment")) or UNKNOWN,
        language=_text(traits.get("language")) or (context.locale or "").split("-")[0] or UNKNOWN,
        device_type=device_type,
        os=os_family,
        browser=browser,
        referrer_source=referrer_source(message),
        post_id=typed.post_id or "",
        author_id=typed.author_id or "",
        category=typed.category or UNKNOWN,
        hashtags=[tag.lstrip("#").lower() for tag in hashtags] if hashtags else [],
        search_query=typed.query or "",
        campaign_id=typed.campaign_id or "",
        creative_id=typed.creative_id or "",
        spend_micros=spend,
        revenue_micros=revenue,
        properties=orjson.dumps(extra).decode() if extra else "{}",
        flags=flags,
    )
