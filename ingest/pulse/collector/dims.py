"""User and content context in Redis (``pulse:dim:user:<id>``, ``pulse:dim:post:<id>`` hashes).

Fed by ``identify`` traits and ``post_created`` properties as the collector sees them, and in
bulk by ``pulse dims load FILE``. Each worker keeps a bounded LRU with a TTL in front of Redis;
misses of one request are fetched in one pipeline round trip. If Redis is unreachable the
context stays ``unknown``: enrichment never blocks or fails an event.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from pulse.collector.cache import TtlLru
from pulse.contracts.events import UNKNOWN, EnrichedEvent

log = logging.getLogger(__name__)

PREFIX = "pulse:dim:"
USER_FIELDS = ("country", "region", "city", "age_band", "segment", "language")
POST_FIELDS = ("author_id", "category", "hashtags")

Dims = dict[str, str]


def user_key(user_id: str) -> str:
    return f"{PREFIX}user:{user_id}"


def post_key(post_id: str) -> str:
    return f"{PREFIX}post:{post_id}"


def _clean(values: Mapping[str, object], fields: tuple[str, ...]) -> Dims:
    out: Dims = {}
    for name in fields:
        value = values.get(name)
        if value is None or value == "" or value == UNKNOWN:
            continue
        if isinstance(value, list):
            value = ",".join(str(v).lstrip("#").lower() for v in value)
        out[name] = str(value)
    return out


def profile_of(traits: Mapping[str, object]) -> Dims:
    return _clean(traits, USER_FIELDS)


def content_of(properties: Mapping[str, object]) -> Dims:
    return _clean(properties, POST_FIELDS)


class DimensionStore:
    def __init__(self, redis: Redis, *, cache_size: int = 200_000, cache_ttl_s: float = 60.0) -> None:
        self.redis = redis
        self._cache: TtlLru[Dims] = TtlLru(cache_size, cache_ttl_s)

    async def remember(self, writes: Mapping[str, Dims], *, strict: bool = False) -> None:
        """Store profile/content hashes (Redis key -> fields) and refresh the local cache.

        Failures are logged, not raised, unless ``strict`` (bulk loads must not fail silently).
        """
        writes = {key: fields for key, fields in writes.items() if fields}
        if not writes:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, fields in writes.items():
                    pipe.hset(key, mapping=cast("Mapping[Any, Any]", fields))
                await pipe.execute()
        except RedisError as error:
            if strict:
                raise
            log.warning("dimension write failed", extra={"error": str(error), "keys": len(writes)})
        for key, fields in writes.items():
            cached = self._cache.get(key)
            # Uncached keys are read from Redis (now holding the merged hash) on their next lookup.
            if cached is not None:
                self._cache.put(key, {**cached, **fields})

    async def fetch(self, keys: Iterable[str]) -> dict[str, Dims]:
        """Context for each key (empty when unknown); cache misses cost one pipelined round trip."""
        found: dict[str, Dims] = {}
        missing: list[str] = []
        for key in dict.fromkeys(keys):
            cached = self._cache.get(key)
            if cached is None:
                missing.append(key)
            else:
                found[key] = cached
        if missing:
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key in missing:
                        pipe.hgetall(key)
                    results = await pipe.execute()
            except RedisError as error:
                log.warning("dimension lookup failed", extra={"error": str(error), "keys": len(missing)})
                results = [{} for _ in missing]
            for key, raw in zip(missing, results, strict=True):
                fields = {k.decode(): v.decode() for k, v in raw.items()} if raw else {}
                self._cache.put(key, fields)
                found[key] = fields
        return found


def keys_for(event: EnrichedEvent) -> list[str]:
    """The Redis keys whose context can fill this event's unknown fields."""
    keys = []
    if event.user_id:
        keys.append(user_key(event.user_id))
    if event.post_id:
        keys.append(post_key(event.post_id))
    return keys


def apply(event: EnrichedEvent, dims: Mapping[str, Dims]) -> None:
    """Fill what the event itself left unknown: the event's own context wins over stored context.

    What is filled is marked in ``flags``: ``enriched:<field>`` for the post's context,
    ``enriched:profile`` for user context; a post event whose post the store does not know is
    flagged ``unknown_post`` (its author, category and hashtags stay empty/unknown).
    """
    profile = dims.get(user_key(event.user_id)) if event.user_id else None
    if profile:  # most lookups find nothing to add: skip the per-field checks then
        filled = False
        for name in USER_FIELDS:
            if getattr(event, name) == UNKNOWN and name in profile:
                setattr(event, name, profile[name])
                filled = True
        if filled:
            event.flags.append("enriched:profile")
    if event.post_id:
        content = dims.get(post_key(event.post_id)) or {}
        if not event.author_id and "author_id" in content:
            event.author_id = content["author_id"]
            event.flags.append("enriched:author_id")
        if event.category == UNKNOWN and "category" in content:
            event.category = content["category"]
            event.flags.append("enriched:category")
        if not event.hashtags and content.get("hashtags"):
            event.hashtags = content["hashtags"].split(",")
            event.flags.append("enriched:hashtags")
        if not event.author_id:
            event.flags.append("unknown_post")


def read_dimension_file(path: Path) -> Iterator[tuple[str, Dims]]:
    """(Redis key, fields) per row of a JSONL or CSV file; rows have ``user_id`` or ``post_id``."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        rows: Iterable[Mapping[str, object]] = csv.DictReader(io.StringIO(text))
    else:
        rows = (orjson.loads(line) for line in text.splitlines() if line.strip())
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise ValueError(f"{path}:{number}: a row must be an object")
        if row.get("user_id"):
            yield user_key(str(row["user_id"])), profile_of(row)
        elif row.get("post_id"):
            hashtags = row.get("hashtags")
            if isinstance(hashtags, str):
                row = {**row, "hashtags": [t for t in hashtags.replace(";", ",").split(",") if t]}
            yield post_key(str(row["post_id"])), content_of(row)
        else:
            raise ValueError(f"{path}:{number}: a row needs user_id or post_id")
