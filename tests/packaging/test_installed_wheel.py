"""The wheel is the product: built from this repository, installed into a fresh virtual environment
outside it, every operator command that reads shipped content works (the image and the chart run it so).

The environment is really fresh: pip resolves the wheel's declared dependencies (from its cache, as
``make install`` left it), so a missing dependency or a missing content file fails here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from setuptools import find_packages

from tests.packaging.test_image import wheel_sources

REPO = Path(__file__).resolve().parents[2]


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the installed ``pulse`` script, an empty working folder outside the repository)."""
    root = tmp_path_factory.mktemp("installed")
    assert REPO not in root.parents
    # Built from a copy of exactly what the image's build context holds: no stale build/ folder of a
    # developer's tree can slip a removed module into the wheel, and a folder the wheel needs but the
    # image lacks fails here.
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for folder in wheel_sources():
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", "previews"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(source)], cwd=root)
    (wheel,) = (root / "dist").glob("pulse_analytics-*.whl")
    run([sys.executable, "-m", "venv", str(root / "venv")], cwd=root)
    run([str(root / "venv/bin/pip"), "install", "-q", "--disable-pip-version-check", str(wheel)], cwd=root)
    work = root / "work"
    work.mkdir()
    yield root / "venv/bin/pulse", work


def test_the_package_list_names_every_package_of_the_source_tree() -> None:
    """pyproject lists packages explicitly (content folders are mapped in); a new one must not be left out."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapped = {name for name in config["package-dir"] if name}
    assert set(find_packages(str(REPO / "ingest"))) <= listed
    assert mapped <= listed
    for name in mapped:
        source = REPO / config["package-dir"][name]
        nested = {f"{name}.{sub}" for sub in find_packages(str(source))}
        assert nested <= listed, f"{source}: {sorted(nested - listed)} missing from [tool.setuptools] packages"


def test_help_runs_outside_the_repository(installed: tuple[Path, Path]) -> None:
    pulse, work = installed
    assert "migrate" in run([str(pulse), "--help"], cwd=work)
    assert "Usage" in run([str(pulse.parent / "python"), "-m", "pulse", "--help"], cwd=work)


def test_migrate_and_a_named_query_run_on_an_embedded_warehouse(installed: tuple[Path, Path]) -> None:
    pulse, work = installed
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "PULSE_CLICKHOUSE__URL": f"chdb://{work / 'chdb'}"}
    shipped = sorted(p.name for p in (REPO / "clickhouse/schema").glob("[0-9]*.sql"))
    applied = run([str(pulse), "migrate"], cwd=work, env=env)
    assert [line.split()[-1] for line in applied.splitlines() if line.startswith("applied ")] == shipped
    assert "0 migration(s) applied" in run([str(pulse), "migrate"], cwd=work, env=env)
    # the kafka-engine migrations ship too (only listed here: chDB cannot reopen a path with Kafka tables)
    wide = {**env, "COLUMNS": "200"}
    engine = run([str(pulse), "migrate", "status", "--ingestion", "kafka-engine"], cwd=work, env=wide)
    assert "kafka_ingestion" in engine and "pending" in engine
    # the shipped named query runs on the shipped schema (an unknown table or column would fail it)
    exported = run(
        [str(pulse), "export", "events_per_second", "--format", "csv", "--out", "eps.csv"], cwd=work, env=env
    )
    assert "wrote 0 rows" in exported


def test_every_named_query_is_listed(installed: tuple[Path, Path]) -> None:
    pulse, work = installed
    listed = run([str(pulse), "queries"], cwd=work, env={"PATH": "/usr/bin:/bin", "COLUMNS": "300"})
    for path in (REPO / "clickhouse/queries").glob("*.sql"):
        assert f" {path.stem} " in listed


def test_grafana_generate_writes_the_committed_files(installed: tuple[Path, Path]) -> None:
    pulse, work = installed
    out = work / "generated"
    # the access definition is the input that names the organizations (one dashboards folder each)
    (out / "provisioning/access").mkdir(parents=True)
    shutil.copy(REPO / "provisioning/access/access.yaml", out / "provisioning/access/access.yaml")
    run([str(pulse), "grafana", "generate", "--root", str(out)], cwd=work)
    for board in ("pulse_admin/unified.json", "pulse_finance_analyst/unified.json"):
        committed = REPO / "provisioning/dashboards/pulse" / board
        assert json.loads((out / "provisioning/dashboards/pulse" / board).read_text()) == json.loads(
            committed.read_text()
        )
    assert (out / "provisioning/access/grafana.ini").read_text() == (
        REPO / "provisioning/access/grafana.ini"
    ).read_text()
    assert (out / "provisioning/alerting/rules.yaml").read_text() == (
        REPO / "provisioning/alerting/rules.yaml"
    ).read_text()


def test_the_read_api_document_comes_from_the_shipped_queries(installed: tuple[Path, Path]) -> None:
    """`pulse api` ships (its JWT library included) and documents every shipped named query as committed."""
    pulse, work = installed
    printed = run([str(pulse), "api", "openapi"], cwd=work, env={"PATH": "/usr/bin:/bin"})
    assert printed == (REPO / "docs/api-openapi.json").read_text()
    imported = run(
        [str(pulse.parent / "python"), "-c", "import pulse.api.app, jwt.algorithms as a; print(a.has_crypto)"], cwd=work
    )
    assert imported.strip() == "True"
