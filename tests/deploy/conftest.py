"""Fixtures for the deployment tests: tools installed by helm/scripts/install-tools.sh, the chart rendered offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tools import CHART, Helm, Manifest, ToolInstallError, Tools, install_tools, offline_chart

PRODUCTION = CHART / "values-production.yaml"
# Recognisable values that must only ever appear inside Secret objects.
SENTINEL_PASSWORD = "S3ntinel-Pa55word-do-not-leak"
SENTINEL_SETS = (
    f"secrets.clickhouse.password={SENTINEL_PASSWORD}",
    f"secrets.redis.password={SENTINEL_PASSWORD}-redis",
    f"secrets.s3.accessKeyId={SENTINEL_PASSWORD}-ak",
    f"secrets.s3.secretAccessKey={SENTINEL_PASSWORD}-sk",
)


@pytest.fixture(scope="session")
def tools() -> Tools:
    try:
        return install_tools()
    except ToolInstallError as exc:  # fail loudly: a CI machine without helm must not pass silently
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def offline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    return offline_chart(tmp_path_factory.mktemp("chart"))


@pytest.fixture(scope="session")
def helm(tools: Tools, offline: tuple[Path, list[dict[str, object]]]) -> Helm:
    return Helm(tools.helm, offline[0])


@pytest.fixture(scope="session")
def default_docs(helm: Helm) -> list[Manifest]:
    return helm.template()


@pytest.fixture(scope="session")
def production_docs(helm: Helm) -> list[Manifest]:
    return helm.template([PRODUCTION])


@pytest.fixture(scope="session")
def external_docs(helm: Helm) -> list[Manifest]:
    """Every store an existing endpoint instead of one the chart deploys."""
    return helm.template(
        sets=[
            "kafka.deploy=false",
            "kafka.external.bootstrapServers=k.example:9093",
            "clickhouse.deploy=false",
            "clickhouse.external.url=https://ch.example:8443",
            "redis.deploy=false",
            "redis.external.url=rediss://r.example:6379/0",
        ]
    )


@pytest.fixture(scope="session")
def sentinel_text(helm: Helm) -> str:
    return helm.template_text(sets=SENTINEL_SETS)


@pytest.fixture(scope="session", params=["default", "production"])
def rendered(
    request: pytest.FixtureRequest, default_docs: list[Manifest], production_docs: list[Manifest]
) -> list[Manifest]:
    return default_docs if request.param == "default" else production_docs
