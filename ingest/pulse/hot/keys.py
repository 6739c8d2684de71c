"""The hot layer's Redis key layout (documented for Grafana in docs/hot-layer.md).

Every key starts with ``settings.hot.key_prefix`` (``pulse:hot``); the collector's keys live under
other prefixes. Buckets are named by their UTC start in text (``2026-11-22T10:05`` for a minute,
``2026-11-22T10:05:07`` for a second), so a person or a dashboard variable can build the name.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Dimensions counted per bucket, alone and per event type (enriched-event field names).
DIMENSIONS: tuple[str, ...] = (
    "country",
    "device_type",
    "os",
    "segment",
    "age_band",
    "category",
    "referrer_source",
)
#: Windows rebuilt by the refresher, in minutes.
WINDOWS: tuple[int, ...] = (1, 5, 15)
#: Trending kinds: sorted sets of members scored per minute, then decayed into windows.
TRENDING: tuple[str, ...] = ("hashtags", "posts")
#: The prefix of a default install (``settings.hot.key_prefix``'s default).
DEFAULT_PREFIX = "pulse:hot"


@dataclass(frozen=True)
class Keys:
    prefix: str

    def second(self, bucket: str) -> str:
        """HASH of counters for one second (``bucket`` = ``YYYY-MM-DDTHH:MM:SS``)."""
        return f"{self.prefix}:sec:{bucket}"

    def minute(self, bucket: str) -> str:
        """HASH of counters for one minute (``YYYY-MM-DDTHH:MM``), plus field ``users`` (HLL count)."""
        return f"{self.prefix}:min:{bucket}"

    def users_minute(self, bucket: str) -> str:
        """HyperLogLog of the minute's users (user_id, else anonymous_id)."""
        return f"{self.prefix}:users:min:{bucket}"

    def users_window(self, minutes: int) -> str:
        return f"{self.prefix}:users:{minutes}m"

    def trending_minute(self, kind: str, bucket: str) -> str:
        """ZSET member -> events in that minute (hashtags used, posts engaged with)."""
        return f"{self.prefix}:{kind}:min:{bucket}"

    def trending(self, kind: str, minutes: int) -> str:
        """ZSET member -> decayed score over the last ``minutes`` (rebuilt every refresh)."""
        return f"{self.prefix}:trending:{kind}:{minutes}m"

    def window(self, minutes: int) -> str:
        """HASH: the minute counters summed over the last ``minutes`` (rebuilt every refresh)."""
        return f"{self.prefix}:win:{minutes}m"

    @property
    def summary(self) -> str:
        """HASH of window-level figures: ``users:5m``, ``sessions:active``, ``refreshed_at``."""
        return f"{self.prefix}:summary"

    @property
    def active_sessions(self) -> str:
        """ZSET session_id -> epoch second of its last event."""
        return f"{self.prefix}:sessions:active"

    def applied(self, topic: str, partition: int) -> str:
        """STRING: the last Kafka offset of this partition whose increments were applied."""
        return f"{self.prefix}:applied:{topic}:{partition}"


#: The keys of a default install: what provisioned dashboards name in their Redis panels, so a panel
#: says ``DEFAULT_KEYS.window(5)`` instead of spelling ``pulse:hot:win:5m`` a second time.
DEFAULT_KEYS = Keys(DEFAULT_PREFIX)
