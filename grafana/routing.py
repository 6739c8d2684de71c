"""Where alerts go: by team, then severity; every endpoint comes from a ``$PULSE_ALERT_*`` variable.

Everything critical or warning is also posted to the audit webhook; platform criticals page, the rest
of platform goes to Slack (quiet in the Tuesday maintenance hour); ads mail and, with growth, post to
the business channel outside nights and weekends; any other team's alerts go to platform's Slack.
"""

from __future__ import annotations

from pulse.grafana.alerting import ContactPoint, Interval, MuteTiming, Route, Routing

from .config import ADS, GROWTH, PLATFORM

TEMPLATE = """{{ define "pulse.title" }}[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} \
({{ .CommonLabels.severity }}){{ end }}
{{ define "pulse.message" }}{{ range .Alerts }}{{ .Annotations.summary }}
{{ .Annotations.description }}
Runbook: {{ .Annotations.runbook_url }}
{{ end }}{{ end }}"""
TITLE = '{{ template "pulse.title" . }}'
MESSAGE = '{{ template "pulse.message" . }}'

PAGERDUTY = ContactPoint(
    name="platform-pagerduty",
    uid="pulse-pagerduty",
    type="pagerduty",
    settings={"integrationKey": "$PULSE_ALERT_PAGERDUTY_KEY", "severity": "critical", "summary": TITLE},
)


def slack(channel: str) -> ContactPoint:
    """The ``<channel>-slack`` contact point, posting to ``$PULSE_ALERT_SLACK_<CHANNEL>_WEBHOOK``."""
    return ContactPoint(
        name=f"{channel}-slack",
        uid=f"pulse-slack-{channel}",
        type="slack",
        settings={"url": f"$PULSE_ALERT_SLACK_{channel.upper()}_WEBHOOK", "title": TITLE, "text": MESSAGE},
    )


PLATFORM_SLACK = slack("platform")
BUSINESS_SLACK = slack("business")
ADS_EMAIL = ContactPoint(
    name="ads-email",
    uid="pulse-email-ads",
    type="email",
    settings={"addresses": "$PULSE_ALERT_ADS_EMAILS", "subject": TITLE, "message": MESSAGE},
)
AUDIT_WEBHOOK = ContactPoint(
    name="audit-webhook",
    uid="pulse-webhook",
    type="webhook",
    settings={"url": "$PULSE_ALERT_WEBHOOK_URL", "httpMethod": "POST"},
)

NIGHTS_AND_WEEKENDS = MuteTiming(
    name="nights-and-weekends",
    intervals=(Interval(times=(("20:00", "24:00"), ("00:00", "07:00"))), Interval(weekdays=("saturday", "sunday"))),
)
MAINTENANCE_WINDOW = MuteTiming(
    name="maintenance-window",
    intervals=(Interval(weekdays=("tuesday",), times=(("03:00", "04:00"),)),),
)

ROUTING = Routing(
    template=TEMPLATE,
    contact_points=(PAGERDUTY, PLATFORM_SLACK, BUSINESS_SLACK, ADS_EMAIL, AUDIT_WEBHOOK),
    default=PLATFORM_SLACK,
    group_by=("grafana_folder", "alertname"),
    group_wait="30s",
    group_interval="5m",
    repeat_interval="4h",
    routes=(
        Route(receiver=AUDIT_WEBHOOK, matchers=(("severity", "=~", "critical|warning"),), keep_matching=True),
        Route(receiver=PAGERDUTY, matchers=(("team", "=", PLATFORM), ("severity", "=", "critical"))),
        Route(receiver=PLATFORM_SLACK, matchers=(("team", "=", PLATFORM),), muted=(MAINTENANCE_WINDOW,)),
        Route(receiver=ADS_EMAIL, matchers=(("team", "=", ADS),), keep_matching=True, muted=(NIGHTS_AND_WEEKENDS,)),
        Route(receiver=BUSINESS_SLACK, matchers=(("team", "=~", f"{ADS}|{GROWTH}"),), muted=(NIGHTS_AND_WEEKENDS,)),
        # Everything else (e.g. team finance). Not the root's default: an alert the audit route matched
        # (it continues) counts as routed, and without this would reach nobody but the audit log.
        Route(receiver=PLATFORM_SLACK, matchers=()),
    ),
    mute_timings=(NIGHTS_AND_WEEKENDS, MAINTENANCE_WINDOW),
)
