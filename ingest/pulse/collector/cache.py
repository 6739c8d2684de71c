"""A bounded LRU with per-entry expiry: each worker keeps hot keys and dimensions local so
Redis is not hit per request, while changes made elsewhere are seen within the TTL."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")
_MISSING = object()


class TtlLru(Generic[V]):
    def __init__(self, max_size: int, ttl_s: float) -> None:
        self.max_size = max_size
        self.ttl_s = ttl_s
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> V | None:
        """The value if present and fresh, else None (expired entries are dropped)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def contains(self, key: str) -> bool:
        return self.get(key) is not None

    def put(self, key: str, value: V, ttl_s: float | None = None) -> None:
        self._entries[key] = (time.monotonic() + (self.ttl_s if ttl_s is None else ttl_s), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
