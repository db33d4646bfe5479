"""A whole raw folder -> the five tables, streamed, cached, written atomically.

Scale design (a national panel is ~10^6 reports):

* files are hashed and parsed in a process pool; results stream back in ``report_id``
  order and are packed into Arrow columns every few thousand reports, so raw text and
  Python records of the whole run are never held at once;
* ``OUT/.gxcache.json`` remembers which report ids (file path + bytes + manifest row)
  the outputs in OUT were made from, and with which parser; on a re-run only new or
  changed files are parsed and the rest of the rows are taken from OUT's Parquet files.
  The outputs are identical to a full run's;
* the cross-report carry-over check is recomputed on the whole table every run.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from operator import itemgetter
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .checks import carry_over
from .parse import (APPLICATION_COLUMNS, CHECK_COLUMNS, DISCLOSURE_COLUMNS, REPORT_COLUMNS, REVIEW_COLUMNS,
                    list_inputs, parse_rows, read_manifest, report_id)
from .store import Staging, Tables, _arrow, codes, typed
from .tables import Check

CACHE_NAME = ".gxcache.json"
LONG = {"disclosure": DISCLOSURE_COLUMNS, "applications": APPLICATION_COLUMNS, "reviews": REVIEW_COLUMNS}
ALL = {"reports": REPORT_COLUMNS, **LONG, "checks": CHECK_COLUMNS}
_CHECK_FIELDS = [f.name for f in fields(Check)]  # asdict() without its deep copy (the fields are str)
BATCH = 128  # reports a worker parses into one set of Arrow tables
FLUSH_EVERY = 32 * BATCH  # reports per row group written


@dataclass
class RunResult:
    counts: dict
    n_checks: int
    files: int
    parsed: int
    seconds: float
    bytes: int
    tables: Tables | None = None

    def summary(self) -> str:
        rate = self.files / self.seconds if self.seconds > 0 else float("inf")
        reused = self.files - self.parsed
        extra = f", {reused} unchanged taken from the cache" if reused else ""
        return (f"{self.files} files: {self.counts.get('ok', 0)} ok, {self.counts.get('partial', 0)} partial, "
                f"{self.counts.get('failed', 0)} failed; {self.n_checks} checks raised; "
                f"{self.seconds:.1f} s ({rate:.0f} reports/s, {self.bytes / 1e6 / max(self.seconds, 1e-9):.1f} MB/s"
                f"{extra})")


@lru_cache(maxsize=1)
def parser_fingerprint() -> str:
    """Hash of the parser's own code and data: a cache made by other code is not reused."""
    from . import __version__

    root = Path(__file__).parent
    h = hashlib.sha256(__version__.encode())
    for p in sorted(root.rglob("*")):
        if p.suffix in (".py", ".csv") and "__pycache__" not in p.parts and p.name not in ("metrics.py", "render.py",
                                                                                           "plotting.py"):
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _hash(path: str) -> tuple[str, int]:
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size > 1 << 26:  # a huge file: hash it in pieces
                h = hashlib.sha256()
                n = 0
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
                    n += len(chunk)
                return h.hexdigest(), n
            data = fh.read()
    except OSError:
        return "", 0
    return hashlib.sha256(data).hexdigest(), len(data)


def _work(task: tuple[str, str, dict | None]) -> dict:
    """One file -> :func:`gxlib.parse.parse_rows` records (never raises)."""
    path, rel, mrow = task
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        report = {c: "" for c in REPORT_COLUMNS}
        report.update(report_id=report_id(rel, ""), source_file=rel, year=None, level="unknown",
                      status="failed", error=f"cannot open the file: {err.strerror or err}")
        return {"report": report, "disclosure": [], "applications": [], "reviews": [], "checks": []}
    return parse_rows(data, rel, mrow)


# the codebook variables that order the rows of one report in each long table
_ROW_ORDER = {"disclosure": ("item", "measure"), "applications": ("row", "applicant"),
              "reviews": ("proceeding", "outcome")}


def _work_batch(tasks: list[tuple[str, str, dict | None]]) -> dict[str, pa.Table]:
    """Parse a batch of files into Arrow tables, in the worker (the parent only writes).
    Long tables: the batch's reports in order, each report's rows in codebook order."""
    reports: list[dict] = []
    rows: dict[str, list[dict]] = {name: [] for name in LONG}
    counts: dict[str, list[int]] = {name: [] for name in LONG}
    checks: list[dict] = []
    for task in tasks:
        res = _work(task)
        reports.append(res["report"])
        rid = res["report"]["report_id"]
        for name in LONG:
            rows[name].extend(res[name])
            counts[name].append(len(res[name]))
        checks.extend({"report_id": rid, **{f: getattr(c, f) for f in _CHECK_FIELDS}} for c in res["checks"])
    ids = pa.array([r["report_id"] for r in reports], type=pa.string())
    out = {"reports": _arrow_table(REPORT_COLUMNS, reports), "checks": _arrow_table(CHECK_COLUMNS, checks)}
    for name, columns in LONG.items():
        n = np.asarray(counts[name], dtype=np.int64)
        seq = np.repeat(np.arange(len(n), dtype=np.int32), n)
        arrays = {"report_id": pa.DictionaryArray.from_arrays(pa.array(seq, type=pa.int32()), ids)}
        arrays.update(_arrow_columns(columns[1:], rows[name]))
        key = seq.astype(np.int64) * 1_000_000
        for weight, col in zip((1000, 1), _ROW_ORDER[name]):
            key += weight * _ranks(arrays[col], col)
        table = pa.Table.from_arrays([arrays[c] for c in columns], schema=_schema(name))
        out[name] = table.take(pa.array(np.argsort(key, kind="stable")))
    return out


@lru_cache(maxsize=None)
def _rank(variable: str) -> dict[str, int]:
    return {c: i for i, c in enumerate(codes(variable))}


def _ranks(codes_: pa.DictionaryArray, variable: str) -> np.ndarray:
    """Codebook position of every code (999 for a code not in the codebook)."""
    rank = _rank(variable)
    table = np.array([rank.get(c, 999) for c in codes_.dictionary.to_pylist()] or [999], dtype=np.int64)
    return table[codes_.indices.to_numpy(zero_copy_only=False)]


def _arrow_columns(columns: list[str], records: list[dict]) -> dict[str, pa.Array]:
    out = {}
    for c in columns:
        values = list(map(itemgetter(c), records))
        typ = _TYPES.get(c)
        out[c] = pa.array(values, type=typ) if typ else pa.array(values, type=pa.string()).dictionary_encode()
    return out


def _arrow_table(columns: list[str], records: list[dict]) -> pa.Table:
    arrays = _arrow_columns(columns, records)
    return pa.Table.from_arrays([arrays[c] for c in columns], schema=_schema_of(columns))


@lru_cache(maxsize=None)
def _schema(name: str) -> pa.Schema:
    return _schema_of(ALL[name])


def _schema_of(columns) -> pa.Schema:
    return pa.schema([(c, _TYPES.get(c, _DICT)) for c in columns])


_DICT = pa.dictionary(pa.int32(), pa.string())
_TYPES = {"value": pa.float64(), "year": pa.int64()}


def _runs(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Report ids of a table sorted by report_id, and the row offset where each starts
    (plus the end)."""
    col = table.column("report_id")
    col = col.unify_dictionaries().combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if not pa.types.is_dictionary(col.type):
        col = col.dictionary_encode()
    idx = col.indices.to_numpy(zero_copy_only=False)
    if len(idx) == 0:
        return np.array([], dtype=object), np.array([0])
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    ids = np.asarray(col.dictionary.to_pylist(), dtype=object)[idx[starts]]
    return ids, np.r_[starts, len(idx)]


def _merge(old: pa.Table, new: pa.Table) -> pa.Table:
    """Two tables sorted by report_id (a report's rows contiguous) merged, zero-copy slices."""
    if new.num_rows == 0 or old.num_rows == 0:
        return old if new.num_rows == 0 else new
    old_ids, old_at = _runs(old)
    new_ids, new_at = _runs(new)
    pos = np.searchsorted(old_ids, new_ids)
    pieces, prev = [], 0
    for j, p in enumerate(pos):
        if p > prev:
            pieces.append(old.slice(old_at[prev], old_at[p] - old_at[prev]))
        pieces.append(new.slice(new_at[j], new_at[j + 1] - new_at[j]))
        prev = p
    if prev < len(old_ids):
        pieces.append(old.slice(old_at[prev], old_at[-1] - old_at[prev]))
    return pa.concat_tables(pieces)


def _split(table: pa.Table, last_id: str) -> tuple[pa.Table, pa.Table]:
    """Rows of reports <= last_id, and the rest (table sorted by report_id)."""
    if table.num_rows == 0:
        return table, table
    ids, at = _runs(table)
    k = int(np.searchsorted(ids, last_id, side="right"))
    return table.slice(0, at[k]), table.slice(at[k])


def _member(ids: pa.ChunkedArray, keep: pa.Array) -> pa.ChunkedArray:
    """Which rows' report_id is in ``keep`` (looked up once per dictionary entry)."""
    if not pa.types.is_dictionary(ids.type):
        return pc.is_in(ids, value_set=keep)
    return pa.chunked_array([pc.take(pc.is_in(c.dictionary, value_set=keep), c.indices) for c in ids.chunks],
                            type=pa.bool_())


def _old_chunks(path: Path, keep: pa.Array, schema: pa.Schema):
    """The previous output's rows of the reports to keep, streamed by row group, each
    chunk ending on a report boundary."""
    pf = pq.ParquetFile(path)
    carry = None
    for i in range(pf.num_row_groups):
        g = pf.read_row_group(i)
        g = g.filter(_member(g["report_id"], keep)).cast(schema)
        if carry is not None:
            g = pa.concat_tables([carry, g])
        if g.num_rows == 0:
            carry = None
            continue
        ids, at = _runs(g)
        carry = g.slice(at[-2])  # the last report may continue in the next row group
        head = g.slice(0, at[-2])
        if head.num_rows:
            yield head
    if carry is not None and carry.num_rows:
        yield carry


def _pool_map(fn, items: list, jobs: int, progress_desc: str | None, total: int | None = None, size=None):
    """``fn`` over ``items`` in order, in a process pool; the bar advances by ``size(item)``."""
    bar = None
    if progress_desc:
        from tqdm import tqdm

        bar = tqdm(total=total or len(items), unit="file", desc=progress_desc, file=sys.stderr)
    pool = None
    try:
        if jobs == 1 or len(items) < (2 if size else 16):
            results = map(fn, items)
        else:
            chunk = 1 if size else max(1, min(256, len(items) // (jobs * 16) or 1))
            pool = ProcessPoolExecutor(max_workers=jobs)
            results = pool.map(fn, items, chunksize=chunk)
        for item, res in zip(items, results):
            yield res
            if bar:
                bar.update(size(item) if size else 1)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if bar:
            bar.close()


def _cache_key(rid: str, mrow: dict | None) -> str:
    return rid if not mrow else rid + ":" + hashlib.sha256(json.dumps(mrow, sort_keys=True).encode()).hexdigest()[:8]


def _read_cache(out: Path) -> dict | None:
    path = out / CACHE_NAME
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("fingerprint") != parser_fingerprint():
        return None
    if not all((out / f"{n}.parquet").is_file() for n in ("reports", *LONG, "checks")):
        return None
    return meta


def run(raw_dir: Path, out: Path | None = None, jobs: int | None = None, progress: bool | None = None,
        cache: bool = True, keep_tables: bool | None = None) -> RunResult:
    """Parse every file under ``raw_dir``; with ``out``, write the tables there.

    ``keep_tables`` (default: when ``out`` is None) also returns the pandas tables; the
    command line does not, so the long tables stream to disk and memory stays flat."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"{raw_dir}: no such folder")
    t0 = time.perf_counter()
    jobs = jobs or os.cpu_count() or 1
    keep = keep_tables or (keep_tables is None and out is None)
    files = list_inputs(raw_dir)
    manifest = read_manifest(raw_dir)
    if progress is None:
        progress = len(files) > 200 and sys.stderr.isatty()
    hashes = list(_pool_map(_hash, [path for _, path in files], jobs, "hashing" if progress else None))
    size = sum(n for _, n in hashes)
    entries = []  # (report_id, rel, path, manifest row, cache key)
    for (rel, path), (sha, _) in zip(files, hashes):
        mrow = manifest.get(rel) or manifest.get(rel.rsplit("/", 1)[-1])
        rid = report_id(rel, sha)
        entries.append((rid, rel, path, mrow, _cache_key(rid, mrow)))
    entries.sort(key=lambda e: (e[0], e[1]))
    keys = {e[4] for e in entries}
    out_p = Path(out) if out is not None else None
    cached = _read_cache(out_p) if (out_p is not None and cache) else None
    reuse: set[str] = set()
    if cached:
        reuse = {k.split(":")[0] for k in cached.get("keys", []) if k in keys}
    todo = [e for e in entries if e[0] not in reuse]

    stage = Staging(out_p) if out_p is not None else None
    try:
        result = _run(todo, reuse, entries, out_p, stage, jobs, progress, keep)
        result.files, result.bytes = len(files), size
        if stage is not None:
            stage.commit()
            (out_p / CACHE_NAME).write_text(json.dumps({"fingerprint": parser_fingerprint(),
                                                        "keys": sorted(keys)}), encoding="utf-8")
    except BaseException:
        if stage is not None:
            stage.abort()
        raise
    result.seconds = time.perf_counter() - t0
    return result


def _run(todo, reuse, entries, out_p, stage, jobs, progress, keep) -> RunResult:
    schemas = {name: _schema(name) for name in ALL}
    sinks = {name: stage.sink(name, schemas[name]) for name in LONG} if stage else {}
    kept: dict[str, list[pa.Table]] = {name: [] for name in LONG}
    carried: list[pa.Table] = []
    rep_tables: list[pa.Table] = []
    chk_tables: list[pa.Table] = []

    def emit(name: str, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if name in sinks:
            sinks[name].write(table)
        if keep:
            kept[name].append(table)
        if name == "applications":  # the carry-over check's projection: 14 rows a report, 4 columns
            rows = pc.cast(table["row"], pa.string())
            sub = table.select(["report_id", "row", "applicant", "value"])
            sub = sub.filter(pc.is_in(rows, value_set=pa.array(["carried_over", "carried_forward"])))
            carried.append(sub.combine_chunks())  # not a view that keeps the whole batch alive

    tasks = [(path, rel, mrow) for _, rel, path, mrow, _ in todo]
    batches = [tasks[i:i + BATCH] for i in range(0, len(tasks), BATCH)]
    new: dict[str, list[pa.Table]] = {name: [] for name in LONG}
    pending: dict[str, list[pa.Table]] = {name: [] for name in LONG}
    n_pending = 0

    def flush() -> None:
        for name in LONG:
            if pending[name]:
                t = pa.concat_tables(pending[name])
                if reuse:
                    new[name].append(t)  # merged with the previous rows below
                else:
                    emit(name, t)  # results arrive in report_id order: stream them out
            pending[name] = []

    for res in _pool_map(_work_batch, batches, jobs, "parsing" if progress else None, total=len(tasks), size=len):
        rep_tables.append(res["reports"])
        chk_tables.append(res["checks"])
        for name in LONG:
            pending[name].append(res[name])
        n_pending += res["reports"].num_rows
        if n_pending >= FLUSH_EVERY:
            flush()
            n_pending = 0
    flush()

    import pandas as pd

    reports_df = typed("reports", _concat(rep_tables, schemas["reports"]).to_pandas())
    checks_df = typed("checks", _concat(chk_tables, schemas["checks"]).to_pandas())
    rep_tables.clear()
    chk_tables.clear()
    if reuse:
        keep_ids = pa.array(sorted(reuse), type=pa.string())
        old_reports = pq.read_table(out_p / "reports.parquet")
        old_reports = old_reports.filter(_member(old_reports["report_id"], keep_ids)).to_pandas()
        reports_df = typed("reports", pd.concat([reports_df, old_reports], ignore_index=True))
        old_checks = pq.read_table(out_p / "checks.parquet")
        old_checks = old_checks.filter(_member(old_checks["report_id"], keep_ids)).to_pandas()
        old_checks = old_checks[old_checks["rule"].astype(str) != "carry_over"]
        checks_df = typed("checks", pd.concat([checks_df, old_checks], ignore_index=True))
        for name in LONG:
            pending_rows = _concat(new[name], schemas[name])
            for chunk in _old_chunks(out_p / f"{name}.parquet", keep_ids, schemas[name]):
                last = _runs(chunk)[0][-1]
                part, pending_rows = _split(pending_rows, last)
                emit(name, _merge(chunk, part))
            emit(name, pending_rows)
    # cross-report carry-over warnings, on the whole table
    carried_t = _concat(carried, schemas["applications"])
    carried.clear()
    checks_df = _with_carry_over(reports_df, carried_t, checks_df)
    if stage is not None:
        stage.table("reports", _arrow(reports_df))
        stage.table("checks", _arrow(checks_df))
    counts = reports_df["status"].astype(str).value_counts().to_dict()
    result = RunResult(counts, len(checks_df), 0, len(todo), 0.0, 0)
    if keep:
        result.tables = Tables(
            reports=reports_df, checks=checks_df,
            **{n: typed(n, _concat(kept[n], schemas[n]).to_pandas(), sort=False) for n in LONG})
    return result


def _concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _with_carry_over(reports_df, carried: pa.Table, checks_df):
    import pandas as pd

    extra = carry_over(reports_df, carried)
    if extra.empty:
        return checks_df
    return typed("checks", pd.concat([checks_df, extra], ignore_index=True))
