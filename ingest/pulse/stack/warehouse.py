"""The warehouse: ``pulse warehouse serve`` (chDB behind ClickHouse's HTTP interface).

It is Pulse's own process, so it is started with this interpreter and the stack's settings as
``PULSE_*`` variables; it listens on the port of ``settings.clickhouse.url``.
"""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

import httpx

from pulse.settings import Settings
from pulse.stack.env import settings_env
from pulse.stack.process import ServiceSpec
from pulse.stack.service import Service

NAME = "warehouse"


def spec(settings: Settings) -> ServiceSpec:
    host = urlsplit(settings.clickhouse.url).hostname or settings.stack.host
    return ServiceSpec(
        name=NAME,
        argv=[sys.executable, "-m", "pulse", "warehouse", "serve"],
        port=settings.clickhouse.port,
        host=host,
        env=settings_env(settings),
        ready=lambda: healthy(settings),
    )


def healthy(settings: Settings) -> bool:
    """``GET /ping`` answers ``Ok.`` like ClickHouse's own HTTP interface."""
    try:
        response = httpx.get(f"{settings.clickhouse.url.rstrip('/')}/ping", timeout=2)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.text.strip() == "Ok."


SERVICE = Service(name=NAME, port=lambda settings: settings.clickhouse.port, spec=spec, healthy=healthy)
