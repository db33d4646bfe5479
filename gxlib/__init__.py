"""gxlib: 政府信息公开工作年度报告 -> tidy data.

Public API::

    gxlib.parse_report(path)     # one report -> ReportResult (metadata + frames)
    gxlib.parse_dir(raw_dir)     # every file under a folder -> Tables
    gxlib.load(processed_dir)    # the tables read back with proper dtypes
    gxlib.codebook(), gxlib.label(variable, code, lang)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (imported on first use: ``import gxlib`` stays light)
    from .store import Tables

__version__ = "0.1.0"

__all__ = ["parse_report", "parse_dir", "load", "codebook", "label", "ReportResult", "Tables", "__version__"]


@dataclass
class ReportResult:
    """One report: ``report`` (metadata dict, a row of reports.csv) and its frames."""

    report: dict
    disclosure: "object"
    applications: "object"
    reviews: "object"
    checks: "object"


def parse_report(path: str | Path, manifest_row: dict | None = None) -> ReportResult:
    from .parse import parse_bytes
    from .store import frame

    path = Path(path)
    res = parse_bytes(path.read_bytes(), path.name, manifest_row)
    return ReportResult(res["report"], *(frame(n, res[n]) for n in ("disclosure", "applications", "reviews", "checks")))


def parse_dir(raw_dir: str | Path, jobs: int | None = None, progress: bool | None = None) -> "Tables":
    from .pipeline import run

    return run(Path(raw_dir), jobs=jobs, progress=progress).tables


def load(processed_dir: str | Path = "data/processed", columns: dict | None = None,
         filters: dict | None = None) -> "Tables":
    """The tables of a processed folder, typed; see :func:`gxlib.store.load` for
    column projection and filters pushed down into the Parquet scan."""
    from .store import load as _load

    return _load(processed_dir, columns, filters)


def codebook():
    from .store import codebook as _cb

    return _cb()


def label(variable: str, code: str, lang: str = "zh") -> str:
    from .store import label as _label

    return _label(variable, code, lang)


def __getattr__(name: str):
    if name == "Tables":
        from .store import Tables

        return Tables
    raise AttributeError(name)
