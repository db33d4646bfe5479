"""HTML pages and fragments (.html, .htm, .shtml): lxml, never a script, never the network.

Text outside tables becomes ordinary lines in document order.  Every leaf ``<table>`` is
expanded into its rowspan/colspan grid and each row is written on one line as
``cell | cell | cell`` (``Document.explicit_cells = True``):

* a cell spanning several columns or rows is written once, in the row where it starts;
  the positions it covers produce nothing (so no number is ever counted twice);
* an empty cell in a data column of a data row is written as an empty piece (the table
  core reads it as a blank cell); an empty cell in a label column (an empty sub-label
  beside ``（六）其他处理``, say) or in a header row is dropped, because it is not a value;
* a table that contains another table is page layout: its cells are read as blocks.

The grid helpers here (:func:`clean_cell`, :func:`grid_lines`) are shared by the PDF and
DOCX readers so that all three formats write tables the same way.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from lxml import etree

from . import Document, ReadError, guards
from .decode import decode

# ---------------------------------------------------------------------------------------
# shared: cell text and grid rows -> lines

# CJK ideographs, CJK punctuation, full-width forms: whitespace between two of these is
# layout (a line break inside a cell, justified PDF text), not a word boundary.
_WIDE = "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u201c\u201d\u2018\u2019"
_WIDE_GAP = re.compile(rf"(?<=[{_WIDE}])\s+(?=[{_WIDE}])")
# a wide char and an ASCII digit/letter with a gap between: keep one space
_WS = re.compile(r"[\s\u00a0\u3000\u2000-\u200a\u202f\u205f]+")
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff\u00ad]")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_NUMERIC = re.compile(
    r"^[+\-−－]?\s*[\d０-９][\d０-９,，.．\s]*"
    r"\s*(%|％|元|千元|万元|万|亿元|亿|件|个|条|次|项|人次|份|家|人)?$"
)
_PLACEHOLDER = re.compile(r"^[/／\\\-－—–‐~～_]+$")


def clean_cell(text: str) -> str:
    """Normalise the text of one cell (or one line): collapse whitespace, drop whitespace
    between two Chinese characters (a wrapped label stays one label), never a ``|``."""
    text = _INVISIBLE.sub("", _CTRL.sub("", text))
    text = _WS.sub(" ", text).strip()
    text = _WIDE_GAP.sub("", text)
    return text.replace("|", "｜")


_clean = lru_cache(maxsize=1 << 12)(clean_cell)  # texts repeat ("0", labels)


def join_pieces(pieces: list[str]) -> str:
    """Join text pieces that were on separate lines inside one cell."""
    out = ""
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        if out and not (re.match(rf"[{_WIDE}]", out[-1]) and re.match(rf"[{_WIDE}]", piece[0])):
            out += " "
        out += piece
    return out


@lru_cache(maxsize=1 << 12)
def is_value_text(text: str) -> bool:
    """A number (with separators or a unit) or a placeholder such as ``/`` or ``—``."""
    return bool(_NUMERIC.match(text) or _PLACEHOLDER.match(text))


def grid_lines(rows: list[list[tuple[int, str]]]) -> list[str]:
    """Table rows -> text lines.

    ``rows`` holds, for every grid row, the cells that START in that row as
    ``(grid column, cleaned text)`` in left-to-right order; positions covered by a span
    from another cell are simply absent.
    """
    return _grid_lines([_row_stats(tuple((c, t, bool(t) and is_value_text(t)) for c, t in row)) for row in rows])


def _row_stats(cells: tuple[tuple[int, str, bool], ...]) -> tuple:
    """What :func:`_grid_lines` needs of one row of cells ``(grid column, text, is a value
    text)``; it depends on the row alone, so the HTML reader keeps it with the row:
    ``(cells, last column, value columns, label columns, other text columns, blank
    columns, the line of the row's texts or None when it has none)``."""
    rightmost = None
    maxc = -1
    for c, _, v in cells:
        if v and (rightmost is None or c > rightmost):
            rightmost = c
        if c > maxc:
            maxc = c
    numeric, label, text, blank, texts = [], [], [], [], []
    for c, t, v in cells:
        if v:
            numeric.append(c)
        elif t:
            text.append(c)
            if rightmost is not None and rightmost > c:
                label.append(c)  # text with a value to its right: a row label
        else:
            blank.append(c)
        if t:
            texts.append(t)
    line = None
    if texts:
        line = texts[0] if len(texts) == 1 else " | ".join(texts).rstrip()
    return cells, maxc, tuple(numeric), tuple(label), tuple(text), tuple(blank), line


def _grid_lines(rows: list[tuple]) -> list[str]:
    """:func:`grid_lines` of rows given by :func:`_row_stats`."""
    ncols = 1 + max((row[1] for row in rows), default=-1)
    numeric = [0] * ncols
    label = [0] * ncols
    for _, _, numeric_cols, label_cols, _, _, _ in rows:
        for c in numeric_cols:
            numeric[c] += 1
        for c in label_cols:
            label[c] += 1
    label_col = [label[c] > numeric[c] for c in range(ncols)]

    lines = []
    for cells, _, numeric_cols, _, text_cols, blank_cols, line in rows:
        if line is None:
            if len(cells) > 1:
                # an all-blank row of several cells: blank cells (0), kept so a data row
                # left entirely blank (section 四 of a zero report) is not lost; the core
                # prefers a row with numbers when there is one
                lines.append(" | ".join("" for _ in cells))
            continue
        # a data row (a value, or text only in label columns) keeps its blank cells of
        # the data columns as empty pieces; otherwise the line is its texts
        if blank_cols and (numeric_cols or all(label_col[c] for c in text_cols)) \
                and not all(label_col[c] for c in blank_cols):
            pieces = []
            for c, t, _ in cells:
                if t:
                    pieces.append(t)
                elif not label_col[c]:
                    pieces.append("")
            line = pieces[0] if len(pieces) == 1 else " | ".join(pieces).rstrip()
        lines.append(line)
    return lines


# ---------------------------------------------------------------------------------------
# HTML

_DROP = {
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math",
    "canvas", "select", "option", "button", "input", "textarea", "nav", "head", "frameset",
    "frame", "audio", "video", "map",
}
_BLOCK = {
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd",
    "table", "tr", "td", "th", "thead", "tbody", "tfoot", "caption", "section", "article",
    "header", "footer", "aside", "main", "blockquote", "pre", "center", "form", "hr",
    "address", "figure", "figcaption", "body", "html", "fieldset", "legend", "details",
    "summary",
}
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|mso-hide\s*:\s*all", re.I)
# what every match of _HIDDEN contains; it starts with a literal, so re scans for ":" at C
# speed, while _HIDDEN tries its three case-folded words at every character
_MAYBE_HIDDEN = re.compile(r":\s*(?:none|hidden|all)", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.I)
_XML_ENC = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_\-]+)""", re.I)
_DATE = re.compile(r"((?:19|20)\d{2})\s*[-/年.]\s*(\d{1,2})\s*[-/月.]\s*(\d{1,2})")
_PUB_META = (
    "pubdate", "publishdate", "publish_date", "firstpublishedtime", "article:published_time",
    "dc.date", "dc.date.issued", "articlepubdate", "publishtime", "releasedate",
)
_MAX_SPAN = 1000


def declared_charset(data: bytes) -> str | None:
    head = data[:8192]
    m = _META_CHARSET.search(head) or _XML_ENC.search(head)
    return m.group(1).decode("ascii", "replace") if m else None


def _unescape_js(text: str) -> str:
    """An HTML fragment copied out of a JavaScript string literal (``<\\/p>``, ``\\"``)."""
    if "\\" not in text:
        return text  # no backslash, no escape (most pages)
    outside_scripts = re.sub(r"<script\b.*?</script\s*>", "", text, flags=re.S | re.I)
    if "<\\/" not in outside_scripts and '=\\"' not in outside_scripts:
        return text

    def sub(m: re.Match) -> str:
        s = m.group(0)
        if s.startswith("\\u"):
            return chr(int(s[2:], 16))
        return {"\\n": "\n", "\\r": "\n", "\\t": "\t"}.get(s, s[1:])

    return re.sub(r"\\u[0-9a-fA-F]{4}|\\[nrt\"'/\\]", sub, text)


def _hidden(el) -> bool:
    style = el.get("style")
    if style and _HIDDEN.search(style):
        return True
    return el.get("hidden") is not None


def _has_table(el) -> bool:
    return any(True for _ in el.iterdescendants("table"))


# The page is flattened by one XSLT pass (libxslt, in C) into text with marker characters,
# and only the grid of each table is built in Python.  The markers are Unicode
# noncharacters, removed from the page before parsing, so page text cannot contain them.
_LINE, _TABLE, _END, _ROW, _CELL, _FIELD, _CAPTION = (chr(c) for c in range(0xFDD0, 0xFDD7))
_NONCHAR = re.compile("[\ufdd0-\ufdef]")
_CTRL_OR_NONCHAR = re.compile(_CTRL.pattern[:-1] + _NONCHAR.pattern[1:])  # both removed in one pass
_HID = "data-gx-hidden"  # set on hidden elements before the pass
_IMAGE = chr(0xFDD7)  # an <img>: the marker, then its src, on a line of its own (readers/ocr.py)


def _xsl_names(names) -> str:
    return "|".join(sorted(names))


_HIDDEN_TEMPLATE = f'<xsl:template match="*[@{_HID}]" priority="10"/>'
_XSLT = f"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="text" encoding="UTF-8"/>
<xsl:template match="/">
  <xsl:choose>
    <xsl:when test="*/body"><xsl:apply-templates select="*/body"/></xsl:when>
    <xsl:otherwise><xsl:apply-templates select="*"/></xsl:otherwise>
  </xsl:choose>
</xsl:template>
{_HIDDEN_TEMPLATE}
<xsl:template match="{_xsl_names(_DROP)}" priority="9"/>
<xsl:template match="br" priority="8"><xsl:text>{_LINE}</xsl:text></xsl:template>
<xsl:template match="img" priority="8">
  <xsl:text>{_LINE}{_IMAGE}</xsl:text><xsl:value-of select="@src"/><xsl:text>{_LINE}</xsl:text>
</xsl:template>
<xsl:template match="table[not(.//table)]" priority="7">
  <xsl:text>{_TABLE}</xsl:text>
  <xsl:for-each select="caption"><xsl:text>{_CAPTION}</xsl:text><xsl:apply-templates/></xsl:for-each>
  <xsl:for-each select="tr|thead/tr|tbody/tr|tfoot/tr">
    <xsl:text>{_ROW}</xsl:text>
    <xsl:choose>
      <xsl:when test="@{_HID}"><xsl:text>h</xsl:text></xsl:when>
      <xsl:otherwise>
        <xsl:for-each select="td|th">
          <xsl:text>{_CELL}</xsl:text><xsl:value-of select="@colspan"/>
          <xsl:text>{_FIELD}</xsl:text><xsl:value-of select="@rowspan"/>
          <xsl:text>{_FIELD}</xsl:text>
          <xsl:choose>
            <xsl:when test="@{_HID}"><xsl:text>h{_FIELD}</xsl:text></xsl:when>
            <xsl:otherwise><xsl:text>{_FIELD}</xsl:text><xsl:apply-templates/></xsl:otherwise>
          </xsl:choose>
        </xsl:for-each>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:for-each>
  <xsl:text>{_END}</xsl:text>
</xsl:template>
<xsl:template match="{_xsl_names(_BLOCK)}" priority="6">
  <xsl:text>{_LINE}</xsl:text><xsl:apply-templates/><xsl:text>{_LINE}</xsl:text>
</xsl:template>
</xsl:stylesheet>
"""
_flatten = etree.XSLT(etree.fromstring(_XSLT))
# the same pass for a page with no hidden element: the wildcard template above is tested
# on every element (~10% of the pass) and would match none
_flatten_all_visible = etree.XSLT(etree.fromstring(_XSLT.replace(_HIDDEN_TEMPLATE, "")))
# every style and hidden attribute of a page (an element is hidden as in :func:`_hidden`)
_STYLES = etree.XPath("//@style", smart_strings=False)
_ANY_HIDDEN = etree.XPath("boolean(//@hidden)")
_STYLED_OR_HIDDEN = etree.XPath("//*[@style or @hidden]")


@lru_cache(maxsize=1 << 12)
def _piece_text(raw: str) -> str:
    """Text of a cell (or caption) whose line breaks are ``_LINE`` markers."""
    if _LINE not in raw:
        return clean_cell(raw)
    return clean_cell(join_pieces([line for line in map(clean_cell, raw.split(_LINE)) if line]))


def _text_lines(raw: str, out: list[str]) -> None:
    for line in raw.split(_LINE):
        line = _clean(line)
        if line:
            out.append(line)


def page_lines(root) -> list[str]:
    """The page as lines: text between block boundaries, every leaf table as grid rows
    (see the module docstring).  Marks the hidden elements of ``root``."""
    etree.strip_attributes(root, _HID)
    flatten = _flatten_all_visible
    # one search over all style values ("\0" cannot occur in a value nor match the pattern)
    styles = "\0".join(_STYLES(root))
    if _ANY_HIDDEN(root) or (_MAYBE_HIDDEN.search(styles) and _HIDDEN.search(styles)):
        for el in _STYLED_OR_HIDDEN(root):  # rare: look at the elements themselves
            if _hidden(el):
                el.set(_HID, "")
                flatten = _flatten
    flat = str(flatten(root))
    pieces = flat.split(_TABLE)
    lines: list[str] = []
    _text_lines(pieces[0], lines)
    for piece in pieces[1:]:
        table, rest = piece.split(_END, 1)
        lines.extend(_table_lines(table))
        _text_lines(rest, lines)
    return lines


def _span(value: str | None, limit: int) -> int:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return 1
    return max(1, min(n, limit))


def _table_lines(flat: str) -> list[str]:
    """One flattened leaf table -> caption lines, then grid lines (see :func:`grid_lines`).

    A row without a ``rowspan`` whose covered positions (by cells spanning rows from
    above) are none or the first columns is placed from column 0 or just right of them:
    its cells and grid figures are those of the same row text in any table, shifted
    (:func:`_free_row`, :func:`_shifted_row`, cached: rows recur across reports)."""
    head, *trs = flat.split(_ROW)
    lines = [text for text in map(_piece_text, head.split(_CAPTION)[1:]) if text]
    covered: dict[int, set[int]] = {}  # row -> columns covered by a cell spanning rows from above
    rows = []
    nrows = len(trs)
    for r, tr in enumerate(trs):
        if tr == "h":  # a hidden row
            rows.append(_NO_ROW)
            continue
        parsed, spans_rows, free = _free_row(tr)
        cols = covered.get(r)
        if not spans_rows:
            if not cols:
                rows.append(free)
                continue
            if max(cols) == len(cols) - 1:  # the first len(cols) columns
                rows.append(_shifted_row(tr, len(cols)))
                continue
        cols = cols or ()
        row = []
        c = 0
        for colspan, rowspan, t, v in parsed:
            while c in cols:
                c += 1
            if rowspan:
                rowspan = nrows - r if rowspan.strip() == "0" else _span(rowspan, nrows - r)
                # (a cell's own row needs no mark: later cells of the row start right of it)
                for below in range(r + 1, r + rowspan):
                    covered.setdefault(below, set()).update(range(c, c + colspan))
            row.append((c, t, v))
            c += colspan
        rows.append(_row_stats(tuple(row)))
    return lines + _grid_lines(rows)


_NO_ROW = _row_stats(())


@lru_cache(maxsize=1 << 11)
def _free_row(tr: str) -> tuple[tuple, bool, tuple]:
    """One flattened row -> ``(cells as (colspan, rowspan text, text, is a value), whether
    a cell has a rowspan, the row's :func:`_row_stats` when placed from column 0 with
    nothing above it)``."""
    cells = _CELL_FIELDS.findall(tr)
    if len(cells) != tr.count(_CELL):
        # a piece with fewer than three fields (a marker character from the page text):
        # the split as it always was (it raises on that piece)
        cells = [cell.split(_FIELD, 3) for cell in tr.split(_CELL)[1:]]
    parsed = []
    placed = []
    c = 0
    for colspan, rowspan, hidden, raw in cells:
        colspan = _span(colspan, _MAX_SPAN) if colspan else 1
        t, v = ("", False) if hidden else _piece(raw)
        parsed.append((colspan, rowspan, t, v))
        placed.append((c, t, v))
        c += colspan
    return tuple(parsed), any(rowspan for _, rowspan, _, _ in parsed), _row_stats(tuple(placed))


@lru_cache(maxsize=1 << 11)
def _shifted_row(tr: str, by: int) -> tuple:
    """:func:`_row_stats` of a row without a ``rowspan`` placed from column ``by``."""
    return _row_stats(tuple((c + by, t, v) for c, t, v in _free_row(tr)[2][0]))


# the fields of every cell of a row, as ``cell.split(_FIELD, 3)`` of each piece between
# ``_CELL`` markers gives them when every piece has three fields
_CELL_FIELDS = re.compile(f"{_CELL}([^{_CELL}{_FIELD}]*){_FIELD}([^{_CELL}{_FIELD}]*){_FIELD}"
                          f"([^{_CELL}{_FIELD}]*){_FIELD}([^{_CELL}]*)")


@lru_cache(maxsize=1 << 12)
def _piece(raw: str) -> tuple[str, bool]:
    """``(text, is a value text)`` of a cell (see :func:`_piece_text`)."""
    text = _piece_text(raw)
    return text, bool(text) and is_value_text(text)


def _iso_date(text: str | None) -> str | None:
    if not text:
        return None
    m = _DATE.search(text)
    if not m:
        return None
    y, mo, d = (int(x) for x in m.groups())
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return None
    return f"{y:04d}-{mo:02d}-{d:02d}"


def _document(text: str):
    """``lxml.html.document_fromstring(text)``, from UTF-8 bytes where that gives the same
    tree: libxml2 reads UTF-8 faster than a Python str (UCS-2 for Chinese text, which it
    converts), and with the parser's encoding fixed a ``<meta charset>`` in the page
    changes nothing.  A str stays a str where lxml treats it specially: a leading
    ``<?xml`` (it refuses a str with an encoding declaration) and lone surrogates (they
    have no UTF-8)."""
    if not text.startswith("<?xml"):
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            pass
        else:
            return _checked(data, _utf8_parser())
    return _checked(text, _str_parser())


@lru_cache(maxsize=1)
def _utf8_parser():
    import lxml.html

    return lxml.html.HTMLParser(encoding="utf-8")  # lxml.html's default parser, encoding fixed


@lru_cache(maxsize=1)
def _str_parser():
    import lxml.html

    return lxml.html.HTMLParser()  # as lxml.html's default parser (its error log is this one's)


def _checked(page, parser):
    """``lxml.html.document_fromstring(page, parser=parser)``; a page that hit one of
    libxml2's resource limits (nested deeper than it goes) is a :class:`ReadError` with
    that reason, never a tree cut off at the limit."""
    try:
        root = _lxml_html().document_fromstring(page, parser=parser)
    except (etree.ParserError, ValueError):
        reason = guards.parser_limit_reason(parser.error_log.filter_from_fatals())
        if reason:
            raise ReadError(f"HTML page {reason}") from None
        raise
    reason = guards.parser_limit_reason(parser.error_log.filter_from_fatals())
    if reason:
        raise ReadError(f"HTML page {reason}")
    return root


def parse_page(text: str):
    """A decoded page -> its lxml tree (ReadError when there is nothing to parse, when
    the page declares entities that expand like a bomb, or when it is nested deeper than
    the parser goes: see :mod:`gxlib.readers.guards`)."""
    if "<!ENTITY" in text[: 1 << 20]:
        guards.check_entities(text[: 1 << 24])
    text = _unescape_js(text)
    data = _plain_utf8(text)
    if data is None:
        text = _XML_DECL.sub("", _CTRL_OR_NONCHAR.sub("", text))
        if not text.strip():
            raise ReadError("empty HTML document")
    try:
        if data is None:
            return _document(text)
        # what _document(text) parses: the page, cleaning changes nothing
        return _checked(data, _utf8_parser())
    except (etree.ParserError, ValueError) as err:
        raise ReadError(f"HTML could not be parsed: {err}") from None


_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
# the control characters of _CTRL as bytes: in UTF-8 they are single bytes, and a byte
# below 0x80 is never part of a multi-byte character
_CTRL_BYTES = bytes(c for c in range(0x80) if _CTRL.match(chr(c)))


def _plain_utf8(text: str) -> bytes | None:
    """The UTF-8 of a page that :func:`parse_page` would parse unchanged from UTF-8 bytes:
    no control character nor noncharacter to remove, no XML declaration to drop, not
    blank, no lone surrogate, no ``<?xml`` start.  None for any other page (the regex
    removal costs ~75 us on a 17,000-character page; these tests on the UTF-8 that is
    parsed anyway ~35)."""
    if text.startswith("<?xml") or _XML_DECL.match(text) or not text or text.isspace():
        return None
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    if len(data.translate(None, _CTRL_BYTES)) != len(data):
        return None
    if b"\xef\xb7" in data:  # U+FDC0..U+FDFF, the noncharacters U+FDD0..U+FDEF among them
        return None
    return data


@lru_cache(maxsize=1)
def _lxml_html():
    import lxml.html

    return lxml.html


_TITLE_TEXT = etree.XPath("//title//text()", smart_strings=False)
# XPath ``translate(@name,'ARTICLETITLE','articletitle')``: these seven letters folded, no other
_ARTICLETITLE_FOLD = str.maketrans("ARTICLETITLE", "articletitle")


def meta_title(metas) -> list[str]:
    """``//meta[translate(@name,'ARTICLETITLE','articletitle')='articletitle']/@content``
    over the page's ``<meta>`` elements (in document order).  That XPath with its predicate
    costs a walk of the whole tree (~80 µs a page); ``root.iter("meta")`` finds them in C."""
    out = []
    for meta in metas:
        name = meta.get("name")
        if name is not None and name.translate(_ARTICLETITLE_FOLD) == "articletitle":
            content = meta.get("content")
            if content is not None:
                out.append(content)
    return out


def read(data: bytes, path: Path | None = None) -> Document:
    declared = declared_charset(data)
    text, enc = decode(data, declared)
    root = parse_page(text)

    metas = list(root.iter("meta"))
    title = clean_cell(" ".join(meta_title(metas))) or clean_cell(" ".join(_TITLE_TEXT(root))) or None
    published = None
    for meta in metas:
        name = (meta.get("name") or meta.get("property") or meta.get("itemprop") or "").strip().lower()
        if name in _PUB_META:
            published = _iso_date(meta.get("content"))
            if published:
                break

    lines = page_lines(root)
    notes = [f"encoding {enc}" + (f" (declared {declared})" if declared else " (none declared)")]
    ntables = sum(1 for t in root.iter("table") if not _has_table(t))
    notes.append(f"{ntables} table(s)")
    doc = Document(
        text="\n".join(lines) + "\n",
        explicit_cells=True,
        format="html",
        title=title,
        published=published,
        notes=notes,
    )
    if _IMAGE in doc.text:  # images in the page: OCR those saved beside it (readers/ocr.py)
        from .ocr import with_page_images

        doc = with_page_images(doc, lines, path, _IMAGE)
    return doc
