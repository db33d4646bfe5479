"""Word .docx: python-docx, tables read directly from the document's own grid.

Body paragraphs and tables are read in document order.  Each table row is one
``cell | cell | cell`` line (``Document.explicit_cells = True``) with the same grid rules
as the HTML reader: python-docx repeats one cell object across a horizontal (gridSpan)
or vertical (vMerge) merge, and such a cell is written once, in the row where it starts.
A table holding other tables is page layout: its cells are read as blocks.

Files named .docx that are something else are recognised: a legacy OLE ``.doc`` fails
with a clear reason; Word-exported HTML or a PDF saved under the wrong name is read by
the HTML or PDF reader.

The package goes through :mod:`gxlib.readers.guards` before python-docx sees it: a ZIP
bomb, a truncated download, a password-protected document, entity expansion in a part
and too deep nesting each fail with what they are.
"""
from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

from . import Document, ReadError, guards
from .html import clean_cell, grid_lines, join_pieces

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _qn(tag: str) -> str:
    from docx.oxml.ns import qn

    return qn(tag)


def _paragraph_text(p_el, parent) -> str:
    from docx.text.paragraph import Paragraph

    return Paragraph(p_el, parent).text


def _cell_text(cell) -> str:
    pieces = []
    for child in cell._tc.iterchildren():
        if child.tag == _qn("w:p"):
            pieces.extend(_paragraph_text(child, cell).split("\n"))
        elif child.tag == _qn("w:tbl"):
            from docx.table import Table

            for line in _table_lines(Table(child, cell)):
                pieces.append(line.replace("|", " "))
    return clean_cell(join_pieces(pieces))


def _has_nested(tbl_el) -> bool:
    return any(True for _ in tbl_el.iter(_qn("w:tbl")) if _ is not tbl_el)


def _table_lines(table) -> list[str]:
    rows: list[list[tuple[int, str]]] = []
    seen: dict[int, object] = {}  # id(tc) -> tc (kept alive so ids stay unique)
    for row in table.rows:
        cells = []
        try:
            row_cells = row.cells
        except Exception:  # malformed merge markup: fall back to the raw cells of the row
            from docx.table import _Cell

            row_cells = [_Cell(tc, table) for tc in row._tr.iterchildren(_qn("w:tc"))]
        for col, cell in enumerate(row_cells):
            tc = cell._tc
            if id(tc) in seen:
                continue  # the same cell again: a merge already written
            seen[id(tc)] = tc
            cells.append((col, _cell_text(cell)))
        rows.append(cells)
    return grid_lines(rows)


def _block_lines(parent_el, parent, out: list[str]) -> None:
    from docx.table import Table

    for child in parent_el.iterchildren():
        tag = child.tag
        if tag == _qn("w:p"):
            for line in _paragraph_text(child, parent).split("\n"):
                line = clean_cell(line)
                if line:
                    out.append(line)
        elif tag == _qn("w:tbl"):
            if _has_nested(child):  # layout table: read its cells as blocks
                _layout_lines(child, parent, out)
            else:
                out.extend(_table_lines(Table(child, parent)))
        elif tag == _qn("w:sdt"):
            content = child.find(_qn("w:sdtContent"))
            if content is not None:
                _block_lines(content, parent, out)


def _layout_lines(tbl_el, parent, out: list[str]) -> None:
    for tr in tbl_el.iterchildren(_qn("w:tr")):
        for tc in tr.iterchildren(_qn("w:tc")):
            _block_lines(tc, parent, out)


def _check_package(data: bytes) -> None:
    """The package's limits (:func:`guards.open_zip`) and, in every XML part that carries
    a DTD, its entity declarations (OOXML never has one; python-docx does not expand
    entities, but a part that declares a bomb is not a Word document)."""
    with guards.open_zip(data, "Word package (.docx)") as zf:
        for info in zf.infolist():
            if not info.filename.lower().endswith((".xml", ".rels")):
                continue
            try:
                with zf.open(info) as fh:
                    head = fh.read(1 << 12)
            except Exception as err:
                raise ReadError(f"damaged Word package (.docx): {err or type(err).__name__}") from None
            if b"<!DOCTYPE" in head or b"<!doctype" in head:
                guards.check_xml_prolog(guards.read_member(zf, info.filename), info.filename)


def read(data: bytes, path: Path | None = None) -> Document:
    if not data.startswith(b"PK\x03\x04"):
        if data.startswith(_OLE):
            guards.check_encrypted(data)
            raise ReadError("legacy Word .doc (OLE) file with a .docx name; save it as .docx or PDF")
        head = data[:4096].lstrip().lower()
        if data[:1024].find(b"%PDF-") >= 0:
            from . import pdf

            doc = pdf.read(data, path)
            doc.notes.insert(0, "file named .docx is a PDF")
            return doc
        if head.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<table" in head or b"<body" in head:
            from . import html

            doc = html.read(data, path)
            doc.notes.insert(0, "file named .docx is HTML (Word-exported web page?)")
            return doc
        raise ReadError("not a .docx file (not a ZIP package)")
    try:
        import docx
    except ImportError as err:  # pragma: no cover - dependency missing
        raise ReadError(f"Word support is not installed ({err.name})") from None
    _check_package(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as err:
        reason = guards.parser_limit_reason([str(err)])
        if reason:
            raise ReadError(f"Word document XML {reason}") from None
        if isinstance(err, (zipfile.BadZipFile, EOFError, zlib.error)):  # a member's bytes are not what it declares
            raise ReadError(f"damaged Word package (.docx): {err or type(err).__name__}") from None
        raise ReadError(f"not a readable .docx ({type(err).__name__})") from None

    lines: list[str] = []
    try:
        body = document.element.body
        _block_lines(body, document._body, lines)
    except ReadError:
        raise
    except Exception as err:
        raise ReadError(f".docx content could not be read ({type(err).__name__})") from None
    title = None
    try:
        t = clean_cell(document.core_properties.title or "")
        title = t if "报告" in t else None
    except Exception:
        title = None
    ntables = sum(1 for _ in document.element.body.iter(_qn("w:tbl")))
    return Document(
        text="\n".join(lines) + "\n",
        explicit_cells=True,
        format="docx",
        title=title,
        notes=[f"{ntables} table(s)"],
    )
