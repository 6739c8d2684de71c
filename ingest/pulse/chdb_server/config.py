"""The server configuration the embedded engine opens: one ``config.xml`` plus ``config.d`` fragments.

A ClickHouse server reads ``config.xml`` and merges every ``config.d/*.xml`` beside it; chDB does the
same for the file given as ``--config-file``. So each concern that needs server configuration (the
query log, named collections, users) renders one fragment from the settings, and an operator may add
fragments of their own in ``clickhouse.embedded_config_d``: the same files a server's ``config.d``
would take.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from pulse.archive import collection as archive_collection
from pulse.chdb_server import query_log
from pulse.settings import Settings
from pulse.warehouse import kafka_collection

Fragment = Callable[[Settings], str | None]

# name -> renderer; a renderer returns the fragment's XML, or None when the settings need none.
FRAGMENTS: dict[str, Fragment] = {
    "archive_collection": archive_collection.fragment,
    "query_log": query_log.fragment,
    "kafka_collection": kafka_collection.fragment,
}

BASE = "<clickhouse></clickhouse>\n"


def folder_for(settings: Settings) -> Path:
    """Where the rendered configuration of ``settings.chdb_path`` lives: beside the data, not in it."""
    data = settings.chdb_path.resolve()
    return data.with_name(f"{data.name}.conf")


def write(settings: Settings) -> Path:
    """Render the configuration afresh (stale fragments removed) and return the ``config.xml`` path."""
    folder = folder_for(settings)
    fragments = folder / "config.d"
    if fragments.exists():
        shutil.rmtree(fragments)
    fragments.mkdir(parents=True)
    for name, render in FRAGMENTS.items():
        xml = render(settings)
        if xml is not None:
            (fragments / f"{name}.xml").write_text(xml)
    extra = settings.clickhouse.embedded_config_d
    if extra is not None:
        for source in sorted(extra.glob("*.xml")):
            shutil.copyfile(source, fragments / f"operator-{source.name}")
    config = folder / "config.xml"
    config.write_text(BASE)
    return config
