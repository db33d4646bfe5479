"""One collection run of ``gx fetch`` (see :mod:`gxlib.fetch`)."""
from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..readers import ReadError
from ..readers.decode import decode
from . import pages
from .client import STAGING_PREFIX, Answer, Client, http_reason
from .manifest import Manifest, file_name, host_folder, now, public, sha256_of, suffix_for
from .pages import BLOCKED, DEFAULT_MATCH, DOCUMENT_SUFFIXES, IMAGE_SUFFIXES, NEEDS_JS  # noqa: F401 - re-exported

__all__ = ["Options", "Source", "Summary", "Fetcher", "SourcesError", "read_sources", "fetch", "default_user_agent"]

_WEB = re.compile(r"(?i)^https?://")
_META = ("agency", "year", "division_code", "note")
COLUMN_PAGE = "report column page (not a report)"


def default_user_agent() -> str:
    """``gxlib/<version> (+<project URL>; ...)``: who is asking and why."""
    from .. import __version__

    url = ""
    try:
        from importlib.metadata import metadata

        md = metadata("gxlib")
        for entry in md.get_all("Project-URL") or []:
            url = entry.split(",", 1)[-1].strip()
            break
        url = url or (md.get("Home-page") or "")
    except Exception:  # not installed as a distribution: no URL to give
        url = ""
    who = f"+{url}; " if url else ""
    return (f"gxlib/{__version__} ({who}collects government information-disclosure annual reports; "
            f"honours robots.txt, one request at a time)")


@dataclass
class Options:
    out: Path = Path("data/raw")
    delay: float = 1.0  # seconds between two requests to one host
    refresh: bool = False  # ask again for everything, without conditional requests
    ignore_robots: bool = False
    user_agent: str | None = None
    max_bytes: int | None = 100_000_000
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 1.0  # first retry waits this long, then twice as long each time
    match: str = DEFAULT_MATCH
    pages: int | None = 100  # report-column pages read at most
    progress: bool | None = None  # None: when stderr is a terminal


@dataclass
class Source:
    url: str
    agency: str = ""
    year: str = ""
    division_code: str = ""
    note: str = ""
    parent: str = ""  # the report-column page it was found on

    def meta(self) -> dict:
        return {k: getattr(self, k) for k in _META}


class SourcesError(Exception):
    """SOURCES cannot be read; ``str(err)`` names the file and the reason."""


def read_sources(spec: str) -> list[Source]:
    """One URL, or the rows of a CSV with a ``url`` column (UTF-8 with or without BOM, or
    GB18030/GBK as Excel saves it), each URL once."""
    spec = spec.strip()
    if _WEB.match(spec):
        return [Source(spec)]
    path = Path(spec)
    if not path.is_file():
        raise SourcesError(f"{spec}: neither a web address (http:// or https://) nor a CSV file")
    try:
        text = decode(path.read_bytes())[0]
    except ReadError as err:
        raise SourcesError(f"{spec}: {err}") from None
    reader = csv.DictReader(io.StringIO(text))
    cols = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
    if "url" not in cols:
        raise SourcesError(f"{spec}: no `url` column (columns: {', '.join(c for c in cols if c) or 'none'})")
    out: dict[str, Source] = {}
    for row in reader:
        url = (row.get(cols["url"]) or "").strip()
        if url and url not in out:
            out[url] = Source(url, **{k: (row.get(cols[k]) or "").strip() for k in _META if k in cols})
    return list(out.values())


@dataclass
class Summary:
    pages: Counter = field(default_factory=Counter)  # new / updated / unchanged / failed / skipped
    attachments: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)  # reason -> count
    skipped: Counter = field(default_factory=Counter)
    kept: Counter = field(default_factory=Counter)  # could not be checked again, the copy kept: reason
    bytes: int = 0  # bytes saved (new or changed files)
    column_pages: int = 0
    matched: int = 0
    not_requested: int = 0
    column_limit: bool = False
    requests: int = 0
    interrupted: bool = False
    manifest: str = ""

    @property
    def ok(self) -> int:
        return sum(c[k] for c in (self.pages, self.attachments) for k in ("new", "updated", "unchanged"))

    def text(self) -> str:
        def part(name: str, c: Counter) -> str:
            done = sum(c[k] for k in ("new", "updated", "unchanged"))
            bits = [f"{c[k]} {k}" for k in ("new", "updated", "unchanged") if c[k]]
            return f"{done} {name}" + (f" ({', '.join(bits)})" if bits else "")

        lines = [f"gx fetch: {part('report pages', self.pages)}, {part('attachments', self.attachments)}; "
                 f"{_size(self.bytes)} saved, {self.requests} requests"]
        if self.column_pages:
            lines.append(f"report column: {self.column_pages} pages read, {self.matched} report links matched, "
                         f"{self.not_requested} other links not requested"
                         + ("; stopped at the --pages limit (more pages were linked)" if self.column_limit else ""))
        for title, c in (("failed", self.failed), ("skipped", self.skipped),
                         ("could not check again (the copy already here is kept)", self.kept)):
            if c:
                lines.append(f"{title}: " + "; ".join(f"{n} {why}" for why, n in c.most_common()))
        if self.interrupted:
            lines.append("interrupted: the manifest holds everything fetched so far; run the same command to go on")
        if self.manifest:
            lines.append(f"manifest: {self.manifest}")
        return "\n".join(lines)


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover


class Fetcher:
    """One collection run into ``options.out`` (see the module docstring)."""

    def __init__(self, options: Options, transport=None) -> None:
        self.opts = options
        self.raw = Path(options.out)
        self.raw.mkdir(parents=True, exist_ok=True)
        for stale in self.raw.glob(f"*/{STAGING_PREFIX}*.part"):  # a download cut short by a kill
            stale.unlink(missing_ok=True)
        self.manifest = Manifest(self.raw)
        self.match = re.compile(options.match)
        self.client = Client(options.user_agent or default_user_agent(), delay=options.delay,
                             timeout=options.timeout, retries=options.retries, backoff=options.backoff,
                             max_bytes=options.max_bytes, ignore_robots=options.ignore_robots, transport=transport)
        self.summary = Summary()
        self.done: dict[str, dict] = {}  # url -> row, this run
        self.bar = None

    # ------------------------------------------------------------------------------------
    def run(self, sources: list[Source] | None = None, listing: str | None = None) -> Summary:
        from tqdm import tqdm

        progress = self.opts.progress if self.opts.progress is not None else sys.stderr.isatty()
        todo = list(sources or [])
        # (no tqdm object at all without a bar: even a disabled one starts tqdm's monitor thread)
        self.bar = tqdm(total=len(todo), unit="page", desc="gx fetch", leave=False) if progress else None
        try:
            if listing:
                found = self.column(listing)
                todo += found
                if self.bar is not None:
                    self.bar.total = len(todo)
                    self.bar.refresh()
            for src in todo:
                self.report(src)
                if self.bar is not None:
                    self.bar.update(1)
        except KeyboardInterrupt:
            self.summary.interrupted = True
        finally:
            if self.bar is not None:
                self.bar.close()
            self.manifest.write()
            self.client.close()
            self.summary.requests = self.client.requests
            self.summary.manifest = f"{self.manifest.path} ({len(self.manifest.rows)} rows)"
        return self.summary

    # ------------------------------------------------------------------------------------
    def column(self, start: str) -> list[Source]:
        """The report links of a site's report column, following its pagination."""
        queue, seen = [start], {start}
        found: dict[str, Source] = {}
        limit = self.opts.pages
        while queue:
            if limit is not None and self.summary.column_pages >= limit:
                self.summary.column_limit = True
                break
            url = queue.pop(0)
            if self.bar is not None:
                self.bar.set_postfix_str(f"column page {self.summary.column_pages + 1}")
            ans = self.client.get(url, into=None)
            self.summary.column_pages += 1
            reason = self._refusal(ans)
            if not reason:
                try:
                    text = pages.decode_page(ans.data, ans.headers.get("content-type"))
                except ReadError as err:
                    reason = f"the page cannot be decoded: {err}"
            if reason:
                self._record("column", {"url": url, "final_url": ans.final_url, "status": _status(ans),
                                        "error": reason, "http_status": ans.status or "",
                                        "content_type": ans.headers.get("content-type", ""), "note": COLUMN_PAGE})
                continue
            if self.manifest.get(url) is not None and self.manifest.get(url).get("note") == COLUMN_PAGE:
                self.manifest.drop(url)  # failed on an earlier run, read now
            root = pages.parse(text)
            chosen, others = pages.report_links(root, ans.final_url, self.match)
            self.summary.not_requested += others
            for link in chosen:
                if link.url not in found:
                    found[link.url] = Source(link.url, parent=url)
            for nxt in pages.pagination(root, text, ans.final_url):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        self.summary.matched = len(found)
        if not found and self.summary.column_pages:
            print(f"gx fetch: no link on the {self.summary.column_pages} report column page(s) matched "
                  f"--match {self.opts.match!r}", file=sys.stderr)
        return list(found.values())

    def report(self, src: Source) -> None:
        """A report page (or file) and the attachments it links."""
        row, data = self.fetch(src.url, src.parent, src.meta(), "page")
        if row.get("status") != "ok" or not row.get("file"):
            return
        if data is None and Path(row["file"]).suffix.lower() in (".html", ".htm", ".shtml", ".xhtml"):
            data = (self.raw / row["file"]).read_bytes()  # unchanged: its links are read from the copy
        if data is None or not pages.looks_html(data, row.get("content_type")):
            return
        try:
            root = pages.parse(pages.decode_page(data, row.get("content_type")))
        except ReadError:
            return
        folder = row["file"].rsplit("/", 1)[0]
        meta = {k: v for k, v in src.meta().items() if k != "note"}
        found = pages.attachment_links(root, row.get("final_url") or src.url)
        if self.bar is not None and found:
            self.bar.total += len(found)
            self.bar.refresh()
        for url in found:
            self.fetch(url, src.url, meta, "attachment", folder)
            if self.bar is not None:
                self.bar.update(1)

    # ------------------------------------------------------------------------------------
    def fetch(self, url: str, parent: str, meta: dict, kind: str, folder: str | None = None) -> tuple[dict, bytes | None]:
        """Fetch one URL into the raw folder and record it.  Returns its manifest row and,
        when this run downloaded an HTML page, its bytes."""
        if url in self.done:
            return self.done[url], None
        base = {"url": url, "parent": parent, **{k: v for k, v in meta.items() if v}}
        if not _WEB.match(url):
            return self._record(kind, {**base, "status": "failed", "error": "not a web address (http:// or https://)"}), None
        have = self._have(url)
        headers = {}
        if have is not None and not self.opts.refresh:
            if not (have.get("etag") or have.get("last_modified")):
                return self._unchanged(kind, have, base), None  # nothing to ask the site with: keep the copy
            if have.get("etag"):
                headers["If-None-Match"] = have["etag"]
            if have.get("last_modified"):
                headers["If-Modified-Since"] = have["last_modified"]
        folder = folder or (have["file"].rsplit("/", 1)[0] if have and "/" in have["file"] else host_folder(url))
        if self.bar is not None:
            self.bar.set_postfix_str(url[-60:])
        target, hops = url, 0
        while True:
            ans = self.client.get(target, headers, into=self.raw / folder)
            if ans.status == 304 and have is not None:
                return self._unchanged(kind, have, base), None
            ct = ans.headers.get("content-type", "")
            reason, data = self._refusal(ans), None
            if not reason:
                with open(ans.body, "rb") as f:
                    head = f.read(4096)
                if pages.looks_html(head, ct):
                    data = ans.body.read_bytes()
                    nxt = pages.redirect_target(data, ct, ans.final_url)
                    if nxt and hops < 3 and nxt != ans.final_url:  # a page that only forwards elsewhere
                        ans.discard()
                        target, hops = nxt, hops + 1
                        continue
                    reason = pages.refusal(ans.status, data, ct)
                    if not reason and kind == "attachment" and _expects_file(url):
                        reason = "the link answered with a web page, not the file"
            break
        if reason:
            ans.discard()
            row = {**base, "final_url": ans.final_url, "status": _status(ans), "error": reason,
                   "http_status": ans.status or "", "content_type": ct}
            if have is not None:  # what was fetched before is never lost to a later failure
                self.summary.kept[reason] += 1
                self.done[url] = have
                return have, None
            return self._record(kind, row), None
        final = ans.final_url or url
        sfx = suffix_for(final, ct, ans.headers.get("content-disposition"))
        rel = have["file"] if have is not None else self.manifest.claim(url, folder, file_name(final, sfx), ans.sha256)
        path = self.raw / rel
        same = path.is_file() and ((have is not None and have.get("sha256") == ans.sha256
                                    and path.stat().st_size == ans.size) or sha256_of(path) == ans.sha256)
        if same:
            ans.discard()  # the bytes are those already here: the file is left as it is
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            public(ans.body)
            os.replace(ans.body, path)
            self.summary.bytes += ans.size
        row = {**base, "file": rel, "final_url": final, "status": "ok", "error": "",
               "http_status": ans.status, "content_type": ct, "bytes": ans.size, "sha256": ans.sha256,
               "fetched_at": have["fetched_at"] if same and have is not None else now(),
               "etag": ans.headers.get("etag", ""), "last_modified": ans.headers.get("last-modified", "")}
        state = "unchanged" if same and have is not None else ("updated" if have is not None else "new")
        return self._record(kind, row, state), data

    # ------------------------------------------------------------------------------------
    def _have(self, url: str) -> dict | None:
        """The manifest row of a file fetched before and still here unchanged in size."""
        row = self.manifest.get(url)
        if not row or row.get("status") != "ok" or not row.get("file"):
            return None
        path = self.raw / row["file"]
        try:
            return row if path.is_file() and str(path.stat().st_size) == str(row.get("bytes")) else None
        except OSError:
            return None

    def _refusal(self, ans: Answer) -> str:
        """Why an answer gives no document ('' when it does): no answer, an HTTP error,
        a challenge or a script shell."""
        if ans.error:
            return ans.error
        if ans.status is None or not 200 <= ans.status < 300:
            body = ans.data
            if ans.status == 304:
                return "not modified (HTTP 304) but there is no copy here"
            return pages.refusal(ans.status, body, ans.headers.get("content-type")) or http_reason(ans.status or 0)
        if ans.body is None:  # kept in memory (column pages)
            return pages.refusal(ans.status, ans.data, ans.headers.get("content-type")) or ""
        return ""

    def _unchanged(self, kind: str, have: dict, base: dict) -> dict:
        updates = {k: v for k, v in base.items() if k in _META and v and have.get(k) != v}
        if updates:  # new metadata from SOURCES for a file already here
            have = self.manifest.put({**have, **updates})
        return self._count(kind, "unchanged", have)

    def _record(self, kind: str, row: dict, state: str | None = None) -> dict:
        row = self.manifest.put(row)
        state = state or row["status"]
        if row["status"] == "failed":
            self.summary.failed[row["error"]] += 1
        elif row["status"] == "skipped":
            self.summary.skipped[row["error"]] += 1
        return self._count(kind, state, row)

    def _count(self, kind: str, state: str, row: dict) -> dict:
        if kind == "page":
            self.summary.pages[state] += 1
        elif kind == "attachment":
            self.summary.attachments[state] += 1
        self.done[row["url"]] = row
        self.manifest.write(force=False)  # after every URL whose row changed (see Manifest.write)
        return row


def _status(ans: Answer) -> str:
    return "skipped" if ans.skipped else "failed"


def _expects_file(url: str) -> bool:
    from .manifest import _url_suffix

    return _url_suffix(url) in DOCUMENT_SUFFIXES + IMAGE_SUFFIXES


def fetch(sources: list[Source] | None = None, listing: str | None = None, options: Options | None = None,
          transport=None) -> Summary:
    """Collect ``sources`` and/or the reports of the report column at ``listing`` into
    ``options.out`` (see :class:`Options`)."""
    return Fetcher(options or Options(), transport=transport).run(sources, listing)
