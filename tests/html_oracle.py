"""The HTML reader's first implementation, a Python walk over the lxml tree, kept as the
oracle for the XSLT flattening in :mod:`gxlib.readers.html`: both must give the same lines
for any page (``tests/test_readers_html.py``)."""
from __future__ import annotations

from gxlib.readers.html import (_BLOCK, _DROP, _MAX_SPAN, _has_table, _hidden, _span, clean_cell, grid_lines, join_pieces,
                                parse_page)


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.buf: list[str] = []

    def add(self, text: str | None) -> None:
        if text:
            self.buf.append(text)

    def flush(self) -> None:
        if self.buf:
            line = clean_cell("".join(self.buf))
            if line:
                self.lines.append(line)
            self.buf = []

    def line(self, text: str) -> None:
        self.flush()
        if text:
            self.lines.append(text)


def _walk(el, out: _Lines) -> None:
    tag = el.tag if isinstance(el.tag, str) else None
    if tag is None:  # comment or processing instruction: its text is not shown
        return
    tag = tag.lower()
    if tag in _DROP or _hidden(el):
        return
    if tag == "br":
        out.flush()
        return
    if tag == "table" and not _has_table(el):
        out.flush()
        for line in _table_lines(el):
            out.line(line)
        out.flush()
        return
    block = tag in _BLOCK
    if block:
        out.flush()
    out.add(el.text)
    for child in el:
        _walk(child, out)
        out.add(child.tail)
    if block:
        out.flush()


def _cell_text(cell) -> str:
    out = _Lines()
    out.add(cell.text)
    for child in cell:
        _walk(child, out)
        out.add(child.tail)
    out.flush()
    return clean_cell(join_pieces(out.lines))


def _table_lines(table) -> list[str]:
    lines = []
    for cap in table.findall("caption"):
        text = _cell_text(cap)
        if text:
            lines.append(text)
    trs = table.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr")
    occupied: dict[tuple[int, int], bool] = {}
    rows: list[list[tuple[int, str]]] = []
    for r, tr in enumerate(trs):
        if _hidden(tr):
            rows.append([])
            continue
        row = []
        c = 0
        for cell in tr:
            if not isinstance(cell.tag, str) or cell.tag.lower() not in ("td", "th"):
                continue
            while occupied.get((r, c)):
                c += 1
            colspan = _span(cell.get("colspan"), _MAX_SPAN)
            rowspan = cell.get("rowspan")
            rowspan = len(trs) - r if str(rowspan).strip() == "0" else _span(rowspan, len(trs) - r)
            for dr in range(rowspan):
                for dc in range(colspan):
                    occupied[(r + dr, c + dc)] = True
            row.append((c, "" if _hidden(cell) else _cell_text(cell)))
            c += colspan
        rows.append(row)
    return lines + grid_lines(rows)


def page_lines(text: str) -> list[str]:
    """Lines of a page (already decoded) the way the walk wrote them."""
    root = parse_page(text)
    out = _Lines()
    body = root.find("body")
    _walk(body if body is not None else root, out)
    out.flush()
    return out.lines
