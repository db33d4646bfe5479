"""gxlib: 政府信息公开工作年度报告 -> tidy data.

Public API::

    gxlib.parse_report(path)     # one report -> ReportResult (metadata + frames)
    gxlib.parse_dir(raw_dir)     # every file under a folder -> TidyTables (pandas)
    gxlib.load(processed_dir)    # the exported tables read back with proper dtypes
    gxlib.connect(processed_dir) # a DuckDB connection: the five tables and the per-report panel
    gxlib.codebook(), gxlib.label(variable, code, lang)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__version__ = "0.1.0"

__all__ = ["parse_report", "parse_dir", "load", "connect", "codebook", "label", "ReportResult", "TidyTables",
           "__version__"]


@dataclass
class ReportResult:
    """One report: ``report`` (metadata dict, a row of reports.csv) and its frames."""

    report: dict
    disclosure: "object"
    applications: "object"
    reviews: "object"
    checks: "object"


def parse_report(path: str | Path, manifest_row: dict | None = None) -> ReportResult:
    """Parse one file (nothing is written)."""
    from .parse import parse_bytes
    from .store import frame

    path = Path(path)
    res = parse_bytes(path.read_bytes(), path.name, manifest_row, path)  # (a page finds the images saved beside it)
    return ReportResult(res["report"], *(frame(n, res[n]) for n in ("disclosure", "applications", "reviews", "checks")))


def parse_dir(raw_dir: str | Path, jobs: int | None = None, progress: bool | None = None):
    """Parse every file under a folder into typed pandas tables (nothing is written)."""
    from .pipeline import run

    return run(Path(raw_dir), jobs=jobs, progress=progress).tables


def load(processed_dir: str | Path = "data/processed", columns: dict | None = None, filters: dict | None = None):
    """The tables of a processed folder, typed (see :func:`gxlib.store.load`)."""
    from .store import load as _load

    return _load(processed_dir, columns, filters)


def connect(data_dir: str | Path = "data/processed"):
    """A DuckDB connection to a processed folder: views ``reports``, ``disclosure``,
    ``applications``, ``reviews``, ``checks`` over its Parquet files and ``panel`` (one row
    per report with its quantities; see :mod:`gxlib.panel`)."""
    from .panel import connect as _connect

    return _connect(data_dir)


def codebook():
    """Every code with its Chinese and English label."""
    from .store import codebook as _cb

    return _cb()


def label(variable: str, code: str, lang: str = "zh") -> str:
    """The label of one code in ``zh`` or ``en``."""
    from .store import label as _label

    return _label(variable, code, lang)


def __getattr__(name: str):
    if name == "TidyTables":
        from .store import TidyTables

        return TidyTables
    raise AttributeError(name)
