"""DOCX reader on tiny documents written with python-docx in the test itself."""
from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import gxlib
from gxlib.readers import Document, ReadError, read

docx = pytest.importorskip("docx")


def save(document) -> bytes:
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def make_report() -> bytes:
    d = docx.Document()
    d.core_properties.title = "某某县人民政府2023年政府信息公开工作年度报告"
    d.add_paragraph("某某县人民政府2023年政府信息公开工作年度报告")
    d.add_paragraph("三、收到和处理政府信息公开申请情况")
    t = d.add_table(rows=6, cols=5)
    a = t.cell(0, 0).merge(t.cell(1, 1))
    a.text = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
    b = t.cell(0, 2).merge(t.cell(0, 4))
    b.text = "申请人情况"
    for j, h in enumerate(["自然人", "商业企业", "总计"]):
        t.cell(1, 2 + j).text = h
    c = t.cell(2, 0).merge(t.cell(2, 1))
    c.text = "一、本年新收政府信息公开申请数量"
    for j, v in enumerate(["5", "", "5"]):
        t.cell(2, 2 + j).text = v
    p = t.cell(3, 0).merge(t.cell(4, 0))
    p.text = "（三）不予公开"
    t.cell(3, 1).text = "1.属于国家秘密"
    t.cell(4, 1).text = "2.其他法律行政法规\n禁止公开"
    for j, v in enumerate(["1", "0", "1"]):
        t.cell(3, 2 + j).text = v
    t.cell(5, 0).text = "（六）其他处理"
    for j, v in enumerate(["/", "—", "-"]):
        t.cell(5, 2 + j).text = v
    d.add_paragraph("四、政府信息公开行政复议、行政诉讼情况")
    d.add_paragraph("")
    d.add_paragraph("五、存在的主要问题及改进情况")
    return save(d)


def test_tables_and_paragraphs_in_order_merges_once():
    doc = read("report.docx", make_report())
    assert doc.format == "docx" and doc.explicit_cells
    assert doc.title == "某某县人民政府2023年政府信息公开工作年度报告"
    assert doc.text.splitlines() == [
        "某某县人民政府2023年政府信息公开工作年度报告",
        "三、收到和处理政府信息公开申请情况",
        "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和） | 申请人情况",
        "自然人 | 商业企业 | 总计",
        "一、本年新收政府信息公开申请数量 | 5 |  | 5",
        "（三）不予公开 | 1.属于国家秘密 | 1 | 0 | 1",
        # the vertically merged parent is not repeated, blank cells stay blank pieces
        "2.其他法律行政法规禁止公开 |  |  |",
        # placeholders are kept as written (the core reads them as NA)
        "（六）其他处理 | / | — | -",
        "四、政府信息公开行政复议、行政诉讼情况",
        "五、存在的主要问题及改进情况",
    ]


def test_layout_table_holding_a_table():
    d = docx.Document()
    outer = d.add_table(rows=1, cols=1)
    cell = outer.cell(0, 0)
    cell.paragraphs[0].text = "二、主动公开政府信息情况"
    inner = cell.add_table(rows=1, cols=4)
    for j, v in enumerate(["规章", "1", "0", "11"]):
        inner.cell(0, j).text = v
    cell.add_paragraph("完")
    lines = read("x.docx", save(d)).text.splitlines()
    assert lines == ["二、主动公开政府信息情况", "规章 | 1 | 0 | 11", "完"]


def test_legacy_doc_bytes_named_docx():
    with pytest.raises(ReadError, match="legacy Word .doc"):
        read("x.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)


def test_legacy_doc_suffix_fails_clearly():
    with pytest.raises(ReadError, match="legacy Word .doc"):
        read("x.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)


def test_word_html_named_docx_is_read_as_html():
    data = "<html><body><table><tr><td>（七）总计</td><td>21</td></tr></table></body></html>".encode("gbk")
    doc = read("x.docx", data)
    assert doc.text.splitlines() == ["（七）总计 | 21"]
    assert "HTML" in doc.notes[0]


def test_zip_that_is_not_a_word_document():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(ReadError, match="not a readable .docx"):
        read("x.docx", buf.getvalue())


def test_not_a_zip():
    with pytest.raises(ReadError, match="not a .docx"):
        read("x.docx", b"just some text")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_never_crashes_on_garbage(data):
    for blob in (data, b"PK\x03\x04" + data):
        try:
            doc = read("x.docx", blob)
        except ReadError:
            continue
        assert isinstance(doc, Document)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_never_crashes_on_damaged_docx(data):
    good = make_report()
    pos = data.draw(st.integers(0, len(good) - 1))
    junk = data.draw(st.binary(min_size=1, max_size=64))
    try:
        doc = read("x.docx", good[:pos] + junk + good[pos + len(junk):])
    except ReadError:
        return
    assert isinstance(doc, Document)


def test_parse_report_marks_legacy_doc_failed(tmp_path):
    path = tmp_path / "old.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    res = gxlib.parse_report(path)
    assert res.report["status"] == "failed"
    assert "legacy Word .doc" in res.report["error"]
