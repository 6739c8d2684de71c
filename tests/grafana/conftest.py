"""One warehouse per module loaded with generated traffic (enriched by the collector's code)."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from pulse.settings import Settings
from pulse.warehouse.client import connect
from tests.support.stack import StackHandle

#: The dashboards' own database: other modules' near-now events must not leak into their windows.
DATABASE = "pulse_grafana"


@pytest.fixture(scope="session")
def migrated(warehouse_stack: Settings, test_stack: StackHandle) -> Settings:
    test_stack.pulse("migrate", env={"PULSE_CLICKHOUSE__DATABASE": DATABASE}, check=True)
    return warehouse_stack.model_copy(
        update={"clickhouse": warehouse_stack.clickhouse.model_copy(update={"database": DATABASE})}
    )


@pytest.fixture(scope="session")
def client(migrated: Settings) -> Client:
    return connect(migrated)
