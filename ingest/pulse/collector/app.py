"""The collector's HTTP API: Segment's Tracking API endpoints, health, metrics and OpenAPI.

A request is answered only after Kafka acknowledged every event it carried, valid ones on their
family topic and invalid ones on the dead-letter topic, so a 2xx means nothing can be lost.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pulse.collector import dims as dimensions
from pulse.collector import metrics
from pulse.collector.clients import AuthFailures, client_address
from pulse.collector.enrich import Arrival, InvalidEvent, enrich_arrived
from pulse.collector.guard import Guard
from pulse.collector.keys import KeyStore, RateLimiter, WriteKey
from pulse.collector.openapi import openapi_document
from pulse.collector.producer import EventProducer, ProduceError, Record
from pulse.contracts.events import FAMILY_OF, EnrichedEvent, EventName, Family, encode_event, family_of
from pulse.contracts.segment import decode_message, decode_raw_batch
from pulse.contracts.tracking import TrackingPlans
from pulse.settings import Settings
from pulse.tls import async_redis
from pulse.web import JsonResponse

log = logging.getLogger(__name__)

SINGLE_CALLS = ("track", "identify", "page", "screen", "group", "alias")


class RequestRejected(Exception):
    """The whole request is refused (auth, size, syntax): answered with its status and reason."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


class BadBody(RequestRejected):
    """A body that cannot be decoded: refused with 400, and dead-lettered as it came."""

    def __init__(self, reason: str, payload: bytes) -> None:
        super().__init__(400, reason)
        self.payload = payload


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
    return JsonResponse({"success": False, "error": reason}, status_code=status, headers=headers)


def source_of_write_key(write_key: str) -> str:
    """A stable, non-secret name for an unregistered write key (``auth=open``): its hash prefix."""
    return "wk_" + hashlib.sha256(write_key.encode()).hexdigest()[:12]


def write_key_of(request: Request) -> str:
    """Segment SDKs send the write key as the HTTP basic-auth user name."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            user = base64.b64decode(header[6:], validate=True).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError, binascii.Error):
            user = ""
        if user:
            return user
    raise RequestRejected(401, "missing write key: send it as the HTTP basic auth user name")


@dataclass
class Routed:
    """One request's messages after validation: events to enrich further, dead letters to send."""

    events: list[EnrichedEvent] = field(default_factory=list)
    dead: list[Record] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


class Collector:
    """Request handling, bound to one producer, the key store and the dimension store."""

    def __init__(self, settings: Settings, producer: EventProducer, redis: Redis) -> None:
        self.settings = settings
        self.limits = settings.collector
        self.producer = producer
        self.redis = redis
        self.keys = KeyStore(redis, cache_ttl_s=self.limits.key_cache_ttl_s)
        self.limiter = RateLimiter(redis, self.limits.rate_limit_events_per_s)
        self.failures = AuthFailures(redis, self.limits.auth_failures_per_minute)
        self.dims = dimensions.DimensionStore(
            redis, cache_size=self.limits.dim_cache_size, cache_ttl_s=self.limits.dim_cache_ttl_s
        )
        self.dead_letter_topic = settings.kafka.topic(Family.DEAD_LETTER)
        self.topics = {family: settings.kafka.topic(family) for family in Family}
        # Topic by event name as plain strings: hashing a StrEnum member runs Python code, per event.
        self.topic_of_event = {str(name): self.topics[family] for name, family in FAMILY_OF.items()}
        self.custom_topic = self.topics[family_of("")]
        self.plans = TrackingPlans.load(self.limits.tracking_plans)
        log.info("tracking plans loaded", extra={"sources": self.plans.sources})
        self.retry_after = {"Retry-After": str(self.limits.retry_after_s)}

    async def authenticate(self, request: Request) -> WriteKey:
        write_key = write_key_of(request)
        if self.limits.auth == "open":
            return WriteKey(source=source_of_write_key(write_key), key_hash="", created_at="")
        client = client_address(request.scope, self.limits.trusted_proxies)
        if (wait := await self.failures.blocked(client)) is not None:
            reason = f"too many unknown write keys from {client}, retry later"
            raise RequestRejected(429, reason, {"Retry-After": str(max(1, round(wait)))})
        try:
            key = await self.keys.lookup(write_key)
        except RedisError as error:
            raise RequestRejected(503, "write keys cannot be checked now, retry later", self.retry_after) from error
        if key is None:
            await self.failures.failed(client)
            raise RequestRejected(401, "unknown or revoked write key")
        return key

    async def admit(self, key: WriteKey, events: int) -> None:
        try:
            wait = await self.limiter.admit(key, events)
        except RedisError as error:  # the limit protects Kafka, it must not stop ingestion
            log.warning("rate limiter unavailable: admitting", extra={"error": str(error)})
            return
        if wait is not None:
            reason = f"rate limit of write key source {key.source!r} exceeded"
            raise RequestRejected(429, reason, {"Retry-After": str(max(1, round(wait)))})

    async def body_of(self, request: Request) -> bytes:
        limit = self.limits.max_batch_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestRejected(413, f"request body exceeds {limit} bytes")
        body = await request.body()
        encoding = request.headers.get("content-encoding", "").lower()
        try:
            if encoding == "gzip":
                body = _bounded_inflate(body, limit, 16 + zlib.MAX_WBITS)
            elif encoding == "deflate":
                body = _bounded_inflate(body, limit, zlib.MAX_WBITS)
        except (OSError, zlib.error, EOFError) as error:
            raise BadBody(f"body is not valid {encoding}: {error}", body) from error
        if len(body) > limit:
            raise RequestRejected(413, f"request body exceeds {limit} bytes")
        return body

    def dead_letter(
        self, payload: bytes, reason: str, code: str, source: str, received_at: datetime, call: str = ""
    ) -> Record:
        metrics.REJECTED.labels(code, call or "unknown").inc()
        value = orjson.dumps(
            {
                "failed_at": received_at.isoformat(),
                "source": source,
                "call": call,
                "reason": reason,
                "reason_code": code,
                **_payload_field(payload),
            }
        )
        return Record(self.dead_letter_topic, source.encode(), value)

    def arrival(self, source: str, received_at: datetime, sent_at: datetime | None) -> Arrival:
        """What the messages of one request share, prepared once for all of them."""
        plan = self.plans.for_source(source)
        return Arrival.of(received_at=received_at, source=source, sent_at=sent_at, plan=plan)

    def route(
        self, raw: bytes | msgspec.Raw, routed: Routed, *, index: int | None, arrival: Arrival, call: str | None = None
    ) -> None:
        """Validate and enrich one message into ``routed.events``, or dead-letter it with its reason."""
        code = ""
        if len(raw) > self.limits.max_event_bytes:
            reason, code = f"event exceeds {self.limits.max_event_bytes} bytes", "too_large"
        else:
            try:
                if call is not None:
                    data = orjson.loads(raw)
                    if not isinstance(data, dict):
                        raise InvalidEvent("body must be a JSON object", "schema")
                    data["type"] = call
                    raw = orjson.dumps(data)
                message = decode_message(raw)
                call = message.type
                routed.events.append(enrich_arrived(message, arrival))
                return
            except (msgspec.ValidationError, msgspec.DecodeError, orjson.JSONDecodeError) as error:
                reason, code = str(error), "schema"
            except InvalidEvent as error:
                reason, code = str(error), error.code
            except Exception as error:  # a bug must cost one event a dead letter, never the request
                log.exception("unexpected error validating an event")
                reason, code = f"internal error: {error!r}", "internal"
        payload = bytes(raw)
        routed.dead.append(self.dead_letter(payload, reason, code, arrival.source, arrival.received_at, call or ""))
        routed.errors.append({"index": index, "reason": reason} if index is not None else {"reason": reason})

    async def contextualise(self, events: list[EnrichedEvent]) -> None:
        """Learn profiles/posts from identify and post_created, then fill unknown context from Redis."""
        writes: dict[str, dimensions.Dims] = {}
        for event in events:
            if event.call == "identify" and event.user_id:
                profile = {n: getattr(event, n) for n in dimensions.USER_FIELDS}
                writes[dimensions.user_key(event.user_id)] = dimensions.profile_of(profile)
            elif event.event == EventName.POST_CREATED and event.post_id:
                content = {"author_id": event.author_id, "category": event.category, "hashtags": event.hashtags}
                writes[dimensions.post_key(event.post_id)] = dimensions.content_of(content)
        await self.dims.remember(writes)
        wanted = [key for event in events for key in dimensions.keys_for(event)]
        if wanted:
            found = await self.dims.fetch(wanted)
            for event in events:
                dimensions.apply(event, found)

    def records(self, routed: Routed) -> list[Record]:
        topic, custom, encode = self.topic_of_event.get, self.custom_topic, encode_event
        out = [Record(topic(e.event, custom), e.partition_key, encode(e), e.event) for e in routed.events]
        out += routed.dead
        return out

    async def deliver(self, records: list[Record]) -> None:
        started = time.perf_counter()
        try:
            await self.producer.send_all(records)
        except ProduceError as error:
            raise RequestRejected(503, f"event stream unavailable, retry later: {error}", self.retry_after) from error
        metrics.PRODUCE_SECONDS.observe(time.perf_counter() - started)
        # One counter update per event name and request: labels() costs microseconds per call.
        for event, count in Counter(record.event for record in records if record.event).items():
            metrics.ACCEPTED.labels(event).inc(count)

    async def read(self, request: Request, key: WriteKey, call: str) -> bytes:
        """The request body, inflated; an undecodable one is dead-lettered before the 400."""
        try:
            return await self.body_of(request)
        except BadBody as bad:
            now = datetime.now(UTC)
            await self.deliver([self.dead_letter(bad.payload, bad.reason, "bad_encoding", key.source, now, call)])
            raise

    async def batch(self, request: Request) -> Response:
        key = await self.authenticate(request)
        body = await self.read(request, key, "batch")
        received_at = datetime.now(UTC)
        try:
            envelope = decode_raw_batch(body)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            reason = f"invalid batch body: {error}"
            await self.deliver([self.dead_letter(body, reason, "bad_batch", key.source, received_at, "batch")])
            raise RequestRejected(400, reason) from error
        await self.admit(key, len(envelope.batch))
        self.producer_precheck(len(envelope.batch))
        routed = Routed()
        arrival = self.arrival(key.source, received_at, envelope.sent_at)
        for index, raw in enumerate(envelope.batch):
            self.route(raw, routed, index=index, arrival=arrival)
        await self.contextualise(routed.events)
        await self.deliver(self.records(routed))
        return JsonResponse(
            {"success": True, "accepted": len(routed.events), "rejected": len(routed.dead), "errors": routed.errors}
        )

    async def single(self, request: Request) -> Response:
        call = request.url.path.rsplit("/", 1)[-1]
        key = await self.authenticate(request)
        body = await self.read(request, key, call)
        await self.admit(key, 1)
        self.producer_precheck(1)
        routed = Routed()
        self.route(body, routed, index=None, arrival=self.arrival(key.source, datetime.now(UTC), None), call=call)
        await self.contextualise(routed.events)
        await self.deliver(self.records(routed))
        if routed.errors:
            return _error(400, routed.errors[0]["reason"])
        return JsonResponse({"success": True})

    def producer_precheck(self, count: int) -> None:
        """Refuse before doing any work when Kafka is down or the buffer is full."""
        try:
            self.producer.admit(count)
        except ProduceError as error:
            raise RequestRejected(503, f"event stream unavailable, retry later: {error}", self.retry_after) from error


def _payload_field(payload: bytes) -> dict[str, str]:
    """The original payload as text, or as base64 when it is not UTF-8 (nothing is altered)."""
    try:
        return {"payload": payload.decode("utf-8")}
    except UnicodeDecodeError:
        return {"payload_base64": base64.b64encode(payload).decode()}


def _bounded_inflate(body: bytes, limit: int, wbits: int) -> bytes:
    """Decompress at most ``limit + 1`` bytes, so a small gzip bomb cannot take the worker's memory."""
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(body, limit + 1)
    if not inflater.eof and len(out) <= limit:
        raise zlib.error("truncated compressed body")
    return out


Handler = Callable[[Request], Awaitable[Response]]


def create_app(settings: Settings, producer: EventProducer | None = None, redis: Redis | None = None) -> Starlette:
    """The ASGI app; the producer starts with the app and stops (flushing) with it."""
    redis = redis or async_redis(settings.redis, socket_timeout=1.0, socket_connect_timeout=1.0)
    collector = Collector(settings, producer or EventProducer(settings), redis)
    document = orjson.dumps(openapi_document())

    def endpoint(handler: Handler, name: str) -> Handler:
        async def wrapped(request: Request) -> Response:
            started = time.perf_counter()
            metrics.IN_FLIGHT.inc()
            try:
                response = await handler(request)
            except RequestRejected as rejected:
                response = _error(rejected.status, rejected.reason, rejected.headers)
            finally:
                metrics.IN_FLIGHT.dec()
            metrics.REQUESTS.labels(name, str(response.status_code)).inc()
            metrics.REQUEST_SECONDS.labels(name).observe(time.perf_counter() - started)
            return response

        return wrapped

    async def healthz(_: Request) -> Response:
        return JsonResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        if await collector.producer.ready():
            return JsonResponse({"status": "ready"})
        return _error(503, "kafka unreachable", collector.retry_after)

    async def prometheus(_: Request) -> Response:
        body, media_type = metrics.exposition()
        return Response(body, media_type=media_type)

    async def openapi(_: Request) -> Response:
        return Response(document, media_type="application/json")

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await collector.producer.start()
        try:
            yield
        finally:
            await collector.producer.stop()
            await collector.redis.aclose()

    routes = [
        Route("/v1/batch", endpoint(collector.batch, "batch"), methods=["POST"]),
        Route("/v1/import", endpoint(collector.batch, "batch"), methods=["POST"]),
        *(Route(f"/v1/{call}", endpoint(collector.single, call), methods=["POST"]) for call in SINGLE_CALLS),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", prometheus),
        Route("/openapi.json", openapi),
    ]
    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(Guard, limits=settings.collector)])
