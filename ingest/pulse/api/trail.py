"""Every API call in ``audit_log``, written in batches so a call costs no insert of its own.

Rows wait in memory and are inserted every ``audit_flush_s`` or once ``audit_batch_rows`` wait, and
when the app stops. A refused insert keeps its rows for the next try (up to ``audit_max_buffered``;
beyond that the oldest are dropped and counted in ``pulse_api_audit_rows_dropped_total``). The rows
are written with the operator's warehouse login (``settings.clickhouse``): the data source users the
calls run as are read-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from clickhouse_connect.driver.client import Client
from starlette.concurrency import run_in_threadpool

from pulse.access import audit
from pulse.api import metrics
from pulse.settings import Settings
from pulse.warehouse.client import connect

log = logging.getLogger(__name__)

Writer = Callable[[list[audit.Entry]], None]


def warehouse_writer(settings: Settings) -> Writer:
    """Insert rows into ``audit_log`` with one client, connected on first use."""
    lock = threading.Lock()
    clients: list[Client] = []

    def write(entries: list[audit.Entry]) -> None:
        with lock:
            if not clients:
                clients.append(connect(settings))
            audit.write(clients[0], settings.clickhouse.database, entries)

    return write


class Trail:
    """The buffer of audit rows and the task that flushes it."""

    def __init__(self, write: Writer, *, flush_s: float, batch_rows: int, max_buffered: int) -> None:
        self.write = write
        self.flush_s = flush_s
        self.batch_rows = batch_rows
        self.max_buffered = max_buffered
        self.rows: list[audit.Entry] = []
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def add(self, entry: audit.Entry) -> None:
        self.rows.append(entry)
        self._trim()
        if len(self.rows) >= self.batch_rows:
            self._wake.set()

    def _trim(self) -> None:
        excess = len(self.rows) - self.max_buffered
        if excess > 0:
            del self.rows[:excess]
            metrics.AUDIT_DROPPED.inc(excess)

    async def flush(self) -> None:
        async with self._flushing:
            rows, self.rows = self.rows, []
            if not rows:
                return
            try:
                await run_in_threadpool(self.write, rows)
            except Exception as error:  # the warehouse may be down: keep the rows, try again next time
                metrics.AUDIT_FAILURES.inc()
                log.warning("audit rows not written, kept for the next flush", extra={"error": str(error)})
                self.rows = rows + self.rows
                self._trim()
                return
            metrics.AUDIT_WRITTEN.inc(len(rows))

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_s)
            self._wake.clear()
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the timer and write what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
