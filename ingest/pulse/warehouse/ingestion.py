"""The two ways events reach the warehouse, the migrations of each, and the refusals that keep them exclusive.

``loader`` (default): ``pulse loader run`` inserts offset ranges exactly once. ``kafka-engine``:
the server's own Kafka tables and views (``clickhouse/schema/kafka_engine``), at-least-once. Both
write ``events``; run together they would store every event twice, so ``pulse migrate`` and
``pulse loader run`` refuse a warehouse that the other one feeds (docs/deployment.md, "Ingestion modes").
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from pulse.errors import PulseError
from pulse.settings import Settings
from pulse.warehouse.migrations import DEFAULT_SCHEMA_DIR, Migration, discover

log = logging.getLogger(__name__)

Mode = Literal["loader", "kafka-engine"]
#: The kafka-engine migrations' folder, inside the schema folder (their versions follow the base ones).
KAFKA_ENGINE_FOLDER = "kafka_engine"
#: A loader that planned a batch this recently is taken to be running.
LOADER_ACTIVE_WINDOW_S = 600

_KAFKA_TABLES = """
SELECT name FROM system.tables
WHERE database = {db:String} AND engine = 'Kafka'
ORDER BY name
"""

_LAST_LOADER_BATCH = """
SELECT max(planned_at) FROM {db:Identifier}.loader_batches
HAVING max(planned_at) >= now64(3) - toIntervalSecond({window_s:UInt32})
"""


def migrations_for(mode: Mode, schema_dir: Path | None = None) -> list[Migration]:
    """The base migrations, then (kafka-engine mode) the kafka-engine ones, whose versions must come after."""
    folder = schema_dir or DEFAULT_SCHEMA_DIR
    base = discover(folder)
    if mode == "loader":
        return base
    extra = discover(folder / KAFKA_ENGINE_FOLDER)
    if base and extra and extra[0].version <= base[-1].version:
        raise PulseError(
            f"{extra[0].path}: kafka-engine migrations must be numbered after the base ones "
            f"(the last is {base[-1].path.name})"
        )
    return base + extra


def kafka_tables(client: Client, database: str) -> list[str]:
    """The database's Kafka-engine tables: any means the server itself feeds ``events``."""
    return [str(row[0]) for row in client.query(_KAFKA_TABLES, parameters={"db": database}).result_rows]


def loader_members(settings: Settings, timeout_s: float = 10.0) -> int | None:
    """How many consumers the loader's group has on the broker now (None: the broker did not answer)."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    from pulse.tls import kafka_options

    async def ask() -> int:
        admin = AIOKafkaAdminClient(**kafka_options(settings.kafka))
        await admin.start()
        try:
            responses = await admin.describe_consumer_groups([settings.loader.group_id])
        finally:
            await admin.close()
        # each described group: (error_code, group_id, state, protocol_type, protocol, members)
        return sum(len(group[5]) for response in responses for group in response.groups)

    try:
        return asyncio.run(asyncio.wait_for(ask(), timeout_s))
    except (KafkaError, OSError, TimeoutError) as error:
        log.warning("could not ask Kafka whether the loader runs", extra={"error": repr(error)})
        return None


def check_migration(client: Client, settings: Settings, mode: Mode) -> None:
    """Refuse (PulseError) to migrate the warehouse for ``mode`` while the other mode feeds it."""
    database = settings.clickhouse.database
    if mode == "kafka-engine":
        members = loader_members(settings)
        if members:
            raise PulseError(
                f"the loader's consumer group {settings.loader.group_id!r} has {members} member(s) on the broker: "
                "with the Kafka tables beside it every event would be stored twice; stop `pulse loader` (its "
                "Deployment) first, then migrate with --ingestion kafka-engine"
            )
    if not client.command("EXISTS DATABASE {db:Identifier}", parameters={"db": database}):
        return
    if mode == "loader":
        tables = kafka_tables(client, database)
        if tables:
            raise PulseError(
                f"database {database} ingests through its own Kafka tables ({', '.join(tables)}): it was migrated "
                "with --ingestion kafka-engine, and a loader beside them would store every event twice; run "
                "`pulse migrate --ingestion kafka-engine` (PULSE_CLICKHOUSE__INGESTION=kafka-engine), or drop "
                "those tables and their views first"
            )
        return
    loader_ran = client.command("EXISTS TABLE {db:Identifier}.loader_batches", parameters={"db": database})
    if not loader_ran or kafka_tables(client, database):
        return
    parameters = {"db": database, "window_s": LOADER_ACTIVE_WINDOW_S}
    rows = client.query(_LAST_LOADER_BATCH, parameters=parameters).result_rows
    if rows:
        raise PulseError(
            f"`pulse loader` wrote to database {database} at {rows[0][0]:%Y-%m-%d %H:%M:%S} UTC (loader_batches): "
            "with the Kafka tables beside it every event would be stored twice; stop the loader (its "
            f"Deployment), wait {LOADER_ACTIVE_WINDOW_S // 60} minutes, then migrate with --ingestion kafka-engine"
        )


def refuse_loader(settings: Settings) -> None:
    """Refuse (PulseError) to start the loader for a warehouse that its own Kafka tables feed.

    The setting is checked first; then the warehouse, if it answers (the loader rides out an
    unreachable warehouse by itself, so that is only logged).
    """
    if settings.clickhouse.ingestion == "kafka-engine":
        raise PulseError(
            "PULSE_CLICKHOUSE__INGESTION=kafka-engine: the warehouse reads Kafka itself, and the loader would "
            "store every event a second time; do not run `pulse loader` in this mode"
        )
    from pulse.warehouse.client import connect as connect_warehouse

    try:
        client = connect_warehouse(settings)
    except (ClickHouseError, OSError, PulseError) as error:
        log.warning("could not check the warehouse's ingestion mode", extra={"error": str(error)})
        return
    try:
        tables = kafka_tables(client, settings.clickhouse.database)
    except (ClickHouseError, OSError) as error:
        log.warning("could not check the warehouse's ingestion mode", extra={"error": str(error)})
        return
    finally:
        client.close()
    if tables:
        raise PulseError(
            f"database {settings.clickhouse.database} ingests through its own Kafka tables ({', '.join(tables)}); "
            "the loader would store every event a second time: stop here, or drop those tables first"
        )
