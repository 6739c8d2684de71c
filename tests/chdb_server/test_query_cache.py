"""The dashboards' query-cache settings on the embedded engine: accepted, same rows; no hits (chDB's cache is 0 bytes).

clickhouse-local, which chDB embeds, creates a "dummy query cache" of size 0 in code
(``LocalServer::processConfig``: ``setQueryCache(0, 0, 0, 0)``), whatever ``<query_cache>`` the
config file holds, and cannot reload its config. So the data source's ``use_query_cache`` works on
the chart's ClickHouse servers only; here it must at least be harmless. When a chDB release gives
the cache a size, the last assertion fails and docs/benchmarks.md's viewers section must be re-measured.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from pulse.grafana.datasources import QUERY_CACHE_SETTINGS

SQL = (
    "SELECT number % 7 AS k, count() AS n FROM numbers(200000) "
    "WHERE number < toUInt64(toUnixTimestamp(now())) GROUP BY k ORDER BY k"  # now(): a dashboard query's kind
)


def _events(client: Client) -> dict[str, int]:
    rows = client.query(
        "SELECT event, value FROM system.events WHERE event IN ('QueryCacheHits', 'QueryCacheMisses')"
    ).result_rows
    return {"QueryCacheHits": 0, "QueryCacheMisses": 0} | {str(name): int(value) for name, value in rows}


def test_the_data_source_cache_settings_are_accepted_and_change_no_row(client: Client) -> None:
    uncached = client.query(SQL).result_rows
    before = _events(client)
    cached = [client.query(SQL, settings=dict(QUERY_CACHE_SETTINGS)).result_rows for _ in range(2)]
    after = _events(client)
    assert cached == [uncached, uncached]
    # system tables bypass the cache instead of failing the panel (query_cache_system_table_handling)
    assert client.query("SELECT count() > 0 FROM system.one", settings=dict(QUERY_CACHE_SETTINGS)).result_rows
    assert after["QueryCacheMisses"] - before["QueryCacheMisses"] == 2
    assert after["QueryCacheHits"] == before["QueryCacheHits"]  # chDB's 0-byte cache stores nothing
    size = client.query("SELECT value FROM system.server_settings WHERE name = 'query_cache.max_size_in_bytes'")
    assert size.result_rows == [("0",)]
