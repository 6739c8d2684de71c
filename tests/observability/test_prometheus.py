"""Every PromQL of the pipeline-health dashboard and of the alert rules, on a real Prometheus scraping the pipeline.

The pipeline (collector, loader, hot updater, archiver) runs on the test stack with paced traffic, a few
invalid events among it; Prometheus scrapes them, the warehouse and the Kafka broker's JMX exporter every
second on loopback, under the jobs the chart's ServiceMonitors and PodMonitor set (``grafana/config.py``
JOBS). Each expression is taken from the generated dashboard JSON / the provisioned rules and run through
``/api/v1/query``; each must return series. Then a component or a store (Kafka, Redis, the warehouse) is
killed with SIGKILL and its down rule is evaluated, Grafana's reduce and threshold emulated
(tests/support/grafana_expressions.py): OK, firing, OK again after a restart.

Stand-ins: Grafana (interval variables, frames, expressions are emulated); chDB serves the warehouse (with
ClickHouse's own metric names, ``pulse.chdb_server.server_metrics``); the hot updater's probe of Redis
serves Redis's health (no redis_exporter).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from pulse.access.definition import DEFINITION
from pulse.api.app import create_app
from pulse.generator.sender import send
from pulse.generator.traffic import TrafficConfig, TrafficGenerator
from pulse.grafana import discover
from pulse.grafana.generate import dashboard_json
from pulse.pipeline.services import pipeline_specs, start_pipeline, stop_pipeline, supervisor_for
from pulse.settings import ApiSettings, ArchiveSettings, Settings
from pulse.web import serving
from tests.support.go_tools import go_tools
from tests.support.grafana_expressions import Labels, evaluate_chain
from tests.support.prometheus import Prometheus, grafana_promql, instant_series
from tests.support.provisioning import provisioned
from tests.support.stack import StackHandle
from tests.support.tiers import wait_for

CONFIG = discover.module("config")
JOBS: dict[str, str] = CONFIG.JOBS
PROMETHEUS_UID = "pulse-prometheus"
SCRAPE_S = 1.0
#: The rules' ``for`` in the emulation: the slowest worker's batch age (the archiver's) and a few scrapes.
PENDING_S = ArchiveSettings().max_batch_age_ms / 1000 + 5 * SCRAPE_S
KEY = "wk_observability"
#: Supervisor service name of each pipeline component (the warehouse belongs to the stack).
ACCESS = Path(__file__).resolve().parents[2] / DEFINITION
SERVICES = {"collector": "collector", "loader": "loader", "hot-layer": "hot", "archiver": "archiver"}
#: Stores killed through the test stack, least disruptive first (Kafka's restart recovers its logs).
STORES = ("warehouse", "redis", "kafka")


def dashboard_exprs() -> dict[str, str]:
    """``panel title [refId]`` -> PromQL of every Prometheus target of pipeline health, as Grafana sends it."""
    board = dashboard_json(discover.modules("dashboards")["pipeline_health"])
    found: dict[str, str] = {}
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("uid") == PROMETHEUS_UID:
                expr = grafana_promql(target["expr"], scrape_s=SCRAPE_S, range_s=3600)
                found[f"{panel['title']} [{target['refId']}]"] = expr
    return found


def prometheus_rules() -> dict[str, dict[str, Any]]:
    """Title -> provisioned rule (as Grafana reads the file) of every rule querying Prometheus."""
    return {
        rule["title"]: rule
        for group in provisioned("alerting/rules.yaml")["groups"]
        for rule in group["rules"]
        if rule["data"][0]["datasourceUid"] == PROMETHEUS_UID
    }


class Traffic:
    """Paced events into the collector from a thread, a few invalid ones among them, until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="observability-traffic", daemon=True)

    def _run(self) -> None:
        seed = 9_000
        while not self.stopping.is_set():
            seed += 1
            config = TrafficConfig(seed=seed, start=datetime.now(UTC), rate=40, users=500, posts=300, campaigns=4)
            try:
                asyncio.run(send(TrafficGenerator(config), self.url, KEY, seconds=3, concurrency=2, max_attempts=2))
                if seed % 3 == 0:  # about 1 in 400 events invalid: rejects have series, the ratio stays low
                    httpx.post(f"{self.url}/v1/batch", json={"batch": [{"type": "track"}]}, auth=(KEY, ""), timeout=5)
            except Exception:  # the collector may be the component a test killed: keep going
                time.sleep(0.5)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def binaries() -> dict[str, Path]:
    return go_tools("prometheus", "promtool")


@pytest.fixture(scope="module")
def pipeline(stack: Settings, test_stack: StackHandle) -> Iterator[Settings]:
    test_stack.pulse("migrate", check=True)
    start_pipeline(stack)
    try:
        with Traffic(f"http://{stack.collector.host}:{stack.collector.port}"):
            yield stack
    finally:
        stop_pipeline(stack)


@pytest.fixture(scope="module")
def prometheus(
    binaries: dict[str, Path], pipeline: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    host = pipeline.stack.host
    warehouse = httpx.URL(pipeline.clickhouse.url)
    # The read API, served in-process as `pulse api run` serves it: only its /metrics is scraped here.
    api_settings = pipeline.model_copy(update={"api": ApiSettings(issuer="https://idp.invalid", definition=ACCESS)})
    stack = contextlib.ExitStack()
    api = httpx.URL(stack.enter_context(serving(create_app(api_settings))))
    targets = {
        "api": (f"{api.host}:{api.port}", "/metrics"),
        "collector": (f"{pipeline.collector.host}:{pipeline.collector.port}", "/metrics"),
        "loader": (f"{host}:{pipeline.loader.metrics_port}", "/metrics"),
        "hot-layer": (f"{host}:{pipeline.hot.metrics_port}", "/metrics"),
        "archiver": (f"{host}:{pipeline.archive.metrics_port}", "/metrics"),
        "warehouse": (f"{warehouse.host}:{warehouse.port}", "/metrics"),
        "kafka": (f"{host}:{pipeline.kafka.metrics_port}", "/metrics"),
    }
    server = Prometheus(
        binaries["prometheus"],
        tmp_path_factory.mktemp("prometheus"),
        {JOBS[component]: target for component, target in targets.items()},
        scrape_s=SCRAPE_S,
    )
    promtool = [str(binaries["promtool"]), "check", "config", str(server.config_file)]
    checked = subprocess.run(promtool, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    server.start()
    try:
        yield server
    finally:
        server.stop()
        stack.close()


def empty(prometheus: Prometheus, exprs: dict[str, str]) -> dict[str, str]:
    return {name: expr for name, expr in exprs.items() if not prometheus.query(expr)}


def test_every_dashboard_and_rule_expression_returns_series(prometheus: Prometheus) -> None:
    exprs = dashboard_exprs()
    rules = prometheus_rules()
    assert len(exprs) >= 12 and len(rules) >= 10, (sorted(exprs), sorted(rules))
    for title, rule in rules.items():
        exprs[f"rule {title}"] = rule["data"][0]["model"]["expr"]
    wait_for(lambda: set(prometheus.targets().values()) == {"up"}, 30, "every target up", poll_s=SCRAPE_S)
    # The archiver cuts a file at most every 10 s; everything else shows within a few scrapes.
    missing: dict[str, str] = dict(exprs)
    deadline = time.monotonic() + 60
    while missing and time.monotonic() < deadline:
        missing = empty(prometheus, missing)
        time.sleep(SCRAPE_S)
    assert not missing, f"no series under normal traffic: {missing}"


def rule_state(prometheus: Prometheus, rule: dict[str, Any]) -> dict[Labels, bool]:
    """The rule's PromQL on Prometheus, then its reduce and threshold as Grafana's expressions do."""
    return evaluate_chain(rule, lambda step: instant_series(prometheus.query(step["model"]["expr"])))


def firing(prometheus: Prometheus, rule: dict[str, Any]) -> bool:
    states = rule_state(prometheus, rule)
    assert states, f"{rule['title']}: no series"
    return any(states.values())


def loud_rules(prometheus: Prometheus) -> dict[str, list[Labels]]:
    states = {title: rule_state(prometheus, rule) for title, rule in prometheus_rules().items()}
    return {title: [labels for labels, fires in state.items() if fires] for title, state in states.items()}


def test_quiet_pipeline_fires_no_prometheus_rule(prometheus: Prometheus) -> None:
    """No rule stays loud for longer than its emulated ``for`` under normal traffic.

    A topic's message starts its lag before the worker's batch age has passed (the archiver cuts files
    every 10 s; rare topics such as identities see one message now and then): a stuck rule sees growth
    without a commit for an evaluation or two. Grafana's ``for: 5m`` absorbs that; the emulation holds
    each loud series against :data:`PENDING_S`, longer than the longest batch age plus a scrape.
    """
    wait_for(lambda: set(prometheus.targets().values()) == {"up"}, 30, "every target up", poll_s=SCRAPE_S)
    wait_for(lambda: not any(loud_rules(prometheus).values()), 45, "no rule firing", poll_s=SCRAPE_S)
    loud_since: dict[tuple[str, Labels], float] = {}
    deadline = time.monotonic() + 2 * PENDING_S
    while time.monotonic() < deadline:
        time.sleep(SCRAPE_S)
        now = time.monotonic()
        loud = {(title, labels) for title, series in loud_rules(prometheus).items() for labels in series}
        loud_since = {key: loud_since.get(key, now) for key in loud}
        held = {key: round(now - since) for key, since in loud_since.items() if now - since > PENDING_S}
        assert not held, f"firing under normal traffic for longer than {PENDING_S} s: {held}"


@pytest.mark.parametrize("component", list(SERVICES))
def test_component_down_rule_fires_on_kill_and_clears_on_restart(
    prometheus: Prometheus, pipeline: Settings, component: str
) -> None:
    rule = next(r for r in prometheus_rules().values() if r["labels"].get("component") == component)
    supervisor = supervisor_for(pipeline)
    wait_for(lambda: not firing(prometheus, rule), 30, f"{rule['title']} OK", poll_s=SCRAPE_S)
    assert supervisor.kill(SERVICES[component])
    try:
        wait_for(lambda: firing(prometheus, rule), 15, f"{rule['title']} firing after kill -9", poll_s=SCRAPE_S)
    finally:
        supervisor.start(pipeline_specs(pipeline)[SERVICES[component]], pipeline.stack.start_timeout_s)
    wait_for(lambda: not firing(prometheus, rule), 30, f"{rule['title']} OK after restart", poll_s=SCRAPE_S)


def down_rule(component: str) -> dict[str, Any]:
    return next(r for r in prometheus_rules().values() if r["labels"].get("component") == component)


@pytest.mark.parametrize("store", STORES)
def test_store_down_rule_fires_on_kill_and_clears_on_restart(
    prometheus: Prometheus, test_stack: StackHandle, store: str
) -> None:
    """Last in the module: the pipeline rides out each store's outage, and the next store's test waits for OK."""
    rule = down_rule(store)
    wait_for(lambda: not firing(prometheus, rule), 60, f"{rule['title']} OK", poll_s=SCRAPE_S)
    assert test_stack.kill(store)
    try:
        wait_for(lambda: firing(prometheus, rule), 15, f"{rule['title']} firing after kill -9", poll_s=SCRAPE_S)
    finally:
        test_stack.up(store)
    wait_for(lambda: not firing(prometheus, rule), 60, f"{rule['title']} OK after restart", poll_s=SCRAPE_S)
