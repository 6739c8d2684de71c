"""The collector's front door: sheds requests beyond the worker's budget and reads each body under a deadline.

ASGI middleware in front of the ``/v1/*`` endpoints, before any other work:

- more than ``max_in_flight`` requests open in this worker: 503 + ``Retry-After`` at once
  (``pulse_collector_requests_shed_total``), so an overload costs clients a retry instead of the
  worker memory and every client a timeout;
- the whole body must arrive within ``body_read_timeout_s`` (else 408, slow-loris clients) and
  hold at most ``max_batch_bytes`` on the wire, declared or chunked (else 413, read no further).

The endpoints then read the buffered body as usual.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pulse.collector import metrics
from pulse.settings import CollectorSettings
from pulse.web import JsonResponse

ENDPOINTS = {"batch", "import", "track", "identify", "page", "screen", "group", "alias"}


class Refused(Exception):
    """The request is answered by the guard: status, reason, headers."""

    def __init__(self, status: int, reason: str, headers: dict[str, str]) -> None:
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers


class ClientGone(Exception):
    """The client disconnected before sending its whole body: nobody to answer."""


def endpoint_of(path: str) -> str:
    """The ``endpoint`` label of a /v1 path (bounded: unknown paths are ``other``; import counts as batch)."""
    name = path.rsplit("/", 1)[-1]
    return ("batch" if name == "import" else name) if name in ENDPOINTS else "other"


class Guard:
    def __init__(self, app: ASGIApp, limits: CollectorSettings) -> None:
        self.app = app
        self.max_in_flight = limits.max_in_flight
        self.timeout_s = limits.body_read_timeout_s
        self.max_bytes = limits.max_batch_bytes
        self.retry_after = {"Retry-After": str(limits.retry_after_s)}
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            metrics.SHED.inc()
            shed = Refused(503, "collector at capacity, retry later", self.retry_after)
            await self.refuse(scope, receive, send, shed)
            return
        self.in_flight += 1
        try:
            try:
                body = await self.read(scope, receive)
            except Refused as refused:
                await self.refuse(scope, receive, send, refused)
                return
            except ClientGone:
                return
            await self.app(scope, _replay(body, receive), send)
        finally:
            self.in_flight -= 1

    async def read(self, scope: Scope, receive: Receive) -> bytes:
        """The whole body, or :class:`Refused` (413 too large, 408 too slow)."""
        too_large = Refused(413, f"request body exceeds {self.max_bytes} bytes", {"Connection": "close"})
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                raise too_large
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise ClientGone
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise too_large
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            reason = f"request body not received within {self.timeout_s:g} s"
            raise Refused(408, reason, {"Connection": "close"}) from None

    async def refuse(self, scope: Scope, receive: Receive, send: Send, refused: Refused) -> None:
        metrics.REQUESTS.labels(endpoint_of(scope["path"]), str(refused.status)).inc()
        response = JsonResponse({"success": False, "error": refused.reason}, refused.status, refused.headers)
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the endpoint the buffered body, then defers to the server's."""
    pending = True

    async def again() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
