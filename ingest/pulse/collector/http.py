"""uvicorn's httptools HTTP/1.1 protocol with a bound on the request line and headers (431 beyond it).

httptools (llhttp) buffers headers without limit, and uvicorn's ``h11_max_incomplete_event_size``
only applies to the slower h11 protocol, so an endless header would grow a worker's memory. The
bound is ``collector.max_header_bytes``: counted per completed header, and per received chunk
while the headers are still incomplete (a header that never ends).
"""

from __future__ import annotations

from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pulse.settings import get_settings


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_header_bytes = get_settings().collector.max_header_bytes
        self._parsed = 0  # bytes of the url and the completed headers of this message
        self._pending = 0  # bytes of the chunks that arrived while its headers were incomplete
        self._in_headers = False
        self._too_large = False

    def data_received(self, data: bytes) -> None:
        if self._too_large:
            return
        super().data_received(data)
        if self._in_headers and not self._too_large:
            self._pending += len(data)  # each is a lower bound of the header bytes, so neither refuses early
            if self._pending > self.max_header_bytes:
                self._too_large = True
                self.send_400_response("")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed = self._pending = 0
        self._in_headers = True

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._parsed += size
        if self._parsed > self.max_header_bytes:
            self._too_large = True
            raise HeadersTooLarge  # llhttp stops parsing; uvicorn answers through send_400_response

    def send_400_response(self, msg: str) -> None:
        if not self._too_large:
            super().send_400_response(msg)
            return
        if self.transport.is_closing():
            return
        reason = f"request line and headers exceed {self.max_header_bytes} bytes"
        body = orjson.dumps({"success": False, "error": reason})
        head = (
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()


class HeadersTooLarge(Exception):
    """Raised from a parser callback to stop llhttp; turned into the 431 answer."""
