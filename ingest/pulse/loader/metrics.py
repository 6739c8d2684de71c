"""Prometheus metrics of the loader (`pulse_loader_*`)."""

from prometheus_client import Counter, Gauge, Histogram

ROWS = Counter("pulse_loader_rows_total", "Events inserted into the warehouse", ["topic"])
DEAD_LETTERS = Counter("pulse_loader_dead_letters_total", "Messages that were not valid enriched events", ["topic"])
BATCHES = Counter("pulse_loader_batches_total", "Offset-range batches written", ["topic", "kind"])
INSERT_SECONDS = Histogram(
    "pulse_loader_insert_duration_seconds",
    "Time to write one batch (intent + rows) to the warehouse",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LAG = Gauge("pulse_loader_lag_messages", "Messages behind the partition's high watermark", ["topic", "partition"])
WRITE_ERRORS = Counter("pulse_loader_write_errors_total", "Failed warehouse writes (retried)", ["topic"])
DUPLICATES = Counter(
    "pulse_loader_duplicate_messages_total", "Messages dropped as client retries (messageId seen recently)", ["topic"]
)
