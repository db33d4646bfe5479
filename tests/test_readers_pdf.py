"""PDF reader on small PDFs written by hand here (ruling lines, text, page numbers, scans).

The PDFs are built byte by byte so that every line and every piece of text is known:
Helvetica text, tables drawn as stroked line segments, as Word/WPS exports draw them.
"""
from __future__ import annotations

import io
import zlib

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import gxlib
from gxlib.readers import Document, ReadError, read
from gxlib.readers import pdf as pdf_reader

W, H = 595, 842


def build_pdf(pages: list[dict]) -> bytes:
    """pages: [{"texts": [(x, y_top, size, text)], "lines": [(x0, top0, x1, top1)],
    "white_rects": [(x, top, w, h)], "image": bool}] in top-left coordinates."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    page_ids = []
    for page in pages:
        ops = []
        for x, top, w, h in page.get("white_rects", []):
            ops.append(f"1 1 1 rg {x} {H - top - h} {w} {h} re f 0 0 0 rg")
        for x0, t0, x1, t1 in page.get("lines", []):
            ops.append(f"0.5 w {x0} {H - t0} m {x1} {H - t1} l S")
        for x, top, size, text in page.get("texts", []):
            esc = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"BT /F1 {size} Tf {x} {H - top - size} Td ({esc}) Tj ET")
        resources = f"/Font << /F1 {font} 0 R >>"
        if page.get("image"):
            img = add(
                b"<< /Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 /Length 4 >>\nstream\n\x00\xff\xff\x00\nendstream"
            )
            ops.append("q 400 0 0 600 90 120 cm /Im1 Do Q")
            resources += f" /XObject << /Im1 {img} 0 R >>"
        content = zlib.compress("\n".join(ops).encode("latin-1"))
        cid = add(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream")
        pid = add(
            f"<< /Type /Page /Parent {{PAGES}} 0 R /MediaBox [0 0 {W} {H}] /Contents {cid} 0 R "
            f"/Resources << {resources} >> >>".encode()
        )
        page_ids.append(pid)
    pages_id = add(
        f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {len(page_ids)} >>".encode()
    )
    catalog = add(f"<< /Type /Catalog /Pages {pages_id} 0 R >>".encode())
    objects = [o.replace(b"{PAGES}", str(pages_id).encode()) for o in objects]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref))
    return out.getvalue()


def grid(x_edges, y_edges, skip_vertical=()):
    """Ruling lines of a grid; skip_vertical = {(col_edge_index, row_index)} leaves a
    vertical segment out (a merged cell)."""
    lines = []
    for y in y_edges:
        lines.append((x_edges[0], y, x_edges[-1], y))
    for i, x in enumerate(x_edges):
        for r in range(len(y_edges) - 1):
            if (i, r) not in skip_vertical:
                lines.append((x, y_edges[r], x, y_edges[r + 1]))
    return lines


def table_page(rows, top=100, row_h=24, x_edges=(80, 260, 330, 400, 470), skip_vertical=(), extra_texts=()):
    y_edges = [top + row_h * i for i in range(len(rows) + 1)]
    texts = list(extra_texts)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if cell:
                texts.append((x_edges[c] + 4, y_edges[r] + 7, 10, cell))
    return {"texts": texts, "lines": grid(list(x_edges), y_edges, skip_vertical)}


def read_pdf(data: bytes) -> Document:
    return read("report.pdf", data)


def test_table_rows_become_cell_lines_and_page_numbers_go():
    p1 = table_page(
        [["Item", "A", "B", "Total"], ["New applications", "3001", "53", "3054"], ["Carried over", "34", "", "34"]],
        extra_texts=[(80, 60, 12, "Annual report 2024"), (280, 800, 10, "- 1 -")],
    )
    p2 = table_page(
        [["Granted", "1288", "21", "1309"], ["Carried forward", "103", "0", "103"]],
        extra_texts=[(280, 800, 10, "- 2 -"), (250, 20, 9, "3/6"), (80, 300, 12, "Section four")],
    )
    doc = read_pdf(build_pdf([p1, p2]))
    lines = doc.text.splitlines()
    assert doc.explicit_cells and doc.format == "pdf"
    assert lines == [
        "Annual report 2024",
        "Item | A | B | Total",
        "New applications | 3001 | 53 | 3054",
        "Carried over | 34 |  | 34",
        "Granted | 1288 | 21 | 1309",
        "Carried forward | 103 | 0 | 103",
        "Section four",
    ]


def test_merged_cell_written_once():
    # row 1: the vertical line between the two value columns is missing -> one wide cell
    page = table_page(
        [["Item", "Made", "Repealed", "In force"], ["Licensing", "447228", "", ""]],
        skip_vertical={(2, 1), (3, 1)},
    )
    lines = read_pdf(build_pdf([page])).text.splitlines()
    assert lines == ["Item | Made | Repealed | In force", "Licensing | 447228"]


def test_invisible_white_text_frames_are_not_tables():
    texts = [(80, 100 + 27 * i + 8, 10, f"Body line {i} of the narrative") for i in range(5)]
    white = [(74, 100 + 27 * i, 444, 27) for i in range(5)]
    doc = read_pdf(build_pdf([{"texts": texts, "white_rects": white}]))
    assert doc.text.splitlines() == [f"Body line {i} of the narrative" for i in range(5)]
    assert not doc.explicit_cells  # no ruled table at all: plain text lines


def test_plain_text_table_without_rules_is_plain_lines():
    texts = [(80, 100, 10, "New applications"), (260, 100, 10, "3001"), (330, 100, 10, "53"), (400, 100, 10, "3119")]
    doc = read_pdf(build_pdf([{"texts": texts}]))
    assert not doc.explicit_cells
    assert doc.text.splitlines() == ["New applications 3001 53 3119"]


def test_scanned_pdf_is_rejected():
    with pytest.raises(ReadError, match=r"^no text layer \(scanned PDF\)$"):
        read_pdf(build_pdf([{"image": True}, {"image": True}]))


def test_blank_page_pdf_is_rejected_as_scan():
    with pytest.raises(ReadError, match="no text layer"):
        read_pdf(build_pdf([{}]))


def test_partly_scanned_pdf_notes_the_pages():
    doc = read_pdf(build_pdf([{"texts": [(80, 100, 12, "Annual report text page")]}, {"image": True}]))
    assert any("pages without a text layer" in n and "[2]" in n for n in doc.notes)


def test_not_a_pdf():
    with pytest.raises(ReadError, match="not a PDF"):
        read_pdf(b"<html><body>404 not found</body></html>")


def test_truncated_pdf_is_a_read_error_or_a_document():
    data = build_pdf([table_page([["Row", "1", "2", "3"], ["Row two", "4", "5", "6"]])])
    for cut in (20, len(data) // 3, len(data) // 2, len(data) - 30):
        try:
            read_pdf(data[:cut])
        except ReadError:
            pass


def test_page_number_patterns():
    for text in ("- 4 -", "－12－", "第 3 页", "第3页 共6页", "3/6", "Page 2 of 9"):
        assert pdf_reader._PAGE_NUMBER.match(text.replace(" ", "")), text
    for text in ("一、总体情况", "3001", "2024年"):
        assert not pdf_reader._PAGE_NUMBER.match(text), text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_never_crashes_on_garbage(data):
    for blob in (data, b"%PDF-1.4\n" + data):
        try:
            doc = read_pdf(blob)
        except ReadError:
            continue
        assert isinstance(doc, Document)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_never_crashes_on_damaged_pdf(data):
    good = build_pdf([table_page([["Row", "1", "2", "3"], ["Row two", "4", "", "6"]])])
    pos = data.draw(st.integers(0, len(good) - 1))
    junk = data.draw(st.binary(min_size=1, max_size=40))
    try:
        doc = read_pdf(good[:pos] + junk + good[pos + len(junk):])
    except ReadError:
        return
    assert isinstance(doc, Document)


def test_parse_report_marks_a_scan_failed_with_the_reason(tmp_path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(build_pdf([{"image": True}]))
    res = gxlib.parse_report(path)
    assert res.report["status"] == "failed"
    assert res.report["error"] == "no text layer (scanned PDF)"
    assert len(res.applications) == 0 and len(res.reviews) == 0 and len(res.disclosure) == 0


def test_bare_numbers_in_the_margins_are_kept_unless_they_are_the_page_number():
    # an unruled one-cell-per-line table whose values run into the top and bottom 8% of
    # the page: 41 at the top of page 2 and 53 at its bottom are cells (dropping them
    # would shift every later cell); "2" at the bottom of page 2 is its page number
    p1 = {"texts": [(80, 400, 10, "New applications"), (80, 820, 10, "1")]}
    p2 = {"texts": [(80, 30, 10, "41"), (80, 400, 10, "6"), (80, 790, 10, "53"), (290, 815, 10, "2")]}
    doc = read_pdf(build_pdf([p1, p2]))
    assert doc.text.splitlines() == ["New applications", "41", "6", "53"]


def test_unruled_section_in_a_document_with_a_ruled_table_is_read_as_lines():
    # explicit_cells is set for the whole PDF, but a section with no grid row (its table
    # was not ruled) is read as plain lines, not as grid rows that would all be NA
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from report_text import APPS, report

    from gxlib.tables import parse_tables

    text = report("lines")  # sections 二/三/四 as lines ...
    text = text.replace("行政许可\n1264\n", "行政许可 | 1264\n")  # ... and one ruled row in section 二
    t = parse_tables(text, explicit=True)
    got = {(r["row"], r["applicant"]): r["value"] for r in t.applications}
    assert all(got[(code, col)] == v for code, vals in APPS.items() for col, v in vals.items())
