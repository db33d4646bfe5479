"""The analysis panel: one row per report, aggregated from the Parquet files before any of
it reaches pandas.

The long tables hold about 200 rows per report (section 三 alone is 26 rows × 7 applicant
columns), so ``gxlib.load`` on a national panel means tens of millions of pandas rows.  The
notebooks only ever use a few dozen numbers per report.  :func:`load` therefore

* reads ``reports`` with the columns the notebooks group and show by;
* streams ``applications``, ``reviews`` and ``disclosure`` in Arrow record batches (projected
  to ``report_id``, the code columns and ``value``) and scatters each batch into per-report
  accumulators, so memory holds one batch plus one row per report, whatever the number of
  cells;
* derives the per-report quantities with :func:`gxlib.metrics.quantities_from_cells`, the
  same code :func:`gxlib.metrics.report_quantities` uses on long tables (NA is never zero;
  a 总计 that is NA is the sum of the six applicant columns only when all six are known);
* caches the result: in the process, and as a Parquet file in ``cache_dir`` (or the folder
  named by ``$GXLIB_PANEL_CACHE``, which ``gx render`` sets and fills once per run), keyed by
  the size and modification time of the source files.

Every function of :mod:`gxlib.metrics` accepts the :class:`Panel` in place of the long
tables.  Checks and NA cells (for the data-quality views) are read on demand for the
selected reports only, with the selection pushed into the Parquet scan
(:meth:`Panel.attach`).

At national scale even one row per report is too much to hold in every notebook kernel
(~1.2 KB a report).  :func:`open` returns a :class:`PanelScan` instead: the panel file
(report columns + quantities, written a window of reports at a time) stays on disk, and the
metrics read it :data:`SCAN_ROWS` reports at a time into additive group sums; the sums by
:data:`CUBE_KEYS` are kept per process, so a province's notebook only filters and adds
them up.  What grows with the number of reports is then what the question itself holds:
distinct agencies for :func:`gxlib.metrics.coverage`, the values of an amount for an exact
median, the rows of a listing.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from . import metrics as gm
from .checks import IdIndex, codes_in as _codes
from .store import CODED, COLUMNS, TABLES, load as load_tables, release_memory, typed, undictionary

__all__ = ["CACHE_ENV", "CUBE_KEYS", "REPORT_COLUMNS", "SCAN_ROWS", "Panel", "PanelScan", "build",
           "cache_path", "default_cache_dir", "load", "open", "prepare"]

PANEL_VERSION = 3  # 3: the panel file holds the report columns and _row too (PanelScan)
CACHE_ENV = "GXLIB_PANEL_CACHE"
#: reports columns a panel keeps (grouping keys, labels, parse status).
REPORT_COLUMNS = ["report_id", "source_file", "agency", "year", "template", "province",
                  "prefecture", "county", "division_code", "level", "status", "error"]
BATCH_ROWS = 1 << 18
SCAN_ROWS = 1 << 13  # reports a PanelScan reads (and pandas holds) at a time
_SOURCES = ("reports", "applications", "reviews", "disclosure")
_MEMO: dict[str, pd.DataFrame] = {}      # signature -> quantities (this process)
_REPORTS: dict[str, pd.DataFrame] = {}   # signature -> reports (this process)


@dataclass
class Panel:
    """Reports plus their per-report quantities; long-table rows only when attached.

    ``quantities`` has ``report_id``, the :data:`gxlib.metrics.QUANTITY_COLUMNS`, the new
    applications per applicant column (``new__natural_person`` ...) and ``has_disclosure``
    / ``has_applications`` / ``has_reviews`` (the report's table gave any row).
    ``checks`` is None until attached; ``disclosure``, ``applications``, ``reviews`` are
    None until ``attach(na_cells=True)``, and then hold **only the NA cells** (what
    :func:`gxlib.metrics.missing_values` reads).
    """

    reports: pd.DataFrame
    quantities: pd.DataFrame
    checks: pd.DataFrame | None = None
    disclosure: pd.DataFrame | None = None
    applications: pd.DataFrame | None = None
    reviews: pd.DataFrame | None = None
    data_dir: str = ""

    def attach(self, checks: bool = False, na_cells: bool = False) -> "Panel":
        """A copy with the checks and/or the NA cells of this panel's reports, read with the
        report selection pushed down into the Parquet scan."""
        d = Path(self.data_dir)
        ids = self.reports["report_id"].astype("str").tolist()
        total = _n_reports(d)
        only = None if total is not None and len(ids) >= total else ids
        frames: dict[str, pd.DataFrame] = {}
        if checks:
            frames["checks"] = _read(d, "checks", None, only)
        if na_cells:
            for name in ("disclosure", "applications", "reviews"):
                frames[name] = _read(d, name, pc.field("value").is_null(), only)
        return dataclasses.replace(self, **frames)


# --------------------------------------------------------------------------- reading
def _parquet(d: Path, name: str) -> Path | None:
    path = d / f"{name}.parquet"
    return path if path.is_file() else None


def _n_reports(d: Path) -> int | None:
    path = _parquet(d, "reports")
    return pq.ParquetFile(path).metadata.num_rows if path else None


NA_PART_ROWS = 1 << 14  # NA cells a PanelScan explains at a time (missing_values)


def _gathered(frames, rows: int):
    """Consecutive frames joined until they hold at least ``rows`` rows (row groups of NA
    cells are small and many; explaining each alone costs more than it saves)."""
    pending, n = [], 0
    for frame in frames:
        if frame.empty:
            continue
        pending.append(frame)
        n += len(frame)
        if n >= rows:
            yield _concat(pending)
            pending, n = [], 0
    if pending:
        yield _concat(pending)


#: what missing_values reads of an NA cell, and of its report
_NA_REPORT_COLUMNS = ["report_id", "source_file", "agency", "year"]
_NA_COLUMNS = {"disclosure": ["report_id", "item", "measure", "value", "raw"],
               "applications": ["report_id", "row", "applicant", "value", "raw"],
               "reviews": ["report_id", "proceeding", "outcome", "value", "raw"]}


def _pruned(path: Path, expr: Any, columns: list[str] | None = None):
    """The rows of a Parquet file matching ``expr``, one row group at a time (only those
    whose statistics can match), each cut to its rows before the next is read: memory
    holds one row group and the rows kept, not the whole table."""
    for fragment in ds.dataset(path, format="parquet").get_fragments(filter=expr):
        for group in fragment.split_by_row_group(filter=expr):
            part = group.to_table(columns=columns, filter=expr)
            if part.num_rows:
                yield part


def _read_parts(d: Path, name: str, flt: Any, ids: list[str] | None,
                columns: list[str] | None = None):
    """Contract-typed rows of one table, a row group at a time (CSV: one frame), filters
    pushed into the scan; ``columns``: only these (Parquet)."""
    path = _parquet(d, name)
    if path is None:
        frame = getattr(load_tables(d), name)
        if flt is not None:
            frame = frame[frame["value"].isna()]
        if ids is not None:
            frame = frame[frame["report_id"].isin(ids)]
        yield frame.reset_index(drop=True)
        return
    expr = flt
    if ids is not None:
        sel = pc.field("report_id").isin(pa.array(ids, pa.string()))
        expr = sel if expr is None else expr & sel
    for part in _pruned(path, expr, columns):
        yield _typed_part(name, part, columns)


def _typed_part(name: str, part: pa.Table, columns: list[str] | None) -> pd.DataFrame:
    """Rows of one table read from Parquet, contract-typed, in ``columns`` or the
    contract's column order."""
    frame = typed(name, undictionary(part, CODED[name]).to_pandas(), sort=False, complete=False)
    return frame[columns] if columns else frame.reindex(
        columns=COLUMNS[name] + [c for c in frame.columns if c not in COLUMNS[name]])


def _read(d: Path, name: str, flt: Any, ids: list[str] | None,
          columns: list[str] | None = None) -> pd.DataFrame:
    """All of :func:`_read_parts` as one frame (the NA cells of applications are ~0.02 %
    of 18 million rows at 100k reports)."""
    parts = list(_read_parts(d, name, flt, ids, columns))
    release_memory()  # the scan decoded every row group
    if parts:
        return _concat(parts)
    empty = pq.read_schema(_parquet(d, name)).empty_table()
    return _typed_part(name, empty.select(columns) if columns else empty, columns)


def _reports(d: Path) -> pd.DataFrame:
    path = _parquet(d, "reports")
    if path is None:
        return load_tables(d).reports[REPORT_COLUMNS].reset_index(drop=True)
    present = set(pq.read_schema(path).names)
    cols = [c for c in REPORT_COLUMNS if c in present]
    frame = typed("reports", pd.read_parquet(path, columns=cols), sort=False, complete=False)
    for c in REPORT_COLUMNS:
        if c not in frame:
            frame[c] = ""
    return frame[REPORT_COLUMNS]


def _batches(path: Path, columns: list[str]):
    """Record batches of the projected columns, one row group at a time, so memory holds
    about one batch whatever the file size (without pre-buffering, which kept what it had
    read: the panel builder grew 228 -> 372 MB over 13 windows at 100k reports, and 189 ->
    267 without it; with one thread, which is also what decoding a batch needs)."""
    yield from pq.ParquetFile(path, pre_buffer=False).iter_batches(
        batch_size=BATCH_ROWS, columns=columns, use_threads=False)


def _scatter(acc: np.ndarray, idx: np.ndarray, weights: np.ndarray | None = None) -> None:
    """acc[idx] += weights (or 1), over the window of ``idx`` only: the long tables are
    sorted by report, so a batch touches a narrow range of reports and the temporary
    array stays small however many reports there are."""
    if not len(idx):
        return
    lo, hi = int(idx.min()), int(idx.max())
    part = np.bincount(idx - lo, weights=weights, minlength=hi - lo + 1)
    acc[lo:hi + 1] += part.astype(acc.dtype, copy=False)


class _Cells:
    """Per-report accumulators for one long table: Σvalue and the number of rows per
    (report, cell), plus the number of rows per report (is the table present)."""

    def __init__(self, n: int, cells: int):
        self.n, self.cells = n, cells
        self.total = np.zeros(n * cells)
        self.count = np.zeros(n * cells)
        self.rows = np.zeros(n)

    def add(self, pos: np.ndarray, cell: np.ndarray, value: np.ndarray) -> None:
        ok = pos >= 0
        _scatter(self.rows, pos[ok])
        ok &= cell >= 0
        flat = pos[ok] * self.cells + cell[ok]
        _scatter(self.total, flat, value[ok])
        _scatter(self.count, flat)

    def values(self, table: str) -> np.ndarray:
        """n × cells: the value, NaN where the cell is absent or NA."""
        if (self.count > 1).any():
            raise ValueError(f"{table}: duplicate cells; the tidy table must have one row "
                             "per cell")
        out = np.where(self.count == 1, self.total, np.nan)
        return out.reshape(self.n, self.cells)


def _stream_applications(pieces, n: int):
    """(总计 column with derived totals, the new row of each applicant part, rows per report).

    One pass of ``bincount`` per batch over (report, row, total-or-part): Σ and number of
    the 总计 cells and of the six applicant cells (a derived total needs all six; one NA
    among them makes the sum NA), plus Σ 2**applicant per (report, row), whose popcount
    equals the number of cells unless a cell is duplicated.
    """
    rows = list(gm.APPLICATION_ROWS)
    parts = list(gm.APPLICANT_PARTS)
    row_codes = pa.array(rows, pa.large_string())
    app_codes = pa.array(parts + ["total"], pa.large_string())
    nr = len(rows)
    size = n * nr
    sums = np.zeros(2 * size)        # [(report, row), part | total]
    counts = np.zeros(2 * size, dtype=np.int64)
    bits = np.zeros(size, dtype=np.int64)
    present = np.zeros(n)            # rows per report, any row code
    new = _Cells(n, len(parts))      # the new row of each applicant column, as is
    new_row = rows.index("new")
    for pos, batch in pieces:
        row = _codes(batch.column("row"), row_codes)
        app = _codes(batch.column("applicant"), app_codes)
        value = batch.column("value").to_numpy(zero_copy_only=False).astype(float)
        _scatter(present, pos[pos >= 0])
        ok = (pos >= 0) & (row >= 0) & (app >= 0)
        pos, row, app, value = pos[ok], row[ok], app[ok], value[ok]
        cell = pos * nr + row
        is_total = app == len(parts)
        flat = cell * 2 + is_total
        _scatter(sums, flat, value)
        _scatter(counts, flat)
        _scatter(bits, cell, np.left_shift(1, app).astype(float))
        sel = ~is_total & (row == new_row)
        new.add(pos[sel], app[sel], value[sel])
    sums, counts = sums.reshape(n, nr, 2), counts.reshape(n, nr, 2)
    every = (counts[..., 0] + counts[..., 1]).reshape(-1)
    if (np.bitwise_count(bits) != every).any():
        raise ValueError("applications: duplicate cells; the tidy table must have one row "
                         "per cell")
    total = np.where(counts[..., 1] == 1, sums[..., 1], np.nan)
    derived = np.where(counts[..., 0] == len(parts), sums[..., 0], np.nan)
    return np.where(np.isnan(total), derived, total), new.values("applications"), present


def _stream_cells(pieces, n: int, row_col: str, col_col: str, cells: tuple[str, ...], table: str):
    """n × cells values (``<row>__<column>`` codes) and rows per report of one table."""
    firsts = sorted({c.split("__")[0] for c in cells})
    seconds = sorted({c.split("__")[1] for c in cells})
    lookup = np.full((len(firsts) + 1, len(seconds) + 1), -1, dtype=np.int64)
    for i, c in enumerate(cells):
        a, b = c.split("__")
        lookup[firsts.index(a), seconds.index(b)] = i
    first_codes = pa.array(firsts, pa.large_string())
    second_codes = pa.array(seconds, pa.large_string())
    acc = _Cells(n, len(cells))
    for pos, batch in pieces:
        a = _codes(batch.column(row_col), first_codes)
        b = _codes(batch.column(col_col), second_codes)
        value = batch.column("value").to_numpy(zero_copy_only=False).astype(float)
        acc.add(pos, lookup[a, b], value)     # -1 indexes the "absent" row/column
    return acc.values(table), acc.rows


WINDOW = 1 << 15  # reports whose cells are accumulated at a time


class _Unsorted(Exception):
    """A long table's rows are not in report_id order."""


class _Windows:
    """The rows of one long table by windows of reports (positions in the sorted ids):
    the table is sorted by report_id, so window k's rows come before window k+1's and one
    pass serves every window. Rows of reports not in ``ids`` are dropped."""

    def __init__(self, path: Path, columns: list[str], ids: IdIndex, ordered: bool = True):
        self.ordered = ordered  # False: one window holds every report, any row order will do
        self.batches = _batches(path, columns)
        self.ids = ids
        self.buf: list[tuple[np.ndarray, pa.RecordBatch]] = []
        self.last = -1
        self.done = False

    def take(self, lo: int, hi: int):
        """(position - lo, rows) pieces of the reports lo..hi-1, as they are read (one
        batch at a time); windows in order, each taken to the end before the next."""
        while True:
            if self.buf:
                pos, batch = self.buf.pop()
            elif self.done:
                return
            else:
                batch = next(self.batches, None)
                if batch is None:
                    self.done = True
                    return
                pos = self.ids.positions(batch.column("report_id"))
                keep = np.flatnonzero(pos >= 0)
                if not len(keep):
                    continue
                pos = pos[keep]
                if self.ordered and (pos[0] < self.last or (pos[1:] < pos[:-1]).any()):
                    raise _Unsorted
                self.last = int(pos[-1])
                if len(keep) < batch.num_rows:
                    batch = batch.take(pa.array(keep))
            cut = int(np.searchsorted(pos, hi)) if self.ordered else len(pos)
            if cut:
                yield pos[:cut] - lo, batch.slice(0, cut)
            if cut < len(pos):
                self.buf.append((pos[cut:], batch.slice(cut)))  # the next window's
                return


def _order(reports: pd.DataFrame):
    """(order, sorted ids, template in that order, sorted index) of the reports: the panel
    is accumulated in report_id order, the order the long tables are sorted in."""
    id_list = reports["report_id"].astype("str").tolist()
    order = np.argsort(np.asarray(id_list, dtype=object), kind="stable")
    ids = IdIndex(pa.array([id_list[i] for i in order], pa.string()))
    template = reports["template"].to_numpy()[order]
    return order, ids, template, pd.Index(id_list, name="report_id")[order]


def build(data_dir: str | Path, window: int | None = None) -> pd.DataFrame:
    """Compute the per-report quantities of a processed folder (streams the Parquet files;
    falls back to the CSV files through ``gxlib.load``)."""
    d = Path(data_dir)
    if not all(_parquet(d, name) for name in _SOURCES):
        return _build_from_tables(load_tables(d))
    reports = _reports(d)
    n = len(reports)
    order, ids, template, sorted_index = _order(reports)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    window = window or WINDOW
    try:
        parts = list(_build_windows(d, ids, n, window, sorted_index, template))
    except _Unsorted:  # not sorted by report_id (not written by gx parse): one window
        parts = list(_build_windows(d, ids, n, max(n, 1), sorted_index, template))
    q = pd.concat(parts) if len(parts) > 1 else parts[0]
    return q.take(rank).reset_index()  # back into the order of reports


def _build_windows(d: Path, ids: IdIndex, n: int, window: int, sorted_index: pd.Index,
                   template: np.ndarray):
    """The quantities of the reports in report_id order, ``window`` reports at a time:
    memory holds one window's cells (about 2.5 KB a report), not every report's."""
    ordered = window < n
    apps = _Windows(_parquet(d, "applications"), ["report_id", "row", "applicant", "value"], ids, ordered)
    revs = _Windows(_parquet(d, "reviews"), ["report_id", "proceeding", "outcome", "value"], ids, ordered)
    diss = _Windows(_parquet(d, "disclosure"), ["report_id", "item", "measure", "value"], ids, ordered)
    for lo in range(0, max(n, 1), window):
        hi = min(lo + window, n)
        m = hi - lo
        tot, new, has_app = _stream_applications(apps.take(lo, hi), m)
        rev, has_rev = _stream_cells(revs.take(lo, hi), m, "proceeding", "outcome", gm.REVIEW_CELLS, "reviews")
        dis, has_dis = _stream_cells(diss.take(lo, hi), m, "item", "measure", gm.DISCLOSURE_CELLS, "disclosure")
        index = sorted_index[lo:hi]

        def frame(values: np.ndarray, columns) -> pd.DataFrame:
            return pd.DataFrame({c: _float(values[:, i]) for i, c in enumerate(columns)}, index=index)

        q = gm.quantities_from_cells(index, frame(tot, gm.APPLICATION_ROWS), frame(rev, gm.REVIEW_CELLS),
                                     frame(dis, gm.DISCLOSURE_CELLS), template[lo:hi])
        for i, a in enumerate(gm.APPLICANT_PARTS):
            q[f"new__{a}"] = _float(new[:, i])
        q["has_disclosure"] = has_dis > 0
        q["has_applications"] = has_app > 0
        q["has_reviews"] = has_rev > 0
        yield q


def _float(values: np.ndarray) -> pd.arrays.FloatingArray:
    """float64 with NaN for NA -> nullable Float64 with <NA>."""
    return pd.arrays.FloatingArray(np.nan_to_num(values, nan=0.0), np.isnan(values))


def _build_from_tables(t: Any) -> pd.DataFrame:
    """The same columns from long tables in memory (the CSV fallback and the tests)."""
    q = gm.report_quantities(t)
    ids = pd.Index(t.reports["report_id"], name="report_id")
    apps = t.applications
    for a in gm.APPLICANT_PARTS:
        q[f"new__{a}"] = gm._application_cells(apps, ("new",), a, False).reindex(ids)["new"]
    for name in ("disclosure", "applications", "reviews"):
        present = set(getattr(t, name)["report_id"].astype("str"))
        q[f"has_{name}"] = ids.astype("str").isin(present)
    return q.reset_index()


# --------------------------------------------------------------------------- cache
def _signature(d: Path) -> str:
    parts = [f"v{PANEL_VERSION}", str(d.resolve())]
    for name in TABLES:
        for ext in ("parquet", "csv"):
            path = d / f"{name}.{ext}"
            if path.is_file():
                st = path.stat()
                parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("|".join(parts).encode("utf-8")).hexdigest()[:16]


def cache_path(data_dir: str | Path, cache_dir: str | Path) -> Path:
    """Where the quantities of ``data_dir`` are cached in ``cache_dir``."""
    return Path(cache_dir) / f"panel-{_signature(Path(data_dir))}.parquet"


_CODES_AS_TEXT = {c: "str" for c in ("template", "level", "status")}
_ROW = "_row"  # a report's position in reports (the panel file is in report_id order)


def _write_panel(d: Path, path: Path) -> None:
    """Write the panel file ``path`` of ``d``: the report columns a panel keeps (codes as
    text) and the quantities, one row per report, in row groups of :data:`SCAN_ROWS` (what
    :class:`PanelScan` reads at a time).  Built and written a window of reports at a time,
    in report_id order, so memory holds the reports and one window, not the panel."""
    reports = _reports(d)
    if not all(_parquet(d, name) for name in _SOURCES) or not len(reports):
        q = build(d)          # CSV files only, or nothing: small enough for one frame
        frame = pd.concat([reports.astype(_CODES_AS_TEXT).reset_index(drop=True).assign(
            **{_ROW: np.arange(len(reports), dtype=np.int64)}), q.drop(columns=["report_id"])], axis=1)
        _write_atomic(frame, path)
        return
    n = len(reports)
    order, ids, template, sorted_index = _order(reports)
    try:
        _write_windows(d, path, reports, order, ids, template, sorted_index, SCAN_ROWS)
    except _Unsorted:  # not sorted by report_id (not written by gx parse): one window
        _write_windows(d, path, reports, order, ids, template, sorted_index, max(n, 1))


def _write_windows(d: Path, path: Path, reports: pd.DataFrame, order: np.ndarray,
                   ids: IdIndex, template: np.ndarray, sorted_index: pd.Index, window: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    writer = None
    try:
        lo = 0
        for q in _build_windows(d, ids, len(reports), window, sorted_index, template):
            pos = order[lo:lo + len(q)]
            rows = reports.take(pos).astype(_CODES_AS_TEXT).reset_index(drop=True)
            rows[_ROW] = pos.astype(np.int64)
            lo += len(q)
            frame = pd.concat([rows, q.reset_index(drop=True)], axis=1)
            table = pa.Table.from_pandas(frame, preserve_index=False,
                                         schema=writer.schema if writer else None)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=SCAN_ROWS)
        writer.close()
        writer = None
        os.replace(tmp, path)
    except BaseException:
        if writer is not None:
            writer.close()
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare(data_dir: str | Path, cache_dir: str | Path) -> Path:
    """Make sure the panel file of ``data_dir`` is in ``cache_dir`` (built if missing or
    unreadable) and return its path; nothing is kept in memory (``gx render`` calls this
    once, in a process of its own, before the notebooks run)."""
    d = Path(data_dir)
    path = cache_path(d, cache_dir)
    try:
        usable = {*REPORT_COLUMNS, _ROW} <= set(pq.read_schema(path).names)
    except Exception:  # noqa: BLE001 - missing or damaged: (re)built
        usable = False
    if not usable:
        _write_panel(d, path)
    return path


def quantities(data_dir: str | Path, cache_dir: str | Path | None = None) -> pd.DataFrame:
    """The per-report quantities of a processed folder, computed once (see module doc)."""
    d = Path(data_dir)
    key = _signature(d)
    if key in _MEMO:      # copy-on-write: a caller's changes never reach the memo
        return _MEMO[key].copy(deep=False)
    cache_dir = cache_dir or os.environ.get(CACHE_ENV) or None
    q = None
    if cache_dir:
        path = cache_path(d, cache_dir)
        if path.is_file():
            try:
                q = pd.read_parquet(path, columns=["report_id", *_quantity_names(path)])
            except Exception:  # noqa: BLE001 - a damaged cache is recomputed
                q = None
        if q is None:
            prepare(d, cache_dir)
            q = pd.read_parquet(path, columns=["report_id", *_quantity_names(path)])
    else:
        q = build(d)
    _MEMO.clear()
    _MEMO[key] = q
    return q.copy(deep=False)


def _quantity_names(path: str | Path) -> list[str]:
    """The quantity columns of a panel file (not the report columns, not ``_row``)."""
    return [c for c in pq.read_schema(path).names if c not in REPORT_COLUMNS and c != _ROW]


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp,
                       row_group_size=SCAN_ROWS)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(data_dir: str | Path = "data/processed", *, checks: bool = False,
         na_cells: bool = False, cache_dir: str | Path | None = None) -> Panel:
    """Reports + per-report quantities of a processed folder (see the module doc).

    ``checks`` / ``na_cells`` attach those rows for every report at once; after
    :func:`gxlib.metrics.select` prefer ``panel.attach(...)``, which reads only the rows of
    the selected reports.
    """
    d = Path(data_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: no such folder; run `gx parse RAW_DIR --out {d}` first")
    key = _signature(d)
    if key not in _REPORTS:     # a kernel reused by `gx render` reads them once
        _REPORTS.clear()
        _REPORTS[key] = _reports(d)
    reports = _REPORTS[key].copy(deep=False)
    q = quantities(d, cache_dir)
    if not q["report_id"].astype("str").equals(reports["report_id"].astype("str")):
        q = q.set_index("report_id").reindex(reports["report_id"].astype("str")).reset_index()
    panel = Panel(reports=reports, quantities=q, data_dir=str(d.resolve()))
    if checks or na_cells:
        panel = panel.attach(checks=checks, na_cells=na_cells)
    return panel


# --------------------------------------------------------------------------- on disk
#: report columns the memoised group sums of a PanelScan are kept by (the notebooks' region,
#: year and level breakdowns and filters); other groupings read the reports in chunks.
CUBE_KEYS = ["year", "province", "prefecture", "level", "template"]
_CUBE_FILTERS = {"year_from", "year_to", "province", "prefecture", "level", "template"}
_CUBES: dict[tuple[str, str], pd.DataFrame] = {}   # (signature, family) -> group sums
_POSITIONS: dict[tuple, np.ndarray] = {}          # (panel file, filters) -> selected rows
_EMPTY: dict[tuple, pd.DataFrame] = {}            # (panel file, columns) -> typed, no rows
_RESULTS: dict[tuple, Any] = {}                   # (panel file, filters, question) -> answer


def _kept(memo: dict, key: tuple, limit: int, compute):
    """``memo[key]``, computed once; the oldest entries leave to keep at most ``limit``."""
    if key not in memo:
        while len(memo) >= limit:
            memo.pop(next(iter(memo)))
        memo[key] = compute()
    return memo[key]


def default_cache_dir() -> Path:
    """Where :func:`open` keeps panel files when neither ``cache_dir`` nor
    ``$GXLIB_PANEL_CACHE`` is given: ``$XDG_CACHE_HOME/gxlib`` (``~/.cache/gxlib``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gxlib"


def open(data_dir: str | Path = "data/processed", *,
         cache_dir: str | Path | None = None) -> PanelScan:
    """The panel of a processed folder as a :class:`PanelScan`: it stays on disk, and every
    metric reads it a chunk of :data:`SCAN_ROWS` reports at a time, so memory does not grow
    with the number of reports.  The panel file is built once (like :func:`load`'s cache)
    in ``cache_dir``, ``$GXLIB_PANEL_CACHE`` or :func:`default_cache_dir`."""
    d = Path(data_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: no such folder; run `gx parse RAW_DIR --out {d}` first")
    explicit = cache_dir or os.environ.get(CACHE_ENV)
    cache = Path(explicit) if explicit else default_cache_dir() / hashlib.sha1(
        str(d.resolve()).encode("utf-8")).hexdigest()[:12]
    new = not cache_path(d, cache).is_file()
    path = prepare(d, cache)
    if new and not explicit:  # the default cache holds one panel file per data folder
        for old in cache.glob("panel-*.parquet"):
            if old != path:
                old.unlink(missing_ok=True)
    return PanelScan(path=str(path), data_dir=str(d.resolve()), key=_signature(d))


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


_ADD_EVERY = 8  # chunks' group sums added up at a time
_CELL = "_cell"   # number of a (year, province, prefecture, level, template) in kept sums
_CELLS: dict[str, dict[tuple, int]] = {}   # signature -> key tuple -> cell number
_CELL_FRAMES: dict[str, tuple[int, pd.DataFrame]] = {}   # signature -> (cells, their keys)


def _coded(part: pd.DataFrame, cells: dict[tuple, int]) -> pd.DataFrame:
    """``part`` with its CUBE_KEYS replaced by a cell number (kept sums stay small: a
    number per row instead of five keys, two of them text)."""
    keys = part[CUBE_KEYS]
    local = keys.groupby(CUBE_KEYS, observed=True, dropna=False, sort=False).ngroup().to_numpy()
    first = np.unique(local, return_index=True)[1]
    number = np.array([cells.setdefault(t, len(cells))
                       for t in keys.iloc[first].itertuples(index=False, name=None)],
                      dtype=np.int64)
    return part.drop(columns=CUBE_KEYS).assign(**{_CELL: number[local] if len(local) else
                                                  np.zeros(0, dtype=np.int64)})


def _add(frames: list[pd.DataFrame], group: list[str]) -> pd.DataFrame:
    """Group sums of several chunks as one: the numeric columns added up per ``group``."""
    frame = _concat(frames)
    values = [c for c in frame.columns if c not in group]
    if not group:
        return frame[values].sum().to_frame().T
    return frame.groupby(group, observed=True, dropna=False, sort=False)[values].sum().reset_index()


@dataclass(frozen=True)
class PanelScan:
    """A :class:`Panel` that stays on disk (see :func:`open`).

    ``gxlib.metrics`` functions take it like a Panel.  Grouped rates and volumes are summed
    a chunk of reports at a time into per-group sums; those by (year, province, prefecture,
    level, template) are computed once per process and per data folder and then only
    filtered and added up, which is what makes a province's notebook cheap.  Listings
    (reports not ok, NA cells, tables absent) read only their rows.  A selection by agency
    is small and is read into a :class:`Panel` (``select(..., agency=...)``).
    """

    path: str
    data_dir: str
    key: str
    filters: tuple[tuple[str, Any], ...] = ()

    # ------------------------------------------------------------------ selection
    def select(self, **filters: Any) -> PanelScan | Panel:
        given = tuple((k, v) for k, v in filters.items() if not gm._blank(v))
        unknown = [k for k, _ in given if k not in gm.FILTERS]
        if unknown:
            raise TypeError(f"unknown filter(s) {unknown}; known: {', '.join(gm.FILTERS)}")
        scan = dataclasses.replace(self, filters=self.filters + given)
        return scan.load() if any(k == "agency" for k, _ in given) else scan

    def _filter_sets(self) -> list[dict[str, Any]]:
        """The filters of each select() call in turn (a name may recur: all must hold)."""
        sets: list[dict[str, Any]] = [{}]
        for k, v in self.filters:
            if k in sets[-1]:
                sets.append({})
            sets[-1][k] = v
        return sets

    def _matches(self, frame: pd.DataFrame) -> np.ndarray:
        """Which rows of ``frame`` (report columns, or the keys of kept sums) every
        select() call's filters keep."""
        mask = np.ones(len(frame), dtype=bool)
        for flt in self._filter_sets():
            mask &= gm._mask(frame, **flt).to_numpy(bool)
        return mask

    def _positions(self) -> np.ndarray | None:
        """Row positions of the selected reports (None: all), from the filter columns only
        (the last few selections are remembered: a notebook asks several times)."""
        if not self.filters:
            return None
        return _kept(_POSITIONS, (self.path, self.filters), 4, self._find_positions)

    def _find_positions(self) -> np.ndarray:
        names = {k for k, _ in self.filters}
        cols = {"year_from": "year", "year_to": "year", "agency": "agency"}
        needed = sorted({cols.get(k, k) for k in names} | ({"division_code"} if "agency" in names else set()))
        found, offset = [], 0
        for table in self._tables(needed, positions=None):   # a row group at a time
            frame = table.to_pandas()     # written typed: text as text, year as Int64
            found.append(np.flatnonzero(self._matches(frame)) + offset)
            offset += len(frame)
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------ reading
    def _tables(self, columns: list[str], where: Any = None,
                positions: np.ndarray | None | bool = True):
        """Arrow tables of ``columns`` for the selected reports, a row group at a time;
        ``where`` (an Arrow expression) keeps only the rows it matches."""
        if not Path(self.path).is_file():
            raise FileNotFoundError(
                f"{self.path}: the panel file of {self.data_dir} is gone (a newer gx render "
                "or panel.open of re-parsed data replaces it); call gxlib.panel.open again")
        pf = pq.ParquetFile(self.path, pre_buffer=False)
        sel = self._positions() if positions is True else positions
        offset = 0
        for i in range(pf.num_row_groups):
            n = pf.metadata.row_group(i).num_rows
            local = None
            if sel is not None:
                lo, hi = np.searchsorted(sel, [offset, offset + n])
                local = sel[lo:hi] - offset
            offset += n
            if local is not None and not len(local):
                continue
            table = pf.read_row_group(i, columns=columns, use_threads=False)
            if local is not None:
                table = table.take(pa.array(local))
            if where is not None:
                table = table.filter(where)
            if table.num_rows:
                yield table

    def _typed(self, table: pa.Table) -> pd.DataFrame:
        frame = table.to_pandas()
        report = [c for c in frame.columns if c in REPORT_COLUMNS]
        return frame.assign(**typed("reports", frame[report], sort=False, complete=False))

    def _empty(self, columns: list[str]) -> pd.DataFrame:
        memo = (self.path, tuple(columns))
        if memo not in _EMPTY:
            _EMPTY[memo] = self._typed(pq.read_schema(self.path).empty_table().select(columns))
        return _EMPTY[memo].copy()

    def remember(self, name: str, compute):
        """``compute()`` for this selection, once per process (the last few are kept): a
        notebook and the next one with the same selection ask the same questions."""
        return copy.deepcopy(_kept(_RESULTS, (self.path, self.filters, name), 16, compute))

    def count(self) -> int:
        """How many reports are selected (from the filter columns only)."""
        sel = self._positions()
        return pq.ParquetFile(self.path).metadata.num_rows if sel is None else len(sel)

    def frame(self, columns: list[str], where: Any = None) -> pd.DataFrame:
        """``columns`` (report columns and quantities) of the selected reports, typed;
        ``where``: an Arrow expression on the panel file's columns (e.g. status != "ok")."""
        cols = list(dict.fromkeys(columns))
        parts = list(self._tables(cols + [_ROW], where))
        if not parts:
            return self._empty(cols)
        table = pa.concat_tables(parts)   # in the order of reports, like a Panel's; typed once
        table = table.take(pc.sort_indices(table.column(_ROW))).select(cols)
        return self._typed(table)

    def parts(self, columns: list[str]):
        """``columns`` of the selected reports, typed, a row group at a time."""
        for table in self._tables(list(dict.fromkeys(columns))):
            yield self._typed(table)

    def report_columns(self) -> pd.DataFrame:
        """No rows: the report columns and their dtypes (for checks and result dtypes)."""
        return self._empty(REPORT_COLUMNS)

    def _quantity_columns(self) -> list[str]:
        return _quantity_names(self.path)

    def chunks(self, report_columns: list[str] | None = None, positions: Any = True):
        """The selected reports as in-memory :class:`Panel` s of at most SCAN_ROWS reports
        (in report_id order)."""
        cols = list(dict.fromkeys(["report_id", *(report_columns or REPORT_COLUMNS)]))
        qcols = self._quantity_columns()
        for table in self._tables(cols + qcols, positions=positions):
            frame = self._typed(table)
            yield Panel(reports=frame[cols], quantities=frame[["report_id", *qcols]],
                        data_dir=self.data_dir)

    def load(self) -> Panel:
        """The selected reports in memory (a :class:`Panel`, in the order of reports), for
        code that wants rows."""
        qcols = self._quantity_columns()
        frame = self.frame(REPORT_COLUMNS + qcols)
        return Panel(reports=frame[REPORT_COLUMNS], quantities=frame[["report_id", *qcols]],
                     data_dir=self.data_dir)

    # ------------------------------------------------------------------ aggregation
    def group_sums(self, family: str, by: list[str], per_chunk, keys: list[str]) -> pd.DataFrame:
        """Additive group sums (see ``gxlib.metrics._group_sums``) of the selected reports:
        from the memoised sums by CUBE_KEYS when ``by`` and the filters allow, else a
        chunk at a time; either way added up every few chunks, never all reports."""
        def add_up(parts, group: list[str]) -> pd.DataFrame | None:
            out, pending = None, []
            for part in parts:
                pending.append(part)
                if len(pending) == _ADD_EVERY:   # memory: a few chunks' sums, never all
                    out = _add(([out] if out is not None else []) + pending, group)
                    pending = []
            if pending:
                out = _add(([out] if out is not None else []) + pending, group)
            return out

        cube_ok = set(by) <= set(CUBE_KEYS) and {k for k, _ in self.filters} <= _CUBE_FILTERS
        if not cube_ok:
            chunks = self.chunks(sorted(set(by) | {"template"}))
            out = add_up((per_chunk(c, by) for c in chunks), by + keys)
            return out if out is not None else per_chunk(self._empty_panel(by), by)
        memo = (self.key, family)
        if memo not in _CUBES:
            if any(k[0] != self.key for k in _CUBES):
                _CUBES.clear()          # another data folder (or a re-parse): start over
                _CELLS.clear()
                _CELL_FRAMES.clear()
            cells = _CELLS.setdefault(self.key, {})
            chunks = self.chunks(CUBE_KEYS, positions=None)
            out = add_up((_coded(per_chunk(c, CUBE_KEYS), cells) for c in chunks), [_CELL, *keys])
            if out is None:
                out = _coded(per_chunk(self._empty_panel(CUBE_KEYS), CUBE_KEYS), cells)
            # kept for the process: a cell number for the keys, text (metric) as categories
            _CUBES[memo] = out.astype({c: "category" for c in out.columns
                                       if pd.api.types.is_string_dtype(out[c].dtype)})
        cube = _CUBES[memo]
        cells = self._cell_keys()
        cube = cube[self._matches(cells)[cube[_CELL].to_numpy()]]
        keys_of = cells.take(cube[_CELL].to_numpy())[by].reset_index(drop=True)
        return pd.concat([keys_of, cube.drop(columns=[_CELL]).reset_index(drop=True)], axis=1)

    def _cell_keys(self) -> pd.DataFrame:
        """The CUBE_KEYS of every cell number handed out for this panel (row = number),
        built again only when cells were added (every group sum asks: a notebook's dozens
        of calls each built it, ~60 ms at 100k reports)."""
        cells = _CELLS.get(self.key, {})
        built = _CELL_FRAMES.get(self.key)
        if built is None or built[0] != len(cells):
            frame = pd.DataFrame.from_records(list(cells), columns=CUBE_KEYS)
            built = _CELL_FRAMES[self.key] = (len(cells), frame.astype(self._empty(CUBE_KEYS).dtypes.to_dict()))
        return built[1]

    def _empty_panel(self, columns: list[str]) -> Panel:
        cols = list(dict.fromkeys(["report_id", *columns, "template"]))
        return Panel(reports=self._empty(cols),
                     quantities=self._empty(["report_id", *self._quantity_columns()]),
                     data_dir=self.data_dir)

    def _ids(self) -> list[str] | None:
        """The selected report ids (None: every report; nothing to push into a scan)."""
        return None if not self.filters else self.frame(["report_id"])["report_id"].tolist()

    def checks_view(self, report_columns: list[str] = ()) -> Panel:
        """The checks of the selected reports, and ``report_columns`` of those reports."""
        reports = self.frame(list(dict.fromkeys(["report_id", *report_columns])))
        ids = reports["report_id"].tolist() if self.filters else None
        return Panel(reports=reports, quantities=reports[["report_id"]],
                     checks=_read(Path(self.data_dir), "checks", None, ids),
                     data_dir=self.data_dir)

    def na_views(self):
        """The NA cells of the selected reports, a row group of one table at a time, each
        as a :class:`Panel` with those cells, their reports and those reports' checks only
        (what :func:`gxlib.metrics.missing_values` reads): memory holds one row group's NA
        cells, however many there are in all.  Tables in turn, rows in file order."""
        d = Path(self.data_dir)
        ids = self._ids()
        names = ("disclosure", "applications", "reviews")
        empty = {n: pd.DataFrame({c: pd.Series([], dtype="Float64" if c == "value" else "str")
                                  for c in _NA_COLUMNS[n]}) for n in names}
        for name in names:
            for cells in _gathered(_read_parts(d, name, pc.field("value").is_null(), ids,
                                               _NA_COLUMNS[name]), NA_PART_ROWS):
                having = sorted(set(cells["report_id"].astype("str")))
                sel = pc.field("report_id").isin(pa.array(having, pa.string()))
                parts = list(_pruned(Path(self.path), sel, _NA_REPORT_COLUMNS))
                reports = self._typed(pa.concat_tables(parts)) if parts else self._empty(
                    _NA_REPORT_COLUMNS)
                yield Panel(reports=reports, quantities=reports[["report_id"]],
                            checks=_read(d, "checks", None, having), data_dir=self.data_dir,
                            **{**empty, name: cells})

    def attach(self, checks: bool = False, na_cells: bool = False) -> Panel:
        """The selection read into memory with its checks and/or NA cells (a
        :class:`Panel`); the metrics read these from a PanelScan themselves, for the
        selected reports only, so this is for code that wants the rows."""
        return self.load().attach(checks=checks, na_cells=na_cells)
