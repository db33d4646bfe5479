"""Issue 21: reports as real bodies write them.  Every test uses non-zero values (a whole
2021-layout report from ``report_text``) and states inputs -> exact cells."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from gxlib import regions
from gxlib.meta import extract
from gxlib.parse import parse_bytes
from gxlib.tables import ocr_variants, parse_tables

from report_text import APP_ROWS, APPS, INTRO, REVIEW_VALUES, REVIEWS, report


def run(text: str, name: str = "r.txt") -> dict:
    return parse_bytes(text.encode("utf-8"), name)


def apps(res) -> dict:
    return {(r["row"], r["applicant"]): r["value"] for r in res["applications"]}


def revs(res) -> dict:
    return {(r["proceeding"], r["outcome"]): r["value"] for r in res["reviews"]}


def disc(res) -> dict:
    return {(r["item"], r["measure"]): r["value"] for r in res["disclosure"]}


def checks(res, rule=None) -> list[tuple]:
    return [(c["rule"], c["section"], c["row"], c["column"]) for c in res["checks"] if rule in (None, c["rule"])]


def all_apps_right(res) -> bool:
    got = apps(res)
    return all(got.get((code, col)) == v for code, vals in APPS.items() for col, v in vals.items())


def same(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and not math.isnan(a) and a == b)


# ---------------------------------------------------------------------------------------
# the base documents parse exactly (so every test below changes one thing)


@pytest.mark.parametrize("shape", ["pipe", "lines"])
def test_whole_report_exact(shape):
    res = run(report(shape), "r.md" if shape == "pipe" else "r.txt")
    assert all_apps_right(res) and revs(res) == REVIEWS
    assert disc(res)[("licensing", "decisions")] == 1264 and disc(res)[("fees", "amount")] == 35.6
    assert res["checks"] == [] and res["report"]["status"] == "ok"


# ---------------------------------------------------------------------------------------
# defects


def test_unit_wan_in_count_cells_is_converted_with_raw_kept():
    text = report("pipe").replace("| 行政许可 | 1264 |", "| 行政许可 | 1.2万 |")
    text = text.replace("| 一、本年新收政府信息公开申请数量 | 41 | 6 | 1 | 0 | 2 | 3 | 53 |",
                        "| 一、本年新收政府信息公开申请数量 | 1.2万 | 6 | 1 | 0 | 2 | 3 | 12012 |")
    res = run(text)
    assert disc(res)[("licensing", "decisions")] == 12000
    assert apps(res)[("new", "natural_person")] == 12000
    raw = {(r["row"], r["applicant"]): r["raw"] for r in res["applications"]}
    assert raw[("new", "natural_person")] == "1.2万"


def test_unit_yi_and_money_unit_in_count_cell():
    res = run(report("pipe").replace("| 行政处罚 | 386 |", "| 行政处罚 | 3亿 |").replace("| 行政强制 | 12 |", "| 行政强制 | 12元 |"))
    assert disc(res)[("penalty", "decisions")] == 3e8
    assert disc(res)[("coercion", "decisions")] is None
    assert ("unit", "disclosure", "coercion", "decisions") in checks(res)


def test_count_not_whole_after_unit_is_na_with_check():
    res = run(report("pipe").replace("| 一、本年新收政府信息公开申请数量 | 41 |", "| 一、本年新收政府信息公开申请数量 | 1.23456万 |"))
    assert apps(res)[("new", "natural_person")] is None
    assert ("unit", "applications", "new", "natural_person") in checks(res)


def test_year_line_after_the_last_row_is_not_a_digit_of_it():
    text = report("lines").replace("四、结转下年度继续办理\n0\n1\n0\n0\n0\n0\n1\n",
                                   "四、结转下年度继续办理\n0\n1\n0\n0\n0\n0\n1\n2025\n年，我县将继续\n")
    res = run(text)
    assert all_apps_right(res)
    assert not checks(res, "cell_count")


def test_year_line_after_a_short_last_row():
    # the row's values end, then "2025" and "年，…": 2025 is no cell (was: total 2, silently)
    text = report("lines").replace("（七）总计\n45\n6\n1\n0\n2\n3\n57\n四、结转下年度继续办理\n0\n1\n0\n0\n0\n0\n1\n",
                                   "（七）总计\n45\n6\n1\n0\n2\n3\n57\n四、结转下年度继续办理\n0\n1\n0\n0\n0\n0\n1\n2025\n年，")
    res = run(text)
    assert apps(res)[("carried_forward", "total")] == 1


def test_grid_blank_piece_is_a_cell_not_padding():
    # 本年新收 | 5 |  | 1 | 0 | 0 | 0 | 6 | / : 8 pieces for 7 columns: NA, never shifted
    text = report("pipe").replace("| 一、本年新收政府信息公开申请数量 | 41 | 6 | 1 | 0 | 2 | 3 | 53 |",
                                  "| 一、本年新收政府信息公开申请数量 | 5 |  | 1 | 0 | 0 | 0 | 6 | / |")
    for res in (run(text), {"applications": parse_tables(text.replace("\n| ", "\n").replace(" |\n", "\n"), explicit=True).applications,
                            "checks": []}):
        new = {k[1]: v for k, v in apps(res).items() if k[0] == "new"}
        assert set(new.values()) == {None}
    assert ("cell_count", "applications", "new", "") in checks(run(text))


def test_blank_total_of_the_third_review_block_is_na():
    vals = " | ".join(map(str, REVIEW_VALUES[:14])) + " |  "
    text = report("pipe").replace("| " + " | ".join(map(str, REVIEW_VALUES)) + " |", "| " + vals + " |")
    res = run(text)
    assert revs(res)[("litigation_after_review", "total")] is None
    assert ("blank_total", "reviews", "litigation_after_review", "total") in checks(res)
    assert revs(res)[("litigation_after_review", "pending")] == 1


def test_leading_pipe_of_a_markdown_review_row_does_not_shift_it():
    res = run(report("pipe"), "r.md")
    assert revs(res) == REVIEWS


@pytest.mark.parametrize("sentence", [
    "全年本年新收政府信息公开申请53件，上年结转5件。\n",
    "本年新收政府信息公开申请数量为53件。\n",
])
def test_label_quoted_in_a_sentence_is_narrative(sentence):
    res = run(report("pipe", intro=INTRO + sentence))
    assert all_apps_right(res) and not checks(res, "duplicate_row")
    assert disc(res)[("normative_documents", "in_force")] == 52  # section 二 not lost


def test_heading_numbered_like_a_row_does_not_take_section_three():
    res = run(report("pipe", intro=INTRO.replace("一、总体情况", "一、本年度新收政府信息公开申请53件")))
    assert all_apps_right(res) and revs(res) == REVIEWS and res["report"]["status"] == "ok"


def test_section_four_found_on_its_own():
    text = report("pipe")
    start, end = text.index("三、收到和处理"), text.index("四、政府信息公开行政复议")
    res = run(text[:start] + text[end:])
    assert revs(res) == REVIEWS
    assert ("missing_table", "applications", "", "") in checks(res)


def test_fee_amount_without_unit_is_na_not_wan_yuan():
    text = report("pipe").replace("本年收费金额（单位：万元）", "本年收费金额").replace("| 行政事业性收费 | 35.6 |", "| 行政事业性收费 | 356000 |")
    res = run(text)
    assert disc(res)[("fees", "amount")] is None
    assert ("unit_unknown", "disclosure", "fees", "amount") in checks(res)


def test_template_not_guessed_when_it_cannot_be_told():
    rows = [r for r in APP_ROWS if r[0] not in ("other_no_correction", "other_no_fee", "other_misc")]
    text = report("pipe", rows=rows)
    text = text[:text.index("二、主动公开")] + text[text.index("三、收到和处理"):]  # no section-二 markers
    text = text.replace("（六）其他处理", "")
    t = parse_tables(text)
    assert t.template is None
    assert any(c.rule == "template_unknown" for c in t.checks)
    assert {r["row"] for r in t.applications} >= {"new", "granted", "handled_total"}


def test_internal_error_is_named(monkeypatch):
    import gxlib.parse as p

    def boom(*a, **k):
        raise KeyError("x")
    monkeypatch.setattr(p, "parse_tables", boom)
    res = p.parse_bytes(report("pipe").encode(), "r.txt")
    assert res["report"]["status"] == "failed"
    assert res["report"]["error"].startswith("internal error in the table parser (KeyError")


@pytest.mark.parametrize("title,agency,year", [
    ("某县人民政府政府信息公开工作年度报告（2021年度）", "某县人民政府", 2021),
    ("关于印发《某县人民政府2020年政府信息公开工作年度报告》的通知", "某县人民政府", 2020),
    ("# 沐阳县人民政府2020年政府信息公开工作年度报告", "沐阳县人民政府", 2020),
    ("现将本机关2020年政府信息公开年度报告如下。", "", 2020),
])
def test_metadata_as_written(title, agency, year):
    m = extract(title + "\n正文\n")
    assert (m.agency, m.year) == (agency, year)
    if agency:
        assert m.title.startswith(agency) and m.title.endswith(("报告", "年度)"))


def test_city_commission_is_not_put_in_a_county():
    reg = regions.infer("市卫生健康委员会", "本委帮扶驿城区两个村。", 2021)
    assert reg.division_code != "411702" and reg.level == "prefecture"
    assert regions.level_hint("县委宣传部") == "county" and regions.level_hint("国家税务总局") == "central"


# ---------------------------------------------------------------------------------------
# 1. labels as written


@pytest.mark.parametrize("old,new", [
    ("一、本年新收政府信息公开申请数量", "一、本年度新收政府信息公开申请数量"),
    ("二、上年结转政府信息公开申请数量", "二、上年度结转政府信息公开申请数量"),
    ("四、结转下年度继续办理", "四、结转下一年度继续办理"),
    ("一、本年新收政府信息公开申请数量", "本年新收政府信息公开申请数量"),        # no numbering
    ("（一）予以公开", "(一)予以公开"),                                         # half-width brackets
    ("（七）总计", "（ 七 ）总 计"),                                              # spaces inside
    ("4.保护第三方合法权益", "4、保护第三方\n合法权益"),                          # line break, 、
    ("1.本机关不掌握相关政府信息", "1．本机关不掌握相关\n政府信息"),
])
def test_label_variants(old, new):
    res = run(report("pipe").replace(old, new))
    assert all_apps_right(res), [(k, v) for k, v in apps(res).items() if v != APPS[k[0]][k[1]]]


@pytest.mark.parametrize("old,new", [
    ("一、本年新收政府信息公开申请数量", "一、本午新收政府信息公开申请数量"),
    ("（一）予以公开", "（一）子以公开"),
    ("3.补正后申请内容仍不明确", "3.补正后中请内容仍不明确"),
    ("（七）总计", "（七）总汁"),
    ("8.属于行政查询事项", "8.属于行政杳询事项"),
])
def test_ocr_confusion_in_a_label_matched_by_its_other_characters(old, new):
    res = run(report("lines").replace(old, new))
    assert all_apps_right(res)


def test_ocr_never_corrects_digits():
    assert all(not any(ch.isdigit() for ch in v) for v in ocr_variants("本年新收政府信息公开申请"))
    # an OCR "l" for "1" in a cell is not read as 1: NA with a check
    res = run(report("pipe").replace("| 一、本年新收政府信息公开申请数量 | 41 |", "| 一、本年新收政府信息公开申请数量 | 4l |"))
    assert apps(res)[("new", "natural_person")] is None


# ---------------------------------------------------------------------------------------
# 2. text other tools made: Markdown


def test_markdown_separator_generic_headers_padding_and_heading_rows():
    text = report("pipe")
    text = text.replace("| 规章 | 2 | 1 | 14 |", "|---|---|---|---|\n| 规章 | 2 | 1 | 14 |  |")
    text = text.replace("| 一、本年新收政府信息公开申请数量 | 41 | 6 | 1 | 0 | 2 | 3 | 53 |",
                        "### 一、本年新收政府信息公开申请数量\n\n| 数据1 | 数据2 | 数据3 | 数据4 | 数据5 | 数据6 | 数据7 |\n"
                        "|:--|:--:|--|--|--|--|--|\n| 41 | 6 | 1 | 0 | 2 | 3 | 53 |")
    text = text.replace("| 2.重复申请 | 1 | 0 | 0 | 0 | 0 | 0 | 1 |", "|  | 2.重复申请 | 1 | 0 | 0 | 0 | 0 | 0 | 1 |  |  |")
    res = run(text, "converted.md")
    assert all_apps_right(res) and revs(res) == REVIEWS
    assert disc(res)[("regulations", "in_force")] == 14


def test_markdown_grid_blank_cell_is_zero():
    text = report("pipe").replace("| 二、上年结转政府信息公开申请数量 | 4 | 1 | 0 | 0 | 0 | 0 | 5 |",
                                  "| 二、上年结转政府信息公开申请数量 | 4 | 1 |  |  |  |  | 5 |")
    res = run(text, "x.md")
    assert all_apps_right(res)


# ---------------------------------------------------------------------------------------
# 3. numbers as written


@pytest.mark.parametrize("cell,value", [("1,264", 1264), ("１２６４", 1264), ("1264件", 1264), ("1264项", 1264)])
def test_numbers_as_written(cell, value):
    res = run(report("pipe").replace("| 行政许可 | 1264 |", f"| 行政许可 | {cell} |"))
    assert disc(res)[("licensing", "decisions")] == value


def test_number_with_parenthetical_note():
    res = run(report("pipe").replace("| 规范性文件 | 7 | 3 | 52 |", "| 规范性文件 | 22（其中修订16件） | 3 | 52 |"))
    d = {(r["item"], r["measure"]): r for r in res["disclosure"]}
    assert d[("normative_documents", "issued")]["value"] == 22
    assert "其中修订16件" in d[("normative_documents", "issued")]["raw"]
    assert d[("normative_documents", "repealed")]["value"] == 3 and d[("normative_documents", "in_force")]["value"] == 52


@pytest.mark.parametrize("cell,value", [("35.6万元", 35.6), ("356000元", 35.6), ("0.00356亿元", 35.6)])
def test_money_units_converted_to_wan_yuan(cell, value):
    res = run(report("pipe").replace("| 行政事业性收费 | 35.6 |", f"| 行政事业性收费 | {cell} |"))
    assert disc(res)[("fees", "amount")] == pytest.approx(value)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=7, max_size=7), st.sampled_from(["plain", "comma", "fullwidth", "unit"]))
def test_new_row_numbers_in_any_writing(vals, style):
    def w(v):
        if style == "comma":
            return f"{v:,}"
        if style == "fullwidth":
            return "".join(chr(ord(c) + 0xFEE0) for c in str(v))
        if style == "unit":
            return f"{v}件"
        return str(v)
    row = "| 一、本年新收政府信息公开申请数量 | " + " | ".join(map(w, vals)) + " |"
    res = run(report("pipe").replace("| 一、本年新收政府信息公开申请数量 | 41 | 6 | 1 | 0 | 2 | 3 | 53 |", row))
    got = [apps(res)[("new", c)] for c in APPS["new"]]
    assert got == [float(v) for v in vals]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 999), min_size=15, max_size=15))
def test_review_row_in_lines_and_markdown(vals):
    for shape, name in (("pipe", "x.md"), ("lines", "x.txt")):
        res = run(report(shape, reviews=vals), name)
        got = revs(res)
        for j, v in enumerate(vals):
            k = (["review", "litigation_direct", "litigation_after_review"][j // 5],
                 ["upheld", "corrected", "other", "pending", "total"][j % 5])
            assert got[k] == v


def test_label_quoted_in_prose_inside_the_table_region_is_not_a_row():
    # a converter put a sentence between the rows: the labels in it are narrative
    text = report("pipe").replace("| （七）总计 |", "其中予以公开24件，部分公开6件。\n| （七）总计 |")
    res = run(text)
    assert all_apps_right(res) and not checks(res, "duplicate_row")
    text = report("pipe").replace("| 第二十条第（五）项 |\n", "| 第二十条第（五）项 |\n全年办理行政许可1,264件，行政处罚386件。\n")
    res = run(text)
    assert disc(res)[("licensing", "decisions")] == 1264 and disc(res)[("penalty", "decisions")] == 386


def test_thousands_separator_after_a_label_is_not_a_sentence():
    res = run(report("lines").replace("行政许可\n1264\n", "行政许可\n1,264\n"))
    assert disc(res)[("licensing", "decisions")] == 1264


_NUMBERING = __import__("re").compile(r"^(?:[一二三四五六七八九十]、|（[一二三四五六七]）|\d\.)")


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_any_mix_of_label_writings(data):
    """Every row label written a different way at once (numbering dropped, also for the
    bare 其他 and 总计, found by the sequence of rows; brackets
    half-width, a space or a line break between two of its characters): every cell exact."""
    # (a Markdown row is one line: a line break inside a label only in the lines shape)
    shape = data.draw(st.sampled_from(["pipe", "lines"]))
    breaks = [" ", "　"] + (["\n"] if shape == "lines" else [])
    rows = []
    for code, label, vals in APP_ROWS:
        if data.draw(st.booleans(), label=f"{code} drop numbering"):
            label = _NUMBERING.sub("", label) or label
        if data.draw(st.booleans(), label=f"{code} half-width"):
            label = label.replace("（", "(").replace("）", ")")
        cjk = [i for i in range(1, len(label)) if "\u4e00" <= label[i - 1] <= "\u9fff" and "\u4e00" <= label[i] <= "\u9fff"]
        if cjk and data.draw(st.booleans(), label=f"{code} break"):
            i = data.draw(st.sampled_from(cjk))
            label = label[:i] + data.draw(st.sampled_from(breaks)) + label[i:]
        rows.append((code, label, vals))
    res = run(report(shape, rows=rows), "x.md" if shape == "pipe" else "x.txt")
    assert all_apps_right(res), [(k, v) for k, v in apps(res).items() if v != APPS[k[0]][k[1]]]


def test_bare_other_and_total_found_by_the_row_sequence():
    # pingtan_depts/shs_2021.txt writes "…缴纳费用…申请0 0 0 0 0 00其他0 0 0 0 0 00（七）总计…"
    rows = [(c, {"other_misc": "其他", "handled_total": "总计"}.get(c, lab), v) for c, lab, v in APP_ROWS]
    rows = [(c, lab, [1, 0, 0, 0, 0, 0, 1] if c == "other_misc" else v) for c, lab, v in rows]
    res = run(report("lines", rows=rows))
    got = apps(res)
    assert got[("other_misc", "natural_person")] == 1 and got[("other_misc", "total")] == 1
    assert got[("handled_total", "total")] == 57


def test_grid_extra_piece_in_section_two_and_four_is_na_not_shifted():
    # reader grids (HTML/DOCX/ruled PDF: "label | a | b"): a blank piece is a cell
    text = report("pipe").replace("| 规章 | 2 | 1 | 14 |", "| 规章 | 2 |  | 1 | 14 |")
    text = text.replace("| " + " | ".join(map(str, REVIEW_VALUES)) + " |",
                        "| " + " | ".join(map(str, REVIEW_VALUES[:5])) + " |  | " + " | ".join(map(str, REVIEW_VALUES[5:])) + " |")
    grid_text = "\n".join(ln.strip()[1:-1].strip() if ln.strip().startswith("|") else ln for ln in text.split("\n"))
    t = parse_tables(grid_text, explicit=True)
    d = {(r["item"], r["measure"]): r["value"] for r in t.disclosure}
    assert d[("regulations", "issued")] is None and d[("regulations", "in_force")] is None
    assert d[("normative_documents", "in_force")] == 52
    assert all(r["value"] is None for r in t.reviews)
    assert {c.rule for c in t.checks} >= {"cell_count"}


def test_markdown_file_through_the_reader(tmp_path):
    import gxlib

    path = tmp_path / "converted.md"
    path.write_text(report("pipe").replace("| 规章 | 2 | 1 | 14 |", "|---|---|---|---|\n| 规章 | 2 | 1 | 14 |"), "utf-8")
    r = gxlib.parse_report(path)
    assert r.report["status"] == "ok" and r.report["agency"] == "某县人民政府"
    got = r.applications.set_index(["row", "applicant"])["value"]
    assert got[("new", "total")] == 53 and got[("handled_total", "natural_person")] == 45


@pytest.mark.parametrize("old,new", [
    ("2.没有现成信息需要另行制作", "2.没有现成信息"),
    ("3.补正后申请内容仍不明确", "3.申请内容不明确"),
    ("1.信访举报投诉类申请", "1.信访举报类申请"),
    ("5.要求行政机关确认或重新出具已获取信息", "5.要求重新出具已获取的信息"),
])
def test_labels_with_missing_words(old, new):
    res = run(report("lines").replace(old, new))
    assert all_apps_right(res)
