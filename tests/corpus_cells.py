"""Every known cell the parser gives on ../shared/corpus, as a compact, comparable baseline.

``python -m tests.corpus_cells ../shared/corpus tests/golden/corpus_baseline.csv`` writes
the baseline; ``tests/test_corpus_baseline.py`` parses the corpus again and lists every
difference.  One line per (file, table, row): the known cells of that row as
``column=value`` pairs (NA cells are left out: the baseline is what the parser *knew*).
The parse goes through :func:`gxlib.parse.parse_bytes`, one file at a time, so the
comparison does not depend on the batch engine.
"""
from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

from gxlib.parse import parse_bytes

TABLES = {
    "disclosure": ("item", "measure"),
    "applications": ("row", "applicant"),
    "reviews": ("proceeding", "outcome"),
}
SUFFIXES = {".txt", ".html", ".htm", ".pdf", ".docx", ".md"}


def _known(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def parse_cells(corpus: Path) -> dict[tuple[str, str, str, str], float]:
    """{(source_file, table, row key, column key): value} for every known cell."""
    out: dict[tuple[str, str, str, str], float] = {}
    for path in sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
        rel = path.relative_to(corpus).as_posix()
        res = parse_bytes(path.read_bytes(), rel)
        for table, (rk, ck) in TABLES.items():
            for rec in res[table]:
                if _known(rec["value"]):
                    out[(rel, table, rec[rk], rec[ck])] = float(rec["value"])
    return out


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def write(cells: dict, dest: Path) -> None:
    rows: dict[tuple[str, str, str], list[str]] = {}
    for (f, t, r, c), v in sorted(cells.items()):
        rows.setdefault((f, t, r), []).append(f"{c}={_fmt(v)}")
    with dest.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["source_file", "table", "row", "cells"])
        for (f, t, r), cs in rows.items():
            w.writerow([f, t, r, ";".join(cs)])


def read(src: Path) -> dict[tuple[str, str, str, str], float]:
    out = {}
    with src.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            for pair in row["cells"].split(";"):
                c, v = pair.split("=")
                out[(row["source_file"], row["table"], row["row"], c)] = float(v)
    return out


if __name__ == "__main__":
    corpus, dest = Path(sys.argv[1]), Path(sys.argv[2])
    write(parse_cells(corpus), dest)
