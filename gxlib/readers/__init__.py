"""Format readers: raw bytes -> :class:`Document`.

A reader knows nothing of templates or tables.  It turns one file into plain text in
which the table core (:mod:`gxlib.tables`) can find rows by their labels:

* ``Document.text`` holds the whole report as text.  Table rows may be one cell per
  line, ``|``-separated cells, or flattened runs of digits: the core copes with all three.
* ``Document.explicit_cells`` is True when the reader knows the cell grid (HTML, DOCX,
  PDF table geometry).  Then each table row is written on one line as
  ``cell | cell | cell`` and an empty piece between two ``|`` is a real blank cell
  (which the contract reads as 0).  For plain-text captures it is False: there an empty
  piece is only layout padding.

Readers raise :class:`ReadError` with a reason a person understands when a file cannot
be read (binary, scanned PDF, legacy ``.doc`` ...).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class ReadError(Exception):
    """A file that cannot be turned into text; ``str(err)`` is the reason shown to users."""


@dataclass
class Document:
    text: str
    explicit_cells: bool = False
    format: str = "text"
    title: str | None = None
    published: str | None = None  # ISO date, when the reader found one (e.g. HTML meta)
    notes: list[str] = field(default_factory=list)  # reader remarks (encoding used, pages ...)


# suffix -> module name (modules are imported lazily so a missing optional format
# library never stops text parsing)
READERS = {
    ".txt": "text",
    ".md": "text",
    ".text": "text",
    ".htm": "html",
    ".html": "html",
    ".shtml": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}

UNSUPPORTED = {
    ".doc": "legacy Word .doc is not supported; save it as .docx or PDF",
    ".wps": "WPS document is not supported; save it as .docx or PDF",
    ".xls": "spreadsheet files are not report documents",
    ".xlsx": "spreadsheet files are not report documents",
    ".png": "image file (no text layer); OCR is not supported",
    ".jpg": "image file (no text layer); OCR is not supported",
    ".jpeg": "image file (no text layer); OCR is not supported",
    ".gif": "image file (no text layer); OCR is not supported",
    ".bmp": "image file (no text layer); OCR is not supported",
    ".tif": "image file (no text layer); OCR is not supported",
    ".tiff": "image file (no text layer); OCR is not supported",
    ".webp": "image file (no text layer); OCR is not supported",
    ".zip": "archive files are not read; unpack it first",
    ".rar": "archive files are not read; unpack it first",
}

# files in a raw folder that are not reports and are never listed
IGNORED_NAMES = {"manifest.csv", "README.md", "readme.md", ".gitkeep", ".DS_Store", "Thumbs.db"}


def read(path: str | Path, data: bytes | None = None) -> Document:
    """Read one raw file into a :class:`Document` (dispatch on the suffix)."""
    import importlib

    from . import guards

    path = Path(path)
    if data is None:
        data = guards.read_file(path)
    suffix = path.suffix.lower()
    guards.check_encrypted(data)  # a password-protected Office file, whatever its name
    if suffix in UNSUPPORTED:
        raise ReadError(UNSUPPORTED[suffix])
    name = READERS.get(suffix)
    if name is None:
        # unknown suffix: sniff the bytes
        head = data[:2048].lstrip().lower()
        if data[:5] == b"%PDF-":
            name = "pdf"
        elif data[:4] == b"PK\x03\x04":
            name = "docx"
        elif head.startswith((b"<!doctype html", b"<html")) or b"<table" in head:
            name = "html"
        else:
            name = "text"
    module = importlib.import_module(f"gxlib.readers.{name}")
    return module.read(data, path)
