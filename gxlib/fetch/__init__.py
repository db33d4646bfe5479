"""``gx fetch``: collect reports from government websites into a raw folder.

SOURCES is a CSV with a ``url`` column (optional ``agency``, ``year``, ``division_code``,
``note``, passed on to the manifest) or one page URL; ``--listing URL`` reads a site's
report column (a paginated list of links) and takes the links whose text matches
``--match``.  Each report page is saved byte for byte under ``RAW_DIR/<host>/``, with the
report files it links (PDF, Word, WPS, OFD, spreadsheets, images in the content area)
beside it, and ``RAW_DIR/manifest.csv`` records every URL: the file, the status (ok /
failed / skipped) and the reason, the HTTP facts, and the metadata ``gx parse`` reads.

A re-run asks only for what is missing or may have changed (conditional requests with
the ETag / Last-Modified the site gave), so nothing is downloaded twice; a file fetched
once is never lost because the site fails later.  See :mod:`gxlib.fetch.client` for the
politeness rules and :mod:`gxlib.fetch.pages` for what is read in a page.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# (this module stays light: `gx parse` imports it to register the command; the HTTP client,
# lxml and the run are imported when `gx fetch` runs)
DEFAULT_MATCH = r"政府信息公开(?:工作)?年度报告|政务公开工作年度报告|政府信息公开年报"
_WEB = re.compile(r"(?i)^https?://")
_PUBLIC = {"Options", "Source", "Summary", "Fetcher", "SourcesError", "read_sources", "fetch", "default_user_agent",
           "BLOCKED", "NEEDS_JS"}

__all__ = sorted(_PUBLIC | {"add_arguments", "main", "DEFAULT_MATCH"})


def __getattr__(name: str):
    if name in _PUBLIC:
        from . import run

        return getattr(run, name)
    raise AttributeError(name)


# ----------------------------------------------------------------------------------------
# the command

def _bytes_arg(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*", text, re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 5000000, 500KB, 20MB)")
    return int(float(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="?",
                   help="CSV with a url column (optional agency, year, division_code, note) or one page URL")
    p.add_argument("--listing", metavar="URL", help="a site's report column: follow its pages, fetch the matching links")
    p.add_argument("--out", default="data/raw", help="raw folder (default: data/raw); manifest.csv is written there")
    p.add_argument("--match", default=DEFAULT_MATCH,
                   help="regular expression a link text must match in --listing (default: %(default)s)")
    p.add_argument("--pages", type=int, default=100, metavar="N", help="read at most N report column pages (default: 100)")
    p.add_argument("--delay", type=float, default=1.0, metavar="SECONDS",
                   help="seconds between two requests to the same host (default: 1.0; robots.txt Crawl-delay wins if longer)")
    p.add_argument("--refresh", action="store_true",
                   help="download again what is already here, without conditional requests (unchanged files are left as they are)")
    p.add_argument("--ignore-robots", action="store_true", help="do not read robots.txt (a warning is printed)")
    p.add_argument("--user-agent", help="User-Agent to send (default: gxlib/VERSION with what it does)")
    p.add_argument("--max-bytes", type=_bytes_arg, default=100_000_000, metavar="SIZE",
                   help="files larger than this are not saved (failed with the reason; default: 100000000)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="per request (default: 30)")
    p.add_argument("--retries", type=int, default=3, help="retries on timeouts and server errors (default: 3)")
    p.add_argument("--backoff", type=float, default=1.0, metavar="SECONDS",
                   help="first retry after this long, doubling each time (default: 1.0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    if not args.sources and not args.listing:
        print("gx fetch: give SOURCES (a CSV with a url column, or a page URL) or --listing URL", file=sys.stderr)
        return 2
    try:
        re.compile(args.match)
    except re.error as err:
        print(f"gx fetch: --match {args.match!r} is not a regular expression: {err}", file=sys.stderr)
        return 2
    if args.delay < 0 or args.timeout <= 0 or args.retries < 0 or args.backoff < 0:
        print("gx fetch: --delay, --retries and --backoff cannot be negative, --timeout must be positive", file=sys.stderr)
        return 2
    if args.listing and not _WEB.match(args.listing):
        print(f"gx fetch: --listing {args.listing!r} is not a web address (http:// or https://)", file=sys.stderr)
        return 2
    from .run import Options, SourcesError, fetch, read_sources

    try:
        sources = read_sources(args.sources) if args.sources else []
    except SourcesError as err:
        print(f"gx fetch: {err}", file=sys.stderr)
        return 2
    if args.ignore_robots:
        print("gx fetch: warning: --ignore-robots: robots.txt is not read; make sure the site's terms allow "
              "this collection", file=sys.stderr)
    opts = Options(out=Path(args.out), delay=args.delay, refresh=args.refresh, ignore_robots=args.ignore_robots,
                   user_agent=args.user_agent, max_bytes=args.max_bytes, timeout=args.timeout, retries=args.retries,
                   backoff=args.backoff, match=args.match, pages=args.pages,
                   progress=False if args.no_progress else None)
    summary = fetch(sources, args.listing, opts)
    print(summary.text())
    if summary.interrupted:
        return 130
    return 1 if summary.ok == 0 and (summary.failed or summary.skipped) else 0
