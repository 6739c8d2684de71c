"""Prometheus metrics of the collector (`pulse_collector_*`)."""

from prometheus_client import Counter, Gauge, Histogram

ACCEPTED = Counter("pulse_collector_events_accepted_total", "Events acknowledged by Kafka", ["event"])
REJECTED = Counter("pulse_collector_events_rejected_total", "Events sent to the dead-letter topic", ["reason"])
REQUESTS = Counter("pulse_collector_requests_total", "HTTP requests by endpoint and status", ["endpoint", "status"])
REQUEST_SECONDS = Histogram(
    "pulse_collector_request_duration_seconds",
    "Request latency, including the wait for Kafka's acknowledgement",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PRODUCE_SECONDS = Histogram(
    "pulse_collector_produce_duration_seconds",
    "Time from handing a request's events to the producer until all were acknowledged",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_FLIGHT = Gauge("pulse_collector_requests_in_flight", "Requests being processed")
