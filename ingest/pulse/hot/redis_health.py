"""Redis's health for Prometheus, read by its one client: a stand-in for redis_exporter, which is not run here.

Every ``redis_probe_ms`` the hot updater reads ``INFO`` and serves ``pulse_redis_up`` (0 while INFO fails),
used memory, connected clients and evicted keys. Redis's ``evicted_keys`` restarts at 0 with the server;
the counter adds what it grew by since the last probe, so a restart is no negative step.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis

from pulse.hot import metrics

log = logging.getLogger(__name__)


def growth(last: int | None, now: int) -> int:
    """What a server counter grew by since ``last`` (None: never read); a smaller value means it restarted at 0."""
    return now - last if last is not None and now >= last else now


class RedisProbe:
    """Reads INFO into the ``pulse_redis_*`` metrics; ``evicted`` is the last ``evicted_keys`` seen."""

    def __init__(self, redis: Redis, timeout_s: float) -> None:
        self.redis = redis
        self.timeout_s = timeout_s
        self.evicted: int | None = None
        self.up: bool | None = None

    async def probe(self) -> bool:
        try:
            info: dict[str, Any] = await asyncio.wait_for(self.redis.info(), self.timeout_s)
        except Exception as error:  # refused, reset, timed out, auth: Redis is not serving us
            if self.up is not False:  # log a change, not every probe of an outage
                log.warning("redis probe failed", extra={"error": str(error)[:300]})
            self._set_up(False)
            return False
        self._set_up(True)
        metrics.REDIS_MEMORY.set(int(info["used_memory"]))
        metrics.REDIS_CLIENTS.set(int(info["connected_clients"]))
        evicted = int(info["evicted_keys"])
        metrics.REDIS_EVICTED.inc(growth(self.evicted, evicted))
        self.evicted = evicted
        return True

    def _set_up(self, up: bool) -> None:
        self.up = up
        metrics.REDIS_UP.set(1 if up else 0)

    async def probe_forever(self, interval_s: float) -> None:
        while True:
            await self.probe()
            await asyncio.sleep(interval_s)
