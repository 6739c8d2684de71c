"""Fixtures of the end-to-end tests: the whole pipeline on the session's stack, once per module.

Module scope, defined once: every e2e module still gets a start and a stop of its own, so the
crashes and restarts one module causes never reach the next.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from pulse.pipeline.services import start_pipeline, stop_pipeline
from pulse.settings import Settings
from pulse.warehouse.client import connect
from tests.support.stack import StackHandle


@pytest.fixture(scope="module")
def pipeline(stack: Settings, test_stack: StackHandle) -> Iterator[Settings]:
    """The schema migrated, then loader, hot layer, archiver and collector running, for this module."""
    test_stack.pulse("migrate", check=True)
    start_pipeline(stack)
    yield stack
    stop_pipeline(stack)


@pytest.fixture(scope="module")
def warehouse(pipeline: Settings) -> Client:
    """A client of the pipeline's warehouse (the pipeline up first)."""
    return connect(pipeline)
