"""ClickHouse's own Prometheus names on the bridge's ``/metrics``, read from the engine as a server serves them.

A ClickHouse server with ``<prometheus>`` (the chart's installation: ``events``, ``metrics``) writes every row
of ``system.events`` as ``ClickHouseProfileEvents_<event>`` and of ``system.metrics`` as
``ClickHouseMetrics_<metric>``. chDB is the same engine with the same tables, so the bridge serves the same
names from them at each scrape (a chosen subset, ``EVENTS`` and ``METRICS``), and a panel or rule over these
names reads the chDB stand-in and a real server alike. One difference: the server types profile events
``counter`` without a ``_total`` suffix, which prometheus_client cannot write for a counter, so here they
are untyped (PromQL's ``rate`` treats both alike).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric, UnknownMetricFamily
from prometheus_client.registry import Collector

from pulse.chdb_server.engine import Engine, EngineError, Statement

log = logging.getLogger(__name__)

#: The profile events served: the ones an operator reads for load, failures, inserts and merges. A server
#: serves all ~1,600 (and ~550 metrics); every one here at a scrape a second was a 480 kB answer that missed
#: the 1 s scrape timeout under load, so the bridge serves this subset, under the server's names.
EVENTS = (
    "Query", "SelectQuery", "InsertQuery", "FailedQuery", "FailedSelectQuery", "FailedInsertQuery",
    "QueryTimeMicroseconds", "InsertedRows", "InsertedBytes", "SelectedRows", "SelectedBytes",
    "DelayedInserts", "RejectedInserts", "MergedRows",
)  # fmt: skip
METRICS = ("Query", "Merge", "MemoryTracking", "PartsActive", "HTTPConnection", "TCPConnection", "DelayedInserts")
#: The disk gauges a server computes in ``system.asynchronous_metrics`` (``DiskAvailable_<disk>`` and the
#: others, served as ``ClickHouseAsyncMetrics_*``). chDB has no such table, so they are read where the server
#: reads them, ``system.disks``: the warehouse's free space is what ``PulseWarehouseDiskLow`` watches.
DISKS = (
    " UNION ALL SELECT 'ClickHouseAsyncMetrics_DiskAvailable_' || name, free_space,"
    " 'Available bytes on the disk (virtual filesystem).' FROM system.disks"
    " UNION ALL SELECT 'ClickHouseAsyncMetrics_DiskUsed_' || name, total_space - free_space,"
    " 'Used bytes on the disk (virtual filesystem).' FROM system.disks"
    " UNION ALL SELECT 'ClickHouseAsyncMetrics_DiskTotal_' || name, total_space,"
    " 'The total size in bytes of the disk (virtual filesystem).' FROM system.disks"
)
#: One round trip per scrape; zero-valued events too, as a server serves them (a rate of failures reads 0).
SQL = (
    f"SELECT 'ClickHouseProfileEvents_' || event, value, description FROM system.events WHERE event IN {EVENTS}"
    " UNION ALL SELECT 'ClickHouseMetrics_' || metric, value, description"
    f" FROM system.metrics WHERE metric IN {METRICS}"
    f"{DISKS}"
    " SETTINGS system_events_show_zero_values = 1"
)


#: How often the system tables are read: a scrape serves the last reading and never waits for the engine.
REFRESH_S = 1.0


class ServerMetrics(Collector):
    """The last reading of ``system.events``, ``system.metrics`` and ``system.disks``, refreshed by a thread of its own.

    A scrape must not queue behind the engine's busy connections (inserts, dashboards): at a 1 s scrape
    timeout that made a busy warehouse look down. So a background thread reads the tables every
    ``REFRESH_S`` and ``collect`` only formats the rows it holds.
    """

    def __init__(self, engine: Engine, refresh_s: float = REFRESH_S) -> None:
        self.engine = engine
        self.refresh_s = refresh_s
        self.rows: list[tuple[str, float, str]] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._refresh_forever, name="server-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def refresh(self) -> None:
        body = self.engine.execute(Statement(SQL, default_format="TabSeparated", readonly=2)).body
        rows = []
        for line in body.decode().splitlines():
            name, value, text = line.split("\t", 2)
            rows.append((name, float(value), text))
        self.rows = rows  # one assignment: a scrape sees the old list or the new one

    def _refresh_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                self.refresh()
            except EngineError as error:  # closing: scrapes keep the last reading
                log.info("system tables unavailable for /metrics", extra={"error": error.message[:300]})
            self._stopping.wait(self.refresh_s)

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not run ``collect``."""
        return []

    def collect(self) -> Iterator[Metric]:
        for name, value, text in self.rows:
            family: UnknownMetricFamily | GaugeMetricFamily = (
                UnknownMetricFamily(name, text)
                if name.startswith("ClickHouseProfileEvents_")
                else GaugeMetricFamily(name, text)
            )
            family.add_metric([], value)
            yield family
