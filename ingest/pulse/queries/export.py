"""Writing a named query's result to CSV or Parquet (F14), block by block."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from clickhouse_connect.driver.client import Client

from pulse.errors import PulseError
from pulse.queries.run import stream_blocks

FORMATS = ("csv", "parquet")


def export(
    client: Client,
    name: str,
    given: Mapping[str, str],
    out: Path,
    fmt: str,
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """Stream ``name``'s result into ``out``; returns the rows written. A failed export leaves no file."""
    if fmt not in FORMATS:
        raise PulseError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    partial = out.with_name(out.name + ".partial")
    rows = 0
    writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
    try:
        for names, columns in stream_blocks(client, name, given):
            table = pa.table(dict(zip(names, columns, strict=True)))
            if writer is None:
                writer = (
                    pq.ParquetWriter(partial, table.schema, compression="zstd")
                    if fmt == "parquet"
                    else pacsv.CSVWriter(partial, table.schema)
                )
            writer.write_table(table)
            rows += table.num_rows
            if on_rows:
                on_rows(table.num_rows)
        if writer is None:  # no rows: still a valid, empty file with no columns known
            partial.write_bytes(b"")
    except BaseException:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
        raise
    if writer is not None:
        writer.close()
    partial.replace(out)
    return rows
