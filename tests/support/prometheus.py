"""A real Prometheus on loopback for the tests, and Grafana's side of a PromQL query (its variables, its frames).

Prometheus itself is real (built by ``helm/scripts/install-tools.sh``); what stands in is Grafana: its
interval variables are substituted here as Grafana computes them, and an instant vector becomes the
label-set -> values series that ``tests/support/grafana_expressions.py`` reduces and thresholds.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from pulse.settings import LOOPBACK
from pulse.web import free_port
from tests.support.grafana_expressions import Series


def grafana_promql(expr: str, *, scrape_s: float, range_s: float = 3600, max_points: int = 1000) -> str:
    """``expr`` with Grafana's interval variables filled in, for a panel over ``range_s`` seconds.

    Grafana: ``$__interval`` = range / max data points, at least the data source's scrape interval
    (``timeInterval``); ``$__rate_interval`` = max(``$__interval`` + scrape interval, 4 x scrape interval).
    """
    interval = max(range_s / max_points, scrape_s)
    rate_interval = max(interval + scrape_s, 4 * scrape_s)
    values = {"__rate_interval": rate_interval, "__interval": interval, "__range": range_s}

    def fill(match: re.Match[str]) -> str:
        return f"{round(values[match.group(1)] * 1000)}ms"

    filled = re.sub(r"\$(__rate_interval|__interval|__range)\b", fill, expr)
    if "$" in filled:
        raise ValueError(f"unsubstituted variable in {filled!r}")
    return filled


def instant_series(result: list[dict[str, Any]]) -> Series:
    """An instant vector as Grafana's data frames: one series per label set (``__name__`` included)."""
    return {tuple(sorted(item["metric"].items())): [float(item["value"][1])] for item in result}


class Prometheus:
    """``prometheus`` scraping ``jobs`` (job -> [(host:port, path)]) every ``scrape_s`` seconds."""

    def __init__(self, binary: Path, home: Path, jobs: Mapping[str, tuple[str, str]], scrape_s: float = 1.0) -> None:
        self.scrape_s = scrape_s
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        interval = f"{round(scrape_s * 1000)}ms"
        self.config = {
            "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
            "scrape_configs": [
                {"job_name": job, "metrics_path": path, "static_configs": [{"targets": [target]}]}
                for job, (target, path) in jobs.items()
            ],
        }
        home.mkdir(parents=True, exist_ok=True)
        self.config_file = home / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.log = home / "prometheus.log"
        self.argv = [
            str(binary),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited ({self.process.returncode}): {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready after {timeout_s}s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def query(self, expr: str) -> list[dict[str, Any]]:
        """``/api/v1/query`` at now: the instant vector (a scalar or string result is an error here)."""
        answer = httpx.post(f"{self.url}/api/v1/query", data={"query": expr}, timeout=10)
        body = answer.json()
        if answer.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"{expr!r}: {body.get('errorType')}: {body.get('error')}")
        if body["data"]["resultType"] != "vector":
            raise AssertionError(f"{expr!r}: a {body['data']['resultType']}, not an instant vector")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def targets(self) -> dict[str, str]:
        """Job -> health of its (single) target."""
        active = httpx.get(f"{self.url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        return {t["labels"]["job"]: t["health"] for t in active}
