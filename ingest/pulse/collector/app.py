"""The collector's HTTP API: Segment's Tracking API endpoints, health and metrics.

A request is answered only after Kafka acknowledged every event it carried, valid ones on their
family topic and invalid ones on the dead-letter topic, so a 2xx means nothing can be lost.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pulse.collector import metrics
from pulse.collector.enrich import InvalidEvent, enrich
from pulse.collector.producer import EventProducer, ProduceError, Record
from pulse.events import FAMILY_OF, EventName, Family, encode_event
from pulse.segment import decode_message, decode_raw_batch
from pulse.settings import Settings

SINGLE_CALLS = ("track", "identify", "page", "screen", "group", "alias")
RETRY_AFTER_S = "5"


class RequestRejected(Exception):
    """The whole request is refused (auth, size, syntax): answered with its status and reason."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"success": False, "error": reason}, status_code=status, headers=headers)


def source_of_write_key(write_key: str) -> str:
    """A stable, non-secret name for a write key (its hash prefix), stored with every event."""
    return "wk_" + hashlib.sha256(write_key.encode()).hexdigest()[:12]


def write_key_of(request: Request) -> str:
    """Segment SDKs send the write key as the HTTP basic-auth user name."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            user = base64.b64decode(header[6:]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            user = ""
        if user:
            return user
    raise RequestRejected(401, "missing write key: send it as the HTTP basic auth user name")


class Collector:
    """Request handling, bound to one producer and the settings' limits."""

    def __init__(self, settings: Settings, producer: EventProducer) -> None:
        self.settings = settings
        self.producer = producer
        self.dead_letter_topic = settings.kafka.topic(Family.DEAD_LETTER)

    async def body_of(self, request: Request) -> bytes:
        limit = self.settings.collector.max_batch_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestRejected(413, f"request body exceeds {limit} bytes")
        body = await request.body()
        encoding = request.headers.get("content-encoding", "").lower()
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
        except (OSError, zlib.error, EOFError) as error:
            raise RequestRejected(400, f"body is not valid {encoding}: {error}") from error
        if len(body) > limit:
            raise RequestRejected(413, f"request body exceeds {limit} bytes")
        return body

    def dead_letter(self, payload: bytes, reason: str, code: str, source: str, received_at: datetime) -> Record:
        metrics.REJECTED.labels(code).inc()
        value = orjson.dumps(
            {
                "failed_at": received_at.isoformat(),
                "source": source,
                "reason": reason,
                "reason_code": code,
                "payload": payload.decode("utf-8", errors="replace"),
            }
        )
        return Record(self.dead_letter_topic, source.encode(), value)

    def route(
        self, raw: bytes, *, source: str, received_at: datetime, sent_at: datetime | None, call: str | None = None
    ) -> tuple[Record, str | None]:
        """One message -> (record, None) if valid, or (dead-letter record, reason) if not."""
        if len(raw) > self.settings.collector.max_event_bytes:
            reason = f"event exceeds {self.settings.collector.max_event_bytes} bytes"
            return self.dead_letter(raw, reason, "too_large", source, received_at), reason
        try:
            if call is not None:
                data = orjson.loads(raw)
                if not isinstance(data, dict):
                    raise InvalidEvent("body must be a JSON object", "schema")
                data["type"] = call
                raw = orjson.dumps(data)
            message = decode_message(raw)
            event = enrich(message, received_at=received_at, source=source, sent_at=sent_at)
        except (msgspec.ValidationError, msgspec.DecodeError, orjson.JSONDecodeError) as error:
            return self.dead_letter(raw, str(error), "schema", source, received_at), str(error)
        except InvalidEvent as error:
            return self.dead_letter(raw, str(error), error.code, source, received_at), str(error)
        topic = self.settings.kafka.topic(FAMILY_OF[EventName(event.event)])
        return Record(topic, event.partition_key, encode_event(event), event.event), None

    async def deliver(self, records: list[Record]) -> None:
        started = time.perf_counter()
        try:
            await self.producer.send_all(records)
        except ProduceError as error:
            raise RequestRejected(
                503, f"event stream unavailable, retry later: {error}", {"Retry-After": RETRY_AFTER_S}
            ) from error
        metrics.PRODUCE_SECONDS.observe(time.perf_counter() - started)

    async def batch(self, request: Request) -> Response:
        write_key = write_key_of(request)
        source = source_of_write_key(write_key)
        body = await self.body_of(request)
        try:
            envelope = decode_raw_batch(body)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            raise RequestRejected(400, f"invalid batch body: {error}") from error
        received_at = datetime.now(UTC)
        records: list[Record] = []
        errors: list[dict[str, Any]] = []
        for index, raw in enumerate(envelope.batch):
            record, reason = self.route(bytes(raw), source=source, received_at=received_at, sent_at=envelope.sent_at)
            records.append(record)
            if reason is not None:
                errors.append({"index": index, "reason": reason})
        await self.deliver(records)
        self._count_accepted(records)
        return JSONResponse(
            {"success": True, "accepted": len(records) - len(errors), "rejected": len(errors), "errors": errors}
        )

    async def single(self, request: Request) -> Response:
        call = request.url.path.rsplit("/", 1)[-1]
        source = source_of_write_key(write_key_of(request))
        body = await self.body_of(request)
        received_at = datetime.now(UTC)
        record, reason = self.route(body, source=source, received_at=received_at, sent_at=None, call=call)
        await self.deliver([record])
        if reason is not None:
            return _error(400, reason)
        self._count_accepted([record])
        return JSONResponse({"success": True})

    def _count_accepted(self, records: list[Record]) -> None:
        for record in records:
            if record.event:
                metrics.ACCEPTED.labels(record.event).inc()


def create_app(settings: Settings, producer: EventProducer | None = None) -> Starlette:
    """The ASGI app; the producer starts with the app and stops (flushing) with it."""
    collector = Collector(settings, producer or EventProducer(settings))

    def endpoint(handler: Any, name: str) -> Any:
        async def wrapped(request: Request) -> Response:
            started = time.perf_counter()
            metrics.IN_FLIGHT.inc()
            try:
                response: Response = await handler(request)
            except RequestRejected as rejected:
                response = _error(rejected.status, rejected.reason, rejected.headers)
            finally:
                metrics.IN_FLIGHT.dec()
            metrics.REQUESTS.labels(name, str(response.status_code)).inc()
            metrics.REQUEST_SECONDS.labels(name).observe(time.perf_counter() - started)
            return response

        return wrapped

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        if await collector.producer.ready():
            return JSONResponse({"status": "ready"})
        return _error(503, "kafka unreachable", {"Retry-After": RETRY_AFTER_S})

    async def prometheus(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await collector.producer.start()
        try:
            yield
        finally:
            await collector.producer.stop()

    routes = [
        Route("/v1/batch", endpoint(collector.batch, "batch"), methods=["POST"]),
        Route("/v1/import", endpoint(collector.batch, "batch"), methods=["POST"]),
        *(Route(f"/v1/{call}", endpoint(collector.single, call), methods=["POST"]) for call in SINGLE_CALLS),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", prometheus),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
