"""Agency identity (agency_id, agencies.csv, region_source), report scope and duplicates,
with real snippets: the 洪泽区 reports of 2023 and 2024 (kirogov_1.pdf, kirogov_2.pdf in
the shared corpus), 淮安市人民政府 2024 (govnianbao_1.pdf) and the 平潭 reports.  The
snippets below are the text our PDF reader gives for those files (their line breaks
included, except the title, which the PDFs set on two lines and a web page on one); tests that read the whole corpus skip cleanly without it."""
from __future__ import annotations

import html

import pandas as pd
import pytest

from gxlib import agencies, checks
from gxlib.parse import parse_bytes

from conftest import corpus_file

HONGZE_2023_TABLE = """\
三、收到和处理政府信息公开申请情况
(本列数据的勾稽关系为:第一项加第二项之和,等于第三项加第四项之和) | 申请人情况
自然人 | 法人或其他组织 | 总计
商业企业 | 科研机构 | 社会公益组织 | 法律服务机构 | 其他
一、本年新收政府信息公开申请数量 | 21 | 0 | 0 | 0 | 0 | 0 | 21
二、上年结转政府信息公开申请数量 | 0 | 0 | 0 | 0 | 0 | 0 | 0
三、本年度办理结果 | (一)予以公开 | 0 | 0 | 0 | 0 | 0 | 0 | 0
(二)部分公开(区分处理的,只计这一情形,不计其他情形) | 4 | 0 | 0 | 0 | 0 | 0 | 4
(三)不予公开 | 1.属于国家秘密 | 1 | 0 | 0 | 0 | 0 | 0 | 1
2.其他法律行政止公开 | 0 | 0 | 0 | 0 | 0 | 0 | 0
3.危及“三安全一稳定” | 0 | 0 | 0 | 0 | 0 | 0 | 0
4.保护第三方合法权益 | 0 | 0 | 0 | 0 | 0 | 0 | 0
5.属于三类内部事务信息 | 0 | 0 | 0 | 0 | 0 | 0 | 0
6.属于四类过程性信息 | 1 | 0 | 0 | 0 | 0 | 0 | 1
7.属于行政执法案卷 | 1 | 0 | 0 | 0 | 0 | 0 | 1
8.属于行政查询事项 | 0 | 0 | 0 | 0 | 0 | 0 | 0
(四)无法提供 | 1.本机关不掌握相关政府信息 | 10 | 0 | 0 | 0 | 0 | 0 | 10
2.没有现成信息需要另行制作 | 3 | 0 | 0 | 0 | 0 | 0 | 3
3.补正后申请内容仍不明确 | 0 | 0 | 0 | 0 | 0 | 0 | 0
(五)不予处理 | 1.信访举报投诉类申请 | 1 | 0 | 0 | 0 | 0 | 0 | 1
2.重复申请 | 0 | 0 | 0 | 0 | 0 | 0 | 0
3.要求提供公开出版物 | 0 | 0 | 0 | 0 | 0 | 0 | 0
4.无正当理由大量反复申请 | 0 | 0 | 0 | 0 | 0 | 0 | 0
5.要求行政机关确认或重新出具已获取信息 | 0 | 0 | 0 | 0 | 0 | 0 | 0
(六)其他处理 | 0 | 0 | 0 | 0 | 0 | 0 | 0
(七)总计 | 21 | 0 | 0 | 0 | 0 | 0 | 21
四、结转下年度继续办理 | 0 | 0 | 0 | 0 | 0 | 0 | 0
"""

HONGZE_2024_TABLE = """\
三、收到和处理政府信息公开申请情况
(本列数据的勾稽关系为:第一项加第二项之和,等于第三项加第四项之和) | 申请人情况
自然人 | 法人或其他组织 | 总计
商业企业 | 科研机构 | 社会公益组织 | 法律服务机构 | 其他
一、本年新收政府信息公开申请数量 | 95 | 0 | 0 | 0 | 0 | 0 | 95
二、上年结转政府信息公开申请数量 | 0 | 0 | 0 | 0 | 0 | 0 | 0
三、本年度办理结果 | (一)予以公开 | 50 | 0 | 0 | 0 | 0 | 0 | 50
(二)部分公开(区分处理的,只计这一情形,不计其他情形) | 9 | 0 | 0 | 0 | 0 | 0 | 9
(三)不予公开 | 1.属于国家秘密 | 0 | 0 | 0 | 0 | 0 | 0 | 0
2.其他法律行政止公开 | 0 | 0 | 0 | 0 | 0 | 0 | 0
3.危及“三安全一稳定” | 1 | 0 | 0 | 0 | 0 | 0 | 1
4.保护第三方合法权益 | 0 | 0 | 0 | 0 | 0 | 0 | 0
5.属于三类内部事务信息 | 0 | 0 | 0 | 0 | 0 | 0 | 0
6.属于四类过程性信息 | 1 | 0 | 0 | 0 | 0 | 0 | 1
7.属于行政执法案卷 | 1 | 0 | 0 | 0 | 0 | 0 | 1
8.属于行政查询事项 | 0 | 0 | 0 | 0 | 0 | 0 | 0
(四)无法提供 | 1.本机关不掌握相关政府信息 | 31 | 0 | 0 | 0 | 0 | 0 | 31
2.没有现成信息需要另行制作 | 1 | 0 | 0 | 0 | 0 | 0 | 1
3.补正后申请内容仍不明确 | 0 | 0 | 0 | 0 | 0 | 0 | 0
(五)不予处理 | 1.信访举报投诉类申请 | 1 | 0 | 0 | 0 | 0 | 0 | 1
2.重复申请 | 0 | 0 | 0 | 0 | 0 | 0 | 0
3.要求提供公开出版物 | 0 | 0 | 0 | 0 | 0 | 0 | 0
4.无正当理由大量反复申请 | 0 | 0 | 0 | 0 | 0 | 0 | 0
5.要求行政机关确认或重新出具已获取信息 | 0 | 0 | 0 | 0 | 0 | 0 | 0
(六)其他处理 | 0 | 0 | 0 | 0 | 0 | 0 | 0
(七)总计 | 95 | 0 | 0 | 0 | 0 | 0 | 95
四、结转下年度继续办理 | 0 | 0 | 0 | 0 | 0 | 0 | 0
"""

HONGZE_2023_HEAD = """\
洪泽区人民政府2023 年政府信息公开工作年度报告
本报告由淮安市洪泽区人民政府办公室根据《中华人民共和
国政府信息公开条例》(国令第 711 号)(以下简称《条例》)
要求编制此报告。报告中所列数据统计期限自 2023 年 1 月 1 日
起至 2023 年 12 月 31 日止。
(二)依申请公开情况。进一步规范依申请公开流程,畅通
依申请公开受理渠。2023 年全区受理政府信息公开申请 21 件,
均在法定期限答复。
"""

HONGZE_2024_HEAD = """\
淮安市洪泽区人民政府2024 年政府信息公开工作年度报告
本报告由淮安市洪泽区人民政府办公室根据《中华人民共和
国政府信息公开条例》(国令第 711 号)(以下简称《条例》)
要求编制此报告。报告中所列数据统计期限自 2024 年 1 月 1 日
起至 2024 年 12 月 31 日止。
(二)依申请公开情况。根据《条例》和上级部门关于依申
请办理的规范要求,强化组织领导、规范办理流程,指导各部门
采取自行办理、协同办理、会商办理相结合的工作方式,确保依
申请答复工作规范高效。2024 年,区政府办代表区政府受理政府
信息公开申请 17 件,均已在法定期限内予以答复。
"""


def _parse(text: str, name: str, manifest_row=None) -> dict:
    return parse_bytes(text.encode("utf-8"), name, manifest_row)


def _reports(*results) -> pd.DataFrame:
    r = pd.DataFrame([x["report"] for x in results])
    r["agency_id"] = agencies.assign(r)
    return r


@pytest.fixture(scope="module")
def hongze():
    return (_parse(HONGZE_2023_HEAD + HONGZE_2023_TABLE, "hz/2023.txt"),
            _parse(HONGZE_2024_HEAD + HONGZE_2024_TABLE, "hz/2024.txt"))


# --------------------------------------------------------------------------- agency_id
def test_the_two_hongze_names_are_one_agency(hongze):
    a, b = (x["report"] for x in hongze)
    assert (a["agency"], a["year"], a["division_code"]) == ("洪泽区人民政府", 2023, "320813")
    assert (b["agency"], b["year"], b["division_code"]) == ("淮安市洪泽区人民政府", 2024, "320813")
    r = _reports(*hongze)
    assert r["agency_id"].tolist() == ["320813:人民政府", "320813:人民政府"]
    assert r["region_source"].tolist() == ["name", "name"]


def test_generic_name_in_two_prefectures_is_two_agencies():
    # 市公共资源交易中心 with no place in the name: the place comes from the body text
    from gxlib import regions

    huaian = regions.infer("市公共资源交易中心", "淮安市翔宇南道1号", 2024)
    suzhou = regions.infer("市公共资源交易中心", "安徽省宿州市", 2024)
    assert (huaian.division_code, huaian.region_source) == ("320800", "body")
    assert (suzhou.division_code, suzhou.region_source) == ("341300", "body")
    ids = {agencies.agency_id("市公共资源交易中心", reg.division_code, 2024) for reg in (huaian, suzhou)}
    assert ids == {"320800:公共资源交易中心", "341300:公共资源交易中心"}
    # the body written with its place is the same body as the generic spelling
    assert agencies.agency_id("淮安市公共资源交易中心", "320800", 2024) == "320800:公共资源交易中心"


def test_unknown_place_is_never_merged():
    assert agencies.agency_id("市公共资源交易中心", "", 2024) is None
    assert agencies.agency_id("县商务局", None, 2023) is None
    assert agencies.agency_id("县商务局", "999999", 2023) is None  # no division in any year
    r = pd.DataFrame({"agency": ["县商务局", "县商务局"], "division_code": ["", ""], "year": [2022, 2023]})
    assert agencies.assign(r).isna().all()


def test_a_division_code_alone_is_not_an_agency():
    assert agencies.agency_id("320813", "320813", 2024) is None
    table = agencies.agencies_table(pd.DataFrame({
        "agency": ["洪泽区人民政府"], "division_code": ["320813"], "year": [2023], "level": ["county"]}))
    with pytest.raises(ValueError, match="division code, not an agency"):
        agencies.match_agency(table, "320813")
    assert agencies.match_agency(table, "洪泽区人民政府") == ["320813:人民政府"]
    assert agencies.match_agency(table, "320813:人民政府") == ["320813:人民政府"]


@pytest.mark.parametrize("name", ["淮安市人民政府办公室", "淮安市政府办公室", "淮安市政府办", "市政府办公室",
                                  "淮安市人民政府办"])
def test_government_office_variants_are_one_agency(name):
    assert agencies.agency_id(name, "320800", 2024) == "320800:人民政府办公室"
    assert agencies.agency_kind(name, "320800", 2024) == "government_office"


def test_government_and_its_office_and_departments_differ():
    ids = {agencies.agency_id(n, "320800", 2024) for n in ("淮安市人民政府", "淮安市人民政府办公室",
                                                          "淮安市发改委", "淮安市发展和改革委员会")}
    assert ids == {"320800:人民政府", "320800:人民政府办公室", "320800:发展和改革委员会"}
    # 市场监督管理局 begins with 市 but 市场 is no level word
    assert agencies.agency_id("市场监督管理局", "320800", 2024) == "320800:市场监督管理局"
    assert agencies.agency_id("淮安市市场监管局", "320800", 2024) == "320800:市场监督管理局"


def test_the_name_gives_the_body_its_own_division():
    # a prefecture's body with a county code (e.g. from a manifest) is the prefecture's
    assert agencies.agency_id("淮安市人民政府", "320813", 2024) == "320800:人民政府"


def test_division_codes_are_year_aware():
    # 洪泽县 (320829) became 洪泽区 (320813) in 2016: the 2015 code and name are read in 2015's
    # division data (the place 洪泽县 removed), then the code follows its succession
    assert agencies.split_name("洪泽县人民政府", "320829", 2015) == ("320829", "人民政府")
    assert agencies.agency_id("洪泽县人民政府", "320829", 2015) == "320813:人民政府"
    assert agencies.agency_id("洪泽区人民政府", "320813", 2023) == "320813:人民政府"


def test_alias_places_pingtan():
    r = _parse("平潭综合实验区财政金融局2023年度政府信息公开工作年度报告\n2023年我局未收到政府信息公开申请件。",
               "czj_2023.txt")["report"]
    assert (r["division_code"], r["region_source"]) == ("350128", "alias")
    assert agencies.agency_id(r["agency"], r["division_code"], r["year"]) == "350128:财政金融局"
    assert agencies.agency_id("平潭综合实验区", "350128", 2024) == "350128:人民政府"
    assert agencies.agency_kind("平潭综合实验区管委会办公室", "350128", 2024) == "government_office"


def test_region_source_manifest_and_empty():
    r = _parse(HONGZE_2023_HEAD, "hz.txt", {"division_code": "320813"})["report"]
    assert r["region_source"] == "manifest"
    r = _parse("县商务局2023年政府信息公开工作年度报告\n2023年，我局共收到申请3件。", "x.txt")["report"]
    assert (r["division_code"], r["region_source"]) == ("", "")


def test_agencies_table_one_hongze_row_with_both_names():
    r = pd.DataFrame({
        "report_id": ["a", "b", "c", "d"],
        "agency": ["洪泽区人民政府", "淮安市洪泽区人民政府", "淮安市人民政府", "市公共资源交易中心"],
        "year": [2023, 2024, 2024, 2024], "division_code": ["320813", "320813", "320800", ""],
        "level": ["county", "county", "prefecture", "prefecture"]})
    t = agencies.agencies_table(r)
    assert t.to_dict("records") == [
        {"agency_id": "320800:人民政府", "name": "淮安市人民政府", "names": "淮安市人民政府 (2024)",
         "years": "2024", "division_code": "320800", "level": "prefecture", "kind": "government",
         "n_reports": 1},
        {"agency_id": "320813:人民政府", "name": "淮安市洪泽区人民政府",
         "names": "洪泽区人民政府 (2023); 淮安市洪泽区人民政府 (2024)", "years": "2023–2024",
         "division_code": "320813", "level": "county", "kind": "government", "n_reports": 2}]


def test_display_name_says_the_place_of_a_generic_name():
    r = pd.DataFrame({"agency": ["市公共资源交易中心"] * 2, "year": [2023, 2024],
                      "division_code": ["320800", "341300"], "level": ["prefecture"] * 2})
    t = agencies.agencies_table(r)
    assert t["name"].tolist() == ["市公共资源交易中心（淮安市）", "市公共资源交易中心（宿州市）"]
    with pytest.raises(ValueError, match="2 bodies"):
        agencies.match_agency(t, "市公共资源交易中心")


def test_agency_names_data_file_is_consistent():
    table = agencies.name_variants()
    for variant, (canonical, kind) in table.items():
        assert kind in agencies.KINDS
        assert table[canonical] == (canonical, kind), f"{variant}: its canonical {canonical} must map to itself"


# --------------------------------------------------------------------------- scope
def test_government_report_with_a_whole_area_sentence_is_area(hongze):
    r = hongze[0]["report"]
    assert r["scope"] == "area"
    assert r["scope_source"] == "text: 2023年全区受理政府信息公开申请21件 (= the table's 新收 total 21)"


def test_whole_county_sentence_is_area():
    # the 洪泽 2023 sentence as a county (县) would write it
    text = HONGZE_2023_HEAD.replace("全区受理", "全县共受理")
    assert agencies.infer_scope(text, "government", 21, 0)[0] == "area"


def test_huaian_city_3119_is_area():
    text = ("(二)依申请公开情况。定期对政府信息公开申请集中的领\n域和热点问题进行研判。2024 年,全市共受理政府信息公开申请 3119 件,答\n"
            "复 3050 件(含上年度结转申请 34 件,另有 103 件顺延到下年度\n答复),均在法定期限内予以答复。")
    scope, source = agencies.infer_scope(text, "government", 3119, 34)
    assert (scope, source) == ("area", "text: 全市共受理政府信息公开申请3119件 (= the table's 新收 total 3119)")


def test_own_office_sentence_that_does_not_match_the_table_is_na(hongze):
    # 洪泽 2024: "区政府办代表区政府受理…17 件" but the table counts 95 new applications
    r = hongze[1]["report"]
    assert r["scope"] == ""
    assert "17" in r["scope_source"] and "95" in r["scope_source"]


def test_department_sentence_is_own():
    # pingtan_depts/nyn_2023.txt (table: 6 new + 1 carried over)
    text = "2023年，我局共收到政府信息公开申请7份，其中法人申请1件、自然人申请6件，均依法予以办结。"
    assert agencies.infer_scope(text, "department", 6, 1) == (
        "own", "text: 我局共收到政府信息公开申请7份 (= the table's 新收 + 上年结转 7)")
    assert agencies.infer_scope(text.replace("我局", "本机关"), "department", 6, 1)[0] == "own"
    assert agencies.infer_scope("2023年我局未收到政府信息公开申请件。", "department", 0, 0)[0] == "own"


def test_office_on_behalf_of_the_government_is_own():
    # shanghai_1.html (上海市人民政府办公厅 2019, table: 859 new)
    text = "市政府办公厅代表市政府共受理政府信息公开申请859件，申请数量较去年回落12.3%。"
    assert agencies.infer_scope(text, "government_office", 859, 0) == (
        "own", "text: 市政府办公厅代表市政府共受理政府信息公开申请859件 (= the table's 新收 total 859)")


def test_ambiguous_is_na():
    # pingtan_2024.txt: no subject; 本机关 only about fees (not a claim)
    text = ("规范做好申请登记、审查、办理、答复、归档等工作，强化服务理念，提高答复质量。全年办理政府信息公开申请218件。"
            "六、其他需要报告的事项本机关依申请提供政府信息，不收取费用。")
    assert agencies.infer_scope(text, "government", 218, 0) == (
        "", "no sentence says whose applications the table counts")
    # both readings in one report
    both = "全区共收到政府信息公开申请154件。本机关共收到政府信息公开申请154件。"
    assert agencies.infer_scope(both, "government", 154, 0)[0] == ""
    # a department with no sentence is its own by rule, and the source says so
    assert agencies.infer_scope(text, "department", 218, 0) == (
        "own", "rule: a department report with no sentence on a wider area")


def test_list_of_units_figures_is_area():
    text = "全年共受理政府信息公开申请100件，其中区政府办公室30件，区自然资源局40件，各乡镇30件。"
    assert agencies.infer_scope(text, "government", 100, 0)[0] == "area"


@pytest.mark.parametrize("name, scope, agency_id", [
    ("govnianbao_1.pdf", "area", "320800:人民政府"),   # 全市共受理…3119件 = the table
    ("kirogov_1.pdf", "area", "320813:人民政府"),      # 2023年全区受理…21件 = the table
    ("kirogov_2.pdf", "", "320813:人民政府"),          # 区政府办代表区政府受理…17件, table 95
    ("pingtan_2023.txt", "area", "350128:人民政府"),   # 全区接收…共计81件 = the table
    ("pingtan_2024.txt", "", "350128:人民政府"),       # 全年办理…218件: no subject
    ("pingtan_depts/gwh_2023.txt", "own", "350128:管理委员会办公室"),
    ("pingtan_depts/nyn_2023.txt", "own", "350128:农业农村局"),
    ("shanghai_1.html", "own", "310000:人民政府办公厅"),  # 市政府办公厅代表市政府共受理…859件
])
def test_scope_and_agency_of_corpus_reports(name, scope, agency_id):
    path = corpus_file(name)
    r = parse_bytes(path.read_bytes(), name)["report"]
    assert r["scope"] == scope, r["scope_source"]
    assert agencies.agency_id(r["agency"], r["division_code"], r["year"]) == agency_id


# --------------------------------------------------------------------------- duplicates
def _page(text: str, title: str) -> bytes:
    """The report as an HTML page: its table lines as an HTML table, the rest as paragraphs
    (how a site shows the PDF attachment it links to)."""
    out, rows = [f"<html><head><title>{title}</title></head><body>"], []

    def flush():
        if rows:
            out.append("<table>" + "".join("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>"
                                                             for c in row.split("|")) + "</tr>" for row in rows)
                       + "</table>")
            rows.clear()
    for line in text.split("\n"):
        if " | " in line:
            rows.append(line)
        else:
            flush()
            out.append(f"<p>{html.escape(line)}</p>")
    flush()
    return ("\n".join(out) + "</body></html>").encode("utf-8")


def _frames(results):
    r = _reports(*results)
    long = {n: pd.DataFrame([row for x in results for row in x[n]]) for n in ("applications", "disclosure", "reviews")}
    return r, long


def test_html_page_and_its_pdf_attachment_count_once():
    from gxlib.readers import read

    path = corpus_file("kirogov_1.pdf")
    data = path.read_bytes()
    text = read(path, data).text
    pdf = parse_bytes(data, "hz/2023.pdf")
    page = parse_bytes(_page(text, "洪泽区人民政府2023年政府信息公开工作年度报告"), "hz/2023.html")
    r, long = _frames([page, pdf])  # the page first: the choice must not depend on order
    dup, rows = checks.find_duplicates(r, long["applications"], long["disclosure"], long["reviews"])
    pdf_id, page_id = pdf["report"]["report_id"], page["report"]["report_id"]
    assert dup.tolist() == [pdf_id, None] or (dup.iloc[0] == pdf_id and pd.isna(dup.iloc[1]))
    assert rows[["report_id", "rule", "expected"]].values.tolist() == [[page_id, "duplicate_report", pdf_id]]
    assert "the document as issued (pdf)" in rows.loc[0, "message"]


def test_duplicates_inline_text_and_html(hongze):
    text = HONGZE_2024_HEAD + HONGZE_2024_TABLE
    capture = _parse(text, "hz/2024.txt")
    page = parse_bytes(_page(text, "淮安市洪泽区人民政府2024年政府信息公开工作年度报告"), "hz/2024.html")
    r, long = _frames([capture, page, hongze[0]])
    dup, rows = checks.find_duplicates(r, long["applications"], long["disclosure"], long["reviews"])
    assert pd.isna(dup.iloc[1]) and pd.isna(dup.iloc[2])
    assert dup.iloc[0] == page["report"]["report_id"]  # the HTML page over the text capture
    assert rows["rule"].tolist() == ["duplicate_report"]


def test_one_differing_cell_is_no_copy(hongze):
    text = HONGZE_2024_HEAD + HONGZE_2024_TABLE
    a = _parse(text, "hz/2024.txt")
    b = _parse(text.replace("(一)予以公开 | 50 | 0 | 0 | 0 | 0 | 0 | 50", "(一)予以公开 | 51 | 0 | 0 | 0 | 0 | 0 | 51"),
               "hz/2024b.txt")
    r, long = _frames([a, b])
    dup, rows = checks.find_duplicates(r, long["applications"], long["disclosure"], long["reviews"])
    assert dup.isna().all()
    assert rows["rule"].tolist() == ["same_agency_year"]


def test_unknown_place_reports_are_copies_only_when_bytes_are_identical():
    text = "县商务局2023年政府信息公开工作年度报告\n" + HONGZE_2023_TABLE
    a, b = _parse(text, "a.txt"), _parse(text, "b/a.txt")
    c = _parse(text.replace("| 21 | 0 | 0 | 0 | 0 | 0 | 21", "| 21 | 0 | 0 | 0 | 0 | 0 | 21 "), "c.txt")
    r, long = _frames([a, b, c])
    assert r["agency_id"].isna().all()
    dup, rows = checks.find_duplicates(r, long["applications"], long["disclosure"], long["reviews"])
    assert dup.iloc[1] == a["report"]["report_id"] and pd.isna(dup.iloc[0]) and pd.isna(dup.iloc[2])
    assert "identical bytes" in rows.loc[0, "message"]


def test_carry_over_links_the_two_hongze_names(hongze):
    import pyarrow as pa

    r = _reports(*hongze)
    # 2023 carried forward 0, the 2024 report says 0 carried over: no warning; change 2024's
    # 上年结转 to 2 and the two names must be compared
    changed = _parse(HONGZE_2024_HEAD + HONGZE_2024_TABLE.replace(
        "二、上年结转政府信息公开申请数量 | 0 | 0 | 0 | 0 | 0 | 0 | 0",
        "二、上年结转政府信息公开申请数量 | 2 | 0 | 0 | 0 | 0 | 0 | 2"), "hz/2024.txt")
    r = _reports(hongze[0], changed)
    apps = pd.DataFrame([row for x in (hongze[0], changed) for row in x["applications"]])
    apps = apps[apps["row"].isin(["carried_over", "carried_forward"])]
    carried = pa.Table.from_pandas(apps[["report_id", "row", "applicant", "value"]], preserve_index=False)
    by_name = checks.carry_over(r, carried)
    by_id = checks.carry_over_by_agency(r, carried)
    assert by_name.empty  # two name strings: never linked
    assert by_id[["column", "expected", "observed"]].values.tolist() == [
        ["natural_person", "0", "2"], ["total", "0", "2"]]
    assert by_id.loc[0, "message"].startswith("warning: 淮安市洪泽区人民政府 (320813:人民政府) 2023 report")
    # a report marked as a copy continues nothing
    r["duplicate_of"] = [None, "x"]
    assert checks.carry_over_by_agency(r, carried).empty


# --------------------------------------------------------------------------- claim vs table
#: 平潭综合实验区农业农村局 2024 (pingtan_depts/nyn_2024.txt), the application sentence and the
#: tables as the page gives them (cells flattened: "3000000" is seven one-digit cells).
PINGTAN_NYN_2024 = '标题: 平潭综合实验区农业农村局2024年政府信息公开工作年度报告\n发布机构: 平潭综合实验区农业农村局\n（二）规范依申请公开。2024年，我局共收到政府信息公开申请3份，其中法人申请1件、自然人申请2件，均依法予以办结。全年按时办结申请3件，办结率100%，未发生因依申请公开印发的行政复议和行政诉讼。二、主动公开政府信息情况第二十条第（一）项 信息内容本年制发件数本年废止件现行有效件数规范性文件100第二十条第（五）项信息内容本年处理决定数量行政许可1323第二十条第（六）项信息内容本年处理决定数量行政处罚57行政强制0第二十条第（八）项信息内容本年收费金额（单位：万元）行政事业性收费0三、收到和处理政府信息公开申请情况（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）申请人情况自然人法人或其他组织总计商业企业科研机构社会公益组织法律服务机构其他一、本年新收政府信息公开申请数量3000000二、上年结转政府信息公开申请数量0000000三、本年度办理结果（一）予以公开1000000（二）部分公开（区分处理的，只计这一情形，不计其他情形）0000000（三）不予公开1.属于国家秘密00000002.其他法律行政法规禁止公开00000003.危及“三安全一稳定”00000004.保护第三方合法权益20000005.属于三类内部事务信息00000006.属于四类过程性信息00000007.属于行政执法案卷00000008.属于行政查询事项0000000（四）无法提供1.本机关不掌握相关政府信息00000002.没有现成信息需要另行制作00000003.补正后申请内容仍不明确0000000（五）不予处理1.信访举报投诉类申请00000002.重复申请00000003.要求提供公开出版物00000004.无正当理由大量反复申请00000005.要求行政机关确认或重新出具已获取信息0000000（六）其他处理1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请00000002.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请00000003.其他0000000（七）总计3000000四、结转下年度继续办理0000000四、政府信息公开行政复议、行政诉讼情况行政复议行政诉讼结果维持结果纠正其他结果尚未审结总计未经复议直接起诉复议后起诉结果维持结果纠正其他结果尚未审结总计结果维持结果纠正其他结果尚未审结总计000000000000000'


def test_a_claim_that_differs_from_the_table_total_is_a_check():
    """The text says 3 applications, the table's 新收 row is 自然人 3 and 总计 0 (seven digits
    for seven cells: the only split). The document disagrees with itself: the total stays as
    stated, the scope is left empty, and checks.csv says so twice (claim_total, row_sum)."""
    r = parse_bytes(PINGTAN_NYN_2024.encode("utf-8"), "pingtan_depts/nyn_2024.txt")
    new = {a["applicant"]: a["value"] for a in r["applications"] if a["row"] == "new"}
    assert (new["natural_person"], new["total"]) == (3, 0)
    assert r["report"]["scope"] == ""
    claim = [c for c in r["checks"] if c["rule"] == "claim_total"]
    assert [(c["row"], c["column"], c["expected"], c["observed"]) for c in claim] == [("new", "total", "3", "0")]
    assert "我局共收到政府信息公开申请3份" in claim[0]["message"]
    assert any(c["rule"] == "row_sum" and c["row"] == "new" and c["expected"] == "3" for c in r["checks"])


def test_a_claim_equal_to_the_table_total_is_no_check():
    text = PINGTAN_NYN_2024.replace("3000000", "3000003", 1)
    r = parse_bytes(text.encode("utf-8"), "nyn.txt")
    assert r["report"]["scope"] == "own"
    assert not [c for c in r["checks"] if c["rule"] == "claim_total"]


@pytest.mark.parametrize("name, said, table", [("pingtan_depts/nyn_2024.txt", "3", "0"),
                                               ("pingtan_depts/nyn_2025.txt", "1", "0")])
def test_corpus_claims_that_differ_from_the_table(name, said, table):
    r = parse_bytes(corpus_file(name).read_bytes(), name)
    claim = [(c["expected"], c["observed"]) for c in r["checks"] if c["rule"] == "claim_total"]
    assert claim == [(said, table)]


# --------------------------------------------------------------------------- successions
def test_a_division_that_became_another_keeps_its_bodies():
    """洪泽县 (320829) became 淮安市洪泽区 (320813) in 2016 (gxlib/data/division_successions.csv):
    its government and departments are the same bodies, one agency_id each across the change."""
    assert agencies.agency_id("洪泽县人民政府", "320829", 2015) == "320813:人民政府"
    assert agencies.agency_id("淮安市洪泽县人民政府", "320829", 2015) == agencies.agency_id(
        "淮安市洪泽区人民政府", "320813", 2024)
    assert agencies.agency_id("洪泽县财政局", "320829", 2015) == agencies.agency_id("洪泽区财政局", "320813", 2020)
    reports = pd.DataFrame({"report_id": ["a", "b", "c"], "agency": ["洪泽县人民政府", "洪泽区人民政府", "淮安市人民政府"],
                            "division_code": ["320829", "320813", "320800"], "year": [2015, 2023, 2024],
                            "level": ["county", "county", "prefecture"]})
    table = agencies.agencies_table(reports.assign(agency_id=agencies.assign(reports))).set_index("agency_id")
    assert table.loc["320813:人民政府", "names"] == "洪泽县人民政府 (2015); 洪泽区人民政府 (2023)"
    assert table.loc["320813:人民政府", "n_reports"] == 2 and "320800:人民政府" in table.index
    # a division with no succession keeps its code
    assert agencies.agency_id("淮安市人民政府", "320800", 2015) == "320800:人民政府"


def test_successions_file_is_one_to_one_codes():
    succ = agencies.successions()
    assert succ["320829"] == "320813"
    assert all(len(a) == len(b) == 6 and a != b for a, b in succ.items())
    assert len(set(succ)) == len(succ)
