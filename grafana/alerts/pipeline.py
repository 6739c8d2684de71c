"""The pipeline delivers: events visible within seconds, few rejected (consumers.py: each group keeps up)."""

from __future__ import annotations

from pulse.grafana.alerting import Group, PromQL, Rule, above
from pulse.grafana.named import Use
from pulse.grafana.panels import idle_zero

from ..config import FRESHNESS_MAX_S, JOBS, PLATFORM, REJECT_RATIO_MAX

FRESHNESS = Rule(
    uid="pulse-freshness",
    title="PulseFreshnessHigh",
    summary=f"Events take more than {FRESHNESS_MAX_S} s to become visible in ClickHouse",
    description=f"Freshness is {{value}} s (objective: at most {FRESHNESS_MAX_S} s, N2).",
    team=PLATFORM,
    severity="critical",
    query=Use("ingest_freshness", select="seconds_since_last_event"),
    threshold=above(FRESHNESS_MAX_S),
    window_s=300,
    no_data="Alerting",  # no stored events at all is the worst freshness
)

# Counters with labels have no series before their first event: 0 while the collector is scraped
# (a collector that is not is PulseCollectorDown's), so a healthy quiet collector is not "no data".
ACCEPTED = f"(sum(rate(pulse_collector_events_accepted_total[5m])) or {idle_zero(JOBS['collector'])})"
REJECTED = f"(sum(rate(pulse_collector_events_rejected_total[5m])) or {idle_zero(JOBS['collector'])})"

REJECT_RATE = Rule(
    uid="pulse-reject-rate",
    title="PulseRejectRateHigh",
    summary=f"More than {REJECT_RATIO_MAX:.0%} of incoming events are rejected",
    description="Reject ratio {value} over 5 minutes.",
    team=PLATFORM,
    severity="warning",
    query=PromQL(expr=f"{REJECTED} / clamp_min({ACCEPTED} + {REJECTED}, 1e-9)"),
    threshold=above(REJECT_RATIO_MAX),
    pending="5m",
    no_data="OK",  # only without a scraped collector, which PulseCollectorDown reports
)

GROUP = Group(name="pulse-pipeline", interval="30s", rules=(FRESHNESS, REJECT_RATE))
