"""The read API against real components: a local JWKS server, the bridge with the migrated schema and data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from pulse.access.definition import DEFINITION, AccessDefinition, Grantee, load
from pulse.api.app import create_app
from pulse.bench.idp import AUDIENCE, Idp, serve_idp
from pulse.bench.synthetic import load as load_events
from pulse.settings import Settings
from pulse.warehouse.client import connect
from pulse.warehouse.migrations import discover, migrate
from pulse.web import serving
from tests.support.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[2]
#: The data's newest event: whole hours, so the dashboards' ranges below are fixed instants.
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
RANGE = {"from": (END - timedelta(hours=6)).isoformat(), "to": END.isoformat()}


@pytest.fixture(scope="session")
def definition() -> AccessDefinition:
    return load(REPO / DEFINITION)


@pytest.fixture(scope="session")
def idp() -> Iterator[Idp]:
    with serve_idp() as served:
        yield served


def password(user: str) -> str:
    return f"secret-of-{user}"


def api_settings(warehouse_url: str, database: str, idp: Idp, definition: AccessDefinition, **api: object) -> Settings:
    """The API's settings: the bridge, the IdP, every data source user's password (unless ``passwords`` given)."""
    passwords = {g.user: password(g.user) for g in definition.grantees()}
    return Settings(
        clickhouse={"url": warehouse_url, "database": database},  # type: ignore[arg-type]
        api={  # type: ignore[arg-type]
            "issuer": idp.issuer,
            "jwks_url": idp.jwks_url,
            "audience": AUDIENCE,
            "passwords": passwords,
            "definition": REPO / DEFINITION,
            "audit_flush_s": 0.2,
            **api,
        },
    )


def migrated_warehouse(tmp: Path, database: str, events: int = 30_000) -> Warehouse:
    """A running bridge on ``tmp`` with the schema migrated and ``events`` synthetic events over a day."""
    warehouse = Warehouse(path=tmp / "chdb", home=tmp / "home", extra_env={"PULSE_CLICKHOUSE__DATABASE": database})
    warehouse.home.mkdir(parents=True)
    warehouse.start()
    client = connect(Settings(clickhouse={"url": warehouse.url}), use_database=False)  # type: ignore[arg-type]
    try:
        migrate(client, database, discover())
        load_events(client, events, days=1, end=END, users=2_000, posts=5_000, tags=200)
    finally:
        client.close()
    return warehouse


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory, definition: AccessDefinition) -> Iterator[Warehouse]:
    """One unrestricted bridge (every query runs as its ``default`` user) with the definition's database."""
    warehouse = migrated_warehouse(tmp_path_factory.mktemp("api"), definition.database)
    try:
        yield warehouse
    finally:
        warehouse.stop()


@pytest.fixture(scope="session")
def settings(warehouse: Warehouse, idp: Idp, definition: AccessDefinition) -> Settings:
    return api_settings(warehouse.url, definition.database, idp, definition)


@dataclass
class RunningApi:
    url: str
    app: Starlette

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


@contextmanager
def running_api(settings: Settings, **options: Any) -> Iterator[RunningApi]:
    """The app served by uvicorn in a thread on a free port, as `pulse api run` serves it (lifespan included)."""
    app = create_app(settings, **options)
    with serving(app) as url:
        yield RunningApi(url, app)


def groups_of(settings: Settings, grantee: Grantee) -> list[str]:
    """The IdP groups that make a caller this grantee (the reverse of the API's group mappings)."""
    role = next(group for group, name in settings.api.role_groups.items() if name == grantee.role)
    if grantee.department is None:
        return [role]
    department = next(g for g, name in settings.api.department_groups.items() if name == grantee.department)
    return [role, department]


@pytest.fixture(scope="session")
def api(settings: Settings) -> Iterator[RunningApi]:
    with running_api(settings) as running:
        yield running


@pytest.fixture
def http(api: RunningApi) -> Iterator[httpx.Client]:
    with api.client() as client:
        yield client
