"""Pulse — audit: who read which data, sensitive reads, refused attempts and admin actions (F16).

Every panel is an Admin-only named query (provisioning/access/access.yaml) over ``audit_reads`` (fed
from ClickHouse's query log, attributed through Grafana's ``grafana_user`` tag) and ``audit_log``; the
dashboard is provisioned only into the organization whose user may run them (the Admins' org 1).
"""

from __future__ import annotations

import grafanalib.core as g

from pulse.grafana.named import Use
from pulse.grafana.panels import Link, PanelSpec, Row, query_variable
from pulse.grafana.panels import dashboard as pulse_dashboard

from ..config import AUDIT_UID, PIPELINE_HEALTH_UID

UID = AUDIT_UID
TITLE = "Pulse — audit"

READERS = Row(
    "Who read data",
    [
        PanelSpec(
            "table",
            "Readers",
            "Per person (Grafana login, else ClickHouse user): reads, reads of sensitive columns, refused queries.",
            Use("audit_readers"),
            unit="short",
            thresholds=(("green", None), ("red", 1)),
            width=14,
            height=9,
        ),
        PanelSpec(
            "table",
            "Denied attempts",
            "Queries ClickHouse refused with ACCESS_DENIED, per person and table, and the classes they were after.",
            Use("audit_denied"),
            unit="short",
            thresholds=(("green", None), ("red", 1)),
            width=10,
            height=9,
        ),
    ],
)

READS = Row(
    "Reads",
    [
        PanelSpec(
            "table",
            "Sensitive reads",
            "Reads of money or personal columns (the access definition's sensitive classes), newest first.",
            Use("audit_reads", {"who": "who"}, fixed={"only": "sensitive"}),
            unit="short",
            width=24,
            height=9,
        ),
        PanelSpec(
            "table",
            "Every read",
            "Every query that read a warehouse table or was refused, with its dashboard and panel, newest first.",
            Use("audit_reads", {"who": "who"}),
            unit="short",
            width=24,
            height=10,
        ),
    ],
)

ACTIONS = Row(
    "Admin actions",
    [
        PanelSpec(
            "table",
            "Admin actions",
            "Schema migrations, access applied, write keys, replays and retention changes, with who and what.",
            Use("audit_actions"),
            unit="short",
            width=24,
            height=9,
        ),
    ],
)


def variables() -> list[g.Template]:
    return [
        query_variable(
            "who",
            "Person",
            "SELECT DISTINCT who FROM audit_reads WHERE at >= now() - INTERVAL 30 DAY ORDER BY who",
        )
    ]


def dashboard() -> g.Dashboard:
    return pulse_dashboard(
        uid=UID,
        title=TITLE,
        description="Who read which data, reads of sensitive columns, refused attempts and admin actions.",
        tags=("pulse", "audit"),
        refresh="1m",
        rows=(READERS, READS, ACTIONS),
        links=(Link(title="Pipeline health", uid=PIPELINE_HEALTH_UID, tooltip="ingest, lag, freshness"),),
        variables=variables(),
    )
