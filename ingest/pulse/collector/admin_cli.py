"""`pulse keys …` (write keys per source) and `pulse dims load FILE` (bulk user/post context)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import orjson
import typer
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from rich.console import Console
from rich.table import Table

from pulse.errors import PulseError
from pulse.settings import get_settings
from pulse.tls import async_redis

keys_app = typer.Typer(help="Write keys per source (stored hashed in Redis).", no_args_is_help=True)
dims_app = typer.Typer(help="User and content context used to enrich events.", no_args_is_help=True)

T = TypeVar("T")


def _redacted(url: str) -> str:
    """The URL without its password: deployments put it there (``rediss://:$(PULSE_REDIS_PASSWORD)@…``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{parts.hostname}:{parts.port}"))


def _with_redis(work: Callable[[Redis], Awaitable[T]], *, wait_s: float = 0.0) -> T:
    """Run ``work`` on a Redis client; with ``wait_s``, connection failures are retried that long."""

    async def run() -> T:
        deadline = time.monotonic() + wait_s
        redis = async_redis(get_settings().redis, socket_connect_timeout=3.0)
        try:
            while True:
                try:
                    return await work(redis)
                except RedisConnectionError:
                    if time.monotonic() >= deadline:
                        raise
                    await asyncio.sleep(1.0)
        except RedisError as error:
            raise PulseError(f"Redis at {_redacted(get_settings().redis.url)} failed: {error}") from error
        finally:
            await redis.aclose()

    return asyncio.run(run())


def _audit(action: str, target: str, details: dict[str, object]) -> None:
    """Record a key change in audit_log; if the warehouse cannot take it, say so (the change stands)."""
    from pulse.access.audit import record_outside

    problem = record_outside(get_settings(), action, target, details)
    if problem is not None:
        Console(stderr=True).print(f"[yellow]warning[/]: {action} {target} not recorded in audit_log: {problem}")


def read_key_files(path: Path) -> list[tuple[str, str]]:
    """(source, write key) pairs from a folder (one file per source, e.g. a mounted Secret) or a
    ``source=key`` lines file. Hidden entries (a Secret volume's ``..data`` links) are skipped."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if not p.name.startswith(".") and p.is_file())
        return [(p.name, p.read_text().strip()) for p in files]
    pairs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        source, sep, key = line.partition("=")
        if not sep:
            raise PulseError(f"{path}:{number}: expected source=key")
        pairs.append((source.strip(), key.strip()))
    return pairs


@keys_app.command("create")
def create(
    source: str = typer.Argument(..., help="the source the key's events are stored under, e.g. ios-app"),
    rate: int = typer.Option(0, help="events/s allowed for this key (0: the collector's default)"),
) -> None:
    """Create a key and print it once: only its hash is stored."""
    from pulse.collector.keys import KeyStore

    try:
        key, record = _with_redis(lambda r: KeyStore(r).create(source, rate_limit_events_per_s=rate))
    except ValueError as error:
        raise PulseError(str(error)) from error
    print(key)
    Console(stderr=True).print(f"created a write key for source [bold]{record.source}[/] (hash {record.key_hash[:12]})")
    _audit("keys.create", record.source, {"hash": record.key_hash[:12], "rate_limit_events_per_s": rate})


@keys_app.command("import")
def import_keys(
    path: Path = typer.Argument(  # noqa: B008
        ..., exists=True, help="folder with one file per source (name: source, content: its key), or source=key lines"
    ),
    rate: int = typer.Option(0, help="events/s allowed for new keys (0: the collector's default)"),
    wait_s: float = typer.Option(0.0, "--wait-s", help="keep retrying this long while Redis is unreachable"),
) -> None:
    """Store write keys chosen elsewhere (a deployment's Secret), idempotently: run it on every deploy.

    Keys already stored are left as they are (a revoked key stays revoked); only their hashes are stored.
    """
    from pulse.collector.keys import KeyStore, WriteKey

    pairs = read_key_files(path)
    if not pairs:
        raise PulseError(f"{path}: no keys in it")

    async def ensure_all(redis: Redis) -> list[tuple[WriteKey, bool]]:
        store = KeyStore(redis)
        return [await store.ensure(source, key, rate_limit_events_per_s=rate) for source, key in pairs]

    try:
        results = _with_redis(ensure_all, wait_s=wait_s)
    except ValueError as error:
        raise PulseError(str(error)) from error
    for record, created in results:
        state = "created" if created else ("kept, revoked" if not record.active else "kept")
        print(f"{state} {record.source} {record.key_hash[:12]}")
    added = [f"{record.source} {record.key_hash[:12]}" for record, created in results if created]
    if added:  # an import that changed nothing (every deploy after the first) is not an action
        _audit("keys.import", str(path), {"created": added})


@keys_app.command("list")
def list_keys(as_json: bool = typer.Option(False, "--json", help="one JSON object per key")) -> None:
    """Every key: source, hash prefix, creation, rate limit, revocation."""
    from pulse.collector.keys import KeyStore

    records = _with_redis(lambda r: KeyStore(r).all())
    if as_json:
        for record in records:
            print(orjson.dumps({**{f: getattr(record, f) for f in record.__struct_fields__}}).decode())
        return
    table = Table("source", "hash", "created", "rate/s", "revoked")
    for record in records:
        table.add_row(
            record.source,
            record.key_hash[:12],
            record.created_at,
            str(record.rate_limit_events_per_s or "default"),
            record.revoked_at or "",
        )
    Console().print(table)


@keys_app.command("revoke")
def revoke(selector: str = typer.Argument(..., help="a source name (all its keys) or a key hash prefix")) -> None:
    """Revoke keys; collectors refuse them within their key cache TTL (10 s by default)."""
    from pulse.collector.keys import KeyNotFound, KeyStore

    try:
        revoked = _with_redis(lambda r: KeyStore(r).revoke(selector))
    except KeyNotFound as error:
        raise PulseError(str(error)) from error
    for record in revoked:
        print(f"revoked {record.source} {record.key_hash[:12]}")
    if revoked:
        _audit("keys.revoke", selector, {"revoked": [f"{r.source} {r.key_hash[:12]}" for r in revoked]})


@dims_app.command("load")
def load(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL or CSV: user_id or post_id rows"),  # noqa: B008
) -> None:
    """Bulk-load user profiles (country, region, city, age_band, segment, language) and posts
    (author_id, category, hashtags) into Redis, where collectors read them."""
    from pulse.collector.dims import DimensionStore, read_dimension_file

    try:
        rows = list(read_dimension_file(path))
    except (ValueError, orjson.JSONDecodeError) as error:
        raise PulseError(str(error)) from error

    async def write(redis: Redis) -> None:
        store = DimensionStore(redis, cache_size=1)
        for start in range(0, len(rows), 1000):
            await store.remember(dict(rows[start : start + 1000]), strict=True)

    _with_redis(write)
    print(f"loaded {len(rows)} rows from {path}")
