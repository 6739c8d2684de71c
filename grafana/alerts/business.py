"""Business signals: a campaign overspending, and KPIs leaving their usual range (one alert per series)."""

from __future__ import annotations

from pulse.grafana.alerting import Group, Rule, above, outside
from pulse.grafana.named import Use

from ..config import ADS, ANOMALY_Z_MAX, BUDGET_PACING_MAX, GROWTH

BUDGET_OVERSPEND = Rule(
    uid="pulse-budget-overspend",
    title="PulseAdBudgetOverspend",
    summary="A campaign spends faster than its daily budget",
    description="Campaign {{ $labels.campaign_id }} is at {value} of its planned spend.",
    team=ADS,
    severity="warning",
    query=Use("budget_pacing", select="campaign_id, pacing"),  # one series, so one alert, per campaign
    threshold=above(BUDGET_PACING_MAX),
    window_s=600,
    pending="10m",
    no_data="OK",  # no campaign spending today
)


def anomaly(*, metric: str, name: str, team: str) -> Rule:
    """``metric`` of ``metric_anomaly`` is more than ``ANOMALY_Z_MAX`` standard deviations off its baseline."""
    return Rule(
        uid=f"pulse-anomaly-{metric}",
        title=f"PulseAnomaly{name}",
        summary=f"{name} deviates from the same hour's baseline",
        description=f"{name} z-score is {{value}} against the same 15 minutes of the last 7 days.",
        team=team,
        severity="warning",
        query=Use("metric_anomaly", fixed={"metric": metric}, select="z"),
        threshold=outside(-ANOMALY_Z_MAX, ANOMALY_Z_MAX),
        window_s=900,
        pending="0s",
        no_data="OK",
        labels={"metric": metric},
    )


ENGAGEMENT_ANOMALY = anomaly(metric="engagement", name="Engagement", team=GROWTH)
CTR_ANOMALY = anomaly(metric="ctr", name="Ctr", team=ADS)
CONVERSIONS_ANOMALY = anomaly(metric="conversions", name="Conversions", team=ADS)

GROUP = Group(
    name="pulse-business",
    interval="1m",
    rules=(BUDGET_OVERSPEND, ENGAGEMENT_ANOMALY, CTR_ANOMALY, CONVERSIONS_ANOMALY),
)
