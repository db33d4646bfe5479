"""Tidy frames <-> files: typed frames, atomic CSV (UTF-8 with BOM) + Parquet writes,
typed load, and the generated data dictionary."""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from .parse import (APPLICATION_COLUMNS, CHECK_COLUMNS, DISCLOSURE_COLUMNS, REPORT_COLUMNS, REVIEW_COLUMNS)

TABLES = ("reports", "disclosure", "applications", "reviews", "checks")
COLUMNS = {
    "reports": REPORT_COLUMNS,
    "disclosure": DISCLOSURE_COLUMNS,
    "applications": APPLICATION_COLUMNS,
    "reviews": REVIEW_COLUMNS,
    "checks": CHECK_COLUMNS,
}
# column -> codebook variable, for the coded columns (ordered categoricals)
CODED = {
    "reports": {"template": "template", "level": "level", "status": "status", "year_source": "year_source"},
    "disclosure": {"item": "item", "measure": "measure", "unit": "unit"},
    "applications": {"row": "row", "applicant": "applicant"},
    "reviews": {"proceeding": "proceeding", "outcome": "outcome"},
    "checks": {"rule": "rule", "section": "section"},
}
SORT = {
    "reports": ["source_file"],
    "disclosure": ["report_id", "item", "measure"],
    "applications": ["report_id", "row", "applicant"],
    "reviews": ["report_id", "proceeding", "outcome"],
    "checks": ["report_id", "section", "row", "column", "rule", "message"],
}


@dataclass
class Tables:
    """The five tables of the data contract."""

    reports: pd.DataFrame
    disclosure: pd.DataFrame
    applications: pd.DataFrame
    reviews: pd.DataFrame
    checks: pd.DataFrame

    def __iter__(self):
        return iter((f.name, getattr(self, f.name)) for f in fields(self))


@lru_cache(maxsize=1)
def codebook() -> pd.DataFrame:
    """Every code with its Chinese and English label, in the canonical order."""
    path = files("gxlib.data").joinpath("codebook.csv")
    with path.open(encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype=str, keep_default_na=False)
    return df


@lru_cache(maxsize=1)
def _lookup() -> tuple[dict[str, tuple[str, ...]], dict[tuple[str, str], tuple[str, str]]]:
    """The codebook as dicts: the codes of each variable in order, and (variable, code) ->
    (zh, en) for the first row of each pair. A notebook labels every row of a table: a
    filter of the codebook frame per label cost ~0.2 ms, 1.5 s of each render worker's
    kernel time at 100k reports."""
    cb = codebook()
    codes_of: dict[str, list[str]] = {}
    labels: dict[tuple[str, str], tuple[str, str]] = {}
    for variable, code, zh, en in zip(cb["variable"], cb["code"], cb["zh"], cb["en"]):
        codes_of.setdefault(variable, []).append(code)
        labels.setdefault((variable, code), (zh, en))
    return {v: tuple(c) for v, c in codes_of.items()}, labels


def codes(variable: str) -> list[str]:
    return list(_lookup()[0].get(variable, ()))


def label(variable: str, code: str, lang: str = "zh") -> str:
    """The label of one code in ``zh`` or ``en`` (the code itself when unknown)."""
    hit = _lookup()[1].get((variable, str(code)))
    if hit is None:
        return str(code)
    return hit[0] if lang == "zh" else hit[1]


def _category(values: pd.Series, variable: str) -> pd.Series:
    cats = codes(variable)
    if isinstance(values.dtype, pd.CategoricalDtype):
        # from Parquet dictionaries: recode the categories, not every row
        values = values.cat.rename_categories([str(c) for c in values.cat.categories])
        if "" in values.cat.categories:
            values = values.cat.remove_categories([""])  # empty code: NA
        extra = sorted(set(values.cat.categories) - set(cats))
        return values.cat.set_categories(cats + extra, ordered=True)
    values = values.astype("str").where(values.notna(), "")
    extra = sorted(set(values.unique()) - set(cats) - {""})
    dtype = pd.CategoricalDtype(cats + extra, ordered=True)
    return values.replace({"": None}).astype(dtype)


def frame(name: str, records: list[dict]) -> pd.DataFrame:
    """Records -> a typed, sorted contract frame."""
    cols = COLUMNS[name]
    df = pd.DataFrame.from_records(records, columns=cols) if records else pd.DataFrame(columns=cols)
    return typed(name, df)


def typed(name: str, df: pd.DataFrame, sort: bool = True, complete: bool = True) -> pd.DataFrame:
    """Contract dtypes; ``complete=False`` types only the columns present (a projection)."""
    df = df.copy()
    for col in COLUMNS[name]:
        if col not in df.columns and complete:
            df[col] = pd.NA
    if "value" in df.columns:
        df["value"] = pd.to_numeric(df["value"], errors="coerce").astype("Float64")
    if "year" in df.columns:
        df["year"] = pd.to_numeric(df["year"], errors="coerce").astype("Int64")
    for col in df.columns:
        if col in CODED[name] or col in ("value", "year"):
            continue
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.cat.add_categories([""]) if "" not in s.cat.categories else s
            df[col] = s.fillna("").astype("str")
        else:
            df[col] = s.astype("str").where(s.notna(), "").astype("str")
    for col, var in CODED[name].items():
        if col in df.columns:
            df[col] = _category(df[col], var)
    if not complete:
        return df
    if sort:
        df = df.sort_values(SORT[name], kind="stable").reset_index(drop=True)
    return df[COLUMNS[name] + [c for c in df.columns if c not in COLUMNS[name]]]


def _csv_table(table: pa.Table) -> pa.Table:
    """Columns as CSV wants them: codes as text, numbers unquoted (0, 26.048), NA empty."""
    cols = {}
    for name in table.column_names:
        col = table[name]
        if pa.types.is_dictionary(col.type):
            col = pc.cast(col, pa.string())
        elif pa.types.is_floating(col.type):
            col = pc.round(col, 6)
        cols[name] = col
    return pa.table(cols)


def _arrow(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


_CSV_OPTIONS = pcsv.WriteOptions(quoting_style="needed")
_CSV_BODY = pcsv.WriteOptions(quoting_style="needed", include_header=False)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def staged_file(final: Path) -> Path:
    """A new empty file beside ``final`` under a temporary name, to be moved over it
    (:func:`move_over`), with the permissions of an output."""
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=final.suffix + ".tmp", dir=final.parent)
    os.chmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600: outputs are read by others too
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def replacing(final: Path):
    """A staged file (:func:`staged_file`) for ``final``'s new contents, moved over it
    (:func:`move_over`) when the ``with`` block ends, removed when the block raises:
    ``final`` is never left half-written."""
    tmp = staged_file(final)
    try:
        yield tmp
        move_over(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Staging:
    """Output files written under temporary names in the output folder and moved over the
    old ones only by :meth:`commit`: a crash leaves the previous outputs intact."""

    def __init__(self, out_dir: str | Path):
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.staged: list[tuple[Path, Path]] = []
        self.sinks: list[TableSink] = []

    def path(self, name: str) -> Path:
        final = self.out / name
        tmp = staged_file(final)
        self.staged.append((tmp, final))
        return tmp

    def staged_path(self, name: str) -> Path:
        """The temporary file that :meth:`commit` will move to ``name``."""
        for tmp, final in self.staged:
            if final.name == name:
                return tmp
        raise KeyError(name)

    def sink(self, name: str, schema: pa.Schema, record_runs: bool = False) -> "TableSink":
        s = TableSink(self.path(f"{name}.parquet"), self.path(f"{name}.csv"), schema, record_runs)
        self.sinks.append(s)
        return s

    def table(self, name: str, table: pa.Table) -> None:
        with self.sink(name, table.schema) as s:
            s.write(table)

    def commit(self, last=None) -> list[Path]:
        """Close the sinks, then ``last(self)`` (it may stage one more file, e.g. a cache that
        describes the files just closed), then move everything in place in staging order."""
        for s in self.sinks:
            s.close()
        self.path("README.md").write_text(data_dictionary(), encoding="utf-8")
        if last is not None:
            last(self)
        old = [move_over(tmp_path, final, delete=False) for tmp_path, final in self.staged]
        _delete([p for p in old if p is not None])
        return [final for _, final in self.staged]

    def abort(self) -> None:
        for s in self.sinks:
            s.close(quiet=True)
        for tmp_path, _ in self.staged:
            tmp_path.unlink(missing_ok=True)


@lru_cache(maxsize=1)
def _renameat2():
    """glibc's renameat2 (Linux), or None."""
    import ctypes

    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def move_over(new: Path, final: Path, delete: bool = True) -> Path | None:
    """Move ``new`` to ``final`` in one step: ``final`` is always either the old file or
    the new one. Where the system can, the two are swapped (RENAME_EXCHANGE) and the old
    one is then deleted: ext4 flushes a file renamed over another one at once
    ("auto_da_alloc"), 0.6 s for a 1 GB CSV, which a swap does not. (After a crash the
    new file may then be incomplete on disk; the run cache notices its size and the next
    run is a full one.) With ``delete=False`` the old file is left at ``new``, which is
    returned (None when there was none to swap)."""
    fn = _renameat2()
    if fn is not None and os.path.lexists(final) and not os.path.isdir(final):
        at_cwd, exchange = -100, 2
        if fn(at_cwd, os.fsencode(new), at_cwd, os.fsencode(final), exchange) == 0:
            if not delete:
                return new  # now the old file
            os.unlink(new)
            return None
    os.replace(new, final)
    return None


def _delete(paths: list[Path]) -> None:
    """Delete the files, each in a thread of its own: deleting a 1 GB file that is on
    disk took 0.25 s at 100k reports, most of it waiting for the file system (ext4,
    mounted with discard), not computing, and the smaller ones waited behind it."""
    if len(paths) <= 1:
        for p in paths:
            p.unlink(missing_ok=True)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(paths))) as ex:
        for f in [ex.submit(p.unlink, missing_ok=True) for p in paths]:
            f.result()


def csv_header(schema: pa.Schema) -> bytes:
    """What every CSV file of this schema starts with: the BOM and the header line."""
    buf = pa.BufferOutputStream()
    pcsv.write_csv(_csv_table(schema.empty_table()), buf, write_options=_CSV_OPTIONS)
    return b"\xef\xbb\xbf" + buf.getvalue().to_pybytes()


def csv_body(table: pa.Table) -> pa.Buffer:
    """The CSV lines of ``table``, without header."""
    table = _csv_table(table)
    # pyarrow 26 writes uninitialised memory for a leading empty batch when there is no
    # header line: give the writer only the batches that hold rows
    table = pa.Table.from_batches([b for b in table.to_batches() if b.num_rows], schema=table.schema)
    buf = pa.BufferOutputStream()
    pcsv.write_csv(table, buf, write_options=_CSV_BODY)
    return buf.getvalue()


def report_runs(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Report ids of a table whose rows are grouped by report (each report's rows
    contiguous), and the row offset where each starts (plus the end)."""
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


def undictionary(table: pa.Table, keep=()) -> pa.Table:
    """The table with its dictionary columns, but those named in ``keep`` (codebook
    codes), as plain strings. Batches and row groups each carry their own dictionary, and a
    filtered scan keeps every row group's whole one: the 3,844 NA cells of applications at
    100k reports held 42 MB of report ids and raw texts, which pandas would turn into
    100k-category columns. Plain Arrow strings are wrapped by pandas without a copy."""
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_dictionary(col.type) and name not in keep:
            col = pa.chunked_array([c.dictionary_decode() for c in col.chunks], type=col.type.value_type)
        cols[name] = col
    return pa.table(cols)


def release_memory() -> None:
    """Give Arrow's freed memory back to the system now (with mimalloc: 338 -> 293 MB peak
    of gx parse at 30k reports; with the C library's malloc, which gx parse and gx render
    use, ``malloc_trim``: 292 -> 165 MB after a kernel read applications' NA cells at 100k)."""
    pa.default_memory_pool().release_unused()


def sorted_positions(sorted_values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Position of each key in ``sorted_values`` (ascending; the first of equal values),
    -1 where the key is absent: one binary search each."""
    if len(sorted_values) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(sorted_values, keys), len(sorted_values) - 1)
    return np.where(sorted_values[pos] == keys, pos, -1)


def fixed_bytes(arr: pa.Array) -> np.ndarray:
    """An Arrow string array as a NumPy bytes array; report ids (16 characters, no
    nulls) as a copy of the data buffer, other strings through Python."""
    n = len(arr)
    if n and arr.null_count == 0:
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + n + 1]
        lengths = np.diff(offsets)
        width = int(lengths[0])
        if width > 0 and (lengths == width).all():
            data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
            if (data != 0).all():  # NumPy bytes drop trailing NULs
                return data.view(f"S{width}").copy()
    return id_bytes(arr.to_pylist())


def id_bytes(ids) -> np.ndarray:
    """Strings (report ids) as a NumPy bytes array of their UTF-8: 16 bytes a report id,
    where NumPy's unicode takes 64 and a Python string about 70."""
    return np.char.encode(np.asarray(ids, dtype="U"), "utf-8") if len(ids) else np.array([], dtype="S1")


def line_starts(body: pa.Buffer | bytes, rows: np.ndarray) -> np.ndarray | None:
    """Byte offsets in ``body`` (CSV lines) of the given row offsets, or None when the
    lines are not one per row (a quoted field holding a line break)."""
    data = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    n = int(rows[-1]) if len(rows) else 0
    if len(ends) != n:
        return None
    starts = np.r_[0, ends + 1]
    return starts[rows]


CSV_PIECE_ROWS = 1 << 17  # rows encoded to CSV at a time


def csv_runs(table: pa.Table):
    """The CSV lines of a table grouped by report, in pieces of about
    :data:`CSV_PIECE_ROWS` rows that end on report boundaries (CSV text is several times
    the size of the Arrow table): ``(body, (ids, rows, bytes))`` per piece, the runs being
    each report's rows and bytes in ``body``, or None when the lines are not one per row."""
    if table.num_rows == 0:
        return
    ids, at = report_runs(table)
    step = max(1, len(ids) * CSV_PIECE_ROWS // table.num_rows)
    for j in range(0, len(ids), step):
        k = min(j + step, len(ids))
        body = csv_body(table.slice(at[j], at[k] - at[j]))
        pos = line_starts(body, at[j:k + 1] - at[j])
        yield body, (None if pos is None else (ids[j:k], np.diff(at[j:k + 1]), np.diff(pos)))


def _int32_if_fits(values) -> np.ndarray:
    a = np.asarray(values, dtype=np.int64)
    return a.astype(np.int32) if len(a) == 0 or (a.min() >= -(1 << 31) and a.max() < 1 << 31) else a


class TableSink:
    """One table streamed batch by batch into Parquet (a row group per batch) and CSV.

    With ``record_runs`` it also remembers, per report, how many rows and CSV bytes it
    wrote (tables grouped by report): the run cache copies unchanged reports' CSV bytes
    from one run's output into the next without re-encoding them."""

    def __init__(self, parquet_path: Path, csv_path: Path, schema: pa.Schema, record_runs: bool = False):
        self.schema = schema
        self.parquet = _parquet_writer(parquet_path, schema)
        self.csv_path = csv_path
        self.fh = _open_empty(csv_path)
        self.header = csv_header(schema)
        self.fh.write(self.header)
        self.record = record_runs
        self.exact = True  # False once a CSV line spans two rows: byte counts unknown
        self.ids: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []
        self.nbytes: list[np.ndarray] = []
        self.closed = False

    def write(self, table: pa.Table, csv: bool = True) -> None:
        """Rows to Parquet, and to CSV unless ``csv`` is False (the caller writes those
        bytes itself with :meth:`write_bytes` / :meth:`copy_bytes`)."""
        table = table.cast(self.schema)
        if table.num_rows == 0:
            return
        # one dictionary per column: chunks with different dictionaries (a worker batch
        # each) make the Parquet writer give up dictionary encoding for the row group;
        # at 100k reports applications.parquet was 36 MB instead of 8, written 3x and
        # read 5x slower
        self.parquet.write_table(table.unify_dictionaries())
        if not csv:
            return
        if not self.record:
            for r0 in range(0, table.num_rows, CSV_PIECE_ROWS):
                self.fh.write(csv_body(table.slice(r0, CSV_PIECE_ROWS)))
            return
        for body, runs in csv_runs(table):
            if runs is None or not self.exact:
                self.exact = False
            else:
                self.note(*runs)
            self.fh.write(body)

    def note(self, ids: np.ndarray, rows: np.ndarray, nbytes: np.ndarray) -> None:
        # ids as UTF-8 bytes: a million Python strings would cost ~70 MB per table
        ids = np.asarray(ids)
        self.ids.append(ids if ids.dtype.kind == "S" else id_bytes(ids))
        self.rows.append(_int32_if_fits(rows))  # held for the whole run: 8 bytes a report, not 16
        self.nbytes.append(_int32_if_fits(nbytes))

    def runs(self, raw: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(report ids, rows, CSV bytes) of every report written, in order; None when not
        recorded or not exact. ``raw``: the ids as UTF-8 bytes."""
        if not (self.record and self.exact):
            return None
        if not self.ids:
            return np.array([], dtype="S1" if raw else "U1"), np.array([], dtype=np.int64), np.array([], dtype=np.int64)
        ids = np.concatenate(self.ids)
        return ((ids if raw else np.char.decode(ids, "utf-8")), np.concatenate(self.rows).astype(np.int64),
                np.concatenate(self.nbytes).astype(np.int64))

    def write_bytes(self, data) -> None:
        self.fh.write(data)

    def copy_bytes(self, src_fd: int, offset: int, length: int) -> None:
        """``length`` bytes of the file ``src_fd`` from ``offset`` appended to the CSV."""
        self.fh.flush()
        dst = self.fh.fileno()
        while length > 0:
            n = _copy_range(src_fd, dst, offset, length)
            if n <= 0:
                raise OSError(f"{self.csv_path}: short copy from the previous output")
            offset += n
            length -= n

    def close(self, quiet: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.parquet.close()
        finally:
            self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _open_empty(path: Path):
    """``path`` opened for writing, emptied, without O_TRUNC when it is empty already (a
    staged file): on ext4 a truncated file's data is flushed at close ("auto_da_alloc"),
    0.3-0.4 s for a 1 GB CSV."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o666)
    try:
        if os.fstat(fd).st_size:
            os.ftruncate(fd, 0)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


DROP_EVERY = 1 << 25  # bytes of a previous output copied between two drops of its page cache


def write_back(fd: int) -> None:
    """Write the file ``fd``'s changed pages to disk now, where :func:`drop_cached` can
    work: the kernel drops only clean pages, and the CSVs of a run are still being held
    in memory, unwritten, for ~30 s after it (the next run's copy then fell back on pages
    the system had not touched: 4-10 s instead of 3.6 s at 100k). A file long written
    costs nothing here."""
    if hasattr(os, "posix_fadvise") and hasattr(os, "fdatasync"):
        try:
            os.fdatasync(fd)
        except OSError:
            pass  # (a file system that cannot): the drop is advice anyway


def drop_cached(fd: int, start: int, stop: int) -> None:
    """Let the kernel drop its cached pages of bytes ``[start, stop)`` of the file ``fd``
    (where the system can): an incremental run reads each byte of the previous CSV once,
    and the pages freed are the ones the new CSV is written into. Writing a 1 GB CSV into
    pages the system has not touched lately cost up to 12 s of kernel time on a VM (the
    host maps them in again) against ~1 s into pages just freed; and the previous file's
    cache goes with the file at the commit anyway."""
    if stop > start:
        _advise(fd, start, stop - start, "POSIX_FADV_DONTNEED")


PREFETCH_BYTES = 1 << 24  # of each file, at most: a huge file is read in pieces anyway


def prefetch(paths) -> None:
    """Ask the kernel to start reading the files ``paths`` now (where the system can), all
    at once, before they are read one by one. A corpus on disk, not in the page cache,
    was otherwise read a file at a time by each worker: the hashing of 100k files took
    6.9 s with the cache dropped and 1.6 s with this; ~0.05 s more when they are cached."""
    if not hasattr(os, "posix_fadvise"):
        return  # (no file opened for nothing)
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # (a FIFO: no wait)
        except OSError:
            continue  # (reported where the file is read)
        try:
            _advise(fd, 0, PREFETCH_BYTES, "POSIX_FADV_WILLNEED")
        finally:
            os.close(fd)


def _advise(fd: int, offset: int, length: int, advice: str) -> None:
    """``posix_fadvise`` with the advice named (where the system has it): advice only, so
    a file system that refuses it changes nothing."""
    if hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fd, offset, length, getattr(os, advice))
        except OSError:
            pass


def _copy_range(src: int, dst: int, offset: int, length: int) -> int:
    """One step of a file-to-file copy at the destination's position (in the kernel where
    the system has copy_file_range)."""
    if hasattr(os, "copy_file_range"):
        try:
            return os.copy_file_range(src, dst, min(length, 1 << 30), offset)
        except OSError:
            pass  # e.g. across file systems on old kernels: copy through memory
    data = os.pread(src, min(length, 1 << 24), offset)
    return os.write(dst, data) if data else 0


WRITE_BATCH = 1 << 16


def _parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    # min/max statistics of coded (dictionary) columns cost a third of the write time and
    # prune nothing (every row group holds every code); report_id's do locate a report
    stats = [f.name for f in schema if f.name == "report_id" or not pa.types.is_dictionary(f.type)]
    # values handed to the encoders 64k at a time, not 1,024: the same file, byte for byte,
    # written ~12 % faster (applications at 100k: 0.70 -> 0.62 s)
    return pq.ParquetWriter(path, schema, write_statistics=stats, write_batch_size=WRITE_BATCH)


def write_arrow(reports: pd.DataFrame, long: dict[str, pa.Table], checks: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write every table as CSV (utf-8-sig) and Parquet, plus the data dictionary,
    atomically (see :class:`Staging`)."""
    stage = Staging(out_dir)
    try:
        for name, table in (("reports", _arrow(reports)), *long.items(), ("checks", _arrow(checks))):
            stage.table(name, table)
        return stage.commit()
    except BaseException:
        stage.abort()
        raise


def write(tables: Tables, out_dir: str | Path) -> list[Path]:
    """Write pandas contract tables (see :func:`write_arrow`)."""
    long = {}
    for name in ("disclosure", "applications", "reviews"):
        df = getattr(tables, name).copy()
        for c in df.columns:
            if c != "value":
                df[c] = df[c].astype("str").astype("category")
        df["value"] = df["value"].astype("float64")
        long[name] = _arrow(df)
    return write_arrow(tables.reports, long, tables.checks, out_dir)


def load(processed_dir: str | Path = "data/processed", columns: dict[str, list[str]] | None = None,
         filters: dict[str, list] | None = None) -> Tables:
    """Read the tables back with proper dtypes (Parquet when present, else CSV).

    ``columns`` maps a table name to the columns to read, ``filters`` to pyarrow filters
    pushed down into the Parquet scan, e.g.
    ``load(d, columns={"applications": ["report_id", "row", "applicant", "value"]},
    filters={"applications": [("row", "in", ["new", "handled_total"])]})``."""
    d = Path(processed_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: no such folder; run `gx parse RAW_DIR --out {d}` first")
    out = {}
    for name in TABLES:
        pqf, cs = d / f"{name}.parquet", d / f"{name}.csv"
        cols = (columns or {}).get(name)
        flt = (filters or {}).get(name)
        if pqf.is_file():
            df = pd.read_parquet(pqf, columns=cols, filters=flt)
        elif cs.is_file():
            df = pd.read_csv(cs, dtype=str, keep_default_na=False, encoding="utf-8-sig", usecols=cols)
            if flt:
                raise ValueError(f"{cs}: filters need the Parquet files (run `gx parse` again)")
        else:
            raise FileNotFoundError(f"{d}: {name}.csv is missing; run `gx parse RAW_DIR --out {d}` again")
        # our Parquet files are written sorted; a projection is typed column by column
        df = typed(name, df, sort=not pqf.is_file(), complete=cols is None)
        out[name] = df
    return Tables(**out)


# ---------------------------------------------------------------------------------------

_DESCRIPTIONS = {
    "reports": ("one row per input file", {
        "report_id": "stable id: the same file (relative path + bytes) gives the same id on every run and machine",
        "source_file": "path of the raw file relative to the raw folder",
        "sha256": "hash of the raw bytes",
        "title": "report title as found (may be empty)",
        "agency": "机关名称 as found in the title (else the 信息来源 line, else the manifest)",
        "year": "report year: the year the statistics cover, not the publication year",
        "year_source": "how `year` was found (codes below)",
        "published": "publication date if found (ISO date)",
        "template": "table layout detected from the table structure (not the year)",
        "province": "province name, empty where unknown",
        "prefecture": "prefecture name, empty where unknown",
        "county": "county name, empty where unknown",
        "division_code": "6-digit administrative division code (MCA) of the most specific known level",
        "level": "administrative level of the agency",
        "status": "ok / partial / failed",
        "error": "why, for partial and failed",
        "format": "file format read (text, html, pdf, docx)",
        "url": "source address, from manifest.csv when given",
    }),
    "disclosure": ("section 二, 主动公开政府信息情况", {
        "report_id": "see reports", "item": "信息内容 row (codes below)", "measure": "column (codes below)",
        "value": "number; NA where missing or uncertain (see checks)", "unit": "count or wan_yuan (万元)",
        "raw": "cell text as found, before normalisation"}),
    "applications": ("section 三, 收到和处理政府信息公开申请情况", {
        "report_id": "see reports", "row": "table row (codes below)", "applicant": "申请人 column (codes below)",
        "value": "number; NA where missing or uncertain (see checks)", "raw": "cell text as found"}),
    "reviews": ("section 四, 行政复议、行政诉讼", {
        "report_id": "see reports", "proceeding": "block (codes below)", "outcome": "column (codes below)",
        "value": "number; NA where missing or uncertain (see checks)", "raw": "cell text as found"}),
    "checks": ("every consistency problem and every value left NA, one row each", {
        "report_id": "see reports", "rule": "rule broken (codes below)", "section": "table concerned",
        "row": "row code (or proceeding / item)", "column": "column code (or outcome / measure)",
        "expected": "what the rule expects", "observed": "what the report says", "message": "explanation"}),
}


def data_dictionary() -> str:
    cb = codebook()
    lines = [
        "# Data dictionary (generated by `gx parse`; do not edit)",
        "",
        "Tidy tables written by `gx parse`. CSV files are UTF-8 with BOM (Excel opens them",
        "directly); a Parquet copy of each sits beside it. Read them typed with `gxlib.load(folder)`.",
        "Values: a blank cell inside a present table is 0; `/`, `-`, `—` placeholders are NA;",
        "a value the parser is not sure of is NA with a row in checks.csv saying why.",
        "",
    ]
    for name in TABLES:
        what, cols = _DESCRIPTIONS[name]
        lines += [f"## {name}.csv — {what}", "", "| column | meaning |", "|---|---|"]
        lines += [f"| {c} | {cols.get(c, '')} |" for c in COLUMNS[name]]
        lines.append("")
        for col, var in CODED[name].items():
            sub = cb[cb["variable"] == var]
            lines += [f"`{col}` codes:", "", "| code | 中文 | English |", "|---|---|---|"]
            lines += [f"| {r.code} | {r.zh} | {r.en} |" for r in sub.itertuples()]
            lines.append("")
        if name == "applications":
            # the applicant column
            pass
    return "\n".join(lines) + "\n"
