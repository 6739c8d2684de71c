"""Where archive objects live: keys derived from topic, partition and offset range only.

``<prefix>/<topic>/dt=YYYY-MM-DD/hour=HH/<topic>-p<partition>-<first>-<last>.parquet``

The hour is that of the range's Kafka timestamps (ingest time, not event time): the archiver cuts
a range where the hour changes, so a range always maps to one key and a retried or rebuilt upload
rewrites the same object instead of adding a second copy. Offsets are zero-padded so listings sort
in offset order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

OFFSET_DIGITS = 20
_NAME = re.compile(
    r"(?P<topic>[^/]+)/dt=(?P<dt>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{2})/"
    r"(?P=topic)-p(?P<partition>\d+)-(?P<first>\d{20})-(?P<last>\d{20})\.parquet$"
)


@dataclass(frozen=True, order=True)
class ArchiveObject:
    """One archived offset range of one partition."""

    topic: str
    hour: datetime  # UTC, truncated to the hour
    partition: int
    first: int
    last: int

    def key(self, prefix: str) -> str:
        name = f"{self.topic}-p{self.partition}-{self.first:0{OFFSET_DIGITS}d}-{self.last:0{OFFSET_DIGITS}d}.parquet"
        return f"{hour_prefix(prefix, self.topic, self.hour)}{name}"

    @property
    def rows(self) -> int:
        """Upper bound on rows (offsets may have gaps, e.g. transaction markers)."""
        return self.last - self.first + 1


def hour_of(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms // 3_600_000 * 3_600, tz=UTC)


def hour_prefix(prefix: str, topic: str, hour: datetime) -> str:
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return f"{base}{topic}/dt={hour:%Y-%m-%d}/hour={hour:%H}/"


def parse_key(prefix: str, key: str) -> ArchiveObject | None:
    """The range an object key names, or None for anything that is not an archive file."""
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    if not key.startswith(base):
        return None
    match = _NAME.match(key[len(base) :])
    if match is None:
        return None
    hour = datetime.strptime(f"{match['dt']} {match['hour']}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    return ArchiveObject(match["topic"], hour, int(match["partition"]), int(match["first"]), int(match["last"]))


def intent_prefix(prefix: str, topic: str, partition: int) -> str:
    """Where the archiver records a range before uploading it (see ``consumer``)."""
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return f"{base}_intents/{topic}/p{partition}/"


def intent_key(prefix: str, obj: ArchiveObject) -> str:
    return (
        f"{intent_prefix(prefix, obj.topic, obj.partition)}"
        f"{obj.first:0{OFFSET_DIGITS}d}-{obj.last:0{OFFSET_DIGITS}d}-{obj.hour:%Y%m%d%H}"
    )


def parse_intent(topic: str, partition: int, name: str) -> ArchiveObject | None:
    match = re.fullmatch(r"(\d{20})-(\d{20})-(\d{10})", name)
    if match is None:
        return None
    hour = datetime.strptime(match[3], "%Y%m%d%H").replace(tzinfo=UTC)
    return ArchiveObject(topic, hour, partition, int(match[1]), int(match[2]))
