"""A whole raw folder -> the five tables (and, with ``out``, the files)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .parse import cross_report_checks, list_files, parse_files
from .store import Tables, frame, write


@dataclass
class RunResult:
    tables: Tables
    files: int
    seconds: float
    bytes: int

    def summary(self) -> str:
        st = self.tables.reports["status"].astype("str").value_counts()
        n_checks = len(self.tables.checks)
        rate = self.files / self.seconds if self.seconds > 0 else float("inf")
        return (f"{self.files} files: {st.get('ok', 0)} ok, {st.get('partial', 0)} partial, "
                f"{st.get('failed', 0)} failed; {n_checks} checks raised; "
                f"{self.seconds:.1f} s ({rate:.0f} reports/s, {self.bytes / 1e6 / max(self.seconds, 1e-9):.1f} MB/s)")


def run(raw_dir: Path, out: Path | None = None, jobs: int | None = None, progress: bool | None = None) -> RunResult:
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"{raw_dir}: no such folder")
    t0 = time.perf_counter()
    files = list_files(raw_dir)
    size = sum(p.stat().st_size for p in files)
    results = list(parse_files(raw_dir, files, jobs=jobs, progress=progress))
    cross_report_checks(results)
    tables = Tables(**{
        name: frame(name, [r["report"] for r in results] if name == "reports"
                    else [rec for r in results for rec in r[name]])
        for name in ("reports", "disclosure", "applications", "reviews", "checks")
    })
    if out is not None:
        write(tables, out)
    return RunResult(tables, len(files), time.perf_counter() - t0, size)
