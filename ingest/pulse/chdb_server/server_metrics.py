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
#: One round trip per scrape; zero-valued events too, as a server serves them (a rate of failures reads 0).
SQL = (
    f"SELECT 'ClickHouseProfileEvents_' || event, value, description FROM system.events WHERE event IN {EVENTS}"
    " UNION ALL SELECT 'ClickHouseMetrics_' || metric, value, description"
    f" FROM system.metrics WHERE metric IN {METRICS}"
    " SETTINGS system_events_show_zero_values = 1"
)


class ServerMetrics(Collector):
    """Collects ``system.events`` and ``system.metrics`` at each scrape; nothing when the engine refuses."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not query an engine that may still be opening."""
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            body = self.engine.execute(Statement(SQL, default_format="TabSeparated", readonly=2)).body
        except EngineError as error:  # closing: the scrape still answers, with the bridge's own metrics
            log.info("system tables unavailable for /metrics", extra={"error": error.message[:300]})
            return
        for line in body.decode().splitlines():
            name, value, text = line.split("\t", 2)
            family: UnknownMetricFamily | GaugeMetricFamily = (
                UnknownMetricFamily(name, text)
                if name.startswith("ClickHouseProfileEvents_")
                else GaugeMetricFamily(name, text)
            )
            family.add_metric([], float(value))
            yield family
