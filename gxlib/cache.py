"""The run cache: what ``gx parse`` remembers in its output folder between runs.

``OUT/.gxcache.arrow`` holds one row per report of the outputs beside it, sorted by
``report_id``:

* ``key``: the report id plus a hash of its manifest row; a file whose key is unchanged is
  not parsed again, its rows are taken from the previous outputs;
* ``source_file``, ``sha256`` and the file's ``size``, ``mtime_ns``, ``ctime_ns``, ``ino``
  when it was listed: a file whose stat is unchanged is not even read again (as git does).
  A file modified within :data:`RACY_NS` of the listing is recorded with ``size = -1`` and
  read again next time, so a change within the file system's timestamp granularity is
  never missed;
* per long table, ``<table>_rows`` and ``<table>_bytes``: the report's rows in the Parquet
  file and bytes in the CSV file. The next run copies the CSV bytes of unchanged reports
  as they are, in ranges, instead of encoding them again.

The cache is staged and committed with the outputs, and it records each output file's
size, mtime and inode: if anything else touches an output (a CSV saved from Excel) or a
run dies half-way through moving files in place, the cache no longer matches and the next
run is a full one. A cache made by other parser code (``fingerprint``) is ignored too.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

CACHE_NAME = ".gxcache.arrow"
LEGACY_NAMES = (".gxcache.json",)  # caches of earlier versions: removed on the next commit
TABLES = ("reports", "disclosure", "applications", "reviews", "checks")
LONG = ("disclosure", "applications", "reviews")
OUTPUTS = tuple(f"{n}.{ext}" for n in TABLES for ext in ("csv", "parquet"))
RACY_NS = 2_000_000_000  # files touched this close to the listing are hashed again next run
_META = b"gxlib.cache"


def _file_stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


@dataclass
class RunCache:
    """A cache read back: ``table`` has one row per report, sorted by report_id."""

    table: pa.Table | None

    def drop(self) -> None:
        """Let go of the table once what a run needs of it is taken (about 200 bytes a
        report: 200 MB at 10^6 reports that would otherwise be held through the merge)."""
        self.table = None

    def runs(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows and CSV bytes of every report (in report_id order) in table ``name``."""
        return (self.table[f"{name}_rows"].to_numpy().astype(np.int64),
                self.table[f"{name}_bytes"].to_numpy().astype(np.int64))


def read(out: Path, fingerprint: str) -> RunCache | None:
    """The cache of ``out`` when it was made by this parser for exactly the outputs there."""
    try:
        with pa.OSFile(str(out / CACHE_NAME)) as src:
            table = pa.ipc.open_file(src).read_all()
        meta = json.loads((table.schema.metadata or {})[_META])
        if meta.get("fingerprint") != fingerprint:
            return None
        for name, recorded in meta["outputs"].items():
            if _file_stat(out / name) != recorded:
                return None
    except (OSError, KeyError, ValueError, pa.ArrowInvalid):
        return None
    return RunCache(table)


def write(path: Path, table: pa.Table, fingerprint: str, outputs: dict[str, Path]) -> None:
    """Write the cache ``table`` to ``path``, recording the stat of the ``outputs``
    (final name -> the staged file that will be moved there; a move keeps the stat)."""
    meta = {"fingerprint": fingerprint, "outputs": {name: _file_stat(p) for name, p in outputs.items()}}
    table = table.replace_schema_metadata({_META: json.dumps(meta)})
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema, options=options) as w:
        w.write_table(table)


def remove_legacy(out: Path) -> None:
    for name in LEGACY_NAMES:
        (out / name).unlink(missing_ok=True)
