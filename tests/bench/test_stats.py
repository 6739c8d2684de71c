"""The benchmarks' one percentile: the median as statistics computes it, linear between ranks elsewhere."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse.bench.stats import percentile


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=200))
def test_p50_is_the_median_and_the_ends_are_min_and_max(samples: list[float]) -> None:
    assert percentile(samples, 50) == pytest.approx(statistics.median(samples))
    assert percentile(samples, 0) == min(samples)
    assert percentile(samples, 100) == max(samples)


def test_tails_interpolate_between_the_closest_ranks() -> None:
    samples = [float(n) for n in range(1, 21)]  # 20 timings, as `pulse bench queries` takes by default
    assert percentile(samples, 95) == pytest.approx(19.05)
    assert percentile(list(reversed(samples)), 95) == pytest.approx(19.05)  # order does not matter


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
