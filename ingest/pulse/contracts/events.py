"""The enriched-event contract: what collectors produce to Kafka and the warehouse stores.

One flat record per event whose field names are the ClickHouse column names of
``pulse.contracts.events``, so a Kafka message is a JSONEachRow line and nothing is renamed on the way.
Money is carried in integer micro-units so that sums are exact.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import msgspec


class EventName(StrEnum):
    """The social vocabulary Pulse understands (Segment ``track`` event names, plus call types)."""

    VIEW = "view"
    LIKE = "like"
    COMMENT = "comment"
    SHARE = "share"
    SAVE = "save"
    PROFILE_VISIT = "profile_visit"
    FOLLOW = "follow"
    POST_CREATED = "post_created"
    SEARCH = "search"
    AD_IMPRESSION = "ad_impression"
    AD_CLICK = "ad_click"
    CONVERSION = "conversion"
    # Segment calls other than track keep their call name as the event name.
    PAGE = "page"
    SCREEN = "screen"
    IDENTIFY = "identify"
    GROUP = "group"
    ALIAS = "alias"


class Family(StrEnum):
    """Topic families: one Kafka topic each, so heavy streams scale and lag independently."""

    INTERACTIONS = "interactions"
    CONTENT = "content"
    ADS = "ads"
    IDENTITIES = "identities"
    DEAD_LETTER = "deadletter"


FAMILY_OF: dict[EventName, Family] = {
    **{
        name: Family.INTERACTIONS
        for name in (
            EventName.VIEW,
            EventName.LIKE,
            EventName.COMMENT,
            EventName.SHARE,
            EventName.SAVE,
            EventName.PROFILE_VISIT,
            EventName.FOLLOW,
            EventName.SEARCH,
            EventName.PAGE,
            EventName.SCREEN,
        )
    },
    EventName.POST_CREATED: Family.CONTENT,
    EventName.AD_IMPRESSION: Family.ADS,
    EventName.AD_CLICK: Family.ADS,
    EventName.CONVERSION: Family.ADS,
    EventName.IDENTIFY: Family.IDENTITIES,
    EventName.GROUP: Family.IDENTITIES,
    EventName.ALIAS: Family.IDENTITIES,
}


_FAMILY_BY_NAME: dict[str, Family] = {str(name): family for name, family in FAMILY_OF.items()}


def family_of(event: str) -> Family:
    """The topic family of an event name; custom track events (``story_view``) are interactions."""
    return _FAMILY_BY_NAME.get(event, Family.INTERACTIONS)


#: Families whose topics the warehouse loads into ``pulse.contracts.events``.
WAREHOUSE_FAMILIES: tuple[Family, ...] = (Family.INTERACTIONS, Family.CONTENT, Family.ADS, Family.IDENTITIES)
#: What the loader reads: the warehouse families, and the dead-letter topic (into ``rejected_events``).
LOADER_FAMILIES: tuple[Family, ...] = (*WAREHOUSE_FAMILIES, Family.DEAD_LETTER)
#: What the hot layer counts into Redis: the enriched events, as the warehouse stores them.
HOT_FAMILIES: tuple[Family, ...] = WAREHOUSE_FAMILIES

UNKNOWN = "unknown"
CLICKHOUSE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def format_time(moment: datetime) -> str:
    """A UTC instant as ClickHouse's DateTime64(3) text form (``2026-11-22 10:00:00.123``)."""
    # isoformat is ~20x faster than strftime, and this runs several times per collected event;
    # most instants are already UTC (a "Z" timestamp), and then cutting "+00:00" off beats converting.
    if moment.tzinfo is UTC:
        return moment.isoformat(" ", "milliseconds")[:23]
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text + "000", CLICKHOUSE_TIME_FORMAT).replace(tzinfo=UTC)


class EventHead(msgspec.Struct, kw_only=True):
    """The leading fields of an enriched event: which message, what happened, when, and to whom.

    Partial readers (the hot layer's ``HotEvent``) extend this too, so the fields every consumer
    requires are required in one place: a message missing one is invalid to all of them alike.
    """

    message_id: str
    call: str
    event: str
    event_time: str
    received_at: str
    user_id: str = ""
    anonymous_id: str = ""


class EnrichedEvent(EventHead, kw_only=True, omit_defaults=False):
    """One event after validation and enrichment, keyed in Kafka by ``user_id or anonymous_id``."""

    sent_at: str | None = None
    source: str = ""
    session_id: str = ""
    # user context
    country: str = UNKNOWN
    region: str = UNKNOWN
    city: str = UNKNOWN
    age_band: str = UNKNOWN
    segment: str = UNKNOWN
    language: str = UNKNOWN
    # device and referral
    device_type: str = UNKNOWN
    os: str = UNKNOWN
    browser: str = UNKNOWN
    referrer_source: str = UNKNOWN
    # content context
    post_id: str = ""
    author_id: str = ""
    category: str = UNKNOWN
    hashtags: list[str] = msgspec.field(default_factory=list)
    search_query: str = ""
    # ads
    campaign_id: str = ""
    creative_id: str = ""
    spend_micros: int = 0
    revenue_micros: int = 0
    # everything else the client sent, as JSON text
    properties: str = "{}"
    flags: list[str] = msgspec.field(default_factory=list)

    @property
    def partition_key(self) -> bytes:
        return (self.user_id or self.anonymous_id or self.message_id).encode()


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(EnrichedEvent)


def encode_event(event: EnrichedEvent) -> bytes:
    return _encoder.encode(event)


def decode_event(payload: bytes) -> EnrichedEvent:
    return _decoder.decode(payload)
