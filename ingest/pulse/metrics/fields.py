"""What a metric may name: a column of ``events`` or a property of the event, and the SQL that reads it.

"Property X of an event" is written here and nowhere else in the metrics (:func:`property_sql`),
which defers to the warehouse's own rendering (:mod:`pulse.warehouse.properties`: the ``props`` Map
of migration 0012). When the storage of properties changes there, the SQL of a metric reading a
property changes, so its definition hash does, and ``pulse metrics generate`` writes a migration that
rebuilds that metric's rollup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pulse.warehouse.properties import PROPS_COLUMN, event_number, event_property

PROPERTY_PREFIX = "properties."
#: ``events`` columns a metric may group by or count distinct values of (strings).
STRING_COLUMNS = frozenset(
    {
        "event", "call", "source", "session_id", "user_id", "anonymous_id", "country", "region", "city",
        "age_band", "segment", "language", "device_type", "os", "browser", "referrer_source", "post_id",
        "author_id", "category", "search_query", "campaign_id", "creative_id",
    }
)  # fmt: skip
#: ``events`` columns a metric may sum (integers: money is micros, summed exactly).
NUMERIC_COLUMNS = frozenset({"spend_micros", "revenue_micros"})
#: Every column of ``events`` (0001, 0003): a metric or a property-dimension may not take one's name,
#: or its alias would shadow the column in the rollup's own WHERE.
EVENTS_COLUMNS = STRING_COLUMNS | NUMERIC_COLUMNS | frozenset(
    {"event_time", "received_at", "sent_at", "hashtags", "properties", "flags", "kafka_topic", "kafka_partition",
     "kafka_offset", "stored_at", "user_key", "message_id", PROPS_COLUMN}
)  # fmt: skip
#: Not a column: the user, else the anonymous id (how every Pulse query counts people).
USER = "user"
_USER_SQL = "if(user_id != '', user_id, anonymous_id)"


def property_sql(name: str, kind: Literal["String", "Float64"]) -> str:
    """The SQL of property ``name`` of an event, as text ('' when absent) or a number (0 when absent or not one)."""
    return event_property(name) if kind == "String" else event_number(name)


@dataclass(frozen=True)
class Field:
    """A resolved reference: the rollup column it becomes, its SQL over ``events`` and its type."""

    ref: str  # as written: ``country``, ``user``, ``properties.story_id``
    column: str  # the name it has in a rollup and a query
    sql: str
    type: Literal["String", "Int64", "Float64"]


def resolve(ref: str, *, numeric: bool = False) -> Field | str:
    """The field ``ref`` names, or why it names none (a message for ``pulse metrics check``)."""
    if ref.startswith(PROPERTY_PREFIX):
        name = ref.removeprefix(PROPERTY_PREFIX)
        if not name.isidentifier() or not name.isascii():
            return f"property name {name!r} must be letters, digits and underscores"
        if name in EVENTS_COLUMNS or name == USER:
            return f"property {name!r} is named like a column of events; its rollup column would shadow it"
        if numeric:
            return Field(ref, name, property_sql(name, "Float64"), "Float64")
        return Field(ref, name, property_sql(name, "String"), "String")
    if numeric:
        if ref in NUMERIC_COLUMNS:
            return Field(ref, ref, ref, "Int64")
        return f"{ref!r} is not a number column of events ({', '.join(sorted(NUMERIC_COLUMNS))}) nor properties.<name>"
    if ref == USER:
        return Field(ref, USER, _USER_SQL, "String")
    if ref in STRING_COLUMNS:
        return Field(ref, ref, ref, "String")
    return f"{ref!r} is not a column of events ({USER}, {', '.join(sorted(STRING_COLUMNS))}) nor properties.<name>"
