"""Prometheus metrics of the hot-layer updater (`pulse_hot_*`)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("pulse_hot_events_total", "Events counted into the hot layer", ["topic"])
UPDATES = Counter("pulse_hot_updates_total", "Logical counter updates applied (fields x events)", ["topic"])
LATE = Counter("pulse_hot_late_events_total", "Events whose bucket had already expired (not counted)", ["topic"])
INVALID = Counter("pulse_hot_invalid_messages_total", "Messages that are not valid enriched events", ["topic"])
REDELIVERED = Counter(
    "pulse_hot_redelivered_messages_total", "Messages skipped because their offsets were already applied", ["topic"]
)
DUPLICATES = Counter(
    "pulse_hot_duplicate_messages_total",
    "Client retries dropped: messageId already counted on the partition",
    ["topic"],
)
BATCHES = Counter("pulse_hot_batches_total", "Partition batches applied to Redis", ["topic"])
ERRORS = Counter("pulse_hot_errors_total", "Failed Redis operations (retried)", ["operation"])
APPLY_SECONDS = Histogram(
    "pulse_hot_apply_duration_seconds",
    "Time to aggregate and apply one batch",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
LAG = Gauge("pulse_hot_lag_messages", "Messages not yet applied (end offset - next to apply)", ["topic", "partition"])
REFRESHES = Counter("pulse_hot_window_refreshes_total", "Rebuilds of the 1/5/15-minute windows")

# Redis as its one client sees it (``pulse.hot.redis_health``): no redis_exporter is run beside it.
REDIS_UP = Gauge("pulse_redis_up", "1 if the last INFO of Redis succeeded, else 0")
REDIS_MEMORY = Gauge("pulse_redis_memory_used_bytes", "Redis used_memory (INFO memory)")
REDIS_CLIENTS = Gauge("pulse_redis_connected_clients", "Redis connected_clients (INFO clients)")
REDIS_EVICTED = Counter(
    "pulse_redis_evicted_keys_total", "Keys Redis evicted under maxmemory (INFO stats evicted_keys)"
)
