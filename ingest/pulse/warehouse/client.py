"""The one way Pulse code reaches the warehouse: a clickhouse-connect client built from settings.

Production points ``PULSE_CLICKHOUSE__URL`` at a ClickHouse server; locally it is the
`pulse warehouse serve` bridge; tests and one-off tools may use ``chdb://<path>`` to run
the engine in-process (only if no bridge holds that path).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from pulse.errors import PulseError
from pulse.settings import Settings
from pulse.tls import clickhouse_options


def connect(settings: Settings, *, use_database: bool = True, **client_options: Any) -> Client:
    """A client for ``settings.clickhouse``; with ``use_database=False`` it starts in the server's default database.

    ``use_database=False`` is for code that runs before the database exists (migrations
    create it, then set ``client.database``). Extra keyword arguments go to
    ``clickhouse_connect.get_client`` (e.g. ``settings={...}``, ``compress=False``).
    """
    ch = settings.clickhouse
    database = ch.database if use_database else None
    url = ch.url.strip()
    try:
        if url.startswith("chdb://"):
            location = unquote(url[len("chdb://") :])
            path = None if location in ("", "memory", ":memory:") else str(Path(location).resolve())
            return clickhouse_connect.get_client(interface="chdb", path=path, database=database, **client_options)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PulseError(f"PULSE_CLICKHOUSE__URL must be http(s)://host:port or chdb://path, not {url!r}")
        return clickhouse_connect.get_client(
            interface=parts.scheme,
            host=parts.hostname,
            port=parts.port or (8443 if parts.scheme == "https" else 8123),
            username=ch.username,
            password=ch.password,
            database=database,
            proxy_path=parts.path.strip("/"),
            **clickhouse_options(ch, parts.scheme),
            **client_options,
        )
    except PulseError:
        raise
    except Exception as error:
        raise PulseError(f"cannot reach the warehouse at {url}: {error}") from error


class ClientPerThread:
    """One client per calling thread, made on first use: a clickhouse-connect client runs one query at
    a time, so work spread over a thread pool needs a client for each thread."""

    def __init__(self, connect: Callable[[], Client]) -> None:
        self._connect = connect
        self._local = threading.local()

    @property
    def client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._connect()
        return client
