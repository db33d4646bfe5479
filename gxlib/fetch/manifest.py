"""``RAW_DIR/manifest.csv`` as ``gx fetch`` keeps it, and the file names it gives.

The manifest is the record of a collection: one row per URL asked for (a report page,
an attachment, a report-column page that failed), with the file it was saved as.  It is
rewritten whole, staged beside itself and moved over the old one, so whatever stops a
run (Ctrl-C, a crash) leaves the previous or the new manifest, never half of one.  Rows
a person added (files downloaded by hand, extra columns) are kept as they are.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import time
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

MANIFEST_NAME = "manifest.csv"  # the name gxlib.parse reads
from ..readers import IGNORED_NAMES

COLUMNS = ["file", "url", "final_url", "parent", "status", "error", "http_status", "content_type", "bytes",
           "sha256", "fetched_at", "etag", "last_modified", "agency", "year", "division_code", "note"]
FETCHED = COLUMNS[:13]  # what a fetch says about a URL (the rest is what a person knows of it)

# content type -> suffix, for URLs whose own suffix says nothing (.jsp, .do, no suffix)
_TYPES = {
    "text/html": ".html", "application/xhtml+xml": ".html", "application/pdf": ".pdf",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.ms-works": ".wps", "application/wps-office.wps": ".wps", "application/kswps": ".wps",
    "application/ofd": ".ofd", "application/vnd.ofd": ".ofd",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/bmp": ".bmp", "image/tiff": ".tif",
    "image/webp": ".webp", "text/plain": ".txt",
}
KNOWN_SUFFIXES = {".html", ".htm", ".shtml", ".xhtml", ".pdf", ".doc", ".docx", ".wps", ".ofd", ".xls", ".xlsx",
                  ".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".txt"}
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f\s]+')
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.I)  # Windows device names
_MAX_NAME_BYTES = 150  # leaves room under the 255-byte limit of most file systems
_IGNORED_LOWER = {n.lower() for n in IGNORED_NAMES}


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def host_folder(url: str) -> str:
    """``www.example.gov.cn`` (``host_8080`` with a port): the folder of a site."""
    p = urlsplit(url)
    host = (p.hostname or "unknown-host").lower().rstrip(".")
    folder = f"{host}_{p.port}" if p.port else host
    return _safe(folder) or "unknown-host"


def suffix_for(url: str, content_type: str | None, disposition: str | None = None) -> str:
    """The suffix a saved file gets: the URL's when it names a document type, else the
    one of the Content-Disposition file name, else the content type's."""
    own = _url_suffix(url)
    if own in KNOWN_SUFFIXES:
        return own
    m = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)", disposition or "", re.I)
    if m:
        sfx = _url_suffix("/" + unquote(m.group(1)))
        if sfx in KNOWN_SUFFIXES:
            return sfx
    ct = (content_type or "").split(";")[0].strip().lower()
    return _TYPES.get(ct, own if own and len(own) <= 6 else ".bin")


def file_name(url: str, suffix: str) -> str:
    """A file name from the URL path (segments joined with ``_``, query kept), safe on
    Windows, macOS and Linux, ending in ``suffix``."""
    p = urlsplit(url)
    path = unquote(p.path)
    segments = [s for s in path.split("/") if s]
    if not segments or path.endswith("/"):
        segments.append("index")
    name = "_".join(segments)
    if name.lower().endswith(suffix):
        name = name[: -len(suffix)]
    if p.query:
        name += "_" + unquote(p.query)
    name = _safe(name) or "index"
    if len((name + suffix).encode()) > _MAX_NAME_BYTES:
        tag = hashlib.sha1(url.encode()).hexdigest()[:8]
        while len((name + suffix).encode()) > _MAX_NAME_BYTES - 9:
            name = name[:-1]
        name = f"{name.rstrip('._- ')}-{tag}"
    out = name + suffix
    if _RESERVED.match(out) or out.lower() in _IGNORED_LOWER:
        out = "_" + out
    return out


def _safe(name: str) -> str:
    name = unicodedata.normalize("NFC", name)
    name = _UNSAFE.sub("_", name)
    name = re.sub(r"_{2,}", "_", name)
    return name.strip(" ._")


def _url_suffix(url: str) -> str:
    last = unquote(urlsplit(url).path).rsplit("/", 1)[-1].lower()
    return "." + last.rsplit(".", 1)[-1] if "." in last else ""


class Manifest:
    """The rows of ``RAW_DIR/manifest.csv`` by URL, the names they use, atomic writes."""

    def __init__(self, raw_dir: Path) -> None:
        self.raw_dir = raw_dir
        self.path = raw_dir / MANIFEST_NAME
        self.columns = list(COLUMNS)
        self.rows: list[dict] = []
        self.by_url: dict[str, dict] = {}
        self.names: dict[str, str] = {}  # lower-cased file -> url that owns it
        self._dirty = False
        self._next = 0.0  # monotonic time before which an unforced write is skipped
        if self.path.is_file():
            self._load()
        for leftover in raw_dir.glob(f".{MANIFEST_NAME}.*.tmp"):  # a write stopped half-way
            leftover.unlink(missing_ok=True)

    def _load(self) -> None:
        text = self.path.read_bytes().decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text))
        for col in reader.fieldnames or []:
            if col and col not in self.columns:
                self.columns.append(col)  # a person's own column: kept
        for row in reader:
            row = {k: (v or "") for k, v in row.items() if k}
            self.rows.append(row)
            if row.get("url"):
                self.by_url[row["url"]] = row
            if row.get("file"):
                self.names[row["file"].replace("\\", "/").lower()] = row.get("url", "")

    def get(self, url: str) -> dict | None:
        return self.by_url.get(url)

    def put(self, row: dict) -> dict:
        """Add or update the row of ``row['url']``.  The columns of the fetch (:data:`FETCHED`)
        are replaced; the others (agency, year, division_code, note and a person's own
        columns) keep their value unless ``row`` gives a new one."""
        row = {k: str(v) for k, v in row.items()}
        old = self.by_url.get(row["url"])
        if old is None:
            row = {**{c: "" for c in self.columns}, **row}
            self.rows.append(row)
            self.by_url[row["url"]] = row
        else:
            new = {c: "" for c in self.columns}
            new.update({k: v for k, v in old.items() if k not in FETCHED})
            new.update({k: v for k, v in row.items() if k in FETCHED or v})
            if new == old:
                return old  # nothing new: the manifest is not written again for it
            if old.get("file") and old["file"] != new.get("file"):
                self.names.pop(old["file"].lower(), None)
            old.clear()
            old.update(new)
            row = old
        if row.get("file"):
            self.names[row["file"].lower()] = row["url"]
        self._dirty = True
        return row

    def drop(self, url: str) -> None:
        """Remove the row of ``url`` (a report column page that failed before and is read now)."""
        row = self.by_url.pop(url, None)
        if row is not None:
            self.rows = [r for r in self.rows if r is not row]
            if row.get("file"):
                self.names.pop(row["file"].lower(), None)
            self._dirty = True

    def claim(self, url: str, folder: str, name: str, sha256: str) -> str:
        """A relative path ``folder/name`` for the bytes of ``url``; when it is taken (by
        another URL's row, or by a different file on disk, compared without case for
        case-insensitive file systems), the name gets a short hash of the URL."""
        rel = f"{folder}/{name}"
        if self._free(rel, url, sha256):
            return rel
        stem, dot, sfx = name.rpartition(".")
        tag = hashlib.sha1(url.encode()).hexdigest()[:8]
        rel = f"{folder}/{stem}-{tag}.{sfx}" if dot else f"{folder}/{name}-{tag}"
        n = 2
        while not self._free(rel, url, sha256):  # (only if two URLs share the 8-hex tag)
            rel = f"{folder}/{stem}-{tag}-{n}.{sfx}" if dot else f"{folder}/{name}-{tag}-{n}"
            n += 1
        return rel

    def _free(self, rel: str, url: str, sha256: str) -> bool:
        owner = self.names.get(rel.lower())
        if owner is not None:
            return owner == url
        path = self.raw_dir / rel  # (exists() ignores case where the file system does)
        return not path.exists() or sha256_of(path) == sha256  # a file no row names: by hand, or a cut run

    def write(self, force: bool = True) -> None:
        """Write the manifest when a row changed: staged beside it, flushed to disk, then
        moved over the old one (a whole manifest whenever the run stops).  ``force=False``
        (after each URL) skips a write that would make writing the manifest more than a
        tenth of the run's time: a large manifest (5,000 rows: ~2 MB) is written every few
        seconds rather than after every file; the last write of a run is always forced."""
        if not self._dirty or (not force and time.monotonic() < self._next):
            return
        started = time.monotonic()
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(self.rows)
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST_NAME}.", suffix=".tmp", dir=self.raw_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as f:
                f.write(buf.getvalue())
                f.flush()
                os.fsync(f.fileno())
            public(tmp)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._dirty = False
        self._next = time.monotonic() + 9 * (time.monotonic() - started)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()


def public(path: str | Path) -> None:
    """The permissions of a file made the ordinary way (a staged file is owner-only)."""
    os.chmod(path, _MODE)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

