"""One migrated chDB warehouse for the access tests, with a few rows of every department's kind."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pulse.access.catalog import Catalog, from_client
from pulse.access.definition import DEFINITION, AccessDefinition, load
from pulse.warehouse.migrations import discover, migrate
from tests.access.standin import session

REPO = Path(__file__).resolve().parents[2]
CATEGORIES = ("music", "sports", "food", "lifestyle")


@dataclass(frozen=True)
class Warehouse:
    path: Path
    database: str
    catalog: Catalog
    rows: dict[str, int]  # rows of each table as an unrestricted user sees them


@pytest.fixture(scope="session")
def definition() -> AccessDefinition:
    return load(REPO / DEFINITION)


def _events(now: datetime) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    kinds = ("view", "like", "share", "search", "post_created", "ad_impression", "ad_click", "conversion")
    for i in range(48):
        event = kinds[i % len(kinds)]
        ads = event.startswith("ad_") or event == "conversion"
        rows.append(
            {
                "message_id": f"m{i}",
                "event": event,
                "event_time": now - timedelta(minutes=2 + i % 20),
                "user_id": f"u{i % 7}",
                "session_id": f"s{i % 5}",
                "country": ("DE", "FR", "US")[i % 3],
                "region": ("BE", "IDF", "CA")[i % 3],
                "device_type": ("ios", "android", "web")[i % 3],
                "segment": ("new", "core")[i % 2],
                "category": CATEGORIES[(i // 8) % len(CATEGORIES)],
                "post_id": f"p{i % 9}",
                "hashtags": ["#goal", "#live"] if event == "post_created" else [],
                "search_query": "football live scores" if event == "search" else "",
                "campaign_id": f"c{i % 3}" if ads else "",
                "spend_micros": 250_000 if event == "ad_impression" else 0,
                "revenue_micros": 4_000_000 if event == "conversion" else 0,
            }
        )
    return rows


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory, definition: AccessDefinition) -> Iterator[Warehouse]:
    """Migrated by an unrestricted session, which inserts the rows and then closes (one session per path)."""
    path = tmp_path_factory.mktemp("access") / "chdb"
    database = definition.database
    now = datetime.now(UTC)
    with session(path) as client:
        migrate(client, database, discover())
        rows = _events(now)
        columns = list(rows[0])
        client.insert(f"{database}.events", [[r[c] for c in columns] for r in rows], column_names=columns)
        client.insert(
            f"{database}.campaigns",
            [[f"c{i}", f"Campaign {i}", 50_000_000, now] for i in range(3)],
            column_names=["campaign_id", "name", "daily_budget_micros", "updated_at"],
        )
        catalog = from_client(client, database)
        counts = {
            name: int(client.command(f"SELECT count() FROM {database}.{name}"))  # type: ignore[arg-type]
            for name, obj in catalog.items()
            if obj.kind == "table"
        }
    yield Warehouse(path, database, catalog, counts)
