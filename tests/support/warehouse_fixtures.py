"""Fixtures: a real `pulse warehouse serve` per module, or per test for restart tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from tests.support.warehouse import Warehouse


def serving(warehouse: Warehouse) -> Iterator[Warehouse]:
    """Start ``warehouse`` and stop it after the fixture that yields from this is done with it."""
    warehouse.start()
    try:
        yield warehouse
    finally:
        warehouse.stop()


def _warehouse(tmp: Path) -> Iterator[Warehouse]:
    warehouse = Warehouse(path=tmp / "chdb", home=tmp / "home")
    warehouse.home.mkdir(parents=True)
    yield from serving(warehouse)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """One bridge shared by a test module (starting one costs about a second)."""
    yield from _warehouse(tmp_path_factory.mktemp("warehouse"))


@pytest.fixture
def own_warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    """A bridge of the test's own, for tests that stop and restart it."""
    yield from _warehouse(tmp_path)


@pytest.fixture
def client(warehouse: Warehouse) -> Iterator[Client]:
    c = warehouse.client()
    yield c
    c.close()
