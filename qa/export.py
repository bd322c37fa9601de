"""Exports of the results database for analysts: CSV (UTF-8 with a byte-order mark, so
Excel shows Chinese correctly) or Parquet (pyarrow), written atomically so a failed
export leaves no partial file. The rows come from qa.store.export_rows (masked text)."""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from pathlib import Path

from sqlite_utils.db import Database

from qa.errors import InputError
from qa.store import CallFilter, export_rows

EXPORT_FORMATS = ("csv", "parquet")


class ExportError(InputError):
    """An export that cannot be written; the message names the output file."""


def _atomic_target(out: Path):
    if not out.parent.is_dir():
        raise ExportError(str(out), "", f"folder {out.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    return Path(tmp)


def write_export(db: Database, out: str | Path, fmt: str = "csv", table: str = "calls",
                 where: CallFilter = CallFilter()) -> int:
    """Write one export table (calls, items or findings) to `out` (`-` is stdout, CSV
    only); returns the number of rows. Raises ExportError for a bad format or path."""
    if fmt not in EXPORT_FORMATS:
        raise ExportError(str(out), "format", f"must be csv or parquet, not {fmt!r}")
    columns, rows = export_rows(db, table, where)
    if str(out) == "-":
        if fmt != "csv":
            raise ExportError("-", "format", "only CSV can be written to standard output")
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        return sum(1 for row in rows if writer.writerow(row) is not None)
    out = Path(out)
    tmp = _atomic_target(out)
    try:
        if fmt == "csv":
            with tmp.open("w", encoding="utf-8-sig", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(columns)
                count = 0
                for row in rows:
                    writer.writerow(row)
                    count += 1
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            data = list(rows)
            count = len(data)
            table_data = pa.table({name: [row[i] for row in data]
                                   for i, name in enumerate(columns)})
            pq.write_table(table_data, tmp)
        os.replace(tmp, out)
    except OSError as exc:
        raise ExportError(str(out), "", f"cannot write: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return count
