"""Rebuilds the 1/5/15-minute windows from the minute buckets: trending, uniques, sums, sessions.

Grafana's Redis plugin can only read (HGET/HGETALL, ZRANGE, ...): it cannot merge HyperLogLogs
or union sorted sets. So every ``window_refresh_ms`` each updater replica rebuilds:

- ``trending:<kind>:<w>m`` = ZUNIONSTORE of the last w minute sets, weighted by
  ``0.5 ** (age_s / half_life_s)`` (age of the minute's end): exponential decay by recency;
- ``users:<w>m`` = PFMERGE of the minute HLLs, its PFCOUNT in ``summary`` as ``users:<w>m``;
- ``win:<w>m`` = the minute counter hashes summed field by field;
- expired members out of ``sessions:active``, its size in ``summary`` as ``sessions:active``.

Every result is a pure function of the minute buckets and the clock, so replicas doing it at the
same time agree; everything gets a TTL.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from pulse.hot.keys import TRENDING, WINDOWS, Keys
from pulse.settings import HotSettings


def minute_buckets(now: float, minutes: int) -> list[str]:
    """The last ``minutes`` minute bucket names, newest first (the current minute included)."""
    current = datetime.fromtimestamp(now, tz=UTC).replace(second=0, microsecond=0)
    return [f"{current - timedelta(minutes=age):%Y-%m-%dT%H:%M}" for age in range(minutes)]


def decay_weight(age_minutes: int, now: float, half_life_s: float) -> float:
    """Weight of a minute ``age_minutes`` back: 1.0 for the current one, halving every half-life."""
    current = int(now) // 60 * 60
    end = current - age_minutes * 60 + 60
    age_s = max(0.0, now - end) if age_minutes else 0.0
    return float(0.5 ** (age_s / half_life_s))


async def refresh(redis: Redis, keys: Keys, cfg: HotSettings, now: float | None = None) -> None:
    now = time.time() if now is None else now
    newest = minute_buckets(now, max(WINDOWS))
    hashes = await _minute_hashes(redis, keys, newest)
    pipe = redis.pipeline(transaction=True)
    for minutes in WINDOWS:
        buckets = newest[:minutes]
        for kind in TRENDING:
            weights = {
                keys.trending_minute(kind, bucket): decay_weight(age, now, cfg.trending_half_life_s)
                for age, bucket in enumerate(buckets)
            }
            target = keys.trending(kind, minutes)
            pipe.zunionstore(target, weights)
            pipe.expire(target, cfg.retention_s)
        users = keys.users_window(minutes)
        pipe.delete(users)
        pipe.pfmerge(users, *(keys.users_minute(bucket) for bucket in buckets))
        pipe.expire(users, cfg.retention_s)
        summed: Counter[str] = Counter()
        for bucket in buckets:
            summed.update(hashes.get(bucket, {}))
        window = keys.window(minutes)
        pipe.delete(window)
        if summed:
            values: dict[Any, Any] = dict(summed)
            pipe.hset(window, mapping=values)
            pipe.expire(window, cfg.retention_s)
    pipe.zremrangebyscore(keys.active_sessions, "-inf", f"({int(now) - cfg.active_session_s}")
    await pipe.execute()
    counts = redis.pipeline(transaction=False)
    for minutes in WINDOWS:
        counts.pfcount(keys.users_window(minutes))
    counts.zcard(keys.active_sessions)
    *uniques, sessions = await counts.execute()
    summary: dict[Any, Any] = {f"users:{m}m": int(u) for m, u in zip(WINDOWS, uniques, strict=True)}
    summary["sessions:active"] = int(sessions)
    summary["refreshed_at"] = int(now)
    await redis.hset(keys.summary, mapping=summary)
    await redis.expire(keys.summary, cfg.retention_s)


async def _minute_hashes(redis: Redis, keys: Keys, buckets: list[str]) -> dict[str, dict[str, int]]:
    pipe = redis.pipeline(transaction=False)
    for bucket in buckets:
        pipe.hgetall(keys.minute(bucket))
    result: dict[str, dict[str, int]] = {}
    for bucket, fields in zip(buckets, await pipe.execute(), strict=True):
        result[bucket] = {
            (name.decode() if isinstance(name, bytes) else name): int(value)
            for name, value in fields.items()
            if name not in (b"users", "users")
        }
    return result
