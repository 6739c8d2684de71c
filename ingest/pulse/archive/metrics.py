"""Prometheus metrics of the archiver (`pulse_archive_*`)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("pulse_archive_events_total", "Messages archived to S3 (valid and rejected)", ["topic"])
REJECTED = Counter(
    "pulse_archive_rejected_messages_total", "Archived messages that are not valid enriched events", ["topic"]
)
FILES = Counter("pulse_archive_files_total", "Parquet objects uploaded", ["topic", "kind"])
BYTES = Counter("pulse_archive_bytes_total", "Parquet bytes uploaded", ["topic"])
ERRORS = Counter("pulse_archive_errors_total", "Failed S3 requests (retried with backoff)", ["operation"])
UPLOAD_SECONDS = Histogram(
    "pulse_archive_upload_duration_seconds",
    "Time to encode and upload one range",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LAG = Gauge(
    "pulse_archive_lag_messages", "Messages not yet archived (end offset - next to archive)", ["topic", "partition"]
)
