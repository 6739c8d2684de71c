"""What Pulse's HTTP services share: JSON responses, the Prometheus exposition, and serving with uvicorn.

The collector and the read API are Starlette apps served the same way: one uvicorn process with
worker processes, metrics summed across workers through ``PROMETHEUS_MULTIPROC_DIR``, HTTPS when a
certificate is configured, in-flight requests drained on SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import orjson
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
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


def serve(factory: str, *, host: str, port: int, workers: int, https: dict[str, Any], service: str) -> None:
    """Run the app ``factory`` ("module:function") until SIGTERM; ``workers`` 0 means one per core."""
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
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
