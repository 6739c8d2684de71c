"""The chart gives ClickHouse the ``pulse_archive`` named collection: the embedded engine's, keys from the S3 Secret.

Policy on the rendered ClickHouseInstallation (a ``config.d`` file whose keys come from the environment,
the environment from the S3 Secret, the URL where the archiver writes), the same URL as the Python
renderer for the same values, and the rendered file itself loaded by the real engine, which reads an
archived object from the real S3 server through it.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pulse.archive import collection
from pulse.archive.store import ArchiveStore
from pulse.settings import Settings
from tests.access.standin import session

from .conftest import SENTINEL_PASSWORD, SENTINEL_SETS
from .test_policy import plain_env
from .tools import Helm, Manifest, by_kind

FILE = "config.d/pulse_archive.xml"


def archive_config(docs: list[Manifest]) -> tuple[ET.Element, dict[str, dict[str, str]]]:
    """The collection element of the rendered file, and the ClickHouse container's Secret-backed variables."""
    chi = by_kind(docs, "ClickHouseInstallation")[0]
    root = ET.fromstring(chi["spec"]["configuration"]["files"][FILE])
    found = root.find("named_collections/pulse_archive")
    assert found is not None
    container = chi["spec"]["templates"]["podTemplates"][0]["spec"]["containers"][0]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container.get("env", []) if "valueFrom" in e}
    return found, env


def test_the_collection_takes_its_keys_from_the_s3_secret_and_holds_none(helm: Helm) -> None:
    sets = [*SENTINEL_SETS, "secrets.s3.existingSecret=vault-s3", "secrets.s3.secretAccessKeyKey=sk"]
    docs = helm.template(sets=sets)
    element, env = archive_config(docs)
    assert SENTINEL_PASSWORD not in ET.tostring(element, encoding="unicode")
    for tag, variable in (
        ("access_key_id", "ARCHIVE_S3_ACCESS_KEY_ID"),
        ("secret_access_key", "ARCHIVE_S3_SECRET_ACCESS_KEY"),
    ):
        key = element.find(tag)
        assert key is not None and key.get("from_env") == variable and not (key.text or "").strip(), tag
    assert env["ARCHIVE_S3_ACCESS_KEY_ID"] == {"name": "vault-s3", "key": "access-key-id"}
    assert env["ARCHIVE_S3_SECRET_ACCESS_KEY"] == {"name": "vault-s3", "key": "sk"}
    assert element.findtext("format") == "Parquet"


@pytest.mark.parametrize(
    ("sets", "endpoint"),
    [
        (["s3.endpointUrl=https://s3.example:9000/", "archiver.prefix=cold/raw"], "https://s3.example:9000/"),
        (["s3.region=eu-west-3", "s3.bucket=acme-archive"], None),
    ],
    ids=["endpoint", "aws"],
)
def test_the_chart_points_the_collection_where_the_archiver_writes(
    helm: Helm, sets: list[str], endpoint: str | None
) -> None:
    docs = helm.template(sets=sets)
    element, _ = archive_config(docs)
    prefix = plain_env(docs, "pulse-archiver")["PULSE_ARCHIVE__PREFIX"]
    assert prefix is not None
    base = Settings()
    values = dict(item.split("=", 1) for item in sets)
    settings = base.model_copy(
        update={
            "s3": base.s3.model_copy(
                update={
                    "endpoint_url": endpoint,
                    "region": values.get("s3.region", "us-east-1"),
                    "bucket": values.get("s3.bucket", "pulse-archive"),
                }
            ),
            "archive": base.archive.model_copy(update={"prefix": prefix}),
        }
    )
    assert element.findtext("url") == collection.url(settings)


def test_the_engine_reads_the_archive_through_the_chart_rendered_collection(
    helm: Helm, s3_stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chart's file as a server's config.d takes it, keys in the environment as the pod has them."""
    docs = helm.template(sets=[f"s3.endpointUrl={s3_stack.s3.endpoint_url}", f"s3.bucket={s3_stack.s3.bucket}"])
    chi = by_kind(docs, "ClickHouseInstallation")[0]
    folder = tmp_path / "config"
    (folder / "config.d").mkdir(parents=True)
    (folder / "config.d" / "pulse_archive.xml").write_text(chi["spec"]["configuration"]["files"][FILE])
    (folder / "config.xml").write_text("<clickhouse></clickhouse>")
    monkeypatch.setenv("ARCHIVE_S3_ACCESS_KEY_ID", s3_stack.s3.access_key_id)
    monkeypatch.setenv("ARCHIVE_S3_SECRET_ACCESS_KEY", s3_stack.s3.secret_access_key)
    name = f"chart-{uuid.uuid4().hex[:8]}.parquet"
    body = pa.BufferOutputStream()
    pq.write_table(pa.table({"event": ["view", "like"]}), body)
    ArchiveStore(s3_stack).put(f"raw/{name}", body.getvalue().to_pybytes())
    with session(tmp_path / "chdb", folder / "config.xml") as client:
        rows = client.query(f"SELECT event FROM s3(pulse_archive, filename = '{name}') ORDER BY event").result_rows
    assert rows == [("like",), ("view",)]
