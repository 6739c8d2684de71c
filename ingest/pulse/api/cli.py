"""`pulse api run` serves the read API; `pulse api openapi` prints (``--write``: writes) its OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pulse.logs import configure_logging
from pulse.settings import get_settings
from pulse.tls import uvicorn_ssl_options
from pulse.web import serve

app = typer.Typer(help="The read API: named queries over HTTP, JWT from the IdP.", no_args_is_help=True)


def build_app() -> object:
    """Factory used by uvicorn in every worker process."""
    from pulse.api.app import create_app

    settings = get_settings()
    configure_logging(settings.log_level, service="api")
    return create_app(settings)


@app.command("run")
def run_command(
    port: int = typer.Option(None, help="listen port (default: settings.api.port)"),
    workers: int = typer.Option(None, help="worker processes (default: settings.api.workers; 0 = one per core)"),
) -> None:
    """Serve /v1/queries until SIGTERM; in-flight requests are drained and the audit rows written before exit."""
    from pulse.errors import PulseError

    settings = get_settings()
    configure_logging(settings.log_level, service="api")
    if not settings.api.issuer:
        raise PulseError("set PULSE_API__ISSUER (and PULSE_API__JWKS_URL unless it is issuer/.well-known/jwks.json)")
    https = uvicorn_ssl_options(settings.api, "api")  # checked before forking workers: a bad path fails once
    count = settings.api.workers if workers is None else workers
    serve(
        "pulse.api.cli:build_app",
        host=settings.api.host,
        port=port or settings.api.port,
        workers=count,
        https=https,
        service="api",
    )


def document_text() -> str:
    """The document as committed: sorted keys, two-space indent, a final newline."""
    from pulse.api.openapi import openapi_document

    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


@app.command("openapi")
def openapi_command(
    write: Annotated[bool, typer.Option("--write", help="write the document to --out instead of printing it")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="file --write writes")] = Path("docs/api-openapi.json"),
) -> None:
    """The read API's OpenAPI document, generated from the named queries."""
    from pulse.queries.cli import print_or_write

    print_or_write(document_text(), write, out)
