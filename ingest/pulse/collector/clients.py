"""Who is calling, and how often they presented an unknown write key: the brute-force guard.

The client address is the socket's peer, or the nearest untrusted hop of ``X-Forwarded-For`` when
the peer is one of ``collector.trusted_proxies`` (anyone else could write that header). Failures
are counted per address in one-minute windows in Redis, so every worker and replica shares the
budget; past ``auth_failures_per_minute`` the address gets 429 for the rest of the window, valid
key or not, so a guess made while blocked can never be confirmed.

Workers remember each address's count for a second, so Redis is asked at most once per address
per second and worker; another worker's failures are seen within that second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import Scope

from pulse.collector.cache import TtlLru

log = logging.getLogger(__name__)

PREFIX = "pulse:auth-failures:"
WINDOW_S = 60
#: How long a worker trusts its copy of an address's failure count.
LOCAL_TTL_S = 1.0

Network = IPv4Network | IPv6Network


def client_address(scope: Scope, trusted_proxies: Sequence[Network]) -> str:
    """The caller's address: the peer, or the last X-Forwarded-For hop before the trusted proxies."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not trusted_proxies or not _is_trusted(peer, trusted_proxies):
        return str(peer)
    forwarded = [value.decode("latin-1") for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"]
    hops = [hop.strip() for value in forwarded for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):  # each proxy appends the address it received from
        if not _is_trusted(hop, trusted_proxies):
            return hop if _is_address(hop) else str(peer)
    return hops[0] if hops and _is_address(hops[0]) else str(peer)


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def _is_trusted(text: str, trusted_proxies: Sequence[Network]) -> bool:
    try:
        address = ip_address(text)
    except ValueError:
        return False
    return any(address in network for network in trusted_proxies)


class AuthFailures:
    """Unknown-key attempts per client address per minute, shared by all workers through Redis."""

    def __init__(self, redis: Redis, per_minute: int) -> None:
        self.redis = redis
        self.per_minute = per_minute
        self._seen: TtlLru[int] = TtlLru(100_000, LOCAL_TTL_S)

    def _counter(self, address: str, window: int) -> str:
        return f"{PREFIX}{address}:{window}"

    async def blocked(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None when it is within its budget."""
        if self.per_minute <= 0:
            return None
        now = time.time()
        window = int(now // WINDOW_S)
        key = self._counter(address, window)
        failures = self._seen.get(key)
        if failures is None:
            try:
                failures = int(await self.redis.get(key) or 0)
            except RedisError as error:  # the guard must not stop ingestion; keys are still checked
                log.warning("auth failure counter unavailable", extra={"error": str(error)})
                return None
            self._seen.put(key, failures)
        if failures < self.per_minute:
            return None
        return (window + 1) * WINDOW_S - now

    async def failed(self, address: str) -> None:
        """Count one unknown or revoked key presented by ``address``."""
        if self.per_minute <= 0:
            return
        key = self._counter(address, int(time.time() // WINDOW_S))
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 2 * WINDOW_S)
                failures, _ = await pipe.execute()
        except RedisError as error:
            log.warning("auth failure counter unavailable", extra={"error": str(error)})
            return
        self._seen.put(key, int(failures))
        if int(failures) == self.per_minute:
            log.warning("client blocked: too many unknown write keys", extra={"client": address})
