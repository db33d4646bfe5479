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
from hostile_batch import HELD, build_batch, hooked, kill_when_written
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


def test_copies_and_a_near_copy_through_the_engine(tmp_path):
    """One agency-year three times: a text capture, the HTML page showing the same table
    (a copy: the page is kept over the capture) and a capture whose 予以公开 is 51, not 50
    (not a copy: a warning, and both counted). The cells are compared in the store."""
    from test_agencies import HONGZE_2024_HEAD, HONGZE_2024_TABLE

    text = HONGZE_2024_HEAD + HONGZE_2024_TABLE
    raw = tmp_path / "raw"
    (raw / "hz").mkdir(parents=True)
    (raw / "hz" / "a.txt").write_text(text, encoding="utf-8")
    (raw / "hz" / "b.html").write_bytes(_page(text, "淮安市洪泽区人民政府2024年政府信息公开工作年度报告"))
    other = text.replace("(一)予以公开 | 50 | 0 | 0 | 0 | 0 | 0 | 50", "(一)予以公开 | 51 | 0 | 0 | 0 | 0 | 0 | 51")
    assert other != text
    (raw / "hz" / "c.txt").write_text(other, encoding="utf-8")
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1, progress=False)
    r = _csv(out, "reports").set_index("source_file")
    ids = r["report_id"].to_dict()
    assert r["duplicate_of"].to_dict() == {"hz/a.txt": ids["hz/b.html"], "hz/b.html": "", "hz/c.txt": ""}
    c = _csv(out, "checks")
    found = c[c["rule"].isin(["duplicate_report", "same_agency_year"])]
    assert sorted(found[["rule", "report_id", "expected"]].values.tolist()) == [
        ["duplicate_report", ids["hz/a.txt"], ids["hz/b.html"]],
        ["same_agency_year", ids["hz/c.txt"], ids["hz/b.html"]]]
    warning = found.loc[found["rule"] == "same_agency_year", "message"].item()
    assert "differ in 2 of" in warning  # 予以公开's natural-person cell and its total


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


# --------------------------------------------------------------------------- issue 26
# `gx parse` itself over the seeds and hostile files: one file per task in the worker pool,
# each under a memory cap and a time limit; a worker killed mid-batch costs its file only.


def test_gx_parse_of_a_hostile_batch_gives_every_file_its_true_reason(tmp_path, monkeypatch):
    from gxlib import cli

    raw = tmp_path / "raw"
    expect, seeds = build_batch(raw)
    monkeypatch.setattr(pipeline, "parse_one", hooked(pipeline.parse_one))
    th, killed = kill_when_written(raw / (HELD + ".pid"), 60)
    out = tmp_path / "out"
    try:
        rc = cli.main(["parse", str(raw), "--out", str(out), "--jobs", "2", "--file-timeout", "3",
                       "--max-file-memory", "512M", "--no-progress"])
    finally:
        th.join()
    assert rc == 0 and killed
    (raw / (HELD + ".pid")).unlink()
    r = _csv(out, "reports").set_index("source_file")
    files = sorted(p.name for p in raw.iterdir())
    assert sorted(r.index) == files  # every file, once
    for name in seeds:
        assert r.loc[name, "status"] == "ok", (name, r.loc[name, "error"])
    for name, want in expect.items():
        assert r.loc[name, "status"] == "failed", name
        assert want in r.loc[name, "error"], (name, r.loc[name, "error"])
    # the set is whole and valid, the seeds' tables are there
    assert store.verify(out, store.read_state(out)["exports"])
    t = gxlib.load(out)
    assert set(t.applications["report_id"]) == set(r.loc[seeds, "report_id"])
    # a failed file keeps the id a parse would give it (path and bytes)
    from gxlib.parse import parse_bytes

    assert r.loc[HELD, "report_id"] == parse_bytes((raw / HELD).read_bytes(), HELD)["report"]["report_id"]


def test_gx_parse_options_reach_the_pool(monkeypatch, tmp_path):
    from gxlib import cli

    seen = {}

    def fake_run(raw, **kw):
        seen.update(kw)
        raise store.Busy("stop here")

    monkeypatch.setattr(pipeline, "run", fake_run)
    assert cli.main(["parse", str(ROOT / "data" / "raw"), "--out", str(tmp_path), "--max-file-memory", "1500M",
                     "--file-timeout", "0"]) == 3
    assert (seen["max_file_memory"], seen["file_timeout"]) == (1500 << 20, None)
    assert cli.main(["parse", str(ROOT / "data" / "raw"), "--out", str(tmp_path)]) == 3
    assert (seen["max_file_memory"], seen["file_timeout"]) == (2 << 30, 120.0)
    with pytest.raises(SystemExit):
        cli.main(["parse", str(ROOT / "data" / "raw"), "--max-file-memory", "lots"])


# --------------------------------------------------------------------------- issue 25
def test_gx_parse_reads_the_images_saved_beside_a_page(tmp_path):
    """The pipeline tells the reader where the file is (not only its path relative to the
    raw folder), so a page's image saved beside it is found and read by OCR."""
    from test_readers_ocr import _page_html, _table_png, needs_ocr

    needs_ocr()
    site = tmp_path / "raw" / "www.example.gov.cn"
    (site / "page_files").mkdir(parents=True)
    (site / "page_files" / "t2.png").write_bytes(_table_png())
    (site / "page.html").write_text(_page_html("https://www.example.gov.cn/u/cms/t2.png?v=3"), encoding="utf-8")
    out = tmp_path / "out"
    pipeline.run(tmp_path / "raw", out, jobs=1, progress=False)
    r = _csv(out, "reports").set_index("source_file")
    rid = r.loc["www.example.gov.cn/page.html", "report_id"]
    assert r.loc["www.example.gov.cn/page.html", "text_source"] == "ocr"
    d = _csv(out, "disclosure")
    got = {(i, m): v for i, m, v in d.loc[d["report_id"] == rid, ["item", "measure", "value"]].values}
    assert got[("licensing", "decisions")] == "1263" and got[("penalty", "decisions")] == "418"
    # the image is also an input of its own: its report is a copy of the page's, counted once
    img = "www.example.gov.cn/page_files/t2.png"
    assert r.loc[img, "duplicate_of"] == rid
    c = _csv(out, "checks")
    mine = c[(c["report_id"] == r.loc[img, "report_id"]) & (c["rule"] == "duplicate_report")]
    assert len(mine) == 1 and "page.html" in mine["message"].iloc[0] and mine["expected"].iloc[0] == rid
    assert pd.isna(r.loc["www.example.gov.cn/page.html", "duplicate_of"]) or r.loc["www.example.gov.cn/page.html", "duplicate_of"] == ""


def test_images_a_page_read_are_copies_of_the_page():
    """By the manifest (parent = the page's url) or by where a browser saves a page's
    images; only a page that read images by OCR claims them; other images stay reports."""
    from gxlib.attachments import page_images

    reports = pd.DataFrame({
        "report_id": ["p1", "i1", "i2", "p2", "i3", "i4"],
        "source_file": ["a/page.html", "a/page_files/t.png", "a/x/scan.jpg", "b/plain.html", "b/plain_files/t.png",
                        "c/alone.png"],
        "status": ["ok", "partial", "ok", "ok", "ok", "ok"],
        "text_source": ["ocr", "ocr", "ocr", "html", "ocr", "ocr"]})
    manifest = pd.DataFrame({"file": ["a/page.html", "a/x/scan.jpg"], "url": ["https://s/p", "https://s/x.jpg"],
                             "parent": ["", "https://s/p"], "status": ["ok", "ok"]})
    got = page_images(reports, manifest)
    assert got.to_dict("records") == [
        {"report_id": "i1", "source_file": "a/page_files/t.png", "page_report_id": "p1", "page_file": "a/page.html"},
        {"report_id": "i2", "source_file": "a/x/scan.jpg", "page_report_id": "p1", "page_file": "a/page.html"}]
    assert page_images(reports.assign(text_source="html")).empty


def test_copies_are_found_the_same_whatever_the_batch_size():
    """The export looks for copies a batch of whole groups at a time (memory flat in N):
    one report per batch gives the same duplicate_of and check rows as one batch."""
    import duckdb

    from gxlib.checks import find_duplicates
    from gxlib.pipeline import _duplicates

    cells = [(f"row{i}", "total", float(10 + i)) for i in range(25)]  # 25 non-zero cells
    apps = []
    for rid, shift in (("a1", 0), ("a2", 0), ("b1", 0), ("b2", 1), ("c1", 0), ("c2", 0), ("d1", 0)):
        apps += [(rid, row, col, v + shift) for row, col, v in cells]
    reports = pd.DataFrame({
        "report_id": ["a1", "a2", "b1", "b2", "c1", "c2", "d1"],
        "agency_id": ["320813:人民政府", "320813:人民政府", "350128:公安局", "350128:公安局", "", "", "350128:公安局"],
        "year": [2023, 2023, 2024, 2024, 2024, 2024, 2023],
        "status": ["ok", "partial", "ok", "ok", "ok", "ok", "ok"],
        "source_file": ["a1.txt", "a2.html", "b1.txt", "b2.txt", "c1.txt", "c2.txt", "d1.txt"],
        "sha256": ["s1", "s2", "s3", "s4", "same", "same", "s7"],
        "format": ["text", "html", "text", "text", "text", "text", "text"],
        "text_source": ["text", "html", "text", "text", "text", "text", "text"]})
    con = duckdb.connect()
    con.register("_apps", pd.DataFrame(apps, columns=["report_id", "row", "applicant", "value"]))
    con.execute("CREATE TABLE applications AS SELECT * FROM _apps")
    con.execute("CREATE TABLE disclosure (report_id VARCHAR, item VARCHAR, measure VARCHAR, value DOUBLE)")
    con.execute("CREATE TABLE reviews (report_id VARCHAR, proceeding VARCHAR, outcome VARCHAR, value DOUBLE)")
    results = []
    for chunk in (1, 2048):
        rows: list = []
        dup = _duplicates(con, reports, find_duplicates, rows, chunk=chunk)
        checks = pd.concat(rows, ignore_index=True).sort_values(["report_id", "rule"]).reset_index(drop=True)
        results.append((dup.fillna("").tolist(), checks))
    (dup1, checks1), (dup2, checks2) = results
    assert dup1 == dup2 == ["", "a1", "", "", "", "c1", ""]
    pd.testing.assert_frame_equal(checks1, checks2)
    assert checks1[["report_id", "rule"]].values.tolist() == [
        ["a2", "duplicate_report"], ["b2", "same_agency_year"], ["c2", "duplicate_report"]]
