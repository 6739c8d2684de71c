"""The chart keeps a share of ClickHouse's data disk free: the rendered ``config.d`` file, read by the real engine.

A server out of space in the middle of a merge can commit a broken part (chDB did, docs/reliability.md), so
the chart's ClickHouseInstallation reserves ``clickhouse.keepFreeSpaceRatio`` of the disk: the server's
inserts and merges reserve space only above it. Proof: the file as the chart renders it, given to the engine
as a server's ``config.d``, makes ``system.disks`` keep that share of the filesystem free.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.access.standin import session

from .tools import Helm, Manifest, by_kind

FILE = "config.d/pulse_storage.xml"


def storage_file(docs: list[Manifest]) -> str:
    files: dict[str, str] = by_kind(docs, "ClickHouseInstallation")[0]["spec"]["configuration"]["files"]
    return files[FILE]


def test_the_default_keeps_five_percent_free(default_docs: list[Manifest]) -> None:
    root = ET.fromstring(storage_file(default_docs))
    assert root.findtext("storage_configuration/disks/default/keep_free_space_ratio") == "0.05"


@pytest.mark.parametrize("ratio", ["0.05", "0.2"])
def test_the_engine_keeps_the_rendered_share_of_its_disk_free(helm: Helm, tmp_path: Path, ratio: str) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(f"clickhouse:\n  keepFreeSpaceRatio: {ratio}\n")  # a number (--set would make it a string)
    docs = helm.template(values=[values])
    folder = tmp_path / "config"
    (folder / "config.d").mkdir(parents=True)
    (folder / "config.d" / "pulse_storage.xml").write_text(storage_file(docs))
    (folder / "config.xml").write_text("<clickhouse></clickhouse>")
    data = tmp_path / "chdb"
    with session(data, folder / "config.xml") as client:
        keep, total = client.query(
            "SELECT keep_free_space, total_space FROM system.disks WHERE name = 'default'"
        ).result_rows[0]
    filesystem = os.statvfs(data)
    size = filesystem.f_blocks * filesystem.f_frsize
    assert keep == pytest.approx(float(ratio) * size, rel=1e-6)
    assert total == size - keep  # what the server may fill: the disk less the share kept free


def test_the_chart_refuses_a_share_beyond_half_the_disk(helm: Helm, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("clickhouse:\n  keepFreeSpaceRatio: 0.9\n")
    with pytest.raises(AssertionError, match="keepFreeSpaceRatio"):
        helm.template(values=[values])
