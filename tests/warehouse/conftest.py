"""Fixtures of the warehouse tests: a real `pulse warehouse serve` per module."""

from tests.support.warehouse_fixtures import client, own_warehouse, warehouse

__all__ = ["client", "own_warehouse", "warehouse"]
