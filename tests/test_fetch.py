"""`gx fetch` against a government website the tests start on 127.0.0.1 (tests/fetch_site.py).

The site has a report column of three pages (下一页 / 尾页, index_N.html) with a notice that
is not a report, report pages in UTF-8 and GBK (charset only in <meta>), a page whose report
is a PDF attachment, a 404, a 500 that recovers, a timeout, a 412 challenge, a path that
robots.txt disallows, a redirect and a file over --max-bytes.  No test touches the internet.
"""
from __future__ import annotations

import csv
import io
import os
import signal
import threading
from pathlib import Path

import pandas as pd
import pytest

import gxlib
from gxlib import cli
from gxlib.fetch import BLOCKED, NEEDS_JS, Options, Source, fetch
from gxlib.fetch.manifest import COLUMNS
from conftest import ROOT
from fetch_site import Page, Reply, Site, once_then

PDF = ROOT / "tests" / "fixtures" / "report_2024.pdf"  # kirogov_2.pdf of the shared corpus (240 KB)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e2b1d3a90000000049454e44ae426082")
NOTICE = "/ndbg/notice_2021.html"


def generated_page(encoding: str, template: str) -> bytes:
    """A realistic report page with non-zero tables (the benchmark generator's HTML shape)."""
    from benchmarks.generate import render, spec

    for i in range(2000):
        s = spec(11, i)
        if (s["shape"] == "html" and not s["damage"] and not s["zero_applications"] and s["title"]
                and s["encoding"] == encoding and s["template"] == template):
            return render(s)
    raise AssertionError("the generator gave no such page")  # pragma: no cover


def column_page(items: list[tuple[str, str]], pager: list[tuple[str, str]]) -> bytes:
    nav = '<div class="nav"><a href="/">首页</a> <a href="/zwgk/">政务公开</a> <a href="/hdjl/">互动交流</a></div>'
    lis = "".join(f'<li><a href="{href}" title="{text}">{text}</a><span>2022-01-20</span></li>' for href, text in items)
    pages = " ".join(f'<a href="{href}">{text}</a>' for href, text in pager)
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>政府信息公开年报</title></head><body>{nav}'
            f'<ul class="list">{lis}</ul><div class="page">{pages}</div></body></html>').encode()


PDF_PAGE = (
    '<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
    "<title>淮安市洪泽区人民政府2024年政府信息公开工作年度报告</title>"
    '<meta name="PubDate" content="2025-01-21 09:30"></head><body>'
    '<div class="header"><img src="/images/logo.png"><a href="/help/guide.pdf">网站使用帮助.pdf</a></div>'
    '<div class="article"><h1>淮安市洪泽区人民政府2024年政府信息公开工作年度报告</h1>'
    '<div class="info">发布日期：2025-01-21</div><div id="zoom">'
    "<p>现将淮安市洪泽区人民政府2024年政府信息公开工作年度报告全文发布如下：</p>"
    '<p><img src="/files/seal.png"></p>'
    '<p>附件：<a href="/files/2024ndbg.pdf">淮安市洪泽区人民政府2024年政府信息公开工作年度报告.pdf</a></p>'
    "</div></div></body></html>"
).encode()

CHALLENGE = (b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
             b'<script type="text/javascript" r="m">$_ts=window["$_ts"];if(!$_ts)$_ts={};$_ts.nsd=46216;'
             b'</script><script type="text/javascript" charset="utf-8" src="/4QbVtADbnLVIc/c.FxJzG50F.dfe1675.js">'
             b"</script></head><body></body></html>")


def build_site() -> dict:
    utf8 = generated_page("utf-8", "2021")
    gbk = generated_page("gbk", "2019")
    assert b"charset=gbk" in gbk.lower() or b'charset="gbk"' in gbk.lower()
    moved = generated_page("utf-8", "2019")
    t = "政府信息公开工作年度报告"
    return {
        "/robots.txt": Page(b"User-agent: *\nDisallow: /private/\n", "text/plain"),
        "/ndbg/index.html": Page(column_page(
            [("/ndbg/202201/t20220120_1.html", f"某市人民政府办公室2021年{t}"),
             ("./202101/t20210118_7.html", f"某县民政局2020年{t}")],
            [("index_1.html", "下一页"), ("index_2.html", "尾页")])),
        "/ndbg/index_1.html": Page(column_page(
            [(NOTICE, "关于做好2022年政务公开重点工作的通知"),
             ("/ndbg/2025/t5.html", f"淮安市洪泽区人民政府2024年{t}"),
             ("/ndbg/missing.html", f"某局2019年{t}"),
             ("/ndbg/flaky.html", f"某办2022年{t}")],
            [("index.html", "上一页"), ("index_2.html", "下一页")])),
        "/ndbg/index_2.html": Page(column_page(
            [("/ndbg/slow.html", f"某委2018年{t}"), ("/ndbg/blocked.html", f"某厅2023年{t}"),
             ("/private/r.html", f"某署2017年{t}"), ("/old/report.html", f"某会2019年{t}"),
             ("/files/big.pdf", f"某中心2016年{t}（PDF）")],
            [("index_1.html", "上一页"), ("index.html", "首页")])),
        "/ndbg/202201/t20220120_1.html": Page(utf8),
        "/ndbg/202101/t20210118_7.html": Page(gbk),
        "/ndbg/2025/t5.html": Page(PDF_PAGE),
        "/files/2024ndbg.pdf": Page(PDF.read_bytes(), "application/pdf", etag=False),
        "/files/seal.png": Page(PNG, "image/png", etag=False, last_modified=False),
        "/ndbg/flaky.html": once_then(Reply(500, b"<html><body>Internal Server Error</body></html>"), Page(moved)),
        "/ndbg/slow.html": lambda req: Reply(200, b"<html></html>", {"Content-Type": "text/html"}, delay=2.5),
        "/ndbg/blocked.html": lambda req: Reply(412, CHALLENGE, {"Content-Type": "text/html"}),
        "/private/r.html": Page(utf8),
        "/old/report.html": lambda req: Reply(301, b"", {"Location": "/ndbg/moved/t9.html"}),
        "/ndbg/moved/t9.html": Page(moved),
        "/files/big.pdf": Page(b"%PDF-1.4\n" + b"0" * 400_000, "application/pdf"),
        NOTICE: Page(b"<html><body>notice</body></html>"),
        "/images/logo.png": Page(PNG, "image/png"),
        "/help/guide.pdf": Page(b"%PDF-1.4 help", "application/pdf"),
    }


def options(out: Path, **kw) -> Options:
    base = dict(out=out, delay=0.0, timeout=1.0, retries=1, backoff=0.01, max_bytes=280_000, progress=False)
    base.update(kw)
    return Options(**base)


def read_manifest(raw: Path) -> tuple[list[str], dict[str, dict]]:
    text = (raw / "manifest.csv").read_bytes().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return reader.fieldnames, {r["url"]: r for r in rows}


@pytest.fixture(scope="module")
def fetched(tmp_path_factory):
    """The site fetched twice into the same raw folder."""
    routes = build_site()
    raw = tmp_path_factory.mktemp("raw")
    with Site(routes) as site:
        first = fetch(listing=site.url("/ndbg/index.html"), options=options(raw))
        after_first = len(site.requests)
        manifest_first = (raw / "manifest.csv").read_bytes()
        mtimes = {p: p.stat().st_mtime_ns for p in raw.rglob("*") if p.is_file()}
        second = fetch(listing=site.url("/ndbg/index.html"), options=options(raw))
        yield {"site": site, "raw": raw, "routes": routes, "first": first, "second": second,
               "first_requests": site.requests[:after_first], "second_requests": site.requests[after_first:],
               "manifest_first": manifest_first, "mtimes": mtimes}


def test_listing_fetches_reports_and_attachments_byte_for_byte(fetched):
    site, raw, routes = fetched["site"], fetched["raw"], fetched["routes"]
    columns, rows = read_manifest(raw)
    assert columns == COLUMNS
    u = site.url
    col1, col2, col3 = u("/ndbg/index.html"), u("/ndbg/index_1.html"), u("/ndbg/index_2.html")
    ok = {
        "/ndbg/202201/t20220120_1.html": col1, "/ndbg/202101/t20210118_7.html": col1,  # UTF-8, GBK
        "/ndbg/2025/t5.html": col2, "/ndbg/flaky.html": col2,
        "/files/2024ndbg.pdf": u("/ndbg/2025/t5.html"), "/files/seal.png": u("/ndbg/2025/t5.html"),  # attachments
    }
    for path, parent in ok.items():
        row = rows[u(path)]
        assert (row["status"], row["error"], row["parent"], row["http_status"]) == ("ok", "", parent, "200"), path
        saved = (raw / row["file"]).read_bytes()
        assert saved == routes[path].body if isinstance(routes[path], Page) else True
        assert row["sha256"] and int(row["bytes"]) == len(saved) and row["fetched_at"].endswith("Z")
    folder = f"127.0.0.1_{site.server.server_address[1]}"
    assert rows[u("/ndbg/2025/t5.html")]["file"] == f"{folder}/ndbg_2025_t5.html"
    # attachments beside their page
    assert rows[u("/files/2024ndbg.pdf")]["file"] == f"{folder}/files_2024ndbg.pdf"
    assert (raw / rows[u("/files/2024ndbg.pdf")]["file"]).read_bytes() == PDF.read_bytes()
    assert rows[u("/ndbg/202201/t20220120_1.html")]["etag"].startswith('"')
    assert rows[u("/files/2024ndbg.pdf")]["last_modified"].endswith("GMT")
    assert (raw / rows[u("/ndbg/flaky.html")]["file"]).read_bytes() == routes["/ndbg/moved/t9.html"].body
    # a redirect: followed and recorded; the file is named after where it led
    red = rows[u("/old/report.html")]
    assert (red["status"], red["final_url"], red["file"]) == ("ok", u("/ndbg/moved/t9.html"), f"{folder}/ndbg_moved_t9.html")
    failed = {
        "/ndbg/missing.html": ("failed", "not found (HTTP 404)", "404"),
        "/ndbg/blocked.html": ("failed", BLOCKED, "412"),
        "/ndbg/slow.html": ("failed", "timed out (no answer) after 2 attempts", ""),
        "/private/r.html": ("skipped", "disallowed by robots.txt", ""),
    }
    for path, want in failed.items():
        row = rows[u(path)]
        assert (row["status"], row["error"], row["http_status"]) == want, path
        assert row["file"] == "" and row["parent"] == col3 or path in ("/ndbg/missing.html",)
    big = rows[u("/files/big.pdf")]
    assert (big["status"], big["error"], big["file"]) == ("failed", "larger than --max-bytes (280,000 bytes): not saved", "")
    # the rows of the manifest are the whole folder: nothing saved that is not recorded, no staging left
    on_disk = {p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file()} - {"manifest.csv"}
    assert on_disk == {r["file"] for r in rows.values() if r["file"]}
    assert len(on_disk) == 7


def test_only_matching_links_and_allowed_paths_are_requested(fetched):
    site = fetched["site"]
    asked = [r.path for r in fetched["first_requests"]]
    for path in (NOTICE, "/private/r.html", "/", "/zwgk/", "/hdjl/", "/images/logo.png", "/help/guide.pdf"):
        assert path not in asked, path
    assert asked.count("/ndbg/missing.html") == 1  # a 4xx is never retried
    assert asked.count("/ndbg/flaky.html") == 2  # a 5xx is, once it recovers it is saved
    assert asked.count("/ndbg/slow.html") == 2  # a timeout is retried (retries=1 here)
    assert asked.count("/robots.txt") == 1
    for p in ("/ndbg/index.html", "/ndbg/index_1.html", "/ndbg/index_2.html"):
        assert asked.count(p) == 1  # each column page once, however often it is linked
    assert all(r.headers["User-Agent"].startswith("gxlib/") for r in fetched["first_requests"])
    s = fetched["first"]
    assert s.column_pages == 3 and s.matched == 10
    assert dict(s.pages) == {"new": 5, "failed": 4, "skipped": 1}
    assert dict(s.attachments) == {"new": 2}
    assert s.failed[BLOCKED] == 1 and s.skipped["disallowed by robots.txt"] == 1
    text = s.text()
    assert "5 report pages (5 new)" in text and "2 attachments (2 new)" in text
    assert "1 blocked by the site's bot protection" in text and "1 not found (HTTP 404)" in text


def test_second_run_downloads_nothing_again(fetched):
    raw = fetched["raw"]
    assert (raw / "manifest.csv").read_bytes() == fetched["manifest_first"]
    for p, mtime in fetched["mtimes"].items():
        assert p.stat().st_mtime_ns == mtime, p
    again = [r for r in fetched["second_requests"]
             if r.path not in ("/robots.txt", "/ndbg/index.html", "/ndbg/index_1.html", "/ndbg/index_2.html")]
    saved = {"/ndbg/202201/t20220120_1.html", "/ndbg/202101/t20210118_7.html", "/ndbg/2025/t5.html",
             "/ndbg/flaky.html", "/old/report.html", "/ndbg/moved/t9.html", "/files/2024ndbg.pdf"}
    for r in again:
        if r.path in saved:
            assert r.status in (301, 304), r.path  # asked conditionally, nothing sent again
            assert "If-None-Match" in r.headers or "If-Modified-Since" in r.headers, r.path
    assert {r.path for r in again} >= saved - {"/files/seal.png"}
    assert "/files/seal.png" not in {r.path for r in again}  # no validators: the copy here is kept, not asked
    s = fetched["second"]
    assert s.bytes == 0
    assert s.pages["unchanged"] == 5 and s.attachments["unchanged"] == 2


def _tables(result) -> dict:
    out = {}
    for name in ("disclosure", "applications", "reviews", "checks"):
        frame = getattr(result, name).drop(columns=["report_id"])
        out[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    keep = ("title", "agency", "year", "published", "template", "status", "error", "division_code")
    return out, {k: result.report[k] for k in keep}


@pytest.fixture(scope="module")
def parsed(fetched, tmp_path_factory):
    """`gx parse` on the fetched folder (its manifest included)."""
    out = tmp_path_factory.mktemp("processed")
    assert cli.main(["parse", str(fetched["raw"]), "--out", str(out), "--jobs", "1", "--no-progress"]) == 0
    return gxlib.load(out)


def test_fetched_folder_parses_to_the_same_tables(fetched, parsed, tmp_path):
    raw, routes, site = fetched["raw"], fetched["routes"], fetched["site"]
    _, rows = read_manifest(raw)
    originals = tmp_path / "originals"
    originals.mkdir()
    direct = {}
    for path, route in routes.items():
        row = rows.get(site.url(path))
        if not isinstance(route, Page) or row is None or row["status"] != "ok" or row["final_url"] != row["url"]:
            continue
        name = row["file"].rsplit("/", 1)[-1]
        (originals / name).write_bytes(route.body)
        direct[row["file"]] = gxlib.parse_report(raw / row["file"])
        got, want = _tables(direct[row["file"]]), _tables(gxlib.parse_report(originals / name))
        for table in got[0]:
            pd.testing.assert_frame_equal(got[0][table], want[0][table])
        assert got[1] == want[1]
    assert len(direct) == 5  # UTF-8 page, GBK page, the PDF's page, the PDF, the image
    # and `gx parse` on the fetched folder gives those tables for each file
    t = parsed
    reports = t.reports.set_index("source_file")
    for file, one in direct.items():
        rid = reports.loc[file, "report_id"]
        assert reports.loc[file, "url"] == next(r["url"] for r in rows.values() if r["file"] == file)
        for name, cols in (("applications", ["row", "applicant"]), ("reviews", ["proceeding", "outcome"]),
                           ("disclosure", ["item", "measure"])):
            got = getattr(t, name)
            got = got[got["report_id"] == rid]
            want = getattr(one, name)
            assert sorted(zip(*(got[c].astype(str) for c in cols), got["value"].astype(float).fillna(-1))) == \
                sorted(zip(*(want[c].astype(str) for c in cols), want["value"].astype(float).fillna(-1))), (file, name)
    pdf = reports.loc[rows[site.url("/files/2024ndbg.pdf")]["file"], "report_id"]
    assert t.applications.loc[t.applications["report_id"] == pdf, "value"].astype(float).sum() > 0  # non-zero tables


def test_the_page_without_tables_and_its_pdf_are_one_report(fetched, parsed):
    from gxlib.attachments import merge_pages, page_attachments

    raw, site = fetched["raw"], fetched["site"]
    _, rows = read_manifest(raw)
    reports = parsed.reports
    links = page_attachments(reports, raw)
    page, pdf = rows[site.url("/ndbg/2025/t5.html")]["file"], rows[site.url("/files/2024ndbg.pdf")]["file"]
    assert list(zip(links["page_file"], links["source_file"])) == [(page, pdf)]
    assert links.loc[0, "title"] == "淮安市洪泽区人民政府2024年政府信息公开工作年度报告"
    assert links.loc[0, "published"] == "2025-01-21"
    merged = merge_pages(reports, links).set_index("source_file")
    assert merged.loc[pdf, "published"] == "2025-01-21"
    assert merged.loc[page, "duplicate_of"] == merged.loc[pdf, "report_id"]
    assert "files_2024ndbg.pdf" in merged.loc[page, "error"]
    assert len(merged) == len(reports)  # every raw file keeps its row


def test_gx_parse_makes_the_page_and_its_pdf_one_counted_report(fetched, parsed):
    """`gx parse` itself applies the pairing: the PDF is the report (its rows, the page's
    title and date), the page points to it and says why it has no tables."""
    raw, site = fetched["raw"], fetched["site"]
    _, rows = read_manifest(raw)
    r = parsed.reports.set_index("source_file")
    page, pdf = rows[site.url("/ndbg/2025/t5.html")]["file"], rows[site.url("/files/2024ndbg.pdf")]["file"]
    pair = r.loc[[page, pdf]]
    counted = pair[(pair["duplicate_of"] == "") & pair["status"].astype(str).isin(["ok", "partial"])]
    assert list(counted.index) == [pdf]
    assert counted.loc[pdf, "title"] == "淮安市洪泽区人民政府2024年政府信息公开工作年度报告"
    assert counted.loc[pdf, "published"] == "2025-01-21"
    assert r.loc[page, "duplicate_of"] == r.loc[pdf, "report_id"]
    assert r.loc[page, "error"] == "no statistical tables on the page: the report is its attachment files_2024ndbg.pdf"
    apps = parsed.applications
    assert apps.loc[apps["report_id"] == r.loc[pdf, "report_id"], "value"].astype(float).sum() > 0
    assert (apps["report_id"] == r.loc[page, "report_id"]).sum() == 0
    # the pair is one body's report: no carry-over or duplicate check is raised between them
    c = parsed.checks
    assert not c[c["report_id"].isin(pair["report_id"]) & c["rule"].astype(str).isin(["duplicate_report"])].shape[0]


# --------------------------------------------------------------------------------------
# the same rules, one at a time

def test_sources_csv_metadata_reaches_the_manifest(tmp_path):
    routes = {"/robots.txt": Page(b"", "text/plain"), "/r.html": Page(PDF_PAGE),
              "/files/2024ndbg.pdf": Page(PDF.read_bytes(), "application/pdf"),
              "/files/seal.png": Page(PNG, "image/png")}
    with Site(routes) as site:
        src = tmp_path / "sources.csv"  # as Excel saves it on a Chinese Windows: GBK
        src.write_bytes((f"url,agency,year,division_code,note\n{site.url('/r.html')},洪泽区人民政府,2024,320813,手工核对\n"
                         f"www.example.gov.cn/r.html,某局,2021,,\n").encode("gbk"))
        rc = cli.main(["fetch", str(src), "--out", str(tmp_path / "raw"), "--delay", "0", "--no-progress"])
    assert rc == 0
    _, rows = read_manifest(tmp_path / "raw")
    page = rows[site.url("/r.html")]
    assert (page["agency"], page["year"], page["division_code"], page["note"]) == ("洪泽区人民政府", "2024", "320813", "手工核对")
    pdf = rows[site.url("/files/2024ndbg.pdf")]
    assert (pdf["agency"], pdf["year"], pdf["division_code"], pdf["parent"]) == ("洪泽区人民政府", "2024", "320813", site.url("/r.html"))
    bad = rows["www.example.gov.cn/r.html"]
    assert (bad["status"], bad["error"]) == ("failed", "not a web address (http:// or https://)")


@pytest.mark.parametrize("status,body,reason", [
    (521, CHALLENGE, BLOCKED),
    (200, "<html><head><title>安全验证</title></head><body><div>请完成下方安全验证后继续访问</div>"
          "<div id='captcha'></div></body></html>".encode(), BLOCKED),
    (403, b"<html><body><h1>403 Forbidden</h1><p>You don't have permission to access this resource.</p></body></html>",
     "forbidden (HTTP 403)"),
    (200, b'<html><head><script src="/app.js"></script></head><body><div id="app"></div></body></html>', NEEDS_JS),
])
def test_bot_protection_and_script_shells_are_failed_and_not_saved(tmp_path, status, body, reason):
    routes = {"/robots.txt": Page(b"", "text/plain"),
              "/r.html": lambda req: Reply(status, body, {"Content-Type": "text/html; charset=utf-8"})}
    with Site(routes) as site:
        s = fetch([Source(site.url("/r.html"))], options=options(tmp_path))
    _, rows = read_manifest(tmp_path)
    row = rows[site.url("/r.html")]
    assert (row["status"], row["error"], row["file"], row["http_status"]) == ("failed", reason, "", str(status))
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "manifest.csv"]
    assert len(site.hits("/r.html")) == 1 and s.failed[reason] == 1


def test_a_report_page_with_a_captcha_form_in_its_footer_is_a_report(tmp_path):
    page = generated_page("utf-8", "2021").replace(
        b"</body>", '<div class="footer"><form>搜索 <input name="q"> 验证码 <img src="/code.jpg"></form></div></body>'.encode())
    with Site({"/robots.txt": Page(b"", "text/plain"), "/r.html": Page(page)}) as site:
        fetch([Source(site.url("/r.html"))], options=options(tmp_path))
    _, rows = read_manifest(tmp_path)
    assert rows[site.url("/r.html")]["status"] == "ok"


def test_retry_after_is_honoured_and_a_long_one_is_reported(tmp_path):
    page = Page(generated_page("utf-8", "2021"))
    routes = {"/robots.txt": Page(b"", "text/plain"),
              "/wait.html": once_then(Reply(503, b"busy", {"Retry-After": "1"}), page),
              "/later.html": lambda req: Reply(429, b"slow down", {"Retry-After": "3600"})}
    with Site(routes) as site:
        fetch([Source(site.url("/wait.html")), Source(site.url("/later.html"))], options=options(tmp_path))
    first, second = site.hits("/wait.html")
    assert second.at - first.at >= 0.95  # the site's Retry-After, not the 0.01 s backoff
    _, rows = read_manifest(tmp_path)
    assert rows[site.url("/wait.html")]["status"] == "ok"
    later = rows[site.url("/later.html")]
    assert later["status"] == "failed" and "Retry-After" in later["error"] and later["http_status"] == "429"
    assert len(site.hits("/later.html")) == 1


def test_delay_between_two_requests_to_one_host(tmp_path):
    routes = {"/robots.txt": Page(b"", "text/plain")}
    routes.update({f"/r{i}.pdf": Page(b"%PDF-1.4 " + bytes([i]), "application/pdf") for i in range(3)})
    with Site(routes) as site:
        fetch([Source(site.url(f"/r{i}.pdf")) for i in range(3)], options=options(tmp_path, delay=0.3))
    times = [r.at for r in site.requests]
    assert len(times) == 4  # robots.txt and the three files
    assert min(b - a for a, b in zip(times, times[1:])) >= 0.28


def test_a_body_over_max_bytes_without_a_length_is_cut_off(tmp_path):
    routes = {"/robots.txt": Page(b"", "text/plain"),
              "/scan.pdf": lambda req: Reply(200, b"%PDF" + b"1" * 500_000, {"Content-Type": "application/pdf"}, length=False)}
    with Site(routes) as site:
        fetch([Source(site.url("/scan.pdf"))], options=options(tmp_path, max_bytes=100_000))
    _, rows = read_manifest(tmp_path)
    row = rows[site.url("/scan.pdf")]
    assert (row["status"], row["error"]) == ("failed", "larger than --max-bytes (100,000 bytes): not saved")
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "manifest.csv"]


def test_robots_txt_is_ignored_only_on_request_with_a_warning(tmp_path, capsys):
    routes = {"/robots.txt": Page(b"User-agent: *\nDisallow: /\n", "text/plain"), "/r.pdf": Page(b"%PDF-1.4", "application/pdf")}
    with Site(routes) as site:
        assert cli.main(["fetch", site.url("/r.pdf"), "--out", str(tmp_path / "a"), "--delay", "0", "--no-progress"]) == 1
        assert cli.main(["fetch", site.url("/r.pdf"), "--out", str(tmp_path / "b"), "--delay", "0", "--no-progress",
                         "--ignore-robots"]) == 0
    err = capsys.readouterr().err
    assert "warning: --ignore-robots" in err
    assert [r.path for r in site.requests] == ["/robots.txt", "/r.pdf"]
    assert read_manifest(tmp_path / "a")[1][site.url("/r.pdf")]["status"] == "skipped"


def test_a_changed_page_is_replaced_and_a_later_failure_keeps_the_copy(tmp_path):
    v1, v2 = generated_page("utf-8", "2021"), generated_page("utf-8", "2019")
    routes = {"/robots.txt": Page(b"", "text/plain"), "/r.html": Page(v1)}
    with Site(routes) as site:
        url = site.url("/r.html")
        fetch([Source(url)], options=options(tmp_path))
        routes["/r.html"] = Page(v2)
        s = fetch([Source(url)], options=options(tmp_path))
        assert s.pages["updated"] == 1
        _, rows = read_manifest(tmp_path)
        assert (tmp_path / rows[url]["file"]).read_bytes() == v2
        routes["/r.html"] = lambda req: Reply(500, b"down")
        s = fetch([Source(url)], options=options(tmp_path))
    _, after = read_manifest(tmp_path)
    assert after[url] == rows[url] and (tmp_path / rows[url]["file"]).read_bytes() == v2
    assert s.kept["server error (HTTP 500) after 2 attempts"] == 1


def test_refresh_asks_again_without_conditions_and_keeps_unchanged_files(tmp_path):
    routes = {"/robots.txt": Page(b"", "text/plain"), "/r.html": Page(generated_page("gbk", "2021"))}
    with Site(routes) as site:
        fetch([Source(site.url("/r.html"))], options=options(tmp_path))
        saved = next(p for p in tmp_path.rglob("*.html"))
        mtime = saved.stat().st_mtime_ns
        before = (tmp_path / "manifest.csv").read_bytes()
        s = fetch([Source(site.url("/r.html"))], options=options(tmp_path, refresh=True))
        last = site.hits("/r.html")[-1]
    assert "If-None-Match" not in last.headers and last.status == 200
    assert saved.stat().st_mtime_ns == mtime and (tmp_path / "manifest.csv").read_bytes() == before
    assert s.pages["unchanged"] == 1


@pytest.fixture
def python_ctrl_c():
    """Python's own Ctrl-C handler for the test (an earlier test's library may have left
    another one installed in this process, as a browser or notebook client can)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_leaves_a_consistent_manifest_and_a_rerun_goes_on(tmp_path, python_ctrl_c):
    state = {"interrupt": True}

    def interrupting(req):
        if state["interrupt"]:
            state["interrupt"] = False
            # the user presses Ctrl-C while this answer is on its way (sent to the main thread,
            # as a terminal's Ctrl-C reaches the program waiting on the network there)
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            return Reply(200, b"%PDF-1.4 third", {"Content-Type": "application/pdf"}, delay=0.3)
        return Reply(200, b"%PDF-1.4 third", {"Content-Type": "application/pdf"})

    routes = {"/robots.txt": Page(b"", "text/plain"), "/a.pdf": Page(b"%PDF-1.4 a", "application/pdf"),
              "/b.pdf": Page(b"%PDF-1.4 b", "application/pdf"), "/c.pdf": interrupting,
              "/d.pdf": Page(b"%PDF-1.4 d", "application/pdf")}
    with Site(routes) as site:
        srcs = [Source(site.url(p)) for p in ("/a.pdf", "/b.pdf", "/c.pdf", "/d.pdf")]
        s = fetch(srcs, options=options(tmp_path))
        assert s.interrupted
        _, rows = read_manifest(tmp_path)
        assert set(rows) == {site.url("/a.pdf"), site.url("/b.pdf")}
        assert all((tmp_path / r["file"]).read_bytes().startswith(b"%PDF") for r in rows.values())
        assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no staged body or manifest left
        s = fetch(srcs, options=options(tmp_path))
    assert not s.interrupted and s.pages["new"] == 2 and s.pages["unchanged"] == 2
    assert [r.path for r in site.requests].count("/a.pdf") == 2  # asked again conditionally (ETag), not sent


# --------------------------------------------------------------------------------------
# pages, names, charsets

def test_file_names_are_safe_and_collisions_get_the_url_hash(tmp_path):
    from gxlib.fetch.manifest import Manifest, file_name, suffix_for

    assert file_name("http://a.gov.cn/zwgk/ndbg/", ".html") == "zwgk_ndbg_index.html"
    assert file_name("http://a.gov.cn/", ".html") == "index.html"
    assert file_name("http://a.gov.cn/art/2022/1/20/art_1229_5.html", ".html") == "art_2022_1_20_art_1229_5.html"
    assert file_name("http://a.gov.cn/down.jsp?id=5&t=pdf", ".pdf") == "down.jsp_id=5&t=pdf.pdf"
    assert file_name("http://a.gov.cn/%E5%B9%B4%E6%8A%A5%20%3A2021.pdf", ".pdf") == "年报_2021.pdf"
    assert file_name("http://a.gov.cn/con", ".html") == "_con.html"
    assert file_name("http://a.gov.cn/manifest.csv", ".csv") == "_manifest.csv"
    long = file_name("http://a.gov.cn/" + "很长的名字" * 40 + ".pdf", ".pdf")
    assert len(long.encode()) <= 150 and long.endswith(".pdf") and "-" in long
    assert suffix_for("http://a.gov.cn/detail.jsp?id=1", "text/html;charset=GBK") == ".html"
    assert suffix_for("http://a.gov.cn/download.do?id=1", "application/octet-stream",
                      'attachment; filename="2021%E5%B9%B4%E6%8A%A5.PDF"') == ".pdf"
    assert suffix_for("http://a.gov.cn/file.docx", "application/octet-stream") == ".docx"
    m = Manifest(tmp_path)
    a = m.claim("http://a.gov.cn/x/report.pdf", "h", "report.pdf", "1" * 64)
    m.put({"url": "http://a.gov.cn/x/report.pdf", "file": a, "status": "ok"})
    b = m.claim("http://a.gov.cn/y/report.pdf", "h", "REPORT.pdf", "2" * 64)  # same name but for case
    assert a == "h/report.pdf" and b.startswith("h/REPORT-") and b.endswith(".pdf")
    assert m.claim("http://a.gov.cn/x/report.pdf", "h", "report.pdf", "1" * 64) == a  # its own name stays its own
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "byhand.pdf").write_bytes(b"downloaded by hand")  # a file nobody's row names
    assert m.claim("http://a.gov.cn/byhand.pdf", "h", "byhand.pdf", "3" * 64) != "h/byhand.pdf"


def test_charset_header_then_meta_then_strict_decoder():
    from gxlib.fetch.pages import decode_page

    text = "<html><head><meta charset=\"gb2312\"></head><body>濉溪县 2020年 𠀀 镕</body></html>"
    data = text.encode("gb18030")  # 镕 and 𠀀 are outside GB2312: read as GB18030 all the same
    assert decode_page(data, "text/html") == text
    assert decode_page(data, "text/html; charset=GBK") == text
    utf8 = "<html><head><meta charset=\"gbk\"></head><body>年度报告</body></html>".encode()
    assert decode_page(utf8, "text/html; charset=utf-8").endswith("年度报告</body></html>")  # header first
    meta_utf8 = "<html><head><meta charset=\"utf-8\"></head><body>年度报告</body></html>".encode()
    assert "年度报告" in decode_page(meta_utf8, "text/html; charset=x-unknown")  # unknown header: then <meta>
    no_meta = "<p>政府信息公开工作年度报告</p>".encode("gbk")
    assert decode_page(no_meta, None) == "<p>政府信息公开工作年度报告</p>"


def test_pagination_links_and_scripts():
    from gxlib.fetch.pages import pagination, parse

    page = ('<div class="page"><a href="index_1.html">下一页</a> <a href="index_5.html">尾页</a>'
            '<a href="http://other.gov.cn/index_1.html">下一页</a><a href="javascript:go(2)">2</a></div>')
    got = pagination(parse(page), page, "http://a.gov.cn/col/ndbg/index.html")
    assert got == [f"http://a.gov.cn/col/ndbg/index_{n}.html" for n in (1, 5, 2, 3, 4)]
    script = '<script>createPageHTML(4, 0, "index", "shtml");</script><ul><li>x</li></ul>'
    got = pagination(parse(script), script, "http://a.gov.cn/ndbg/index.shtml")
    assert got == [f"http://a.gov.cn/ndbg/index_{n}.shtml" for n in (1, 2, 3)]


def test_report_links_match_the_text_or_the_title():
    import re

    from gxlib.fetch import DEFAULT_MATCH
    from gxlib.fetch.pages import parse, report_links

    page = ('<ul><li><a href="a.html" title="某县2021年政府信息公开工作年度报告">某县2021年政府信息公开工作年...</a></li>'
            '<li><a href="b.html">某局2019年政府信息公开年度报告</a></li>'
            '<li><a href="c.html">关于印发政务公开工作要点的通知</a></li>'
            '<li><a href="a.html">某县2021年政府信息公开工作年度报告</a></li></ul>')
    links, others = report_links(parse(page), "http://a.gov.cn/ndbg/", re.compile(DEFAULT_MATCH))
    assert [lk.url for lk in links] == ["http://a.gov.cn/ndbg/a.html", "http://a.gov.cn/ndbg/b.html"]
    assert others == 1


def test_attachments_are_report_files_and_content_images():
    from gxlib.fetch.pages import attachment_links, parse

    page = ('<div class="header"><img src="/logo.png"><a href="/help.pdf">帮助.pdf</a></div>'
            '<div class="TRS_Editor"><p><img src="/u/table1.jpg"><img src="/images/share_icon.png"></p>'
            '<a href="/u/r.docx">全文</a> <a href="/down.jsp?id=9">附件：年度报告.wps</a>'
            '<a href="/other.html">相关链接</a><iframe src="/pdfjs/web/viewer.html?file=/u/r.pdf"></iframe></div>'
            '<div class="footer"><a href="/map.xls">网站地图.xls</a></div>')
    got = attachment_links(parse(page), "http://a.gov.cn/ndbg/t1.html")
    assert got == ["http://a.gov.cn/u/r.docx", "http://a.gov.cn/down.jsp?id=9", "http://a.gov.cn/u/r.pdf",
                   "http://a.gov.cn/u/table1.jpg"]


def test_page_attachments_frames():
    from gxlib.attachments import LINK_COLUMNS, page_attachments

    reports = pd.DataFrame({
        "report_id": ["p1", "a1", "a2", "p2", "a3", "x"],
        "source_file": ["h/p1.html", "h/a1.pdf", "h/a2.doc", "h/p2.html", "h/a3.pdf", "byhand.pdf"],
        "status": ["failed", "partial", "ok", "ok", "ok", "ok"],
        "title": ["某局2021年政府信息公开工作年度报告", "", "", "某县2021年政府信息公开工作年度报告", "", ""],
        "published": ["2022-01-20", "", "2022-01-01", "2022-01-18", "", ""],
    })
    manifest = pd.DataFrame({
        "file": ["h/p1.html", "h/a1.pdf", "h/a2.doc", "h/p2.html", "h/a3.pdf", "byhand.pdf"],
        "url": ["u/p1", "u/a1", "u/a2", "u/p2", "u/a3", ""],
        "parent": ["u/col", "u/p1", "u/p1", "u/col", "u/p2", ""],
        "status": ["ok"] * 6,
    })
    got = page_attachments(reports, manifest)
    want = pd.DataFrame([["p1", "h/p1.html", "a2", "h/a2.doc", "某局2021年政府信息公开工作年度报告", "2022-01-20"]],
                        columns=LINK_COLUMNS, dtype="str")
    pd.testing.assert_frame_equal(got, want)  # p2 has tables itself: its attachment stays apart
    assert page_attachments(reports.assign(status="ok"), manifest).empty


def test_pages_limits_the_report_column_pages_read(tmp_path):
    with Site(build_site()) as site:
        s = fetch(listing=site.url("/ndbg/index.html"), options=options(tmp_path, pages=1))
        asked = [r.path for r in site.requests]
    assert s.column_pages == 1 and s.column_limit and s.matched == 2
    assert "/ndbg/index_1.html" not in asked and "/ndbg/index_2.html" not in asked
    assert "stopped at the --pages limit" in s.text()


def test_rows_and_columns_a_person_added_are_kept(tmp_path):
    (tmp_path / "byhand").mkdir()
    (tmp_path / "byhand" / "2021.pdf").write_bytes(PDF.read_bytes())
    (tmp_path / "manifest.csv").write_text(
        "file,agency,year,published\nbyhand/2021.pdf,某县人民政府,2021,2022-01-30\n", encoding="utf-8")
    routes = {"/robots.txt": Page(b"", "text/plain"), "/r.pdf": Page(b"%PDF-1.4 r", "application/pdf")}
    with Site(routes) as site:
        fetch([Source(site.url("/r.pdf"), agency="某局")], options=options(tmp_path))
    columns, _ = read_manifest(tmp_path)
    assert columns == COLUMNS + ["published"]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "manifest.csv").read_bytes().decode("utf-8-sig"))))
    assert rows[0] == {**{c: "" for c in columns}, "file": "byhand/2021.pdf", "agency": "某县人民政府", "year": "2021",
                       "published": "2022-01-30"}
    assert rows[1]["url"] == site.url("/r.pdf") and rows[1]["agency"] == "某局" and rows[1]["status"] == "ok"


def test_a_page_that_only_forwards_is_followed(tmp_path):
    report = generated_page("utf-8", "2021")
    routes = {"/robots.txt": Page(b"", "text/plain"),
              "/a.html": Page(b'<html><head><meta http-equiv="refresh" content="0; url=/art/2022/r.html"></head></html>'),
              "/b.html": Page(b'<html><script>window.location.href="/art/2022/r.html";</script></html>'),
              "/art/2022/r.html": Page(report)}
    with Site(routes) as site:
        fetch([Source(site.url("/a.html")), Source(site.url("/b.html"))], options=options(tmp_path))
        s = fetch([Source(site.url("/a.html")), Source(site.url("/b.html"))], options=options(tmp_path))
        last = site.requests[-1]
    _, rows = read_manifest(tmp_path)
    for p in ("/a.html", "/b.html"):
        row = rows[site.url(p)]
        assert (row["status"], row["final_url"]) == ("ok", site.url("/art/2022/r.html"))
        assert (tmp_path / row["file"]).read_bytes() == report
    assert s.pages["unchanged"] == 2 and s.bytes == 0 and last.status == 304


def test_what_a_sources_csv_said_stays_when_a_listing_finds_the_page_again(tmp_path):
    routes = {"/robots.txt": Page(b"", "text/plain"), "/r.pdf": Page(b"%PDF-1.4 v1", "application/pdf"),
              "/col.html": Page(column_page([("/r.pdf", "某局2021年政府信息公开工作年度报告")], []))}
    with Site(routes) as site:
        fetch([Source(site.url("/r.pdf"), agency="某局", year="2021")], options=options(tmp_path))
        routes["/r.pdf"] = Page(b"%PDF-1.4 v2", "application/pdf")
        s = fetch(listing=site.url("/col.html"), options=options(tmp_path))
    _, rows = read_manifest(tmp_path)
    row = rows[site.url("/r.pdf")]
    assert s.pages["updated"] == 1
    assert (row["agency"], row["year"], row["parent"]) == ("某局", "2021", site.url("/col.html"))
    assert (tmp_path / row["file"]).read_bytes() == b"%PDF-1.4 v2"
