"""The running pipeline from a test's side: where traffic goes, traffic through crashes, figures as truth.

The end-to-end tests drive the collector, kill services under load, and compare query rows with the
generator's ground truth; these are the pieces more than one test module needs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from pulse.chaos.reconcile import loader_caught_up as loader_caught_up
from pulse.chaos.reconcile import topic_end_offsets as topic_end_offsets
from pulse.chaos.reconcile import wait_loader_caught_up as wait_loader_caught_up
from pulse.generator.sender import send
from pulse.generator.traffic import TrafficGenerator
from pulse.generator.truth import AdTotals, TruthReport
from pulse.pipeline.services import pipeline_specs, start_pipeline, supervisor_for
from pulse.settings import Settings


def collector_url(settings: Settings) -> str:
    return f"http://{settings.collector.host}:{settings.collector.port}"


def send_through_crashes(
    settings: Settings,
    generator: TrafficGenerator,
    key: str,
    *,
    events: int,
    service: str,
    pauses: tuple[float, ...] = (2.0, 2.5),
) -> TruthReport:
    """Paced traffic while ``service`` is killed (-9) after each pause and started again with the pipeline.

    Paced, so the traffic is still flowing at every kill: the crash lands mid-stream, not after it.
    """
    supervisor = supervisor_for(settings)

    async def scenario() -> TruthReport:
        sending = asyncio.create_task(send(generator, collector_url(settings), key, events=events, paced=True))
        for pause in pauses:
            await asyncio.sleep(pause)
            assert supervisor.kill(service)
            await asyncio.to_thread(start_pipeline, settings)
        return await sending

    return asyncio.run(scenario())


@contextlib.contextmanager
def replaying_loader(settings: Settings, group_id: str) -> Iterator[Settings]:
    """Inside the block the loader runs in a new consumer group, so it reads every offset again (a full
    Kafka redelivery); yields its settings. After the block, the usual loader runs again."""
    supervisor = supervisor_for(settings)
    supervisor.stop("loader")
    replaying = settings.model_copy(update={"loader": settings.loader.model_copy(update={"group_id": group_id})})
    replayer = supervisor.start(pipeline_specs(replaying)["loader"], settings.stack.start_timeout_s)
    try:
        yield replaying
    finally:
        supervisor.stop(replayer.name)
        start_pipeline(settings)


def ad_totals(row: Mapping[str, Any]) -> AdTotals:
    """A query row's ad figures as the truth's ``AdTotals``, to compare whole with the truth's.

    The values are taken as the row holds them (no conversion), so the comparison is as strict as
    comparing each column.
    """
    return AdTotals(**{name: row[name] for name in AdTotals.__struct_fields__})
