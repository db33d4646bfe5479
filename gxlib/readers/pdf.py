"""PDF with a text layer: pdfplumber table geometry, text lines around the tables.

Per page, the ruled tables are found with pdfplumber's line strategy and each table row is
written as ``cell | cell | cell`` (the same grid rules as the HTML reader: a merged cell
once, an empty data cell as an empty piece, an empty label cell dropped).  Text outside
the tables becomes ordinary lines, in reading order (top to bottom).  Pages simply follow
each other, so a table split over pages continues on the next lines; page-number lines
(``- 4 -``, ``第 3 页``, ``3/6``) are dropped.

Word/WPS exports often draw an invisible white filled rectangle behind every text line;
pdfplumber would take those for a one-column "table" of the body text.  Tables are
therefore located without white fills and then re-read, inside their own box, with them
(white cell backgrounds close the cells of a table cut by a page break).

A PDF whose pages carry no text at all raises ``ReadError("no text layer (scanned PDF)")``.
When no ruled table is found anywhere the text is plain lines and
``Document.explicit_cells`` is False.  With ruled tables it is True, and the table core
still decides per section: a section whose table was not ruled has no ``|`` row and is
read as plain lines (``gxlib.tables.parse_tables``).
"""
from __future__ import annotations

import io
import re
from pathlib import Path

from . import Document, ReadError
from .html import clean_cell, grid_lines, join_pieces

_PAGE_NUMBER = re.compile(
    r"^(?:[-－—–‐]\s*\d{1,4}\s*[-－—–‐]"           # - 4 -
    r"|第\s*\d{1,4}\s*页(?:\s*[，,/]?\s*共\s*\d{1,4}\s*页)?"  # 第 3 页 / 第3页 共6页
    r"|共\s*\d{1,4}\s*页\s*第\s*\d{1,4}\s*页"
    r"|\d{1,4}\s*/\s*\d{1,4}"                        # 3/6
    r"|[Pp]age\s*\d{1,4}(?:\s*of\s*\d{1,4})?)$"
)
_BARE_NUMBER = re.compile(r"^\d{1,4}$")
_MIN_TEXT_CHARS = 10
_MAX_PAGES = 500


def _is_white_fill(obj) -> bool:
    """An unstroked rectangle filled white: invisible on the page."""
    if obj.get("object_type") != "rect" or obj.get("stroke"):
        return False
    colour = obj.get("non_stroking_color")
    if colour is None:
        return False
    vals = list(colour) if isinstance(colour, (list, tuple)) else [colour]
    try:
        vals = [float(v) for v in vals]
    except (TypeError, ValueError):
        return False
    if len(vals) in (1, 3):
        return all(v >= 0.97 for v in vals)
    if len(vals) == 4:  # CMYK white
        return all(v <= 0.03 for v in vals)
    return False


def _overlaps(a, b, margin=2.0) -> bool:
    return a[0] < b[2] + margin and b[0] < a[2] + margin and a[1] < b[3] + margin and b[1] < a[3] + margin


def _within(a, b, margin=2.0) -> bool:
    cy = (a[1] + a[3]) / 2
    return b[1] - margin <= cy <= b[3] + margin and a[0] >= b[0] - margin and a[2] <= b[2] + margin


def _real_table(table) -> bool:
    """At least two rows with two or more cells: a grid, not a text frame."""
    multi = sum(1 for row in table.rows if sum(1 for c in row.cells if c is not None) >= 2)
    return multi >= 2


def _tables(page) -> list[tuple[object, list[int]]]:
    """(table, indices of the rows that belong to a visible table) for every table.

    Visible tables are found without white fills; each is then read from the page with
    all its objects (white cell backgrounds close cells at a page break), keeping the rows
    that lie in the visible table or that have two or more cells (a last row closed only
    by its white cell backgrounds); single-cell rows outside it are text frames."""
    visible = [t for t in page.filter(lambda obj: not _is_white_fill(obj)).find_tables() if _real_table(t)]
    if not visible:
        return []
    out = []
    for table in page.find_tables():
        boxes = [v.bbox for v in visible if _overlaps(v.bbox, table.bbox)]
        if not boxes:
            continue
        keep = []
        for i, row in enumerate(table.rows):
            ncells = sum(1 for c in row.cells if c is not None)
            if ncells >= 2 or any(_within(row.bbox, b) for b in boxes):
                keep.append(i)
        if keep:
            out.append((table, keep))
    return out


def _inside(char, bbox) -> bool:
    cx = (char["x0"] + char["x1"]) / 2
    cy = (char["top"] + char["bottom"]) / 2
    return bbox[0] <= cx <= bbox[2] and bbox[1] <= cy <= bbox[3]


def _table_rows(table, keep: list[int], page) -> tuple[list[list[tuple[int, str]]], list]:
    """Grid rows of one table: (column, text) for the cells that start in the row, plus the
    boxes those rows cover.  Text lying in a row but in no detected cell (a cell whose
    border was not drawn at a page break) is put in the row at its column."""
    rows = []
    boxes = []
    extracted = table.extract()
    all_cells = table.cells
    columns = [c.bbox for c in table.columns]
    x0, x1 = table.bbox[0], table.bbox[2]
    for i in keep:
        row = table.rows[i]
        band = (x0, row.bbox[1], x1, row.bbox[3])
        boxes.append(band)
        cells = []
        for col, text in enumerate(extracted[i]):
            if text is None:  # covered by a merged cell
                continue
            cells.append((col, clean_cell(join_pieces(text.split("\n")))))
        stray = [
            ch for ch in page.chars
            if ch.get("text", "").strip() and _inside(ch, band) and not any(_inside(ch, c) for c in all_cells)
        ]
        if stray:
            by_col: dict[int, list] = {}
            for ch in stray:
                cx = (ch["x0"] + ch["x1"]) / 2
                col = next((k for k, b in enumerate(columns) if b[0] <= cx <= b[2]), len(columns))
                by_col.setdefault(col, []).append(ch)
            taken = {c for c, _ in cells}
            for col, chars in by_col.items():
                text = clean_cell("".join(c["text"] for c in sorted(chars, key=lambda c: (round(c["top"]), c["x0"]))))
                if col in taken:
                    cells = [(c, (t + text) if c == col else t) for c, t in cells]
                else:
                    cells.append((col, text))
            cells.sort()
        rows.append(cells)
    return rows, boxes


def _text_lines(page, boxes, number: int | None = None) -> list[tuple[float, str]]:
    """Lines of the text outside the given boxes (the cells of the tables read).

    A bare number in the top or bottom 8% of the page is dropped only when it is this
    page's number (the page's position, or up to two less for unnumbered cover pages)
    and stands alone on its line: a table value that happens to sit near the edge of
    the page is kept (dropping it would shift every later cell of its table)."""

    def outside(obj):
        if obj.get("object_type") != "char":
            return True
        return not any(_inside(obj, b) for b in boxes)

    region = page.filter(outside) if boxes else page
    out = []
    for line in region.extract_text_lines(layout=False, strip=True, return_chars=False):
        text = clean_cell(line["text"])
        if not text:
            continue
        if _PAGE_NUMBER.match(text.replace(" ", "")):
            continue
        height = float(page.height) or 1.0
        in_margin = line["top"] < 0.08 * height or line["bottom"] > 0.92 * height
        if in_margin and _BARE_NUMBER.match(text) and (number is None or number - 2 <= int(text) <= number):
            continue
        out.append((float(line["top"]), text))
    return out


def _title(page) -> str | None:
    """The largest-font lines at the top of the first page, joined (the report title)."""
    chars = [c for c in page.chars if c.get("text", "").strip() and c["top"] < 0.5 * float(page.height)]
    if not chars:
        return None
    big = max(round(c["size"], 1) for c in chars)
    body = sorted(round(c["size"], 1) for c in page.chars if c.get("text", "").strip())
    median = body[len(body) // 2] if body else big
    if big <= median * 1.1:
        return None
    lines: dict[int, list] = {}
    for c in chars:
        if round(c["size"], 1) >= big - 0.6:
            lines.setdefault(round(c["top"] / 4), []).append(c)
    text = "".join(
        "".join(c["text"] for c in sorted(cs, key=lambda c: c["x0"])) for _, cs in sorted(lines.items())
    )
    text = re.sub(r"(?<=\d)\s+(?=[年月日])|(?<=[年月])\s+(?=\d)", "", clean_cell(text))
    return text or None


def read(data: bytes, path: Path | None = None) -> Document:
    start = data[:1024]
    if b"%PDF-" not in start:
        raise ReadError("not a PDF file (no %PDF header)")
    try:
        import pdfplumber
        from pdfminer.pdfdocument import PDFPasswordIncorrect
    except ImportError as err:  # pragma: no cover - dependency missing
        raise ReadError(f"PDF support is not installed ({err.name})") from None

    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except PDFPasswordIncorrect:
        raise ReadError("encrypted PDF (password required)") from None
    except Exception as err:
        if any(isinstance(a, PDFPasswordIncorrect) for a in err.args):  # pdfplumber wraps it
            raise ReadError("encrypted PDF (password required): not read") from None
        raise ReadError(f"PDF could not be opened: {type(err).__name__}") from None

    lines: list[str] = []
    notes: list[str] = []
    title = None
    ntables = 0
    text_chars = 0
    empty_pages = []
    ocr_at: list[tuple[int, int]] = []  # (page without a text layer, where its lines go)
    try:
        with pdf:
            pages = pdf.pages
            if len(pages) > _MAX_PAGES:
                raise ReadError(f"PDF has {len(pages)} pages; more than {_MAX_PAGES} is not a report")
            for number, page in enumerate(pages, start=1):
                chars = [c for c in page.chars if c.get("text", "").strip()]
                text_chars += len(chars)
                if not chars:
                    empty_pages.append(number)
                    ocr_at.append((number, len(lines)))  # OCR'd in place below
                    continue
                if title is None and number == 1:
                    title = _title(page)
                tables = _tables(page)
                items: list[tuple[float, int, list[str]]] = []
                covered = []
                for order, (table, keep) in enumerate(tables):
                    rows, boxes = _table_rows(table, keep, page)
                    block = grid_lines(rows)
                    items.append((float(boxes[0][1]), order, block))
                    covered.extend(boxes)
                ntables += len(tables)
                for top, text in _text_lines(page, covered, number):
                    items.append((top, -1, [text]))
                for _, _, block in sorted(items, key=lambda it: (it[0], it[1])):
                    lines.extend(block)
    except ReadError:
        raise
    except Exception as err:
        raise ReadError(f"PDF could not be read: {type(err).__name__}: {str(err)[:80]}") from None

    if text_chars < _MIN_TEXT_CHARS:  # a few stray characters at most: the whole PDF is a scan
        lines, ocr_at = [], [(n, 0) for n in range(1, len(pages) + 1)]
    if ocr_at:  # pages without a text layer are read by OCR (readers/ocr.py)
        from .ocr import complete_pdf

        notes.append(f"{len(pages)} page(s), {ntables} table(s) from ruling lines")
        return complete_pdf(data, lines, ocr_at, explicit_cells=ntables > 0, format="pdf", title=title, notes=notes)
    if empty_pages:
        notes.append(f"pages without a text layer (images?): {empty_pages}")
    notes.append(f"{len(pages)} page(s), {ntables} table(s) from ruling lines")
    if not ntables:
        notes.append("no ruled table found: tables, if any, are plain text lines")
    return Document(
        text="\n".join(lines) + "\n",
        explicit_cells=ntables > 0,
        format="pdf",
        title=title,
        notes=notes,
    )
