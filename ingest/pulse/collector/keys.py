"""Write keys per source, stored hashed in Redis (``pulse:keys:*``) and shared by every worker.

A key is shown once, at creation; Redis keeps only its SHA-256, so a leaked dump reveals no key.
Workers cache lookups for ``key_cache_ttl_s`` (a revoked key stops working within that time) and
count events per key per second in Redis, so the rate limit holds across workers and hosts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime

import msgspec
from redis.asyncio import Redis

from pulse.collector.cache import TtlLru

PREFIX = "pulse:keys:"
INDEX = PREFIX + "index"  # hash: sha256 -> source name
KEY_PREFIX = "pk_"


class WriteKey(msgspec.Struct, frozen=True):
    """What a key grants: the source its events are stored under, and its rate limit."""

    source: str
    key_hash: str
    created_at: str
    rate_limit_events_per_s: int = 0  # 0: the collector's default
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class KeyNotFound(LookupError):
    pass


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(WriteKey).decode


def hash_key(write_key: str) -> str:
    return hashlib.sha256(write_key.encode()).hexdigest()


#: Imported keys are chosen by people: refuse ones short enough to guess.
MIN_IMPORTED_KEY_LENGTH = 16


def _check_source(source: str) -> None:
    if not source or len(source) > 64 or not source.replace("-", "").replace("_", "").isalnum():
        raise ValueError("source must be 1-64 letters, digits, '-' or '_'")


def _record(source: str, write_key: str, rate_limit_events_per_s: int) -> WriteKey:
    return WriteKey(
        source=source,
        key_hash=hash_key(write_key),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        rate_limit_events_per_s=rate_limit_events_per_s,
    )


class KeyStore:
    def __init__(self, redis: Redis, *, cache_ttl_s: float = 10.0, cache_size: int = 10_000) -> None:
        self.redis = redis
        # Unknown keys are cached too (shorter), so a flood of bad keys does not hit Redis per request.
        self._cache: TtlLru[WriteKey | bool] = TtlLru(cache_size, cache_ttl_s)
        self._negative_ttl_s = min(cache_ttl_s, 2.0)

    async def create(self, source: str, *, rate_limit_events_per_s: int = 0) -> tuple[str, WriteKey]:
        """A new random key for ``source``: returns the key text (shown once) and its record."""
        _check_source(source)
        write_key = KEY_PREFIX + secrets.token_urlsafe(24)
        record = _record(source, write_key, rate_limit_events_per_s)
        await self.redis.hset(INDEX, record.key_hash, _encode(record))
        return write_key, record

    async def ensure(self, source: str, write_key: str, *, rate_limit_events_per_s: int = 0) -> tuple[WriteKey, bool]:
        """Store a key chosen elsewhere (a deployment's Secret) unless it is already stored: (record, created).

        Idempotent and safe when several pods run it at once (HSETNX). An existing record is never
        changed: a revoked key stays revoked, and a key already granted to another source is an error.
        """
        _check_source(source)
        if len(write_key) < MIN_IMPORTED_KEY_LENGTH or any(c.isspace() for c in write_key):
            raise ValueError(f"{source}: a write key needs {MIN_IMPORTED_KEY_LENGTH}+ characters and no spaces")
        record = _record(source, write_key, rate_limit_events_per_s)
        if await self.redis.hsetnx(INDEX, record.key_hash, _encode(record)):
            return record, True
        raw = await self.redis.hget(INDEX, record.key_hash)
        existing = _decode(raw) if raw else record
        if existing.source != source:
            raise ValueError(f"{source}: this key is already the key of source {existing.source!r}")
        return existing, False

    async def all(self) -> list[WriteKey]:
        values = await self.redis.hvals(INDEX)
        return sorted((_decode(v) for v in values), key=lambda k: (k.source, k.created_at))

    async def revoke(self, selector: str) -> list[WriteKey]:
        """Revoke every active key of a source, or the one key whose hash starts with ``selector``."""
        revoked = []
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for record in await self.all():
            if record.active and (record.source == selector or record.key_hash.startswith(selector)):
                updated = msgspec.structs.replace(record, revoked_at=now)
                await self.redis.hset(INDEX, record.key_hash, _encode(updated))
                revoked.append(updated)
        if not revoked:
            raise KeyNotFound(f"no active key of source or hash prefix {selector!r}")
        return revoked

    async def lookup(self, write_key: str) -> WriteKey | None:
        """The active key record, or None for unknown/revoked keys (cached either way)."""
        key_hash = hash_key(write_key)
        cached = self._cache.get(key_hash)
        if cached is not None:
            return cached if isinstance(cached, WriteKey) else None
        raw = await self.redis.hget(INDEX, key_hash)
        record = _decode(raw) if raw else None
        # Found by the hash of the key, so lookup time says nothing about how close a guess was;
        # the stored hash is still compared in constant time before the record is trusted.
        if record is not None and record.active and hmac.compare_digest(record.key_hash, key_hash):
            self._cache.put(key_hash, record)
            return record
        self._cache.put(key_hash, False, self._negative_ttl_s)
        return None


class RateLimiter:
    """Fixed one-second windows per source, counted in Redis so all workers share one budget."""

    def __init__(self, redis: Redis, default_events_per_s: int) -> None:
        self.redis = redis
        self.default_events_per_s = default_events_per_s

    async def admit(self, key: WriteKey, events: int) -> float | None:
        """None if the events fit this second's budget, else seconds until the next window."""
        limit = key.rate_limit_events_per_s or self.default_events_per_s
        if limit <= 0:
            return None
        now = time.time()
        window = int(now)
        counter = f"{PREFIX}rate:{key.source}:{window}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incrby(counter, events)
            pipe.expire(counter, 2)
            used, _ = await pipe.execute()
        if int(used) > limit:
            return max(window + 1 - now, 0.001)
        return None
