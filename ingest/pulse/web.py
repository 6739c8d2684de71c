"""What Pulse's HTTP services share: JSON responses, the Prometheus exposition, and serving with uvicorn.

The collector and the read API are Starlette apps served the same way: one uvicorn process with
worker processes, metrics summed across workers through ``PROMETHEUS_MULTIPROC_DIR``, HTTPS when a
certificate is configured, in-flight requests drained on SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from starlette.applications import Starlette
from starlette.responses import Response


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def exposition() -> tuple[bytes, str]:
    """The text exposition: this process alone, or every worker in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def serve(
    factory: str,
    *,
    host: str,
    port: int,
    workers: int,
    https: dict[str, Any],
    service: str,
    options: dict[str, Any] | None = None,
) -> None:
    """Run the app ``factory`` ("module:function") until SIGTERM; ``workers`` 0 means one per core.

    ``options`` are further ``uvicorn.run`` arguments (the collector's own HTTP protocol, for one).
    """
    count = workers or os.cpu_count() or 1
    metrics_dir = None
    if count > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its metrics to files here; /metrics in any worker sums them all.
        metrics_dir = tempfile.mkdtemp(prefix=f"pulse-{service}-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            factory,
            factory=True,
            host=host,
            port=port,
            workers=count,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=30,
            **https,
            **(options or {}),
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it): for servers started by tests and benchmarks."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(app: Starlette, *, host: str = "127.0.0.1", timeout_s: float = 30.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free port (lifespan included); yield its base URL.

    For benchmarks and tests that need the real HTTP server in-process; services use :func:`serve`.
    """
    port = free_port(host)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"{app!r} did not start serving on {host}:{port}")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
