"""The ground truth equals an independent recount of the emitted file, and replays are byte-identical."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.generator.sender import write_file
from pulse.generator.traffic import BurstSpec, TrafficConfig, TrafficGenerator
from pulse.generator.truth import TruthReport, encode_truth, load_truth, write_truth
from tests.support.recount import assert_truth_matches, recount_lines

START = datetime(2026, 11, 22, 19, 59, 30, tzinfo=UTC)


SMALL = TrafficConfig(
    start=START, rate=300.0, users=3_000, posts=800, campaigns=5, bursts=(BurstSpec("testburst", 20, 40),)
)


def small(seed: int, **overrides: Any) -> TrafficConfig:
    return replace(SMALL, seed=seed, **overrides)


def run(tmp: Path, config: TrafficConfig, **limits: float) -> tuple[bytes, TruthReport]:
    out = tmp / f"traffic-{config.seed}.jsonl"
    report = write_file(TrafficGenerator(config), out, **limits)  # type: ignore[arg-type]
    return out.read_bytes(), report


def test_same_seed_same_bytes_and_truth(tmp_path: Path) -> None:
    first = run(tmp_path, small(11), seconds=45)
    second = run(tmp_path, small(11), seconds=45)
    assert first[0] == second[0]
    assert encode_truth(first[1]) == encode_truth(second[1])


def test_different_seed_or_start_differs(tmp_path: Path) -> None:
    base, _ = run(tmp_path, small(11), seconds=10)
    other_seed, _ = run(tmp_path, small(12), seconds=10)
    later, _ = run(tmp_path, small(11, start=START + timedelta(hours=1)), seconds=10)
    assert base != other_seed
    assert base != later
    ids = {m.message_id for m in recount_lines(base).messages}
    assert ids.isdisjoint(m.message_id for m in recount_lines(later).messages)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32),
    rate=st.sampled_from([5.0, 40.0, 250.0, 1200.0]),
    seconds=st.floats(1.0, 150.0),
    batch_size=st.sampled_from([1, 7, 100]),
)
def test_truth_equals_recount_of_file(tmp_path: Path, seed: int, rate: float, seconds: float, batch_size: int) -> None:
    data, report = run(tmp_path, small(seed, rate=rate, batch_size=batch_size), seconds=seconds)
    assert_truth_matches(data, report)


def test_truth_with_event_limit_and_roundtrip(tmp_path: Path) -> None:
    data, report = run(tmp_path, small(5, rate=800.0), events=20_000)
    assert report.events == 20_000
    assert_truth_matches(data, report)
    path = tmp_path / "truth.json"
    write_truth(report, path)
    loaded = load_truth(path)
    assert loaded == report
    assert loaded.per_campaign["cmp_001"].impressions >= 0


def test_sessions_split_by_inactivity(tmp_path: Path) -> None:
    """A tiny population over 2 hours: users come back after idle spells, so sessions split."""
    data, report = run(tmp_path, small(3, rate=2.0, users=50, bursts=()), seconds=7200)
    assert_truth_matches(data, report)
    assert report.sessions.count > report.unique_users
