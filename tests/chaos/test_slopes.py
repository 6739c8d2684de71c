"""The soak's growth figures measure a process while it lives: a restart's jump is not growth."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pulse.chaos.run import pooled_slope

finite = st.floats(min_value=-1_000, max_value=1_000, allow_nan=False)


@given(
    slope=finite,
    levels=st.lists(st.floats(min_value=0, max_value=5_000, allow_nan=False), min_size=1, max_size=6),
    samples=st.integers(min_value=2, max_value=20),
)
def test_each_lifetime_keeps_its_own_level_and_the_shared_growth_is_found(
    slope: float, levels: list[float], samples: int
) -> None:
    """Lifetimes one after another, each starting at its own level, all growing at ``slope``."""
    points = []
    for lifetime, level in enumerate(levels):
        for n in range(samples):
            at = lifetime * 1_000 + n * 10.0
            points.append((lifetime, at, level + slope * at))
    assert abs(pooled_slope(points) - slope) <= 1e-6 * max(1.0, abs(slope))


def test_restarts_at_a_lower_level_are_not_read_as_shrinking_or_growth() -> None:
    """Flat processes restarted lower each time: a regression over all samples says they shrink."""
    points = [(pid, pid * 100 + t, 500.0 - pid * 100) for pid in range(4) for t in range(0, 100, 10)]
    assert pooled_slope(points) == 0.0
    assert pooled_slope([(0, x, y) for _, x, y in points]) < 0  # what a single regression reports


def test_no_two_samples_of_one_lifetime_means_no_slope() -> None:
    assert pooled_slope([(pid, float(pid), float(pid * 7)) for pid in range(5)]) == 0.0
