"""Shared test helpers.  The real corpus lives in ../shared/corpus beside the clone; tests
that need it skip cleanly when it is absent (a user's fresh clone has no ../shared)."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
PROCESSED = ROOT / "data" / "processed"
CORPUS = ROOT.parent / "shared" / "corpus"


def corpus_file(name: str) -> Path:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{path} not present (the shared corpus is optional)")
    return path


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} not present (the shared corpus is optional)")
    return CORPUS


def grid(frame, index: str, columns: str) -> dict:
    """{(index, column): value or None} of a tidy frame (NA -> None)."""
    out = {}
    for rec in frame.to_dict("records"):
        v = rec["value"]
        out[(str(rec[index]), str(rec[columns]))] = None if v is None or v != v or str(v) == "<NA>" else float(v)
    return out
