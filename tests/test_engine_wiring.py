"""What `gx parse` computes over every report of a folder when it exports (issue 23):
``agency_id`` and ``duplicate_of`` in reports, agencies.csv, the duplicate and carry-over
checks keyed on the agency, all through the engine (``pipeline.run``), with real snippets
(the 洪泽区 reports of 2023 and 2024) and a real PDF (tests/fixtures/kirogov_2.pdf)."""
from __future__ import annotations

import pandas as pd
import pytest

import gxlib
from gxlib import pipeline, store

from conftest import ROOT
from test_agencies import HONGZE_2023_HEAD, HONGZE_2023_TABLE, HONGZE_2024_HEAD, HONGZE_2024_TABLE, _page

FIXTURES = ROOT / "tests" / "fixtures"


def _csv(out, name):
    return pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def hongze_out(tmp_path_factory):
    """洪泽区人民政府 2023 (carried forward 0) and 淮安市洪泽区人民政府 2024 whose table says
    2 applications were carried over from 2023 (non-zero: the two years disagree)."""
    raw = tmp_path_factory.mktemp("raw")
    (raw / "hz").mkdir()
    (raw / "hz" / "2023.txt").write_text(HONGZE_2023_HEAD + HONGZE_2023_TABLE, encoding="utf-8")
    table_2024 = HONGZE_2024_TABLE.replace("二、上年结转政府信息公开申请数量 | 0 | 0 | 0 | 0 | 0 | 0 | 0",
                                           "二、上年结转政府信息公开申请数量 | 2 | 0 | 0 | 0 | 0 | 0 | 2")
    assert table_2024 != HONGZE_2024_TABLE
    (raw / "hz" / "2024.txt").write_text(HONGZE_2024_HEAD + table_2024, encoding="utf-8")
    out = tmp_path_factory.mktemp("out")
    pipeline.run(raw, out, jobs=1, progress=False)
    return out


def test_the_two_hongze_names_are_one_agency_in_the_exports(hongze_out):
    r = _csv(hongze_out, "reports").set_index("source_file")
    assert r.loc["hz/2023.txt", "agency"] == "洪泽区人民政府"
    assert r.loc["hz/2024.txt", "agency"] == "淮安市洪泽区人民政府"
    assert r["agency_id"].tolist() == ["320813:人民政府", "320813:人民政府"]
    assert r["duplicate_of"].tolist() == ["", ""]
    cols = list(r.reset_index().columns)
    assert cols[cols.index("scope_source") + 1:][:2] == ["agency_id", "duplicate_of"]
    a = _csv(hongze_out, "agencies")
    assert a.to_dict("records") == [{
        "agency_id": "320813:人民政府", "name": "淮安市洪泽区人民政府",
        "names": "洪泽区人民政府 (2023); 淮安市洪泽区人民政府 (2024)", "years": "2023–2024",
        "division_code": "320813", "level": "county", "kind": "government", "n_reports": "2"}]


def test_carry_over_check_links_the_two_names(hongze_out):
    r = _csv(hongze_out, "reports").set_index("source_file")
    c = _csv(hongze_out, "checks")
    carry = c[c["rule"] == "carry_over"]
    assert set(carry["report_id"]) == {r.loc["hz/2024.txt", "report_id"]}
    total = carry[carry["column"] == "total"].iloc[0]
    assert (total["row"], total["expected"], total["observed"]) == ("carried_over", "0", "2")
    assert "320813:人民政府" in total["message"]


def test_load_and_connect_give_agencies(hongze_out):
    t = gxlib.load(hongze_out)
    assert t.agencies["agency_id"].tolist() == ["320813:人民政府"]
    assert t.agencies["n_reports"].tolist() == [2]
    assert t.reports["agency_id"].tolist() == ["320813:人民政府"] * 2
    con = gxlib.connect(hongze_out)
    assert con.execute("SELECT agency_id, n_reports FROM agencies").fetchall() == [("320813:人民政府", 2)]
    assert con.execute("SELECT DISTINCT agency_id FROM panel").fetchall() == [("320813:人民政府",)]


def test_data_dictionary_describes_the_new_columns_and_the_writing_variants(hongze_out):
    text = (hongze_out / "README.md").read_text(encoding="utf-8")
    assert "| agency_id | stable key of the body" in text
    assert "| duplicate_of | report_id of the copy that is kept" in text
    assert "## agencies.csv" in text
    assert "| own | 本机关 | the body itself |" in text
    assert "Writing variants the parser handles" in text


def test_a_report_parsed_twice_is_marked_once(tmp_path):
    """The same 2024 report as a PDF attachment and as the HTML page that shows it."""
    from gxlib.readers import read

    pdf = FIXTURES / "kirogov_2.pdf"
    raw = tmp_path / "raw"
    (raw / "hz").mkdir(parents=True)
    (raw / "hz" / "2024.pdf").write_bytes(pdf.read_bytes())
    text = read(pdf, pdf.read_bytes()).text
    (raw / "hz" / "2024.html").write_bytes(_page(text, "淮安市洪泽区人民政府2024年政府信息公开工作年度报告"))
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1, progress=False)
    r = _csv(out, "reports").set_index("source_file")
    assert r["agency_id"].tolist() == ["320813:人民政府", "320813:人民政府"]
    pdf_id, page_id = r.loc["hz/2024.pdf", "report_id"], r.loc["hz/2024.html", "report_id"]
    assert r.loc["hz/2024.html", "duplicate_of"] == pdf_id
    assert r.loc["hz/2024.pdf", "duplicate_of"] == ""
    c = _csv(out, "checks")
    dup = c[c["rule"] == "duplicate_report"]
    assert dup[["report_id", "expected"]].values.tolist() == [[page_id, pdf_id]]
    assert (c["rule"] == "same_agency_year").sum() == 0
    assert _csv(out, "agencies")["n_reports"].tolist() == ["2"]
    # non-zero values: the copy really is the same table
    apps = _csv(out, "applications")
    new = apps[(apps["row"] == "new") & (apps["applicant"] == "total")].set_index("report_id")["value"]
    assert new[pdf_id] == new[page_id] != "0"


def test_exports_list_agencies_and_verify(hongze_out):
    assert {"agencies.csv", "agencies.parquet"} <= set(store.EXPORTS)
    state = store.read_state(hongze_out)
    assert store.verify(hongze_out, state["exports"])
