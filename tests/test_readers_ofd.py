"""OFD (GB/T 33190): positioned text objects and rules -> explicit cells.

The OFD files are built here from the standard's structure (OFD.xml -> Document.xml ->
Pages/Page_N/Content.xml, TextObject Boundary + TextCode X/Y/DeltaX, PathObject rules) with
the same report as the DOCX of tests/legacy_formats.py, whose section 三 table runs over a
page break.
"""
from __future__ import annotations

import io
import zipfile

import pytest

from gxlib.parse import parse_rows
from gxlib.readers import ReadError, read
from gxlib.readers import ofd

from legacy_formats import NS, docx_bytes, ofd_bytes


def _tables(result: dict) -> dict:
    return {k: result[k] for k in ("disclosure", "applications", "reviews")}


def test_ofd_parses_to_the_cells_of_the_docx_original():
    original = parse_rows(docx_bytes(), "report.docx")
    got = parse_rows(ofd_bytes(), "report.ofd")
    assert got["report"]["status"] == "ok", got["report"]["error"]
    assert got["report"]["text_source"] == "ofd" and got["report"]["format"] == "ofd"
    assert _tables(got) == _tables(original)
    assert len(got["applications"]) == 7 * 25
    assert got["report"]["title"] == "某某县人民政府2023年政府信息公开工作年度报告"


def test_table_over_a_page_break_is_joined():
    doc = read("report.ofd", ofd_bytes())
    assert "2 page(s)" in doc.notes[0]
    lines = doc.text.splitlines()
    i = lines.index("（七）总计 | 39 | 6 | 2 | 1 | 3 | 4 | 55")
    assert lines[i + 1] == "四、结转下年度继续办理 | 2 | 1 | 0 | 0 | 0 | 1 | 4"


def test_ofd_is_told_by_its_bytes_not_its_name():
    assert read("download.zip", ofd_bytes()).format == "ofd"
    assert read("download", ofd_bytes()).format == "ofd"


def _package(parts: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return buf.getvalue()


_OFD_XML = (f'<ofd:OFD xmlns:ofd="{NS}" Version="1.0" DocType="OFD"><ofd:DocBody>'
            "<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>")
_DOC_XML = (f'<ofd:Document xmlns:ofd="{NS}"><ofd:Pages><ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/>'
            "</ofd:Pages></ofd:Document>")


def _page(objects: str) -> str:
    return f'<ofd:Page xmlns:ofd="{NS}"><ofd:Content><ofd:Layer ID="9">{objects}</ofd:Layer></ofd:Content></ofd:Page>'


def test_textcode_positions_with_deltax_and_ctm():
    # one TextCode per cell row; DeltaX in the "g" shorthand; a CTM that doubles the size
    objs = (
        '<ofd:TextObject ID="2" Boundary="20 20 60 8" Size="3.5"><ofd:TextCode X="0" Y="4" DeltaX="g 3 3.5">行政许可'
        '</ofd:TextCode></ofd:TextObject>'
        '<ofd:TextObject ID="3" Boundary="100 20 20 8" Size="1.75" CTM="2 0 0 2 0 0"><ofd:TextCode X="0" Y="2">'
        "1263</ofd:TextCode></ofd:TextObject>"
    )
    doc = read("a.ofd", _package({"OFD.xml": _OFD_XML, "Doc_0/Document.xml": _DOC_XML,
                                  "Doc_0/Pages/Page_0/Content.xml": _page(objs)}))
    assert doc.text.splitlines() == ["行政许可 | 1263"]  # far apart on one line: two pieces
    assert not doc.explicit_cells  # no rules: not a grid


def test_deltax_shorthand():
    assert ofd._deltas("g 3 2.5 1") == [2.5, 2.5, 2.5, 1.0]
    assert ofd._deltas("") == []


def test_missing_parts_and_bad_xml_fail_clearly():
    with pytest.raises(ReadError, match="DocRoot"):
        read("a.ofd", _package({"OFD.xml": f'<ofd:OFD xmlns:ofd="{NS}"><ofd:DocBody/></ofd:OFD>'}))
    with pytest.raises(ReadError, match="Document.xml' is missing"):
        read("a.ofd", _package({"OFD.xml": _OFD_XML}))
    with pytest.raises(ReadError, match="not well-formed"):
        read("a.ofd", _package({"OFD.xml": _OFD_XML, "Doc_0/Document.xml": "<ofd:Document"}))
    with pytest.raises(ReadError, match="without text objects"):
        read("a.ofd", _package({"OFD.xml": _OFD_XML, "Doc_0/Document.xml": _DOC_XML,
                                "Doc_0/Pages/Page_0/Content.xml": _page("")}))


def test_parts_larger_than_the_limit_are_refused(monkeypatch):
    monkeypatch.setattr(ofd, "MAX_MEMBER_BYTES", 1000)
    big = _page("<!--" + "x" * 5000 + "-->")
    with pytest.raises(ReadError, match="too large"):
        read("a.ofd", _package({"OFD.xml": _OFD_XML, "Doc_0/Document.xml": _DOC_XML,
                                "Doc_0/Pages/Page_0/Content.xml": big}))
