"""Prometheus metrics of the read API (`pulse_api_*`), exposed at ``/metrics`` like the collector's."""

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter("pulse_api_requests_total", "HTTP requests by endpoint and status", ["endpoint", "status"])
QUERIES = Counter("pulse_api_queries_total", "Named-query calls by query and status", ["query", "status"])
REQUEST_SECONDS = Histogram(
    "pulse_api_request_duration_seconds",
    "Request latency: token check, the query in the warehouse, rendering",
    ["endpoint"],
    buckets=_LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge("pulse_api_requests_in_flight", "Requests being processed", multiprocess_mode="livesum")
AUDIT_WRITTEN = Counter("pulse_api_audit_rows_written_total", "Calls recorded in audit_log")
AUDIT_DROPPED = Counter(
    "pulse_api_audit_rows_dropped_total", "Audit rows given up because the warehouse refused them too long"
)
AUDIT_FAILURES = Counter("pulse_api_audit_write_failures_total", "Failed audit_log inserts (rows kept and retried)")
