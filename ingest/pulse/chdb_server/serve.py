"""`pulse warehouse serve`: own the chDB path, serve HTTP until SIGTERM, then close cleanly.

Clean close matters: chDB refuses a path another process holds, and a path closed
mid-write replays on the next open. So SIGTERM stops accepting, lets in-flight
queries finish, and only then closes every connection.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import threading
from types import FrameType

from pulse.chdb_server import config as engine_config
from pulse.chdb_server.engine import Engine
from pulse.chdb_server.http_bridge import BridgeServer
from pulse.chdb_server.query_log import capture
from pulse.errors import PulseError
from pulse.logs import configure_logging
from pulse.settings import Settings

log = logging.getLogger(__name__)


def _require_loopback(host: str) -> None:
    """The bridge has no authentication, so it must never listen beyond this machine."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise PulseError(
            f"the warehouse bridge only listens on loopback, not {host!r}: set PULSE_STACK__HOST=127.0.0.1"
        )


def serve(
    settings: Settings, *, pool_size: int | None = None, port: int | None = None, drain_timeout_s: float = 30.0
) -> None:
    """Serve until SIGTERM/SIGINT; blocks. ``port`` defaults to the port of ``settings.clickhouse.url``,
    ``pool_size`` to ``settings.clickhouse.embedded_pool_size``."""
    pool_size = settings.clickhouse.embedded_pool_size if pool_size is None else pool_size
    configure_logging(settings.log_level, service="warehouse")
    host = settings.stack.host
    _require_loopback(host)
    port = settings.clickhouse.port if port is None else port
    try:
        engine = Engine(settings.chdb_path, pool_size=pool_size, config=engine_config.write(settings))
    except Exception as error:
        raise PulseError(
            f"cannot open chDB at {settings.chdb_path}: {error} (is another warehouse running?)"
        ) from error
    try:
        server = BridgeServer((host, port), engine, queue_wait_ms=settings.clickhouse.embedded_queue_wait_ms)
    except OSError as error:
        engine.close()
        raise PulseError(f"cannot listen on {host}:{port}: {error}") from error

    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    listener = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True)
    listener.start()
    log.info(
        "warehouse serving",
        extra={
            "url": f"http://{host}:{port}",
            "chdb_path": engine.path,
            "engine": engine.version,
            "pool_size": pool_size,
            "queue_wait_ms": settings.clickhouse.embedded_queue_wait_ms,
        },
    )
    while not stop.wait(0.5):
        pass
    server.closing = True
    server.shutdown()
    server.server_close()
    capture(engine, settings.clickhouse.database)
    drained = engine.close(timeout_s=drain_timeout_s)
    log.info("warehouse stopped", extra={"drained": drained})
