"""Every table a view below `events` writes keeps an insert-dedup window, on the shipped schema.

A loader that rebuilds a crashed flush repeats its insert under the flush's token, and each view
target deduplicates that repeat on its own: a target without a window takes the rows twice (as
`users`, `posts` and `campaigns` did before 0017). This guards the rule for every future table.
"""

from __future__ import annotations

import uuid

from clickhouse_connect.driver.client import Client

from pulse.warehouse.migrations import discover, migrate
from tests.support.warehouse import Warehouse


def test_every_table_a_view_of_events_writes_keeps_an_insert_dedup_window(warehouse: Warehouse) -> None:
    client = warehouse.client()
    database = f"dedup_{uuid.uuid4().hex[:6]}"
    try:
        _assert_view_targets_keep_a_window(client, database)
    finally:
        client.command(f"DROP DATABASE IF EXISTS {database}")
        client.close()


def _assert_view_targets_keep_a_window(client: Client, database: str) -> None:
    migrate(client, database, discover())
    views = client.query(
        "SELECT name, as_select, create_table_query FROM system.tables"
        " WHERE database = {db:String} AND engine = 'MaterializedView'",
        parameters={"db": database},
    ).result_rows
    fed = {
        query.split(" TO ", 1)[1].split()[0].split(".")[-1].strip("`")
        for _name, select, query in views
        if " TO " in query and " FROM " + database + ".events" in select.replace("`", "")
    }
    assert {"events_per_minute", "users", "posts", "campaigns"} <= fed, fed
    engines = dict(
        client.query(
            "SELECT name, engine_full FROM system.tables WHERE database = {db:String}", parameters={"db": database}
        ).result_rows
    )
    without = sorted(t for t in fed if "non_replicated_deduplication_window" not in engines[t])
    assert without == [], f"view targets of events without an insert-dedup window: {without}"
