"""Deployment tooling for the tests: helm and the Compose schema, installed by the project's own script.

``helm/scripts/install-tools.sh`` builds helm from the Go module proxy into ``~/.cache/pulse/bin`` (cold: about
3 minutes on 2 cores; warm: instant) and fetches the Compose Specification schema from the compose-go module.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "pulse"
INSTALL_TOOLS = REPO / "helm" / "scripts" / "install-tools.sh"
COMPOSE_FILE = REPO / "docker-compose.yml"
# The Kubernetes version the chart is rendered and validated for (Chart.yaml kubeVersion: >=1.27).
KUBE_VERSION = "1.33.0"
# Below pytest-timeout (600 s) so a slow cold build fails with this message rather than a bare timeout.
INSTALL_TIMEOUT_S = 540

Manifest = dict[str, Any]


class ToolInstallError(RuntimeError):
    """The install script failed: a test must fail on this, never skip."""


@dataclass(frozen=True)
class Tools:
    helm: Path
    compose_schema: Path


def install_tools() -> Tools:
    """Run the install script (a no-op when cached) and return the paths it printed."""
    try:
        done = subprocess.run(
            ["bash", str(INSTALL_TOOLS), "helm", "compose-schema"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolInstallError(f"{INSTALL_TOOLS} took more than {INSTALL_TIMEOUT_S}s") from exc
    if done.returncode != 0:
        raise ToolInstallError(
            f"{INSTALL_TOOLS} failed (exit {done.returncode}); it needs Go and the Go module proxy.\n{done.stderr}"
        )
    paths = [Path(line) for line in done.stdout.splitlines() if line.strip()]
    helm = next((p for p in paths if p.name.startswith("helm-")), None)
    schema = next((p for p in paths if p.name.startswith("compose-spec-")), None)
    if helm is None or schema is None or not helm.exists() or not schema.exists():
        raise ToolInstallError(f"{INSTALL_TOOLS} printed no usable paths: {done.stdout!r}")
    return Tools(helm=helm, compose_schema=schema)


def offline_chart(dest: Path) -> tuple[Path, list[dict[str, Any]]]:
    """Copy the chart without its (unvendored) dependencies so helm can render it offline.

    ``helm template`` refuses a chart whose Chart.yaml names dependencies missing from charts/, even when
    their condition is false; the dependencies are fetched at deploy time with ``helm dependency build``.
    Returns the copy and the dependencies that were removed (tests check each is off by default).
    """
    copy = dest / "pulse"
    shutil.copytree(CHART, copy)
    chart_yaml = copy / "Chart.yaml"
    meta = yaml.safe_load(chart_yaml.read_text())
    removed: list[dict[str, Any]] = meta.pop("dependencies", [])
    chart_yaml.write_text(yaml.safe_dump(meta, sort_keys=False))
    return copy, removed


class Helm:
    def __init__(self, binary: Path, chart: Path) -> None:
        self.binary = binary
        self.chart = chart

    def run(self, *args: str, chart: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args, str(chart or self.chart)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def template_text(self, values: Sequence[Path] = (), sets: Iterable[str] = ()) -> str:
        args = ["template", "pulse", "--namespace", "pulse", "--kube-version", KUBE_VERSION]
        for v in values:
            args += ["-f", str(v)]
        for s in sets:
            args += ["--set", s]
        done = self.run(*args)
        if done.returncode != 0:
            raise AssertionError(f"helm template failed: {done.stderr}")
        return done.stdout

    def template(self, values: Sequence[Path] = (), sets: Iterable[str] = ()) -> list[Manifest]:
        return [d for d in yaml.safe_load_all(self.template_text(values, sets)) if d]


def workload_pod_spec(obj: Manifest) -> dict[str, Any] | None:
    """The pod spec of a native workload, or None for anything else."""
    kind = obj.get("kind")
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}:
        spec: dict[str, Any] = obj["spec"]["template"]["spec"]
        return spec
    if kind == "CronJob":
        cron: dict[str, Any] = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return cron
    return None


def by_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [d for d in docs if d.get("kind") == kind]


def migrate_job(docs: list[Manifest]) -> Manifest:
    """The migrations hook Job (its name carries the release revision; other hook Jobs may render too)."""
    jobs = [d for d in by_kind(docs, "Job") if d["metadata"]["name"].startswith("pulse-migrate-")]
    assert len(jobs) == 1, [d["metadata"]["name"] for d in by_kind(docs, "Job")]
    return jobs[0]


def named(docs: list[Manifest], kind: str, name: str) -> Manifest:
    for d in docs:
        if d.get("kind") == kind and d["metadata"]["name"] == name:
            return d
    raise AssertionError(f"no {kind} {name} in {[(d['kind'], d['metadata']['name']) for d in docs]}")
