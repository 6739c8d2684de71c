"""The hot updater's probe of Redis (the redis_exporter stand-in): a real Redis reads as up, a dead port as down."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from pulse.hot.redis_health import RedisProbe, growth
from pulse.settings import Settings
from tests.support.prometheus import free_port


def sample(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


async def test_a_serving_redis_reads_as_up_with_its_info(redis_stack: Settings) -> None:
    redis = Redis.from_url(redis_stack.redis.url)
    try:
        assert await RedisProbe(redis, timeout_s=5).probe()
        info = await redis.info()
    finally:
        await redis.aclose()
    assert sample("pulse_redis_up") == 1
    used = sample("pulse_redis_memory_used_bytes")
    assert used is not None and 0.5 * info["used_memory"] < used < 2 * info["used_memory"]
    clients = sample("pulse_redis_connected_clients")
    assert clients is not None and clients >= 1
    assert sample("pulse_redis_evicted_keys_total") is not None


async def test_a_port_nobody_serves_reads_as_down() -> None:
    redis = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=2)
    try:
        assert not await RedisProbe(redis, timeout_s=5).probe()
    finally:
        await redis.aclose()
    assert sample("pulse_redis_up") == 0


@given(st.lists(st.lists(st.integers(0, 1000), max_size=6).map(lambda reads: [0, *sorted(reads)]), min_size=1))
def test_evictions_count_every_key_across_server_restarts(lives: list[list[int]]) -> None:
    """Each inner list: evicted_keys read during one life of the server, from its restart at 0.

    The counter must end at what all lives evicted together: no negative step at a restart, nothing lost.
    """
    last: int | None = None
    total = 0
    for life in lives:
        for read in life:
            step = growth(last, read)
            assert step >= 0
            total += step
            last = read
    assert total == sum(life[-1] for life in lives)
