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
be read (binary, damaged, an optional engine missing ...).

:func:`read` chooses the reader by the file's bytes, not its suffix: PDF, ZIP packages
(DOCX or OFD), OLE2 compound files (Word 97 ``.doc``/``.wps``, Works, Excel), RTF, images
(OCR) are recognised by their signature; text and HTML are told apart by suffix and
content.  ``Document.text_source`` says how the text was obtained: ``text``, ``html``,
``pdf_text``, ``docx``, ``ocr``, ``libreoffice`` or ``ofd`` (the text objects of an OFD).
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
    text_source: str = ""  # how the text was obtained (see the module docstring); set by read()
    # applied by the parser to the table core's result (the OCR reader holds OCR'd cells to
    # their scores and identities this way): Tables -> Tables
    postprocess: object = None


# suffix -> module name for files whose bytes have no signature (text and HTML); modules
# are imported lazily so a missing optional format library never stops text parsing
READERS = {
    ".txt": "text",
    ".md": "text",
    ".text": "text",
    ".htm": "html",
    ".html": "html",
    ".shtml": "html",
    ".xhtml": "html",
}

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif"}

UNSUPPORTED = {
    ".xls": "spreadsheet files are not report documents",
    ".xlsx": "spreadsheet files are not report documents",
    ".et": "spreadsheet files are not report documents",
    ".zip": "archive files are not read; unpack it first",
    ".rar": "archive files are not read; unpack it first",
    ".7z": "archive files are not read; unpack it first",
}

# files in a raw folder that are not reports and are never listed
IGNORED_NAMES = {"manifest.csv", "README.md", "readme.md", ".gitkeep", ".DS_Store", "Thumbs.db"}

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF87a", b"GIF89a")
_OWN_REASON = {".pdf": "pdf", ".docx": "docx", ".ofd": "ofd", ".doc": "word97", ".wps": "word97"}
_SOURCE_OF_FORMAT = {"text": "text", "html": "html", "pdf": "pdf_text", "docx": "docx"}


def is_image(data: bytes) -> bool:
    """PNG, JPEG, TIFF, GIF, WebP or BMP, by signature."""
    if data.startswith(_IMAGE_MAGIC):
        return True
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return True
    # BMP: "BM", then the file size and a header size that BMP writers use
    return data[:2] == b"BM" and len(data) > 26 and data[14] in (12, 40, 52, 56, 64, 108, 124) and data[15:18] == b"\0\0\0"


def _zip_kind(data: bytes) -> str | None:
    """"docx" or "ofd" for a ZIP package, by the names of its members."""
    import io
    import zipfile

    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except Exception:
        return None
    if "word/document.xml" in names:
        return "docx"
    if "OFD.xml" in names or any(n.lower() == "ofd.xml" for n in names):
        return "ofd"
    return None


def sniff(data: bytes, suffix: str) -> str:
    """The reader module for these bytes (``suffix`` only decides between text and HTML,
    and names the reason for files no reader takes)."""
    if data[:1024].find(b"%PDF-") >= 0:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        kind = _zip_kind(data)
        if kind:
            return kind
        if suffix in (".docx", ".ofd"):
            return "docx" if suffix == ".docx" else "ofd"  # damaged package: the reader says why
        raise ReadError(UNSUPPORTED.get(suffix, "a ZIP archive that is neither a .docx nor an OFD document"))
    if data.startswith(OLE_MAGIC[:4]) or data.lstrip()[:5] == b"{\\rtf":
        return "word97"
    if is_image(data):
        return "ocr"
    if suffix in UNSUPPORTED:
        raise ReadError(UNSUPPORTED[suffix])
    if suffix in _OWN_REASON:
        return _OWN_REASON[suffix]  # no signature: that reader tells what the file is (or is not)
    name = READERS.get(suffix)
    if name is None:
        head = data[:2048].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")) or b"<table" in head:
            name = "html"
        elif suffix in IMAGE_SUFFIXES:
            raise ReadError(f"not a readable image ({suffix} file without an image signature)")
        else:
            name = "text"
    return name


def read(path: str | Path, data: bytes | None = None) -> Document:
    """Read one raw file into a :class:`Document` (the reader is chosen by the bytes)."""
    import importlib

    from . import guards

    path = Path(path)
    if data is None:
        data = guards.read_file(path)
    guards.check_encrypted(data)  # a password-protected Office file, whatever its name
    name = sniff(data, path.suffix.lower())
    module = importlib.import_module(f"gxlib.readers.{name}")
    doc = module.read(data, path)
    if not doc.text_source:
        doc.text_source = _SOURCE_OF_FORMAT.get(doc.format, doc.format)
    return doc
