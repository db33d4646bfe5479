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
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import checks as rules
from .parse import (APPLICATION_COLUMNS, CHECK_COLUMNS, DISCLOSURE_COLUMNS, REPORT_COLUMNS, REVIEW_COLUMNS,
                    list_files, parse_bytes, read_manifest, report_id)
from .store import Tables, codes, frame, typed, write_arrow

CACHE_NAME = ".gxcache.json"
LONG = {"disclosure": DISCLOSURE_COLUMNS, "applications": APPLICATION_COLUMNS, "reviews": REVIEW_COLUMNS}
FLUSH_EVERY = 4000  # reports per Arrow batch


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
    h = hashlib.sha256()
    n = 0
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
                n += len(chunk)
    except OSError:
        return "", 0
    return h.hexdigest(), n


def _work(task: tuple[str, str, dict | None]) -> dict:
    path, rel, mrow = task
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        report = {c: "" for c in REPORT_COLUMNS}
        report.update(report_id=report_id(rel, ""), source_file=rel, year=None, level="unknown",
                      status="failed", error=f"cannot open the file: {err.strerror or err}")
        return {"report": report, "disclosure": [], "applications": [], "reviews": [], "checks": []}
    res = parse_bytes(data, rel, mrow)
    _order(res)
    return res


@lru_cache(maxsize=None)
def _rank(variable: str) -> dict[str, int]:
    return {c: i for i, c in enumerate(codes(variable))}


def _order(res: dict) -> None:
    """Rows of one report in codebook order (the global order is report_id, then this)."""
    item, measure = _rank("item"), _rank("measure")
    res["disclosure"].sort(key=lambda r: (item.get(r["item"], 99), measure.get(r["measure"], 99)))
    row, app = _rank("row"), _rank("applicant")
    res["applications"].sort(key=lambda r: (row.get(r["row"], 99), app.get(r["applicant"], 99)))
    proc, out = _rank("proceeding"), _rank("outcome")
    res["reviews"].sort(key=lambda r: (proc.get(r["proceeding"], 99), out.get(r["outcome"], 99)))


class _Builder:
    """Columns of one long table, packed into Arrow every FLUSH_EVERY reports."""

    def __init__(self, columns: list[str]):
        self.columns = columns
        self.cols: dict[str, list] = {c: [] for c in columns}
        self.batches: list[pa.Table] = []

    def add(self, records: list[dict]) -> None:
        for c in self.columns:
            self.cols[c].extend(r[c] for r in records)

    def flush(self) -> None:
        if not self.cols[self.columns[0]]:
            return
        arrays = {}
        for c in self.columns:
            if c == "value":
                arrays[c] = pa.array(self.cols[c], type=pa.float64())
            else:
                arrays[c] = pa.array(self.cols[c], type=pa.string()).dictionary_encode()
        self.batches.append(pa.table(arrays))
        self.cols = {c: [] for c in self.columns}

    def finish(self) -> pa.Table:
        self.flush()
        schema = pa.schema([(c, pa.float64() if c == "value" else pa.dictionary(pa.int32(), pa.string()))
                            for c in self.columns])
        if not self.batches:
            return schema.empty_table()
        return pa.concat_tables([b.cast(schema) for b in self.batches])


def _pool_map(fn, items: list, jobs: int, progress_desc: str | None, total: int | None = None):
    bar = None
    if progress_desc:
        from tqdm import tqdm

        bar = tqdm(total=total or len(items), unit="file", desc=progress_desc, file=sys.stderr)
    try:
        if jobs == 1 or len(items) < 16:
            for it in items:
                yield fn(it)
                if bar:
                    bar.update()
        else:
            chunk = max(1, min(256, len(items) // (jobs * 16) or 1))
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                for res in pool.map(fn, items, chunksize=chunk):
                    yield res
                    if bar:
                        bar.update()
    finally:
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

    ``keep_tables`` (default: when ``out`` is None) also returns the pandas tables.
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"{raw_dir}: no such folder")
    t0 = time.perf_counter()
    jobs = jobs or os.cpu_count() or 1
    files = list_files(raw_dir)
    manifest = read_manifest(raw_dir)
    if progress is None:
        progress = len(files) > 200 and sys.stderr.isatty()
    rels = [p.relative_to(raw_dir).as_posix() for p in files]
    hashes = list(_pool_map(_hash, [str(p) for p in files], jobs, "hashing" if progress else None))
    size = sum(n for _, n in hashes)
    entries = []  # (report_id, rel, path, manifest row, cache key)
    for p, rel, (sha, _) in zip(files, rels, hashes):
        mrow = manifest.get(rel) or manifest.get(p.name)
        rid = report_id(rel, sha)
        entries.append((rid, rel, str(p), mrow, _cache_key(rid, mrow)))
    entries.sort(key=lambda e: (e[0], e[1]))
    keys = {e[4] for e in entries}

    cached = _read_cache(Path(out)) if (out is not None and cache) else None
    reuse: set[str] = set()
    if cached:
        reuse = {k.split(":")[0] for k in cached.get("keys", []) if k in keys}
    todo = [e for e in entries if e[0] not in reuse]

    builders = {name: _Builder(cols) for name, cols in LONG.items()}
    reports: list[dict] = []
    check_rows: list[dict] = []
    tasks = [(path, rel, mrow) for _, rel, path, mrow, _ in todo]
    for i, res in enumerate(_pool_map(_work, tasks, jobs, "parsing" if progress else None)):
        reports.append(res["report"])
        check_rows.extend(res["checks"])
        for name, b in builders.items():
            b.add(res[name])
        if (i + 1) % FLUSH_EVERY == 0:
            for b in builders.values():
                b.flush()
    long = {name: b.finish() for name, b in builders.items()}
    reports_df = frame("reports", reports)
    checks_df = frame("checks", check_rows)
    if reuse:
        import pandas as pd

        out_p = Path(out)
        ids = pa.array(sorted(reuse), type=pa.string())
        old_reports = pq.read_table(out_p / "reports.parquet").to_pandas()
        old_reports = old_reports[old_reports["report_id"].isin(reuse)]
        reports_df = typed("reports", pd.concat([reports_df.astype({"year": "Int64"}), old_reports],
                                                ignore_index=True))
        old_checks = pq.read_table(out_p / "checks.parquet").to_pandas()
        old_checks = old_checks[old_checks["report_id"].isin(reuse) & (old_checks["rule"].astype(str) != "carry_over")]
        checks_df = typed("checks", pd.concat([checks_df, old_checks], ignore_index=True))
        order = pa.array([e[0] for e in entries], type=pa.string())
        for name in LONG:
            old = pq.read_table(out_p / f"{name}.parquet")
            old = old.filter(pc.is_in(old["report_id"], value_set=ids))
            old = old.cast(long[name].schema)
            both = pa.concat_tables([old, long[name]])
            rank = pc.index_in(both["report_id"], value_set=order)
            long[name] = both.take(pc.sort_indices(rank))  # stable: keeps each report's own row order
    # cross-report carry-over warnings, on the whole table
    checks_df = _with_carry_over(reports_df, long["applications"], checks_df)
    counts = reports_df["status"].astype(str).value_counts().to_dict()
    result = RunResult(counts, len(checks_df), len(files), len(todo), 0.0, size)
    if out is not None:
        out_p = Path(out)
        write_arrow(reports_df, long, checks_df, out_p)
        (out_p / CACHE_NAME).write_text(json.dumps({"fingerprint": parser_fingerprint(),
                                                    "keys": sorted(keys)}), encoding="utf-8")
    if keep_tables or (keep_tables is None and out is None):
        result.tables = Tables(reports=reports_df,
                               **{n: typed(n, long[n].to_pandas()) for n in LONG}, checks=checks_df)
    result.seconds = time.perf_counter() - t0
    return result


def _with_carry_over(reports_df, applications: pa.Table, checks_df):
    import pandas as pd

    mask = pc.is_in(pc.cast(applications["row"], pa.string()),
                    value_set=pa.array(["carried_over", "carried_forward"]))
    sub = applications.filter(mask).to_pandas()
    apps: dict[str, list[dict]] = {}
    for r in sub.itertuples(index=False):
        apps.setdefault(r.report_id, []).append({"row": r.row, "applicant": r.applicant,
                                                  "value": None if pd.isna(r.value) else float(r.value)})
    reps = reports_df[reports_df["status"].astype(str) != "failed"][["report_id", "agency", "year"]]
    reps = [{"report_id": r.report_id, "agency": r.agency, "year": None if pd.isna(r.year) else int(r.year)}
            for r in reps.itertuples(index=False)]
    extra = [{"report_id": rid, **asdict(c)} for rid, c in rules.carry_over_checks(reps, apps)]
    if not extra:
        return checks_df
    return typed("checks", pd.concat([checks_df, frame("checks", extra)], ignore_index=True))
