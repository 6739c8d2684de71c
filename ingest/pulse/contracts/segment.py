"""The Segment HTTP Tracking API message contract: what clients (and `pulse generate`) send to
``POST /v1/batch`` and what the collector accepts. Documented in ``docs/events.md``.

Decoding is permissive like Segment itself: unknown fields are ignored, every field except
``type`` and ``messageId`` may be missing. Semantic rules that a structural decoder cannot
express (a ``track`` needs an ``event``, a message needs ``userId`` or ``anonymousId``, ...)
are reported by :func:`contract_errors`, so the collector can dead-letter one bad message
without rejecting its batch (decode the body with :data:`RawBatch` and each message alone).
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from typing import Any, Literal

import msgspec

from pulse.contracts.events import EventName

CallType = Literal["track", "identify", "page", "screen", "group", "alias"]

#: Where the collector listens for batches; bodies are :class:`BatchBody`.
BATCH_PATH = "/v1/batch"


class Location(msgspec.Struct, kw_only=True, omit_defaults=True):
    country: str | None = None
    region: str | None = None
    city: str | None = None


class Page(msgspec.Struct, kw_only=True, omit_defaults=True):
    url: str | None = None
    path: str | None = None
    referrer: str | None = None
    title: str | None = None


class Campaign(msgspec.Struct, kw_only=True, omit_defaults=True):
    """UTM parameters of the visit (``utm_source`` -> ``source`` ...)."""

    source: str | None = None
    medium: str | None = None
    name: str | None = None
    term: str | None = None
    content: str | None = None


class Library(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str | None = None
    version: str | None = None


class Os(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str | None = None
    version: str | None = None


class Device(msgspec.Struct, kw_only=True, omit_defaults=True):
    type: str | None = None
    manufacturer: str | None = None
    model: str | None = None


class Context(msgspec.Struct, kw_only=True, omit_defaults=True, rename="camel"):
    """Who/where/how: identical for every message of a session. ``session_id`` is Pulse's own."""

    user_agent: str | None = None
    locale: str | None = None
    ip: str | None = None
    timezone: str | None = None
    location: Location | None = None
    page: Page | None = None
    campaign: Campaign | None = None
    library: Library | None = None
    os: Os | None = None
    device: Device | None = None
    traits: dict[str, Any] | None = None
    session_id: str | None = msgspec.field(default=None, name="session_id")


class Properties(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The typed view of the ``properties`` Pulse understands; money in integer micro-units."""

    session_id: str | None = None
    post_id: str | None = None
    author_id: str | None = None
    category: str | None = None
    hashtags: list[str] | None = None
    surface: str | None = None
    comment_length: int | None = None
    target_user_id: str | None = None
    query: str | None = None
    campaign_id: str | None = None
    creative_id: str | None = None
    spend_micros: int | None = None
    revenue_micros: int | None = None
    name: str | None = None
    path: str | None = None
    url: str | None = None


class Traits(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The typed view of the ``traits`` of an ``identify`` call."""

    country: str | None = None
    region: str | None = None
    city: str | None = None
    age_band: str | None = None
    segment: str | None = None
    language: str | None = None


class Message(msgspec.Struct, kw_only=True, omit_defaults=True, rename="camel"):
    """One Segment call. ``properties``/``traits`` stay open dicts: clients may send anything."""

    type: CallType
    #: Empty when the client sent none: the collector then assigns a random UUID.
    message_id: str = ""
    timestamp: datetime | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    event: str | None = None
    name: str | None = None
    properties: dict[str, Any] = msgspec.field(default_factory=dict)
    traits: dict[str, Any] = msgspec.field(default_factory=dict)
    context: Context = msgspec.field(default_factory=Context)
    sent_at: datetime | None = None
    group_id: str | None = None
    previous_id: str | None = None


class BatchBody(msgspec.Struct, kw_only=True, omit_defaults=True, rename="camel"):
    """The body of ``POST /v1/batch``: ``{"batch": [...], "sentAt": "..."}``."""

    batch: list[Message]
    sent_at: datetime | None = None
    context: Context | None = None


class RawBatch(msgspec.Struct, kw_only=True, rename="camel"):
    """A batch whose messages are left undecoded, so each one can be validated alone."""

    batch: list[msgspec.Raw]
    sent_at: datetime | None = None


#: Properties every message of a given track event carries: its identifiers. Context the collector
#: can fill in (a post's author, category and hashtags from the content store) is not required of
#: clients, except from ``post_created``, which is where that context comes from. Money is optional
#: and may come as ``*_micros`` integers or Segment's decimal ``cost``/``revenue``/``value``.
REQUIRED_PROPERTIES: dict[str, tuple[str, ...]] = {
    EventName.VIEW: ("post_id",),
    EventName.LIKE: ("post_id",),
    EventName.COMMENT: ("post_id",),
    EventName.SHARE: ("post_id",),
    EventName.SAVE: ("post_id",),
    EventName.POST_CREATED: ("post_id", "author_id", "category", "hashtags"),
    EventName.PROFILE_VISIT: ("target_user_id",),
    EventName.FOLLOW: ("target_user_id",),
    EventName.SEARCH: ("query",),
    EventName.AD_IMPRESSION: ("campaign_id", "creative_id"),
    EventName.AD_CLICK: ("campaign_id", "creative_id"),
    EventName.CONVERSION: ("campaign_id", "creative_id"),
}

#: Names clients commonly give an identifier, by the vocabulary's name for it: a ``profile_visit``
#: with a ``profile_id`` is a visit of ``target_user_id`` (the collector copies it over).
IDENTIFIER_ALIASES: dict[str, tuple[str, ...]] = {"target_user_id": ("profile_id", "followed_user_id")}

#: Segment's customary decimal money properties, by the micros column they are stored in.
MONEY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "spend_micros": ("cost",),
    "revenue_micros": ("revenue", "value"),
}

#: Track event names of the documented vocabulary.
TRACK_EVENTS: frozenset[str] = frozenset(REQUIRED_PROPERTIES)


def _required_struct(event: str, required: tuple[str, ...]) -> type[msgspec.Struct]:
    """A Struct whose fields are the event's required properties, typed as in :class:`Properties`."""
    hints = typing.get_type_hints(Properties)
    fields = []
    for name in required:
        hint = hints[name]
        if isinstance(hint, types.UnionType):
            hint = typing.Union[tuple(a for a in typing.get_args(hint) if a is not type(None))]  # noqa: UP007
        fields.append((name, hint))
    return msgspec.defstruct(f"{event.title().replace('_', '')}Properties", fields, kw_only=True)


#: The typed required properties of each track event: decoding ``properties`` with the event's
#: Struct checks presence and type in one step (``msgspec.ValidationError`` names the field).
TRACK_PROPERTIES: dict[str, type[msgspec.Struct]] = {
    event: _required_struct(event, required) for event, required in REQUIRED_PROPERTIES.items()
}

_message_decoder = msgspec.json.Decoder(Message)
_batch_decoder = msgspec.json.Decoder(BatchBody)
_raw_batch_decoder = msgspec.json.Decoder(RawBatch)


def decode_message(payload: bytes | msgspec.Raw) -> Message:
    """Decode one message; raises ``msgspec.ValidationError``/``DecodeError`` when malformed."""
    try:
        return _message_decoder.decode(payload)
    except RecursionError as error:
        raise _too_deep() from error


def decode_batch(payload: bytes) -> BatchBody:
    try:
        return _batch_decoder.decode(payload)
    except RecursionError as error:
        raise _too_deep() from error


def decode_raw_batch(payload: bytes) -> RawBatch:
    try:
        return _raw_batch_decoder.decode(payload)
    except RecursionError as error:
        raise _too_deep() from error


def _too_deep() -> msgspec.DecodeError:
    """msgspec gives up on deep nesting with RecursionError: a malformed body like any other."""
    return msgspec.DecodeError("JSON nested too deeply")


def typed_properties(message: Message) -> Properties:
    """The known properties, type-checked (``ValidationError`` if e.g. ``spend_micros`` is a string)."""
    return msgspec.convert(message.properties, Properties)


def adopt_aliases(properties: dict[str, Any]) -> None:
    """Copy an identifier sent under a customary alias to the vocabulary's name (if that is absent)."""
    for name, aliases in IDENTIFIER_ALIASES.items():
        if name not in properties:
            for alias in aliases:
                if alias in properties:
                    properties[name] = properties[alias]
                    break


def contract_errors(message: Message, *, strict_vocabulary: bool = True) -> list[str]:
    """What keeps a structurally valid message from meeting the documented contract (empty = valid).

    With ``strict_vocabulary=False`` (the collector) a custom track event passes here: whether it
    may be stored is its source's tracking plan's decision (:mod:`pulse.contracts.tracking`).
    """
    errors: list[str] = []
    if not message.message_id:
        errors.append("messageId is empty")
    if not (message.user_id or message.anonymous_id):
        errors.append("neither userId nor anonymousId")
    if message.timestamp is None:
        errors.append("timestamp missing")
    elif message.timestamp.tzinfo is None:
        errors.append("timestamp has no timezone")
    if message.type == "track":
        if not message.event:
            errors.append("track without event")
        elif message.event not in TRACK_EVENTS:
            if strict_vocabulary:
                errors.append(f"event {message.event!r} is not in the vocabulary")
            return errors  # a custom event's properties are its plan's to check
        else:
            adopt_aliases(message.properties)
            required = TRACK_PROPERTIES[message.event]
            missing = [key for key in required.__struct_fields__ if key not in message.properties]
            if missing:
                errors.append(f"{message.event} lacks properties {missing}")
            else:
                try:
                    msgspec.convert(message.properties, required)
                except msgspec.ValidationError as error:
                    errors.append(f"properties: {error}")
                    return errors
        try:
            typed_properties(message)
        except msgspec.ValidationError as error:
            errors.append(f"properties: {error}")
    elif message.type == "identify":
        try:
            msgspec.convert(message.traits, Traits)
        except msgspec.ValidationError as error:
            errors.append(f"traits: {error}")
    return errors
