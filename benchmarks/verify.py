"""Parse a sample of generated reports and compare every cell with the generated values.

    python -m benchmarks.verify OUT_DIR [--sample 500] [--jobs 2]

OUT_DIR is a folder written by ``python -m benchmarks.generate`` (its seed and size are
read from the folder's marker file).  For each sampled report it runs
``gxlib.parse_report(path)`` and :func:`benchmarks.generate.compare`, then prints per
shape: the status counts, and cells that are

* wrong    – a number that differs from the generated one (a parser bug: the worst outcome),
* missing  – NA or absent with no check row saying why (a contract breach),
* flagged  – NA or absent with a check row saying why (allowed; a loss of data all the same),

plus metadata differences (template, year, agency) and the status of damaged files.
Examples of wrong / missing cells are printed with the file, so they can be reported.
Nothing is asserted: the exit code is 0 unless ``--strict`` is given and a wrong or
missing cell was found.
"""
from __future__ import annotations

import argparse
import collections
import random
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from . import generate as gen


def _one(args: tuple[str, int, int, int]) -> dict:
    import gxlib

    out, seed, idx, variant = args
    s = gen.spec(seed, idx, variant)
    res = gxlib.parse_report(Path(out) / s["file"])
    c = gen.compare(s, res)
    return {
        "idx": idx, "file": s["file"], "shape": s["shape"], "encoding": s["encoding"], "template": s["template"],
        "damage": s["damage"], "status": res.report["status"], "error": res.report["error"],
        "wrong": c["wrong"], "missing": c["missing"], "flagged": [(m["section"], m["check"]) for m in c["missing_flagged"]],
        "extra": c["extra"], "meta": c["meta"],
    }


def verify(out_dir: str | Path, sample: int = 500, jobs: int = 1, seed: int | None = None, n: int | None = None,
           variants: dict | None = None) -> dict:
    marker = gen.read_marker(out_dir) or {}
    seed = marker.get("seed", 1) if seed is None else seed
    n = marker.get("n") if n is None else n
    if not n:
        raise ValueError(f"{out_dir}: no generator marker; pass --n and --seed")
    variants = {int(k): v for k, v in (marker.get("changed") or {}).items()} if variants is None else variants
    ids = sorted(random.Random(f"verify:{seed}:{n}").sample(range(n), min(sample, n)))
    tasks = [(str(out_dir), seed, i, variants.get(i, 0)) for i in ids]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            rows = list(pool.map(_one, tasks, chunksize=8))
    else:
        rows = [_one(t) for t in tasks]
    return {"seed": seed, "n": n, "rows": rows}


def report(res: dict, examples: int = 5, file=sys.stdout) -> tuple[int, int]:
    rows = res["rows"]
    p = lambda *a: print(*a, file=file)  # noqa: E731
    p(f"verified {len(rows)} of {res['n']} generated reports (seed {res['seed']})")
    status = collections.Counter()
    cells = collections.Counter()
    flag_rules = collections.Counter()
    meta = collections.Counter()
    wrong_ex, missing_ex, meta_ex = [], [], []
    damaged = collections.Counter()
    for r in rows:
        if r["damage"]:
            damaged[(r["damage"], r["status"])] += 1
            continue
        status[(r["shape"], r["status"])] += 1
        cells[(r["shape"], "wrong")] += len(r["wrong"])
        cells[(r["shape"], "missing")] += len(r["missing"])
        cells[(r["shape"], "flagged")] += len(r["flagged"])
        cells[(r["shape"], "files_exact")] += not (r["wrong"] or r["missing"] or r["flagged"])
        for sec, rule in r["flagged"]:
            flag_rules[(r["shape"], sec, rule)] += 1
        for m in r["meta"]:
            meta[(r["shape"], m[0])] += 1
            if len(meta_ex) < examples:
                meta_ex.append((r["file"], r["shape"], r["encoding"], m))
        for w in r["wrong"]:
            if len(wrong_ex) < examples:
                wrong_ex.append((r["file"], r["shape"], r["encoding"], w))
        for m in r["missing"]:
            if len(missing_ex) < examples:
                missing_ex.append((r["file"], r["shape"], r["encoding"], m))
    p(f"{'shape':8} {'files':>6} {'ok':>6} {'partial':>8} {'failed':>7} {'exact':>6} {'wrong':>7} {'missing':>8} {'flagged':>8}")
    for shape in gen.SHAPES:
        files = sum(v for (sh, _), v in status.items() if sh == shape)
        p(f"{shape:8} {files:6d} {status[(shape, 'ok')]:6d} {status[(shape, 'partial')]:8d} {status[(shape, 'failed')]:7d} "
          f"{cells[(shape, 'files_exact')]:6d} {cells[(shape, 'wrong')]:7d} {cells[(shape, 'missing')]:8d} "
          f"{cells[(shape, 'flagged')]:8d}")
    p("(exact = files whose every generated cell came back; wrong/missing/flagged count cells)")
    if flag_rules:
        p("flagged cells by check rule: " + ", ".join(f"{sh}/{sec}/{rule} {v}" for (sh, sec, rule), v in sorted(flag_rules.items())))
    if meta:
        p("metadata differences: " + ", ".join(f"{sh}/{k} {v}" for (sh, k), v in sorted(meta.items())))
    p("damaged files: " + (", ".join(f"{d}->{st} {v}" for (d, st), v in sorted(damaged.items())) or "none in sample"))
    for title, ex in (("WRONG values", wrong_ex), ("MISSING without a check", missing_ex), ("metadata", meta_ex)):
        if ex:
            p(f"examples of {title}:")
            for e in ex:
                p(f"  {e}")
    n_wrong = sum(v for (_, k), v in cells.items() if k == "wrong")
    n_missing = sum(v for (_, k), v in cells.items() if k == "missing")
    return n_wrong, n_missing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.verify", description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--sample", type=int, default=500)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--examples", type=int, default=5)
    ap.add_argument("--strict", action="store_true", help="exit 1 on any wrong or unexplained missing cell")
    args = ap.parse_args(argv)
    res = verify(args.out_dir, args.sample, args.jobs)
    wrong, missing = report(res, args.examples)
    return 1 if args.strict and (wrong or missing) else 0


if __name__ == "__main__":
    sys.exit(main())
