"""Chaos on real components: every fault kind once under load, then nothing lost and nothing double-counted.

The scenario is `pulse chaos` in short (pulse.chaos.run.ChaosRun on the session's stack): kill -9 of
each process, a loader paused past its session timeout, full disks (tmpfs, root only), skewed client
clocks and a 10x burst, each injected while paced traffic flows; then the ground truth is
reconciled with `events`, the rollups, Redis, the archive and the dead-letter table.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.chaos.disk import Disks
from pulse.chaos.faults import FAULTS, SkewingTransport, parse_faults
from pulse.chaos.run import ChaosRun
from pulse.generator.segment import iso_ms
from pulse.pipeline.services import start_pipeline, stop_pipeline
from pulse.settings import Settings
from tests.support.stack import StackHandle


def test_fault_lists_are_all_or_known_names_in_order() -> None:
    assert [f.name for f in parse_faults("all")] == list(FAULTS)
    assert [f.name for f in parse_faults(" kafka, loader ")] == ["kafka", "loader"]
    with pytest.raises(ValueError, match="unknown fault"):
        parse_faults("kafka,meteor")


@settings(max_examples=25, deadline=None)
@given(
    skew_ms=st.integers(min_value=-48 * 3600_000, max_value=48 * 3600_000),
    status=st.sampled_from([200, 400, 503]),
    at_ms=st.integers(min_value=1_700_000_000_000, max_value=1_900_000_000_000),
)
def test_the_skewing_transport_shifts_both_clocks_and_records_only_acknowledged_ids(
    skew_ms: int, status: int, at_ms: int
) -> None:
    seen: list[dict[str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(orjson.loads(request.content))
        return httpx.Response(status)

    transport = SkewingTransport(httpx.Limits(), inner=httpx.MockTransport(answer))
    transport.skew_ms = skew_ms
    body = {"batch": [{"type": "track", "messageId": "m1", "timestamp": iso_ms(at_ms)}], "sentAt": iso_ms(at_ms + 5)}

    async def post() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            await client.post("http://collector/v1/batch", content=orjson.dumps(body))

    asyncio.run(post())

    def ms(text: object) -> int:
        assert isinstance(text, str)
        return round(datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp() * 1000)

    sent = seen[0]
    message = sent["batch"][0]  # type: ignore[index]
    assert ms(message["timestamp"]) - at_ms == skew_ms
    assert ms(sent["sentAt"]) - (at_ms + 5) == skew_ms
    assert transport.skewed == ({"m1": at_ms} if skew_ms else {})
    assert transport.acked == ({"m1"} if status == 200 else set())


@pytest.fixture(scope="module")
def chaos_pipeline(stack: Settings, test_stack: StackHandle) -> Iterator[Settings]:
    """The pipeline with a two-worker collector (one worker can die), S3 and warehouse data on tmpfs if root."""
    test_stack.pulse("migrate", check=True)
    settings = stack.model_copy(update={"collector": stack.collector.model_copy(update={"workers": 2})})
    start_pipeline(settings)
    try:
        yield settings
    finally:
        stop_pipeline(settings)


#: Not in the scenario while it is open: a warehouse disk filled for 6 s made chDB commit a broken merged
#: part of ``events`` in 2 of 6 runs (docs/reliability.md, "Chaos"), so the run would fail on the engine,
#: not on Pulse's exactly-once path. `pulse chaos --faults all` still injects it.
OPEN_ENGINE_DEFECT = "warehouse-disk-full"
SCENARIO = [name for name in FAULTS if name != OPEN_ENGINE_DEFECT]


def test_every_fault_under_load_loses_and_doubles_nothing(chaos_pipeline: Settings) -> None:
    disks = Disks(chaos_pipeline)
    reason = disks.prepare()
    try:
        run = ChaosRun(
            chaos_pipeline,
            rate=100,
            seconds=30,
            faults=parse_faults(",".join(SCENARIO)),
            seed=7,
            disks=disks,
            recovery_timeout_s=45,  # lag drain beyond this is reported, not waited for
            progress=print,
        )
        report = asyncio.run(run.run())
    finally:
        disks.restore()
    print(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode())
    verdict = report.verdict
    assert verdict.acknowledged > 5_000
    assert verdict.lost == 0 and verdict.duplicated == 0, verdict.problems
    assert verdict.ok, verdict.problems
    assert verdict.skewed > 0, "the clock-skew fault sent nothing skewed"
    assert verdict.dead_letters_sent > 0
    assert [f.name for f in report.faults] == SCENARIO
    for fault in report.faults:
        if fault.skipped:
            assert fault.name.endswith("disk-full") and os.geteuid() != 0 and reason, fault
        else:
            # Health must come back; how long lag takes to drain is a figure (contention-bound), not a verdict.
            assert fault.healthy_s is not None, f"{fault.name}: services not healthy again: {fault.note}"
