"""The live (Redis) panels' commands run on a real Redis filled by the hot layer's own code."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from pulse.collector.enrich import enrich
from pulse.contracts.events import encode_event
from pulse.contracts.segment import decode_message
from pulse.generator.traffic import TrafficConfig, TrafficGenerator
from pulse.grafana.dashboards import DASHBOARDS
from pulse.grafana.emulation.render import redis_commands
from pulse.grafana.generate import dashboard_json
from pulse.hot.aggregate import aggregate
from pulse.hot.keys import Keys
from pulse.hot.windows import refresh
from pulse.hot.writer import HotWriter
from pulse.settings import Settings


def hot_values(minutes: int = 3, rate: float = 30.0) -> list[bytes]:
    """Enriched events of the last minutes, as the hot layer reads them from Kafka."""
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC) - timedelta(minutes=minutes)
    generator = TrafficGenerator(TrafficConfig(seed=91, start=start, rate=rate, users=800, posts=500, campaigns=3))
    values = []
    for batch in generator.batches(events=int(minutes * 60 * rate)):
        received = datetime.fromtimestamp(batch.last_ms / 1000, UTC)
        for text in batch.messages:
            event = enrich(decode_message(text.encode()), received_at=received, source="demo", sent_at=None)
            values.append(encode_event(event))
    return values


@pytest.mark.parametrize("module", DASHBOARDS, ids=lambda m: m.UID)
def test_redis_panel_commands_return_data(redis_stack: Settings, module: object) -> None:
    commands = redis_commands(dashboard_json(module))  # type: ignore[arg-type]
    if not commands:
        pytest.skip("no Redis panels")
    cfg = redis_stack.hot
    keys = Keys(cfg.key_prefix)
    values = hot_values()

    async def scenario() -> list[object]:
        redis = Redis.from_url(redis_stack.redis.url)
        try:
            inc = aggregate(
                values, keys, now=time.time(), retention_s=cfg.retention_s, session_ttl_s=cfg.active_session_s
            )
            await HotWriter(redis, cfg.marker_ttl_s).apply(
                # A marker of its own: a running hot updater may already have moved the real ones.
                keys.applied(f"test-{time.time_ns()}", 0),
                0,
                len(values) - 1,
                inc,
            )
            await refresh(redis, keys, cfg)
            return [await redis.execute_command(*command.args) for command in commands]
        finally:
            await redis.aclose()

    replies = asyncio.run(scenario())
    for command, reply in zip(commands, replies, strict=True):
        assert reply, f"{command.title}: {' '.join(command.args)} returned nothing"
        if command.args[0] == "HGETALL":
            assert all(float(v) >= 0 for v in reply.values()), command.title  # type: ignore[union-attr]
        if command.args[0] == "ZRANGE":
            assert len(reply) >= 2, command.title  # type: ignore[arg-type]
        if command.args[0] == "INFO":
            assert "used_memory" in reply, command.title  # type: ignore[operator]
