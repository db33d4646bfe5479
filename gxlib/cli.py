"""The `gx` command: thin argument handling around gxlib functions."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path


def _one_malloc_arena() -> None:
    """One C-library malloc arena for this process (and the workers it forks). Arrow
    allocates from malloc during a run, and each thread that allocates gets an arena of
    its own, which keeps what it frees for itself: at 100k reports an incremental run's
    merge threads left the parent 40 MB larger (about 490 -> 450 MB peak), with the same
    speed; a full parse is as fast either way. Only the command does this: a library
    call leaves the caller's process as it is."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).mallopt(-8, 1)  # M_ARENA_MAX (glibc; musl ignores it)


def _arrow_on_malloc() -> None:
    """Arrow's own default allocator on the C library's malloc too, unless the user chose
    one: set before pyarrow is imported, as Arrow reads it once. ``pipeline.run`` moves
    pyarrow's default to malloc, but the Parquet reader and writer allocate from Arrow's
    (mimalloc), which kept ~90 MB resident of the ~17 MB it ever held at once at the peak
    of a 100k incremental run."""
    if "pyarrow" not in sys.modules:
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def _listing_child(raw: Path):
    """The folder listed by a forked child while this process imports the pipeline (NumPy,
    Arrow, pandas: ~0.35 s); None where a fork would copy other threads (the command
    called from a program that has some) or there is no fork."""
    import threading

    if threading.active_count() > 1:
        return None
    from .listing import ListingChild

    return ListingChild(raw)


def _parse(args: argparse.Namespace) -> int:
    _one_malloc_arena()
    _arrow_on_malloc()
    raw = Path(args.raw_dir)
    if not raw.is_dir():
        print(f"gx parse: {raw}: no such folder", file=sys.stderr)
        return 2
    listed = _listing_child(raw)
    try:
        from .pipeline import run

        progress = None if not args.no_progress else False
        result = run(raw, out=Path(args.out), jobs=args.jobs, progress=progress, cache=not args.no_cache,
                     listed=listed)
    finally:
        if listed is not None:
            listed.close()
    print(result.summary())
    if result.written:
        print(f"wrote {args.out}/{{reports,disclosure,applications,reviews,checks}}.csv (+ .parquet)")
    else:
        print(f"no file new, changed or gone: the tables in {args.out} are up to date (left as they were)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gx", description="政府信息公开工作年度报告 -> tidy data and trend reports")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("parse", help="parse every report under RAW_DIR into tidy CSV + Parquet")
    p.add_argument("raw_dir", help="folder of raw reports (.txt .md .html .pdf .docx; searched recursively)")
    p.add_argument("--out", default="data/processed", help="output folder (default: data/processed)")
    p.add_argument("--jobs", "-j", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-cache", action="store_true",
                   help="ignore what an earlier run left in --out: read and parse every file")
    p.set_defaults(func=_parse)
    from . import fetch

    fetch.add_arguments(sub.add_parser("fetch", help="collect reports from government websites into RAW_DIR with a manifest"))
    sub.choices["fetch"].set_defaults(func=fetch.main)
    try:
        from . import render
    except ImportError:  # analysis extras not installed
        render = None
    if render is not None and hasattr(render, "add_arguments"):
        r = sub.add_parser("render", help="run the notebook grid and write HTML reports")
        render.add_arguments(r)
        r.set_defaults(func=render.run)
    from . import export  # gx export --wide: the wide panel for Excel, Stata, R

    e = sub.add_parser("export", help="write the wide panel (one row per report) as CSV, xlsx, dta and Parquet")
    export.add_arguments(e)
    e.set_defaults(func=export.run)
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
