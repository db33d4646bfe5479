"""The `gx` command: thin argument handling around gxlib functions."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def default_out(raw: Path) -> Path:
    """Where ``gx parse RAW`` writes without ``--out``: ``data/processed`` for the
    repository's ``data/raw``, ``build/processed`` for any other folder (the committed
    tables of data/raw are never overwritten by another folder's)."""
    return Path("data/processed") if raw.resolve() == Path("data/raw").resolve() else Path("build/processed")


def _memory(text: str) -> int | None:
    """``--max-file-memory``: 2G, 1500M, 2 (GiB); 0 = no cap."""
    from .workers import memory_bytes

    try:
        return memory_bytes(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {err} (e.g. 2G, 1500M; 0 = no cap)") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: seconds cannot be negative")
    return value


def _parse(args: argparse.Namespace) -> int:
    raw = Path(args.raw_dir)
    if not raw.is_dir():
        print(f"gx parse: {raw}: no such folder", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else default_out(raw)
    if not args.out:
        print(f"gx parse: writing to {out} (the default for {raw}; choose another with --out)", file=sys.stderr)
    from .distributed import SchedulerError
    from .pipeline import run
    from .store import Busy

    try:
        result = run(raw, out=out, jobs=args.jobs, progress=False if args.no_progress else None,
                     cache=not args.no_cache, wait=not args.no_wait, max_file_memory=args.max_file_memory,
                     file_timeout=args.file_timeout or None, scheduler=args.scheduler)
    except (Busy, SchedulerError) as err:
        print(f"gx parse: {err}", file=sys.stderr)
        return 3
    print(result.summary())
    if result.written:
        print(f"wrote {out}/{{reports,disclosure,applications,reviews,checks,agencies}}.csv (+ .parquet)")
    else:
        print(f"no file new, changed or gone: the tables in {out} are up to date (verified, left as they were)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gx", description="政府信息公开工作年度报告 -> tidy data and trend reports")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("parse", help="parse every report under RAW_DIR into tidy CSV + Parquet")
    p.add_argument("raw_dir", help="folder of raw reports (.txt .md .html .pdf .docx; searched recursively)")
    p.add_argument("--out", default=None,
                   help="output folder (default: data/processed for data/raw, build/processed for any other folder)")
    p.add_argument("--jobs", "-j", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-cache", action="store_true",
                   help="forget the result store in --out: read and parse every file")
    p.add_argument("--no-wait", action="store_true",
                   help="exit with an error instead of waiting when another gx parse writes --out")
    p.add_argument("--max-file-memory", type=_memory, default="2G", metavar="SIZE",
                   help="memory one file may use while it is parsed (e.g. 2G, 1500M; 0 = no cap; default 2G); "
                        "a file over it is failed with that reason and the batch goes on")
    p.add_argument("--file-timeout", type=_seconds, default=120.0, metavar="SECONDS",
                   help="seconds one file may take (0 = no limit; default 120); "
                        "a file over it is failed with that reason and the batch goes on")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="a Dask scheduler (e.g. tcp://10.0.0.5:8786): parse the files on its cluster (needs gxlib[dask])")
    p.set_defaults(func=_parse)
    command = (argv if argv is not None else sys.argv[1:])[:1]
    if command == ["parse"]:  # gx parse imports nothing it does not need
        return _run(parser.parse_args(argv))
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
    return _run(parser.parse_args(argv), parser)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    if args.version:
        from . import __version__

        print(__version__)
        return 0
    if not getattr(args, "func", None):
        if parser is not None:
            parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
