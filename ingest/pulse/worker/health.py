"""`/metrics` plus `/healthz` for the long-running consumers (loader, hot layer, archiver).

prometheus_client's own server answers every path with metrics, so a probe could not tell a wedged
loop from a live one. Here ``/healthz`` is 200 while the service's loop keeps beating and 503 once
it has not for ``stale_after_s``; its JSON body names any dependency that is failing right now
(a failing dependency is retried, not a reason to restart: the status stays 200).
"""

from __future__ import annotations

import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def answers_ok(url: str, verify: ssl.SSLContext | bool = True) -> bool:
    """The probe side of these endpoints (and the collector's ``/readyz``): a 200 within a second
    (``verify``: the CA to trust over HTTPS)."""
    try:
        return httpx.get(url, timeout=1.0, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


class Health:
    """What a service reports about itself: a heartbeat and the dependencies now failing."""

    def __init__(self, service: str, stale_after_s: float = 60.0) -> None:
        self.service = service
        self.stale_after_s = stale_after_s
        self._beat = time.monotonic()
        self._failing: dict[str, str] = {}
        self._lock = threading.Lock()

    def beat(self) -> None:
        self._beat = time.monotonic()

    def failing(self, dependency: str, error: str) -> None:
        with self._lock:
            self._failing[dependency] = error[:300]

    def recovered(self, dependency: str) -> None:
        with self._lock:
            self._failing.pop(dependency, None)

    def report(self) -> tuple[int, bytes]:
        age = time.monotonic() - self._beat
        with self._lock:
            failing = dict(self._failing)
        alive = age <= self.stale_after_s
        body = {"service": self.service, "alive": alive, "loop_age_s": round(age, 3), "failing": failing}
        return (200 if alive else 503), orjson.dumps(body)


def serve(health: Health, host: str, port: int) -> ThreadingHTTPServer:
    """Start the endpoint in a daemon thread; returns the server (``shutdown()`` to stop)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                status, body, kind = 200, generate_latest(), CONTENT_TYPE_LATEST
            elif path in ("/healthz", "/readyz"):
                status, body = health.report()
                kind = "application/json"
            else:
                status, body, kind = 404, b"not found: try /metrics or /healthz\n", "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"{health.service}-http", daemon=True).start()
    return server
