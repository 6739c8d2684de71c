"""The warehouse keeps room to write: free space on its data disk, from ClickHouse's own disk gauges.

A server serves ``ClickHouseAsyncMetrics_DiskAvailable_<disk>`` and ``..._DiskTotal_<disk>`` (the chart
turns ``asynchronous_metrics`` on; the chDB bridge serves the same names from ``system.disks``). Out of
space, inserts fail (the loader retries, lag grows) and a merge caught mid-write can leave a broken part:
the chaos runs saw chDB commit one (docs/reliability.md), so the alert comes well before the disk is full.
"""

from __future__ import annotations

from pulse.grafana.alerting import Group, PromQL, Rule, below

from ..config import JOBS, PLATFORM

#: Below this share of the data disk free, merges of the largest parts (which write their result before
#: the sources go) may no longer fit.
DISK_FREE_MIN = 0.10
SELECT = f'{{job="{JOBS["warehouse"]}"}}'
FREE_SHARE = f"ClickHouseAsyncMetrics_DiskAvailable_default{SELECT} / ClickHouseAsyncMetrics_DiskTotal_default{SELECT}"

DISK_LOW = Rule(
    uid="pulse-warehouse-disk-low",
    title="PulseWarehouseDiskLow",
    summary=f"Less than {DISK_FREE_MIN:.0%} of the warehouse's data disk is free: inserts and merges will fail",
    description="{{ $labels.instance }} has {value} of its data disk free.",
    team=PLATFORM,
    severity="critical",
    query=PromQL(expr=FREE_SHARE),
    threshold=below(DISK_FREE_MIN),
    window_s=300,
    pending="5m",
    no_data="OK",  # a warehouse that is not scraped is PulseWarehouseDown's
)

GROUP = Group(name="pulse-warehouse", interval="1m", rules=(DISK_LOW,))
