"""``pulse bench metrics`` measures what it says: the synthetic metrics are real rollups that store rows."""

from __future__ import annotations

from pulse.bench.metrics import measure


def test_the_bench_inserts_into_real_generated_rollups() -> None:
    cost = measure(3, batch=500, inserts=2)
    assert cost.metrics == 3 and cost.batch_events == 500
    assert cost.rollup_bytes_per_event_per_metric > 0, "the generated rollups stored nothing"
    assert cost.baseline_ms_per_insert > 0 and cost.with_metrics_ms_per_insert > 0
    assert cost.events_bytes_per_event > 0
