"""Prometheus metrics of the collector (`pulse_collector_*`).

With several workers, ``PROMETHEUS_MULTIPROC_DIR`` is set by `pulse collector serve` and
``/metrics`` aggregates every worker's files; gauges say how they combine across workers.
"""

from prometheus_client import Counter, Gauge, Histogram

from pulse.web import exposition

__all__ = ["exposition"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

ACCEPTED = Counter("pulse_collector_events_accepted_total", "Events acknowledged by Kafka", ["event"])
REJECTED = Counter("pulse_collector_events_rejected_total", "Events sent to the dead-letter topic", ["reason", "call"])
REQUESTS = Counter("pulse_collector_requests_total", "HTTP requests by endpoint and status", ["endpoint", "status"])
REQUEST_SECONDS = Histogram(
    "pulse_collector_request_duration_seconds",
    "Request latency, including the wait for Kafka's acknowledgement",
    ["endpoint"],
    buckets=_LATENCY_BUCKETS,
)
PRODUCE_SECONDS = Histogram(
    "pulse_collector_produce_duration_seconds",
    "Time from handing a request's events to the producer until all were acknowledged",
    buckets=_LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge("pulse_collector_requests_in_flight", "Requests being processed", multiprocess_mode="livesum")
BUFFERED = Gauge(
    "pulse_collector_buffered_events", "Events handed to Kafka and not yet acknowledged", multiprocess_mode="livesum"
)
KAFKA_AVAILABLE = Gauge(
    "pulse_collector_kafka_available", "1 while the worker accepts events for Kafka", multiprocess_mode="livemin"
)
KAFKA_AVAILABLE.set(1)
SHED = Counter(
    "pulse_collector_requests_shed_total",
    "Requests refused at once with 503 because the worker already had max_in_flight requests open",
)
