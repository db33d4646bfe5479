"""A whole raw folder -> the five tables, streamed, cached, written atomically.

Scale design (a national panel is ~10^6 reports):

* files are hashed and parsed in a process pool; results stream back in ``report_id``
  order and are packed into Arrow columns every few thousand reports, so raw text and
  Python records of the whole run are never held at once;
* the long tables leave in that order; the reports table, written in file order, waits
  in a temporary file in buckets of file positions and is put in order a bucket at a
  time (:class:`_ReportSpill`); the parent keeps only a few narrow columns of it; the
  parse's checks and the carry-over check's rows wait in temporary files until the
  workers are done (:class:`_TableSpill`);
* ``OUT/.gxcache.arrow`` (see :mod:`gxlib.cache`) remembers which files, with which
  bytes and manifest rows, the outputs in OUT were made from, and with which parser. On a
  re-run, files whose stat is unchanged are not read again, only new or changed files are
  parsed, the unchanged reports' CSV bytes are copied from OUT's previous files in ranges
  and their Parquet rows are streamed from the previous Parquet files. The outputs are
  identical to a full run's. With no file new, changed or gone they are not written at
  all (:func:`_unchanged`);
* the cross-report carry-over check is recomputed for every agency with a report parsed
  or gone in this run; the previous warnings of every other agency are kept.
"""
from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import queue
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, fields
from operator import itemgetter
from array import array
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import cache as runcache
from . import regions
from .checks import carry_over
from .listing import ListingChild, list_inputs
from .listing import stats as listing_stats
from .parse import (APPLICATION_COLUMNS, CHECK_COLUMNS, DISCLOSURE_COLUMNS, REPORT_COLUMNS, REVIEW_COLUMNS,
                    parse_rows, read_manifest, report_id)
from .store import (CODED, DROP_EVERY, Staging, Tables, _arrow, codes, csv_runs, data_dictionary, drop_cached,
                    fixed_bytes, frame, id_bytes, prefetch, replacing, report_runs, sorted_positions, typed,
                    undictionary, write_back)
from .store import release_memory as _release
from .tables import Check

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
    written: bool = True  # False: nothing changed since the last run, the outputs were left as they were

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
    prefetch(task[0] for task in tasks)
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
_CARRIED = pa.array(["carried_over", "carried_forward"])
_CARRIED_SCHEMA = pa.schema([("report_id", _DICT), ("row", pa.dictionary(pa.int8(), pa.string())),
                             ("applicant", pa.dictionary(pa.int8(), pa.string())), ("value", pa.float64())])
_TYPES = {"value": pa.float64(), "year": pa.int64()}


CHANGED_WHILE_READ = ("the file changed while gx parse was reading it (its bytes when parsed were not its bytes "
                      "when hashed): run gx parse again")


def _ids_of(reports: pa.Table) -> np.ndarray:
    return fixed_bytes(reports.column("report_id").combine_chunks().cast(pa.string()))


def _withhold(res: dict, changed: np.ndarray) -> dict:
    """A batch's results without the rows of the reports whose file changed between
    hashing and parsing (``changed``, per report): their report id is not the one the
    parsing order was chosen by, so their rows would break the long tables' order. Those
    reports become failed, with the reason; the run cache makes the next run parse them."""
    reports = res["reports"]
    flag = pa.array(changed)
    gone = reports.column("report_id").combine_chunks().cast(pa.string()).filter(flag)
    out = {name: t.filter(pc.invert(_member(t["report_id"], gone))) for name, t in res.items() if name != "reports"}
    cols = {name: reports.column(name) for name in reports.column_names}
    cols["status"] = pc.if_else(flag, "failed", reports.column("status").cast(pa.string()))
    cols["error"] = pc.if_else(flag, CHANGED_WHILE_READ, reports.column("error").cast(pa.string()))
    out["reports"] = pa.table(cols)
    return out


def _compact(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` cast to ``schema``, whose dictionaries may have narrower indices; a
    dictionary too large for them is first cut to the values present."""
    cols = []
    for field in schema:
        col = table.column(field.name)
        if pa.types.is_dictionary(field.type) and any(len(c.dictionary) >= 1 << (8 * field.type.index_type.byte_width - 1)
                                                      for c in col.chunks):
            col = pa.chunked_array([_used_entries_of(c) for c in col.chunks], type=col.type)
        cols.append(col.cast(field.type))
    return pa.Table.from_arrays(cols, schema=schema)


def _member(ids: pa.ChunkedArray, keep: pa.Array) -> pa.ChunkedArray:
    """Which rows' value is in ``keep`` (looked up once per dictionary entry, not cast per row)."""
    if not pa.types.is_dictionary(ids.type):
        return pc.is_in(ids, value_set=keep)
    return pa.chunked_array([pc.take(pc.is_in(c.dictionary, value_set=keep), c.indices) for c in ids.chunks],
                            type=pa.bool_())


def _isin(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.isin`` for id arrays, by binary search in sorted ``b`` (np.isin sorts both
    arrays together: three times slower on 10^5 ids)."""
    if (b[1:] < b[:-1]).any():
        b = np.sort(b)
    return sorted_positions(b, a) >= 0


def _interleave(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the items of two sorted arrays in their merged order (a tie: ``a``'s
    item first)."""
    return (np.arange(len(a)) + np.searchsorted(b, a, side="left"),
            np.arange(len(b)) + np.searchsorted(a, b, side="right"))


def _runs(src: np.ndarray, off: np.ndarray, length: np.ndarray):
    """Maximal runs of consecutive items that are adjacent in the same source:
    ``(source, offset, length)`` per run."""
    if len(src) == 0:
        return []
    cut = np.flatnonzero(np.r_[True, (src[1:] != src[:-1]) | (off[1:] != off[:-1] + length[:-1])])
    return zip(src[cut].tolist(), off[cut].tolist(), np.add.reduceat(length, cut).tolist())


class _RowsOf:
    """Rows of a Parquet file (the columns of ``schema``) taken by increasing offset, a
    row group read at a time (slices, no copy)."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path, self.schema = path, schema
        self.pf = pq.ParquetFile(path)
        self.columns = schema.names
        self.next = 0
        self.group = schema.empty_table()
        self.lo = self.hi = 0

    def take(self, off: int, n: int) -> list[pa.Table]:
        out = []
        while n > 0:
            while off >= self.hi:
                if self.next >= self.pf.num_row_groups:
                    raise ValueError(f"{self.path}: fewer rows than the run cache says")
                self.lo = self.hi
                self.group = self.pf.read_row_group(self.next, columns=self.columns).cast(self.schema)
                self.next += 1
                self.hi = self.lo + self.group.num_rows
            m = min(n, self.hi - off)
            out.append(self.group.slice(off - self.lo, m))
            off += m
            n -= m
        return out


def _pool_map(fn, items, jobs: int, progress_desc: str | None, total: int, size=len, ahead: int = 4,
              pool: ProcessPoolExecutor | None = None):
    """``fn`` over ``items`` (an iterable of work units) in order, in a process pool (the
    run's ``pool``, or one of its own); at most ``ahead`` units per worker are submitted
    ahead, so the parent never holds the whole queue. The bar advances by ``size(unit)``."""
    bar = None
    if progress_desc:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="file", desc=progress_desc, file=sys.stderr)
    own = None
    try:
        if jobs == 1 or total < 16:
            results = ((item, fn(item)) for item in items)
        else:
            if pool is None:
                pool = own = ProcessPoolExecutor(max_workers=jobs)
            results = _window(pool, fn, iter(items), jobs * ahead)
        for item, res in results:
            yield res
            if bar:
                bar.update(size(item))
    finally:
        if own is not None:
            own.shutdown(cancel_futures=True)
        if bar:
            bar.close()


# the years whose division tables a worker builds as it starts: the national templates'
# (a report of another year builds its table when it comes)
_WARM_YEARS = range(2019, regions.LAST_YEAR + 1)


def _warm_worker() -> None:
    """A worker's start: what every parse builds on first use (the division tables,
    0.3 s), built while the parent is still listing the files."""
    with contextlib.suppress(Exception):  # a failure here shows where a parse meets it, with its file
        regions.warm(_WARM_YEARS)


def _start_pool(jobs: int) -> ProcessPoolExecutor:
    """The run's process pool for hashing and parsing, its workers started now."""
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_warm_worker)
    for _ in range(jobs):
        pool.submit(int)  # workers start on demand: start them, so they warm up in parallel
    return pool


def _window(pool, fn, items, ahead: int):
    """(item, result) in order, with at most ``ahead`` submitted and not yet taken."""
    pending = collections.deque()
    for item in items:
        pending.append((item, pool.submit(fn, item)))
        if len(pending) >= ahead:
            item0, fut = pending.popleft()
            yield item0, fut.result()
    while pending:
        item0, fut = pending.popleft()
        yield item0, fut.result()


def _hash_batch(paths: list[str]) -> list[tuple[str, int]]:
    prefetch(paths)
    return [_hash(p) for p in paths]


def _chunks(seq, n: int):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _manifest_tag(mrow: dict | None) -> str:
    """What a manifest row adds to a report's cache key."""
    return "" if not mrow else ":" + hashlib.sha256(json.dumps(mrow, sort_keys=True).encode()).hexdigest()[:8]


def _usable(cached: runcache.RunCache | None, out: Path) -> runcache.RunCache | None:
    """The cache, if the long tables in ``out`` hold exactly the rows and bytes it says."""
    if cached is None:
        return None
    try:
        for name in LONG:
            rows, nbytes = cached.runs(name)
            if (nbytes < 0).any() or pq.ParquetFile(out / f"{name}.parquet").metadata.num_rows != rows.sum():
                return None
            header = len(csv_header_of(name))
            if (out / f"{name}.csv").stat().st_size != header + nbytes.sum():
                return None
    except (OSError, pa.ArrowInvalid):
        return None
    return cached


@lru_cache(maxsize=None)
def csv_header_of(name: str) -> bytes:
    from .store import csv_header

    return csv_header(_schema(name))


_STAT_COLUMNS = ("size", "mtime_ns", "ctime_ns", "ino")  # a file's stat in the run cache


@dataclass
class _Listing:
    """The raw folder's files as compact arrays (a national run lists ~10^6 files: tuples
    and dicts per file would cost ~1 KB each). Index i is the i-th file by path."""

    root: str
    rels: list[str]
    stats: np.ndarray  # (n, 4) int64: size, mtime_ns, ctime_ns, ino; -1 when stat failed
    shas: np.ndarray  # "S64" hex digests ("" for an unreadable file)
    rids: np.ndarray  # "S16" report ids
    tags: list[str] | None  # manifest tags (None: no manifest)
    mrows: dict  # manifest rows by file name or path

    def path(self, i: int) -> str:
        return os.path.join(self.root, self.rels[i])

    def mrow(self, i: int) -> dict | None:
        rel = self.rels[i]
        return self.mrows.get(rel) or self.mrows.get(rel.rsplit("/", 1)[-1])

    def keys(self) -> np.ndarray:
        if self.tags is None:
            return self.rids
        return np.char.add(self.rids, np.char.encode(np.asarray(self.tags, dtype="U"), "utf-8"))


def _list(raw_dir: Path, rels: list[str], cached, jobs: int, progress: bool,
          pool: ProcessPoolExecutor | None = None, stats: array | None = None) -> tuple[_Listing, int]:
    """Stat (unless ``stats`` are given: :func:`gxlib.listing.stats`) and, where the cache
    cannot vouch for a file, hash every input file."""
    root = str(raw_dir)
    n = len(rels)
    stats = np.frombuffer(stats if stats is not None else listing_stats(root, rels), dtype=np.int64).reshape(n, 4)
    shas = np.zeros(n, dtype="S64")
    rids = np.zeros(n, dtype="S16")
    need = np.ones(n, dtype=bool)
    if cached is not None and n:
        t = cached.table
        # (source files are unique in the cache: one row per report)
        at = pc.index_in(pa.array(rels, pa.string()), value_set=t["source_file"].combine_chunks())
        at = pc.fill_null(at, -1).to_numpy()
        hit = at >= 0
        old = np.stack([t[c].to_numpy() for c in _STAT_COLUMNS], axis=1)[np.maximum(at, 0)]
        same = hit & (old[:, 0] >= 0) & (stats[:, 0] >= 0) & (old == stats).all(axis=1)
        shas[same] = fixed_bytes(t["sha256"].combine_chunks())[at[same]]
        rids[same] = fixed_bytes(t["report_id"].combine_chunks())[at[same]]  # same path, same bytes: same id
        need = ~same
    todo = np.flatnonzero(need)
    size = int(stats[stats[:, 0] >= 0, 0].sum())
    work = [os.path.join(root, rels[i]) for i in todo]
    hashed = _pool_map(_hash_batch, _chunks(work, 256), jobs, "hashing" if progress and len(work) else None,
                       total=len(work), pool=pool)
    pos = 0
    for res in hashed:
        for sha, nbytes in res:
            i = todo[pos]
            shas[i] = sha.encode()
            if stats[i, 0] < 0:
                size += nbytes
            pos += 1
    for i in todo:
        rids[i] = report_id(rels[i], shas[i].decode()).encode()
    manifest = read_manifest(raw_dir)
    listing = _Listing(root, rels, stats, shas, rids, None, manifest)
    if manifest:
        listing.tags = [_manifest_tag(listing.mrow(i)) for i in range(n)]
    return listing, size


def run(raw_dir: Path, out: Path | None = None, jobs: int | None = None, progress: bool | None = None,
        cache: bool = True, keep_tables: bool | None = None, listed: ListingChild | None = None) -> RunResult:
    """Parse every file under ``raw_dir``; with ``out``, write the tables there.

    ``cache=False`` ignores what an earlier run left in ``out`` (every file is read and
    parsed); ``keep_tables`` (default: when ``out`` is None) also returns the pandas
    tables; the command line does not, so the long tables stream to disk and memory stays
    flat. ``listed``: the folder's listing, started earlier (the command line starts it
    before importing this module)."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"{raw_dir}: no such folder")
    with _system_allocator():
        return _run_all(raw_dir, out, jobs, progress, cache, keep_tables, listed)


@contextlib.contextmanager
def _system_allocator():
    """Arrow allocates from the C library's malloc during a run (the workers, forked,
    inherit it). Its default, mimalloc, kept about 90 MB more in the parent at 100k
    reports (471 -> 381 MB peak), freed but not reused by the many batch-sized tables
    that arrive, live a while and die; the speed is the same. Buffers remember their
    pool, so switching back afterwards is safe."""
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _run_all(raw_dir: Path, out, jobs, progress, cache, keep_tables, listed) -> RunResult:
    t0 = time.perf_counter()
    jobs = jobs or os.cpu_count() or 1
    keep = keep_tables or (keep_tables is None and out is None)
    out_p = Path(out) if out is not None else None
    got = listed.result() if listed is not None else None
    if got is not None:
        rels, stats, listed_at = got
    else:  # (the stat after the workers are started: they warm up meanwhile)
        listed_at = time.time_ns()
        rels, stats = [rel for rel, _ in list_inputs(raw_dir)], None
    if progress is None:
        progress = len(rels) > 200 and sys.stderr.isatty()
    # the workers are forked before the run cache is read: they do not carry a copy of it
    pool = _start_pool(jobs) if jobs > 1 and len(rels) >= 16 else None
    try:
        cached = _usable(runcache.read(out_p, parser_fingerprint()), out_p) if (out_p is not None and cache) else None
        return _run_pooled(raw_dir, out_p, rels, stats, cached, listed_at, t0, jobs, progress, keep, pool)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _run_pooled(raw_dir, out_p, rels, stats, cached, listed_at, t0, jobs, progress, keep, pool) -> RunResult:
    listing, size = _list(raw_dir, rels, cached, jobs, progress, pool, stats)
    n = len(rels)
    order = np.argsort(listing.rids, kind="stable")  # parsing order: report_id
    reuse = np.zeros(n, dtype=bool)
    if cached is not None and n:
        old_keys = fixed_bytes(cached.table["key"].combine_chunks())
        reuse = _isin(listing.keys(), old_keys)
        if (~reuse).sum() > n // 2:
            reuse[:] = False  # most files changed: a full run is cheaper than merging
    if out_p is not None and not keep and cached is not None and n == cached.table.num_rows and reuse.all():
        result = _unchanged(out_p, listing, cached, listed_at)  # nothing new, nothing gone
        if result is not None:
            result.files, result.bytes, result.seconds = n, size, time.perf_counter() - t0
            return result
    todo = order[~reuse[order]]
    reuse_ids = np.sort(listing.rids[reuse])  # as bytes: 16 a report, not 64 as NumPy unicode

    stage = Staging(out_p) if out_p is not None else None
    try:
        result, sinks, reports = _run(listing, todo, reuse_ids, reuse, cached if len(reuse_ids) else None, out_p,
                                      stage, jobs, progress, keep, pool)
        result.files, result.bytes = n, size
        if stage is not None:
            table = _cache_table(reports, listing, _trusted(listing, listed_at), sinks)

            def last(st: Staging) -> None:
                outputs = {name: st.staged_path(name) for name in runcache.OUTPUTS}
                if table is not None:
                    runcache.write(st.path(runcache.CACHE_NAME), table, parser_fingerprint(), outputs)
                else:  # no cache this time: the next run is a full one
                    (out_p / runcache.CACHE_NAME).unlink(missing_ok=True)

            stage.commit(last)
            runcache.remove_legacy(out_p)
    except BaseException:
        if stage is not None:
            stage.abort()
        raise
    result.seconds = time.perf_counter() - t0
    return result


def _trusted(listing: _Listing, listed_at: int) -> np.ndarray:
    """Files whose stat the cache may vouch for next time: read, and not modified within
    :data:`gxlib.cache.RACY_NS` of the listing."""
    return ((listing.stats[:, 1] < listed_at - runcache.RACY_NS) & (listing.stats[:, 2] < listed_at - runcache.RACY_NS)
            & (listing.stats[:, 0] >= 0) & (listing.shas != b""))


def _unchanged(out_p: Path, listing: _Listing, cached: runcache.RunCache, listed_at: int) -> RunResult | None:
    """Every file's key is in the cache and no report is gone: the outputs would be
    written again byte for byte, so they are left as they are. Only the cache is written
    again, when some file's stat changed (touched but not modified, or too recent to be
    trusted last time). None when the outputs cannot be read (then a run writes them)."""
    t = cached.table
    pos = sorted_positions(fixed_bytes(t["report_id"].combine_chunks()), listing.rids)
    if (pos < 0).any() or len(np.unique(pos)) != len(pos):
        return None
    try:
        status = pq.read_table(out_p / "reports.parquet", columns=["status"])["status"]
        n_checks = pq.ParquetFile(out_p / "checks.parquet").metadata.num_rows
    except (OSError, pa.ArrowInvalid):
        return None
    stats = np.full((t.num_rows, 4), -1, dtype=np.int64)
    stats[pos] = np.where(_trusted(listing, listed_at)[:, None], listing.stats, -1)
    old = np.stack([t[c].to_numpy() for c in _STAT_COLUMNS], axis=1)
    if not (old == stats).all():
        for j, c in enumerate(_STAT_COLUMNS):
            t = t.set_column(t.schema.get_field_index(c), c, pa.array(stats[:, j]))
        with replacing(out_p / runcache.CACHE_NAME) as tmp:  # (as a run stages it: an output's permissions)
            runcache.write(tmp, t, parser_fingerprint(), {name: out_p / name for name in runcache.OUTPUTS})
    readme = out_p / "README.md"
    text = data_dictionary()
    try:
        same = readme.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        same = False
    if not same:
        with replacing(readme) as tmp:
            tmp.write_text(text, encoding="utf-8")
    runcache.remove_legacy(out_p)
    return RunResult(_status_counts(_text(status)), n_checks, 0, 0, 0.0, 0, written=False)


def _status_counts(status: pa.Array) -> dict[str, int]:
    """Reports per status (nulls left out)."""
    per_status = pc.value_counts(status.drop_null())
    return dict(zip(per_status.field("values").to_pylist(), per_status.field("counts").to_pylist()))


def _cache_table(reports, listing: _Listing, trusted: np.ndarray, sinks: dict) -> pa.Table | None:
    """One row per report of the outputs (report_id order): its cache key, file stat and
    rows and CSV bytes per long table; None when some table's byte counts are unknown.
    ``reports``: the reports whose id and hash are not the listing's (a file that changed
    while parsed), as (positions, ids, hashes) parts, and whether the reports were written
    in the listing's order (position i is file i).
    Strings stay in Arrow or fixed-width bytes (a national run has 10^6 reports)."""
    runs = {name: sink.runs(raw=True) for name, sink in sinks.items()}
    if any(r is None for r in runs.values()):
        return None
    moved, in_place = reports
    if not in_place:
        return None
    rids, shas = listing.rids.copy(), listing.shas.copy()
    same = np.ones(len(rids), dtype=bool)
    for at, moved_rids, moved_shas in moved:
        rids = rids.astype(np.result_type(rids, moved_rids), copy=False)
        shas = shas.astype(np.result_type(shas, moved_shas), copy=False)
        rids[at], shas[at] = moved_rids, moved_shas
        same[at] = False  # a file changed while parsed: hash it next time
    stats = np.where((trusted & same)[:, None], listing.stats, -1)
    keys = rids if listing.tags is None else np.char.add(rids, np.char.encode(np.asarray(listing.tags, dtype="U"), "utf-8"))
    keys = np.where(same, keys, b"")  # a report withheld (the file changed while read): never reused
    order = np.argsort(rids, kind="stable")
    rids = rids[order]
    take = pa.array(order)
    cols = {"report_id": pa.array(rids).cast(pa.string()), "key": pa.array(keys[order]).cast(pa.string()),
            "source_file": pa.array(listing.rels, pa.string()).take(take),
            "sha256": pa.array(shas[order]).cast(pa.string())}
    for j, c in enumerate(_STAT_COLUMNS):
        cols[c] = pa.array(stats[order, j])
    for name, (ids, nrows, nbytes) in runs.items():
        ids = ids.astype(rids.dtype) if len(ids) else ids
        pos = sorted_positions(rids, ids)
        if (pos < 0).any():
            return None  # rows of a report that is not in reports: do not trust this run's counts
        r = np.zeros(len(rids), dtype=np.int64)
        nb = np.zeros(len(rids), dtype=np.int64)
        np.add.at(r, pos, nrows)
        np.add.at(nb, pos, nbytes)
        cols[f"{name}_rows"], cols[f"{name}_bytes"] = pa.array(r), pa.array(nb)
    return pa.table(cols)


def _text(col) -> pa.Array:
    """An Arrow column (string, large string or dictionary of those) as one string array."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr.cast(pa.string())


class _KeptReports:
    """The previous output's rows of the kept reports (``keep_ids``), read in its order
    (the listing's) and handed out a bucket of listing positions at a time; ``kept_at``:
    their listing positions, increasing."""

    def __init__(self, path: Path, keep_ids: pa.Array, kept_at: np.ndarray):
        self.path, self.kept_at = path, kept_at
        f = pq.ParquetFile(path)
        # which rows are kept, looked up at once (a lookup per batch hashed the 10^5 kept
        # ids again for every batch)
        ids = f.read(columns=["report_id"]).column(0)
        self.keep = _member(ids, keep_ids).combine_chunks().to_numpy(zero_copy_only=False)
        self.batches = f.iter_batches(batch_size=FLUSH_EVERY)
        self.buffer: list[pa.Table] = []
        self.read = self.buffered = self.taken = 0

    def _next(self) -> pa.Table | None:
        batch = next(self.batches, None)
        if batch is None:
            return None
        keep = self.keep[self.read:self.read + batch.num_rows]
        self.read += batch.num_rows
        return pa.Table.from_batches([batch]).filter(pa.array(keep))

    def upto(self, hi: int) -> tuple[pa.Table | None, np.ndarray]:
        """The kept reports at positions below ``hi`` not handed out yet, and their positions."""
        n = int(np.searchsorted(self.kept_at, hi)) - self.taken
        while self.buffered < n:
            t = self._next()
            if t is None:
                self._short()
            self.buffer.append(t)
            self.buffered += t.num_rows
        if n == 0:
            return None, self.kept_at[:0]
        rows = pa.concat_tables(self.buffer)
        out, rest = rows.slice(0, n), rows.slice(n)
        self.buffer, self.buffered = [rest], rest.num_rows
        at = self.kept_at[self.taken:self.taken + n]
        self.taken += n
        return out, at

    def finish(self) -> None:
        """Every kept report was handed out, and no other is left in the file."""
        while (t := self._next()) is not None:
            self.buffered += t.num_rows
        if self.buffered or self.taken != len(self.kept_at):
            self._short()

    def _short(self):
        raise RuntimeError(f"{self.path}: not the {len(self.kept_at)} reports the run cache vouches for "
                           "(run again with --no-cache)")


def _typed_buckets(spill: _ReportSpill, kept: _KeptReports | None):
    """The reports a bucket of listing positions at a time, in listing order, as typed
    Arrow tables. The files parsed this run (in ``spill``) are typed through pandas; the
    reports kept from the previous output (``kept``) are taken as they were written."""
    if kept is None:
        for t, lo, hi in spill.buckets():
            yield _arrow(typed("reports", _to_pandas([t], t.schema, {}))), lo, hi
        return
    for new, pos, lo, hi in _typed_new(spill.buckets(complete=False)):
        parts, where = [], []
        if new is not None:
            parts.append(new)
            where.append(pos)
        del new
        old, at = kept.upto(hi)
        if old is not None:
            parts.append(old.cast(parts[0].schema) if parts else old)
            where.append(at)
        if hi == spill.n:
            kept.finish()
        pos = np.concatenate(where) if where else np.array([], dtype=np.int64)
        order = np.argsort(pos, kind="stable")
        if not np.array_equal(pos[order], np.arange(lo, hi)):
            raise RuntimeError(f"internal error: the reports of files {lo}..{hi - 1} are not one per file")
        if len(parts) == 1:
            yield parts[0], lo, hi  # one source: in order already
        else:
            yield pa.concat_tables(parts).unify_dictionaries().combine_chunks().take(pa.array(order)), lo, hi


def _typed_new(buckets):
    """(the bucket's new reports typed, or None; their listing positions; lo; hi) for each
    of ``buckets`` (:meth:`_ReportSpill.buckets` not complete, rows in listing order).
    The new reports of consecutive buckets are typed together, :data:`REPORT_BUCKET` at
    a time: typing goes through pandas at ~15 ms a call, and with 1 % of the files
    parsed a call per bucket was most of the reports' time."""
    pending: list[tuple[pa.Table, int, int]] = []
    rows = 0

    def typed_pending():
        tables = [t.drop_columns(["_pos"]) for t, _, _ in pending if t.num_rows]
        files = pa.chunked_array([t.column("source_file") for t in tables], pa.string()) if tables else None
        done = _arrow(typed("reports", _to_pandas(tables, tables[0].schema, {}))) if tables else None
        # (typed sorts by source_file: the rows, in listing order, are in that order already)
        if done is not None and not _text(done["source_file"]).equals(files.combine_chunks()):
            raise RuntimeError("internal error: typing the new reports changed their order")
        at = 0
        for t, lo, hi in pending:
            yield (done.slice(at, t.num_rows) if t.num_rows else None), t.column("_pos").to_numpy(), lo, hi
            at += t.num_rows

    for t, lo, hi in buckets:
        pending.append((t, lo, hi))
        rows += t.num_rows
        if rows >= REPORT_BUCKET:
            yield from typed_pending()
            pending, rows = [], 0
    yield from typed_pending()


REPORT_BUCKET = 1 << 13  # reports (consecutive listing positions) put in order in memory at a time


class _ReportSpill:
    """The reports table on its way from parse order (report_id) to output order (the
    listing's, i.e. source_file): kept in a temporary Arrow file, a part per bucket of
    :data:`REPORT_BUCKET` listing positions, and read back a bucket at a time. The parent
    never holds all reports (~300 bytes each in Arrow, three times that in pandas)."""

    def __init__(self, n: int, directory: Path | None, bucket: int | None = None):
        self.n, self.bucket = n, bucket or REPORT_BUCKET
        self.fh = tempfile.TemporaryFile(dir=directory)
        self.writer = None
        self.parts: list[list[int]] = [[] for _ in range(max(1, -(-n // self.bucket)))]  # batch numbers per bucket
        self.written = 0
        self.pending: list[pa.Table] = []

    def add(self, table: pa.Table, positions: np.ndarray) -> None:
        """Reports (any reports schema) and their listing positions."""
        if len(positions) != table.num_rows:
            raise ValueError(f"{table.num_rows} reports for {len(positions)} files")
        table = undictionary(table.select(REPORT_COLUMNS))  # one schema for every batch: plain strings
        cols = {name: table.column(name).cast(_SPILL_SCHEMA.field(name).type) for name in REPORT_COLUMNS}
        cols["_pos"] = pa.array(np.asarray(positions, dtype=np.int64))
        self.pending.append(pa.table(cols, schema=_SPILL_SCHEMA))

    def flush(self) -> None:
        if not self.pending:
            return
        t = pa.concat_tables(self.pending).combine_chunks()
        self.pending = []
        b = t.column("_pos").to_numpy() // self.bucket
        order = np.argsort(b, kind="stable")
        t, b = t.take(pa.array(order)), b[order]
        cuts = np.flatnonzero(np.r_[True, b[1:] != b[:-1], True])
        if self.writer is None:
            self.writer = pa.ipc.new_file(self.fh, _SPILL_SCHEMA)
        for lo, hi in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
            self.writer.write_batch(t.slice(lo, hi - lo).combine_chunks().to_batches()[0])
            self.parts[int(b[lo])].append(self.written)
            self.written += 1

    def buckets(self, complete: bool = True):
        """Each bucket's reports in listing order, and the positions they cover. With
        ``complete`` every position must hold exactly one report, and ``_pos`` is dropped."""
        self.flush()
        if self.writer is None and complete:
            return
        reader = None
        if self.writer is not None:
            self.writer.close()
            self.fh.flush()
            self.fh.seek(0)
            reader = pa.ipc.open_file(self.fh)
        for k, batches in enumerate(self.parts):
            lo, hi = k * self.bucket, min((k + 1) * self.bucket, self.n)
            if lo >= hi:
                return
            t = pa.Table.from_batches([reader.get_batch(i) for i in batches] if reader else [], schema=_SPILL_SCHEMA)
            pos = t.column("_pos").to_numpy()
            order = np.argsort(pos, kind="stable")
            if not complete:
                yield t.take(pa.array(order)), lo, hi
                continue
            if not np.array_equal(pos[order], np.arange(lo, hi)):
                raise RuntimeError(f"internal error: the reports of files {lo}..{hi - 1} are not one per file")
            yield t.drop_columns(["_pos"]).take(pa.array(order)), lo, hi

    def close(self) -> None:
        self.fh.close()


class _TableSpill:
    """Tables of one schema held in a temporary Arrow stream file, not in memory, from the
    parse until the end of the run: the carry-over check's rows (~210 bytes a report) and
    the parse's checks (~90) would otherwise grow the parent for as long as the workers
    run, the run's memory peak. Each table may bring its own dictionaries (a stream, unlike
    an Arrow file, takes a new dictionary per batch). :meth:`add` may be called from
    several threads."""

    def __init__(self, schema: pa.Schema, directory: Path | None):
        self.schema = schema
        self.fh = tempfile.TemporaryFile(dir=directory)
        self.writer = None
        self.lock = threading.Lock()

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        with self.lock:
            if self.writer is None:
                self.writer = pa.ipc.new_stream(self.fh, self.schema)
            self.writer.write_table(table)

    def read(self) -> pa.Table:
        """Every table added, in order, as one table (each added chunk a chunk of it, with
        its own dictionaries); the file is emptied."""
        with self.lock:
            if self.writer is None:
                return self.schema.empty_table()
            self.writer.close()
            self.writer = None
            self.fh.flush()
            self.fh.seek(0)
            table = pa.ipc.open_stream(self.fh).read_all()
            self.fh.seek(0)
            self.fh.truncate()
            return table

    def close(self) -> None:
        self.fh.close()


_SPILL_SCHEMA = pa.schema([(c, pa.int64() if c == "year" else pa.string()) for c in REPORT_COLUMNS]
                          + [("_pos", pa.int64())])


def _run(listing, todo, reuse, reuse_mask, cached, out_p, stage, jobs, progress, keep, pool=None):
    """Parse the files ``todo`` (listing positions in report_id order), merge with the
    ``reuse`` reports (sorted ids as UTF-8 bytes; ``reuse_mask`` their listing positions)
    of the previous outputs, write. Returns the result, the long tables' sinks and what
    the run cache needs of the reports (their ids and hashes in listing order, and whether
    each sits at its file's position)."""
    with contextlib.ExitStack() as held:
        spill = held.enter_context(contextlib.closing(_ReportSpill(len(listing.rels), out_p)))
        side = {name: held.enter_context(contextlib.closing(_TableSpill(schema, out_p)))
                for name, schema in (("carried", _CARRIED_SCHEMA), ("checks", _schema("checks")))}
        return _run_spilled(listing, todo, reuse, reuse_mask, cached, out_p, stage, jobs, progress, keep, spill,
                            side, pool)


def _run_spilled(listing, todo, reuse, reuse_mask, cached, out_p, stage, jobs, progress, keep, spill, side, pool):
    import pandas as pd

    schemas = {name: _schema(name) for name in ALL}
    sinks = {name: stage.sink(name, schemas[name], record_runs=True) for name in LONG} if stage else {}
    kept: dict[str, list[pa.Table]] = {name: [] for name in LONG}
    carried, parse_checks = side["carried"], side["checks"]  # (:class:`_TableSpill`)
    new_agencies: list[pa.Table] = []  # (report_id, agency) of the reports parsed, when merging
    recheck: pa.Array | None = None  # when merging: the reports whose carry-over is checked again

    def carried_of(table: pa.Table) -> pa.Table:
        """The carry-over check's projection of applications rows: 14 rows a report, 4
        columns (when merging, only of the reports checked again)."""
        sub = table.select(["report_id", "row", "applicant", "value"])
        sub = sub.filter(_member(table["row"], _CARRIED))  # by dictionary entry: no string cast per row
        if recheck is not None:  # (on the 8 % of rows left)
            sub = sub.filter(_member(sub["report_id"], recheck))
        # a copy, not a view that keeps the whole batch alive; codes in one byte a row:
        # 215 bytes a report instead of 298
        return _compact(sub.combine_chunks(), _CARRIED_SCHEMA)

    def emit(name: str, table: pa.Table, csv: bool = True, carried_rows: pa.Table | None = None) -> None:
        """``table``'s rows to the outputs; ``carried_rows``: its :func:`carried_of`, when
        the caller made it."""
        if table.num_rows == 0:
            return
        if name in sinks:
            sinks[name].write(table, csv=csv)
        if keep:
            kept[name].append(table)
        if name == "applications":
            carried.add(carried_rows if carried_rows is not None else carried_of(table))

    # batches of BATCH files; smaller when there are few (an incremental run): at least
    # eight per worker, so that no worker is left with the last big one
    parts = list(_chunks(todo, max(16, min(BATCH, -(-len(todo) // (8 * jobs))))))
    batches = ([(listing.path(i), listing.rels[i], listing.mrow(i)) for i in part] for part in parts)
    new: dict[str, list[pa.Table]] = {name: [] for name in LONG}
    pending: dict[str, list[pa.Table]] = {name: [] for name in LONG}
    n_pending = 0

    def flush() -> None:
        for name in LONG:
            if pending[name]:
                t = pa.concat_tables(pending[name])
                if len(reuse):
                    new[name].append(t)  # merged with the previous rows below
                else:
                    emit(name, t)  # results arrive in report_id order: stream them out
            pending[name] = []
        spill.flush()
        _release()

    results = _pool_map(_work_batch, batches, jobs, "parsing" if progress else None, total=len(todo), pool=pool)
    for part, res in zip(parts, results):
        changed = _ids_of(res["reports"]) != listing.rids[part]
        if changed.any():
            res = _withhold(res, changed)
        spill.add(res["reports"], part)
        if len(reuse):
            new_agencies.append(res["reports"].select(["report_id", "agency"]))
        parse_checks.add(res["checks"])
        for name in LONG:
            pending[name].append(res[name])
        n_pending += len(part)
        if n_pending >= FLUSH_EVERY:
            flush()
            n_pending = 0
    if pool is not None:
        # the workers' part is done: let them go now, not after the writing (two idle
        # workers held ~170 MB each through the merge, the run's memory peak), and wait
        # for them (~10 ms) before the checks are read back from disk
        pool.shutdown(wait=True)
    flush()
    del parts

    merging = contextlib.ExitStack()  # the long tables' merge runs in threads while the reports are written
    try:
        old_reports = None
        if len(reuse):
            keep_ids = pa.array(reuse).cast(pa.string())
            # the kept reports, in the previous output's order (source_file, as the listing's)
            old_reports = _KeptReports(out_p / "reports.parquet", keep_ids, np.flatnonzero(reuse_mask))
            recheck = _carry_over_scope(out_p / "reports.parquet", old_reports.keep, new_agencies)
            new_agencies.clear()
            # ids as fixed-width bytes (16 a report), not numpy unicode (64) or Python strings
            old_ids = fixed_bytes(cached.table["report_id"].combine_chunks())
            keep_old = _isin(old_ids, reuse)
            merge_jobs = []
            for name in LONG:
                scratch = merging.enter_context(tempfile.TemporaryFile(dir=out_p))
                merge_jobs += _merge_long(name, sinks[name], new.pop(name), cached, old_ids, keep_old, out_p, emit,
                                          scratch, carried_of if name == "applications" else None)
            cached.drop()  # the merge jobs hold what they need of it
            merging.enter_context(_in_background(merge_jobs, jobs))
        # the reports, a bucket of files at a time, in output order; what the checks and the
        # run cache need of them is kept narrow
        narrow, moved, full = [], [], []
        counts: collections.Counter = collections.Counter()
        in_place, report_sink = True, None
        for table, lo, hi in _typed_buckets(spill, old_reports):
            if stage is not None:
                if report_sink is None:
                    report_sink = stage.sink("reports", table.schema)
                report_sink.write(table)
            in_place = in_place and _text(table["source_file"]).equals(pa.array(listing.rels[lo:hi], pa.string()))
            report_ids, status = _text(table["report_id"]), _text(table["status"])
            # ids and hashes are the listing's but for a file that changed between hashing and parsing
            rids = fixed_bytes(report_ids)
            if len(rids) == hi - lo and rids.dtype == listing.rids.dtype:
                at = np.flatnonzero(rids != listing.rids[lo:hi])
            else:
                at = np.arange(len(rids))
            if len(at):
                shas = fixed_bytes(pc.fill_null(_text(table["sha256"]).take(pa.array(at)), ""))
                moved.append((lo + at, rids[at], shas))
            counts.update(_status_counts(status))
            narrow.append(pa.table({"report_id": report_ids, "agency": _text(table["agency"]),
                                    "year": table["year"].cast(pa.int64()), "status": status}))
            if keep:
                full.append(typed("reports", _to_pandas([table], table.schema, CODED["reports"])))
            del table
            if old_reports is None:
                # (not while the merge threads run: they would fault the pages given back in again)
                _release()
    finally:
        merging.close()  # waits for the merge (and raises its first error)
    # the checks are made after the merge, which is an incremental run's memory peak: at
    # 100k they were 9 MB in pandas, and the previous run's another 9 until the end
    checks_df = typed("checks", _to_pandas([parse_checks.read()], schemas["checks"], CODED["checks"]))
    if old_reports is not None:
        old_checks = pq.read_table(out_p / "checks.parquet")
        old_checks = old_checks.filter(_member(old_checks["report_id"], keep_ids))
        # the previous carry-over warnings stand for the agencies whose reports are all kept
        again = pc.and_(pc.equal(old_checks["rule"].cast(pa.string()), "carry_over"),
                        _member(old_checks["report_id"], recheck))
        old_checks = old_checks.filter(pc.invert(again)).to_pandas()
        checks_df = typed("checks", pd.concat([checks_df, old_checks], ignore_index=True))
        del old_checks
    if report_sink is None and stage is not None:  # no files
        stage.table("reports", _arrow(frame("reports", [])))
    if recheck is not None and narrow:  # only the agencies whose reports changed are checked again
        narrow = [t.filter(_member(t["report_id"], recheck)) for t in narrow]
    narrow_df = (typed("reports", _to_pandas(narrow, narrow[0].schema, {}), sort=False, complete=False)
                 if narrow else frame("reports", []))
    # cross-report carry-over warnings, on the whole table
    carried_t = carried.read()
    _release()
    checks_df = _with_carry_over(narrow_df, carried_t, checks_df)
    del carried_t, narrow_df
    if stage is not None:
        stage.table("checks", _arrow(checks_df))
        _release()
    result = RunResult(dict(counts), len(checks_df), 0, len(todo), 0.0, 0)
    if keep:
        reports_df = typed("reports", pd.concat(full, ignore_index=True)) if full else frame("reports", [])
        result.tables = Tables(
            reports=reports_df, checks=checks_df,
            **{n: typed(n, _concat(kept[n], schemas[n]).to_pandas(), sort=False) for n in LONG})
    return result, sinks, (moved, in_place)


def _carry_over_scope(previous: Path, keep: np.ndarray, new: list[pa.Table]) -> pa.Array:
    """The reports whose carry-over warnings an incremental run computes again: every
    report of an agency that has a report parsed in this run (``new``: their report_id
    and agency) or one of the previous output's reports (``previous``, reports.parquet)
    not kept (``keep``: per row of that file, as :class:`_KeptReports` found). The check
    compares only reports of one agency, so for every other agency the previous warnings
    are the ones a full run would raise."""
    old = pq.read_table(previous, columns=["report_id", "agency"])
    old_ids, old_agency = old["report_id"].cast(pa.string()), old["agency"].cast(pa.string())
    kept = pa.array(keep)
    new_t = _concat(new, pa.schema([("report_id", pa.string()), ("agency", pa.string())])) if new else None
    agencies = [old_agency.filter(pc.invert(kept))]
    ids = []
    if new_t is not None:
        agencies.append(new_t["agency"].cast(pa.string()))
        ids.append(new_t["report_id"].cast(pa.string()))
    touched = pc.unique(pa.chunked_array([c for a in agencies for c in a.chunks], type=pa.string()))
    ids.append(old_ids.filter(pc.and_(kept, pc.is_in(old_agency, value_set=touched))))
    return pa.chunked_array([c for a in ids for c in a.chunks], type=pa.string()).combine_chunks()


def _merge_long(name, sink, new_tables: list[pa.Table], cached, old_ids, keep_old, out_p, emit, scratch,
                project=None) -> list:
    """One long table of an incremental run: the previous output's rows of the kept
    reports merged with the new reports' rows, in report_id order. Parquet is re-encoded
    from the previous row groups; CSV is copied: the kept reports' byte ranges from the
    previous file, the new reports' bytes from ``scratch`` (a temporary file), each range
    once. Returns the two jobs (Parquet, CSV), which may run in parallel threads.
    ``project``: made of each merged group next to the gathering, handed to ``emit``."""
    schema = _schema(name)
    rows_old, bytes_old = cached.runs(name)
    # the new reports' CSV lines, and where each report's lines are in the scratch file
    n_ids, n_rows, n_len, n_off = [], [], [], []
    at_byte, exact = 0, True
    for body, runs in (piece for t in new_tables for piece in csv_runs(t)):
        if runs is None:
            exact = False  # a line break inside a field: write this table's CSV in full
            break
        ids, nrows, nbytes = runs
        n_ids.append(ids)
        n_rows.append(nrows)
        n_len.append(nbytes)
        n_off.append(at_byte + np.r_[0, np.cumsum(nbytes)][:-1])
        scratch.write(body)
        at_byte += len(body)
    scratch.flush()

    def parquet_job() -> None:  # (and CSV when not exact): the merged rows in groups of FLUSH_EVERY reports
        new_t = _concat(new_tables, schema).unify_dictionaries().combine_chunks()  # a few % of the rows
        new_ids, new_at = report_runs(new_t)
        k = np.flatnonzero(keep_old & (rows_old > 0))
        new_b = id_bytes(new_ids)
        po, pn = _interleave(old_ids[k], new_b)
        src, off, length = _plan(len(k) + len(new_ids), po, pn, np.r_[0, np.cumsum(rows_old)][k], rows_old[k],
                                 new_at[:-1], np.diff(new_at))
        ids = _merged_ids(po, pn, old_ids[k], new_b)
        # the report_id column is built from the plan, not read, taken and cut back
        rest = pa.schema([f for f in schema if f.name != "report_id"])
        old, new_rest = _RowsOf(out_p / f"{name}.parquet", rest), new_t.drop_columns(["report_id"])

        def groups():
            for g in range(0, len(src), FLUSH_EVERY):
                part = slice(g, g + FLUSH_EVERY)
                rows = _gather(src[part], off[part], length[part], old, new_rest)
                group = _with_ids(rows, ids[part], length[part], schema)
                yield group, (project(group) if project is not None else None)

        # reading and gathering the next group (and its projection) runs in a thread of
        # its own while this one encodes: the applications job is the merge's longest, and
        # the other jobs are done (one core idle) well before it when it is one thread
        for group, projected in _ahead(groups()):
            emit(name, group, csv=not exact, carried_rows=projected)

    def csv_job() -> None:  # every report's byte range in report_id order, adjacent ranges joined
        k = np.flatnonzero(keep_old & (bytes_old > 0))
        new_ids = id_bytes(np.concatenate(n_ids) if n_ids else [])
        po, pn = _interleave(old_ids[k], new_ids)
        old_off = len(sink.header) + np.r_[0, np.cumsum(bytes_old)][:-1]
        src, off, length = _plan(len(k) + len(new_ids), po, pn, old_off[k], bytes_old[k],
                                 np.concatenate(n_off) if n_off else [], np.concatenate(n_len) if n_len else [])
        with open(out_p / f"{name}.csv", "rb") as previous:
            fds = (previous.fileno(), scratch.fileno())
            write_back(fds[0])  # (so that its pages can be dropped behind the copy)
            dropped = 0  # the previous file's bytes before this are copied (ranges ascend)
            for s, o, n in _runs(src, off, length):
                sink.copy_bytes(fds[s], o, n)
                if s == 0 and o + n - dropped >= DROP_EVERY:
                    drop_cached(fds[0], dropped, o + n)
                    dropped = o + n
            drop_cached(fds[0], dropped, os.fstat(fds[0]).st_size)
        nrows = np.zeros(len(src), dtype=np.int64)
        nrows[po] = rows_old[k]
        if len(new_ids):
            nrows[pn] = np.concatenate(n_rows)
        sink.note(_merged_ids(po, pn, old_ids[k], new_ids), nrows, length)

    # rough seconds per Parquet row re-encoded / per CSV byte copied, for the job order
    parquet_job.cost, csv_job.cost = 2e-7 * rows_old.sum(), 1.5e-9 * bytes_old.sum()
    if not exact:
        sink.exact = False
        return [parquet_job]
    return [parquet_job, csv_job]


def _ahead(items, depth: int = 1):
    """``items`` (an iterator), produced in a thread of their own at most ``depth`` ahead
    of the consumer; the producer's error is raised in the consumer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():  # the consumer may have stopped taking
            try:
                q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            put((done, err))

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item, err = q.get()
            if item is done:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _gather(src: np.ndarray, off: np.ndarray, length: np.ndarray, old: _RowsOf, new_t: pa.Table) -> pa.Table:
    """The rows of items (source 0: previous output, 1: ``new_t``; offsets increasing
    within each source) in item order, with one dictionary per column: a slice per run
    of adjacent rows of one source (a 1 % change cuts a group into about a hundred),
    joined once. The columns gathered have small dictionaries (the report ids are not
    among them), so the slices cost nothing to unify."""
    pieces = []
    for s, o, n in _runs(src, off, length):
        pieces += old.take(o, n) if s == 0 else [new_t.slice(o, n)]
    return _used_entries(pa.concat_tables(pieces).unify_dictionaries().combine_chunks())


def _with_ids(rows: pa.Table, ids: np.ndarray, length: np.ndarray, schema: pa.Schema) -> pa.Table:
    """``rows`` of the reports ``ids`` (``length`` rows each, in order) with their
    report_id column (a dictionary of exactly these ids) put where ``schema`` has it."""
    field = schema.field("report_id")
    dictionary = pa.array(ids).cast(pa.string())  # (ids hold no NUL: hex digits)
    indices = np.repeat(np.arange(len(ids), dtype=np.int32), length)
    col = pa.DictionaryArray.from_arrays(pa.array(indices), dictionary).cast(field.type)
    return rows.add_column(schema.get_field_index("report_id"), field, col)


SMALL_DICTIONARY = 256


def _used_entries(table: pa.Table) -> pa.Table:
    """``table`` (one chunk per column) with dictionaries cut to the entries its rows use.
    A Parquet row group stores its whole dictionary: the ids of reports that were
    replaced, or that belong to the neighbouring group, would otherwise be written,
    read back by the next run and kept again, growing with every incremental run.
    Dictionaries of at most :data:`SMALL_DICTIONARY` entries (the codes) stay as they
    are: they cannot grow past that."""
    cols = []
    for col in table.columns:
        arr = col.chunk(0) if col.num_chunks == 1 else None
        if arr is not None and pa.types.is_dictionary(arr.type) and len(arr.dictionary) > SMALL_DICTIONARY:
            col = pa.chunked_array([_used_entries_of(arr)], type=col.type)
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=table.schema)


def _used_entries_of(arr: pa.DictionaryArray) -> pa.DictionaryArray:
    """``arr`` with its dictionary cut to the entries its rows use, in their order."""
    idx = pc.fill_null(arr.indices, 0).to_numpy()
    valid = None if arr.null_count == 0 else pc.is_valid(arr.indices).to_numpy(zero_copy_only=False)
    used = np.bincount(idx if valid is None else idx[valid], minlength=len(arr.dictionary)) > 0
    if used.all():
        return arr
    remap = (np.cumsum(used, dtype=np.int64) - 1).astype(idx.dtype)
    return pa.DictionaryArray.from_arrays(pa.array(remap[idx], mask=None if valid is None else ~valid),
                                          arr.dictionary.filter(pa.array(used)))


def _merged_ids(po: np.ndarray, pn: np.ndarray, old_ids: np.ndarray, new_ids: np.ndarray) -> np.ndarray:
    """The report ids (UTF-8 bytes) of the merged items: ``old_ids`` at positions ``po``,
    ``new_ids`` at ``pn`` (see :func:`_interleave`)."""
    ids = np.zeros(len(po) + len(pn), dtype=np.result_type(old_ids, new_ids))
    ids[po], ids[pn] = old_ids, new_ids
    return ids


def _plan(total: int, po, pn, old_off, old_len, new_off, new_len):
    """Source (0 previous output, 1 new), offset and length of each of ``total`` items
    placed at positions ``po`` (previous) and ``pn`` (new)."""
    src = np.zeros(total, dtype=np.int8)
    off, length = np.zeros(total, dtype=np.int64), np.zeros(total, dtype=np.int64)
    off[po], length[po] = old_off, old_len
    if len(pn):
        src[pn], off[pn], length[pn] = 1, new_off, new_len
    return src, off, length


@contextlib.contextmanager
def _in_background(jobs: list, workers: int = 2):
    """Run the jobs in threads (Arrow and the copies release the GIL), the costliest
    first (``job.cost``), at most ``workers`` at a time, while the ``with`` block runs;
    leaving it waits for them and raises the first error (a job's, or the block's)."""
    jobs = sorted(jobs, key=lambda job: -getattr(job, "cost", 0.0))
    ex = ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs))))
    futures = [ex.submit(job) for job in jobs]
    try:
        yield
    except BaseException:
        ex.shutdown(wait=True, cancel_futures=True)
        raise
    ex.shutdown(wait=True)
    for f in futures:
        f.result()


def _to_pandas(tables: list[pa.Table], schema: pa.Schema, coded):
    """Batch tables -> one frame, cheaply: free-text columns leave their per-batch
    dictionaries as plain Arrow strings (pandas wraps them without a copy), and each
    batch is released once converted."""
    import pandas as pd

    t = undictionary(_concat(tables, schema), coded)
    tables.clear()
    return t.to_pandas(types_mapper={pa.string(): pd.StringDtype(na_value=np.nan)}.get)


def _concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _with_carry_over(reports_df, carried: pa.Table, checks_df):
    import pandas as pd

    extra = carry_over(reports_df, carried)
    if extra.empty:
        return checks_df
    return typed("checks", pd.concat([checks_df, extra], ignore_index=True))
