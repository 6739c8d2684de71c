"""The one way to read "property X of an event" in SQL: ``props['X']`` (migration 0012).

Generated SQL (metric rollups, named queries) renders it with :func:`event_property` instead of
spelling ``JSONExtract(properties, ...)`` or the Map access itself, so the storage of properties
can change in one place. Values are text; :func:`event_number` reads a numeric property.
"""

from __future__ import annotations

import re

#: The Map column of ``events`` holding the properties not promoted to columns of their own.
PROPS_COLUMN = "props"
#: Names Segment clients use (``Order Completed``'s ``order_id``, ``app.version``): no quotes or backslashes.
_NAME = re.compile(r"^[^'\\\x00-\x1f]{1,128}$")


def event_property(name: str, *, table_alias: str = "") -> str:
    """SQL for property ``name`` of an event as text ('' when absent): ``props['country']``."""
    if not _NAME.match(name):
        raise ValueError(f"property name {name!r}: 1-128 characters without quotes, backslashes or control characters")
    prefix = f"{table_alias}." if table_alias else ""
    return f"{prefix}{PROPS_COLUMN}['{name}']"


def event_number(name: str, *, table_alias: str = "") -> str:
    """SQL for a numeric property as Float64 (0 when absent or not a number)."""
    return f"toFloat64OrZero({event_property(name, table_alias=table_alias)})"
