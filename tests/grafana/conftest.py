"""One warehouse per module loaded with generated traffic (enriched by the collector's code)."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.client import Client

from pulse.settings import Settings
from pulse.stack.testing import StackHandle
from pulse.warehouse.client import connect


@pytest.fixture(scope="session")
def migrated(warehouse_stack: Settings, test_stack: StackHandle) -> Settings:
    test_stack.pulse("migrate", check=True)
    return warehouse_stack


@pytest.fixture(scope="session")
def client(migrated: Settings) -> Client:
    return connect(migrated)
