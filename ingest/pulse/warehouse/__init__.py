"""The warehouse as Pulse's code sees it: the ClickHouse client and the schema migrations.

The migrations themselves are ``clickhouse/schema/`` in the repository, shipped in the package as
:mod:`pulse.warehouse.schema`. The embedded stand-in for a server is :mod:`pulse.chdb_server`.
"""
