"""`pulse bench api`: latency of the dashboard's named queries through the read API, as its callers see it.

Each call is the whole path: an HTTP request with a JWT (verified against a throwaway IdP's JWKS,
:mod:`pulse.bench.idp`, keys cached as in production), the access check, the query in the warehouse
as the caller's data source user, JSON rendering, and the audit row (batched). The same queries run
directly with clickhouse-connect for comparison, so the API's own cost is the difference.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import httpx
from clickhouse_connect.driver.client import Client

from pulse.access.definition import DEFINITION, load
from pulse.api.app import create_app
from pulse.bench.idp import AUDIENCE, serve_idp
from pulse.bench.queries import dashboard
from pulse.bench.stats import percentile
from pulse.queries.params import Value
from pulse.queries.run import run_typed
from pulse.settings import Settings
from pulse.web import serving

#: The caller: Admin's data source runs every dashboard query (other roles run subsets of the same).
GROUPS = ["pulse-admins"]


@dataclass(frozen=True)
class ApiTiming:
    name: str
    p50_ms: float
    p95_ms: float
    p99_ms: float
    direct_p95_ms: float
    rows: int


@dataclass
class ApiFigures:
    events: int
    repeat: int
    timings: list[ApiTiming] = field(default_factory=list)
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    direct_p95_ms: float = 0.0
    over_200ms_p95: list[str] = field(default_factory=list)


def url_text(values: dict[str, Value]) -> dict[str, str]:
    """Typed dashboard values as the URL carries them."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, datetime | date):
            out[name] = value.isoformat()
        elif isinstance(value, list):
            out[name] = ",".join(str(item) for item in value)
        else:
            out[name] = str(value)
    return out


def _ms(samples: list[float], q: float) -> float:
    return round(percentile(samples, q), 1)


def api_settings(settings: Settings, issuer: str, jwks_url: str) -> Settings:
    """``settings`` with the throwaway IdP; a data source without a configured password uses the warehouse's."""
    definition = load(settings.api.definition or DEFINITION)
    passwords = {
        g.user: settings.api.passwords.get(g.user, settings.clickhouse.password) for g in definition.grantees()
    }
    api = settings.api.model_copy(
        update={"issuer": issuer, "jwks_url": jwks_url, "audience": AUDIENCE, "passwords": passwords}
    )
    return settings.model_copy(update={"api": api})


def measure_api(
    settings: Settings,
    direct: Client,
    end: datetime,
    *,
    repeat: int,
    on_timing: Callable[[ApiTiming], None] | None = None,
) -> ApiFigures:
    """Every dashboard query ``repeat`` times through the API (after one warm-up call) and directly."""
    figures = ApiFigures(events=int(direct.command("SELECT count() FROM events")), repeat=repeat)  # type: ignore[arg-type]
    every: list[float] = []
    every_direct: list[float] = []
    with serve_idp() as idp, serving(create_app(api_settings(settings, idp.issuer, idp.jwks_url))) as url:
        headers = {"Authorization": f"Bearer {idp.token('bench', GROUPS, ttl_s=24 * 3600)}"}
        with httpx.Client(base_url=url, headers=headers, timeout=300) as http:
            for name, values in dashboard(end).items():
                params = url_text(values)
                http.get(f"/v1/queries/{name}", params=params).raise_for_status()
                samples, rows = [], 0
                for _ in range(repeat):
                    started = time.perf_counter()
                    answer = http.get(f"/v1/queries/{name}", params=params)
                    samples.append((time.perf_counter() - started) * 1000)
                    answer.raise_for_status()
                    rows = len(answer.json()["rows"])
                direct_samples = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    run_typed(direct, name, values)
                    direct_samples.append((time.perf_counter() - started) * 1000)
                timing = ApiTiming(
                    name, _ms(samples, 50), _ms(samples, 95), _ms(samples, 99), _ms(direct_samples, 95), rows
                )
                figures.timings.append(timing)
                every += samples
                every_direct += direct_samples
                if on_timing:
                    on_timing(timing)
    figures.p50_ms, figures.p95_ms, figures.p99_ms = _ms(every, 50), _ms(every, 95), _ms(every, 99)
    figures.direct_p95_ms = _ms(every_direct, 95)
    figures.over_200ms_p95 = [t.name for t in figures.timings if t.p95_ms >= 200]
    return figures
