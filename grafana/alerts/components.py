"""Every component answers Prometheus: one rule each, firing when its scrapes fail or its targets vanish.

Redis has no exporter of its own here: the hot updater, its one client, probes it and serves
``pulse_redis_up`` (``pulse.hot.redis_health``), so its rule reads that gauge instead of ``up``.
"""

from __future__ import annotations

from pulse.grafana.alerting import Group, PromQL, Rule, Severity, below

from ..config import JOBS, PLATFORM


def up(job: str) -> str:
    """1 per target that answered its last scrape, 0 per target that did not; a single 0 when none is left.

    ``up == 0`` alone misses a component whose pods are all gone (no target, no ``up`` series):
    ``absent()`` stands in for it, labelled with the job.
    """
    return f'up{{job="{job}"}} or (absent(up{{job="{job}"}}) - 1)'


def down(component: str, *, name: str, severity: Severity, impact: str) -> Rule:
    return Rule(
        uid=f"pulse-down-{component}",
        title=f"Pulse{name}Down",
        summary=f"The {component} does not answer Prometheus: {impact}",
        description=f"{{{{ $labels.instance }}}} of job {JOBS[component]} failed its scrapes (up = {{value}}).",
        team=PLATFORM,
        severity=severity,
        query=PromQL(expr=up(JOBS[component])),
        threshold=below(1),
        window_s=300,
        pending="2m",
        no_data="Alerting",  # cannot happen (absent() answers), unless Prometheus itself is gone
        labels={"component": component},
    )


COLLECTOR_DOWN = down("collector", name="Collector", severity="critical", impact="clients' events are refused")
API_DOWN = down("api", name="Api", severity="warning", impact="read API callers get connection errors")
LOADER_DOWN = down("loader", name="Loader", severity="critical", impact="nothing reaches ClickHouse")
HOT_LAYER_DOWN = down("hot-layer", name="HotLayer", severity="critical", impact="real-time panels freeze")
ARCHIVER_DOWN = down("archiver", name="Archiver", severity="warning", impact="the S3 archive falls behind")
WAREHOUSE_DOWN = down("warehouse", name="Warehouse", severity="critical", impact="loads and dashboards fail")
KAFKA_DOWN = down("kafka", name="Kafka", severity="critical", impact="collectors refuse events, consumers stop")
#: 1 while the hot updater's last probe of Redis (INFO) succeeded, 0 while it fails.
REDIS_UP = f'pulse_redis_up{{job="{JOBS["hot-layer"]}"}}'
REDIS_DOWN = Rule(
    uid="pulse-down-redis",
    title="PulseRedisDown",
    summary="Redis does not answer the hot updater: real-time panels freeze",
    description="{{ $labels.instance }} of job "
    + JOBS["hot-layer"]
    + " cannot reach Redis (pulse_redis_up = {value}).",
    team=PLATFORM,
    severity="critical",
    query=PromQL(expr=REDIS_UP),
    threshold=below(1),
    window_s=300,
    pending="2m",
    no_data="OK",  # no updater, no probe: PulseHotLayerDown fires for that
    labels={"component": "redis"},
)

GROUP = Group(
    name="pulse-components",
    interval="30s",
    rules=(
        COLLECTOR_DOWN,
        API_DOWN,
        LOADER_DOWN,
        HOT_LAYER_DOWN,
        ARCHIVER_DOWN,
        WAREHOUSE_DOWN,
        KAFKA_DOWN,
        REDIS_DOWN,
    ),
)
