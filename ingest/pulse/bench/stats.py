"""Percentiles of measured samples: the one definition behind every p50/p95/p99 a benchmark prints."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 to 100) of ``samples``, by linear interpolation between closest ranks.

    This is numpy's default method (the same as ``statistics.quantiles(method="inclusive")``), chosen
    because at q=50 it is exactly ``statistics.median``, which every p50 figure already was; the tail
    figures had been picked by two different nearest-rank rules, so p95 and p99 were not comparable
    across benchmarks. No samples is an error: a figure of nothing measured is a bug, not 0.
    """
    if not samples:
        raise ValueError("a percentile of no samples")
    return float(np.percentile(samples, q))
