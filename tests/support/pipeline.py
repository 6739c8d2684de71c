"""The running pipeline from a test's side: where traffic goes, traffic through crashes, figures as truth.

The end-to-end tests drive the collector, kill services under load, and compare query rows with the
generator's ground truth; these are the pieces more than one test module needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pulse.generator.sender import send
from pulse.generator.traffic import TrafficGenerator
from pulse.generator.truth import AdTotals, TruthReport
from pulse.pipeline.services import start_pipeline, supervisor_for
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


def ad_totals(row: Mapping[str, Any]) -> AdTotals:
    """A query row's ad figures as the truth's ``AdTotals``, to compare whole with the truth's.

    The values are taken as the row holds them (no conversion), so the comparison is as strict as
    comparing each column.
    """
    return AdTotals(**{name: row[name] for name in AdTotals.__struct_fields__})
