"""The development stand-in for a ClickHouse server: chDB in-process behind ClickHouse's HTTP interface.

Everything else in Pulse reaches the warehouse through clickhouse-connect (:mod:`pulse.warehouse.client`),
so pointing ``PULSE_CLICKHOUSE__URL`` at a real server replaces this package entirely.
"""
