"""Request bodies as a stream of chunks: HTTP framing (length or chunked) and Content-Encoding.

Inserts can be large, so bodies are never read whole: the bridge pulls decompressed
chunks and writes everything after the SQL straight to a temp file for chDB.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, Protocol

import lz4.frame

try:  # Python 3.14 ships zstd; before that clickhouse-connect depends on the backport.
    from compression import zstd
except ImportError:  # pragma: no cover - depends on the interpreter
    from backports import zstd

CHUNK = 1 << 20


class BodyError(Exception):
    """A malformed request body (bad framing, unknown or corrupt encoding)."""


def framed_body(rfile: BinaryIO, content_length: int | None, chunked: bool) -> Iterator[bytes]:
    """Yield the raw request body honouring Content-Length or chunked transfer encoding."""
    if chunked:
        yield from _chunked(rfile)
        return
    yield from _exactly(rfile, content_length or 0, "request body ended before Content-Length bytes")


def _exactly(rfile: BinaryIO, size: int, short: str) -> Iterator[bytes]:
    """The next ``size`` bytes, in pieces of at most CHUNK; ``BodyError(short)`` if the stream ends first."""
    while size > 0:
        data = rfile.read(min(CHUNK, size))
        if not data:
            raise BodyError(short)
        size -= len(data)
        yield data


def _chunked(rfile: BinaryIO) -> Iterator[bytes]:
    while True:
        line = rfile.readline(65537)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as error:
            raise BodyError(f"bad chunk size line {line[:40]!r}") from error
        if size == 0:
            while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return
        yield from _exactly(rfile, size, "chunked body ended early")
        rfile.readline(3)


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes) -> bytes: ...


def _factory(encoding: str) -> Callable[[], _Decompressor]:
    if encoding == "lz4":
        lz4_factory: Callable[[], _Decompressor] = lz4.frame.LZ4FrameDecompressor
        return lz4_factory
    if encoding == "zstd":
        zstd_factory: Callable[[], _Decompressor] = zstd.ZstdDecompressor
        return zstd_factory
    if encoding in ("gzip", "x-gzip"):
        return lambda: zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header
    if encoding == "deflate":
        return lambda: zlib.decompressobj(wbits=15)
    raise BodyError(f"unsupported Content-Encoding {encoding!r} (supported: lz4, zstd, gzip, deflate)")


def decoded(chunks: Iterable[bytes], encoding: str | None) -> Iterator[bytes]:
    """Undo Content-Encoding; concatenated frames (clickhouse-connect sends one per block) are fine."""
    encoding = (encoding or "").strip().lower()
    if encoding in ("", "identity"):
        yield from chunks
        return
    make = _factory(encoding)
    decompressor = make()
    fed = False
    try:
        for chunk in chunks:
            fed = fed or bool(chunk)
            pending = chunk
            while pending:
                if decompressor.eof:
                    decompressor = make()
                out = decompressor.decompress(pending)
                if out:
                    yield out
                pending = decompressor.unused_data if decompressor.eof else b""
    except (RuntimeError, zlib.error, zstd.ZstdError) as error:
        raise BodyError(f"cannot decompress {encoding} body: {error}") from error
    if fed and not decompressor.eof:
        raise BodyError(f"{encoding} body is truncated")
