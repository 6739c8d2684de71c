"""One ClickHouse login per data source: the API runs each call as the user its caller maps to.

The users and their grants are rendered from the access definition (``provisioning/access/clickhouse``);
their passwords come from ``settings.api.passwords`` (``PULSE_API__PASSWORDS__<USER>``, a Secret in the
chart). A client runs one query at a time, so each worker thread keeps its own client per user.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from pulse.settings import Settings
from pulse.warehouse.client import ClientPerThread, connect


class NoCredentials(Exception):
    """The API was not given the password of a data source's user: 503, an operator must fix it."""


class Warehouses:
    """Clients by ClickHouse user, made on first use in each thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, ClientPerThread] = {}

    def settings_for(self, user: str) -> Settings:
        """``settings`` with the warehouse login of ``user``."""
        password = self.settings.api.passwords.get(user)
        if password is None:
            raise NoCredentials(f"no password for ClickHouse user {user}: set PULSE_API__PASSWORDS__{user.upper()}")
        login = self.settings.clickhouse.model_copy(update={"username": user, "password": password})
        return self.settings.model_copy(update={"clickhouse": login})

    def client(self, user: str) -> Client:
        """This thread's client logged in as ``user`` (blocking: call from a worker thread)."""
        per_thread = self._clients.get(user)
        if per_thread is None:
            settings = self.settings_for(user)
            per_thread = self._clients.setdefault(user, ClientPerThread(lambda: connect(settings)))
        return per_thread.client

    def unreachable(self) -> str | None:
        """Why no call could be answered now (no credentials, warehouse down), or None when one could.

        Pings as the first data source user with a password: a pod that cannot reach the warehouse
        leaves the Service (``/readyz``) instead of answering every call with a 502.
        """
        user = next(iter(sorted(self.settings.api.passwords)), None)
        if user is None:
            return "no data source credentials: set PULSE_API__PASSWORDS__<USER>"
        try:
            answered = self.client(user).ping()
        except Exception as error:  # any failure to connect is the answer, not a crash of the probe
            return f"the warehouse does not answer as {user}: {error}"
        return None if answered else f"the warehouse does not answer /ping as {user}"
