"""One warehouse database for the Grafana tests, loaded once with generated traffic (collector-enriched)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from pulse.generator.truth import TruthReport
from pulse.grafana.emulation.demo import live_traffic
from pulse.grafana.emulation.macros import TimeRange
from pulse.settings import Settings
from pulse.warehouse.client import connect
from tests.support.stack import StackHandle

#: The dashboards' own database: other modules' near-now events must not leak into their windows.
DATABASE = "pulse_grafana"


@pytest.fixture(scope="session")
def migrated(warehouse_stack: Settings, test_stack: StackHandle) -> Settings:
    test_stack.up("s3")  # the archive panels read the archive bucket (empty here: tests/archive fills it)
    test_stack.pulse("migrate", env={"PULSE_CLICKHOUSE__DATABASE": DATABASE}, check=True)
    return warehouse_stack.model_copy(
        update={"clickhouse": warehouse_stack.clickhouse.model_copy(update={"database": DATABASE})}
    )


@pytest.fixture(scope="session")
def client(migrated: Settings) -> Client:
    return connect(migrated)


@pytest.fixture(scope="session")
def loaded(client: Client) -> tuple[TruthReport, TimeRange]:
    """Ten minutes of traffic ending now, loaded once (a second load would double every count), and the
    absolute range that holds it."""
    truth, start = live_traffic(client)
    assert truth.first_event and truth.last_event
    end = datetime.fromisoformat(truth.last_event.replace("Z", "+00:00")) + timedelta(seconds=1)
    end = max(end, datetime.now(UTC))
    return truth, TimeRange.between(start, end)
