"""The label-based table core on real report snippets, next to exact expected frames."""
from __future__ import annotations

from gxlib.parse import parse_bytes
from gxlib.store import frame
from gxlib.tables import parse_tables

from conftest import grid

HEAD_2021 = "三、收到和处理政府信息公开申请情况\n申请人情况\n自然人\n法人或其他组织\n总计\n商业企业\n科研机构\n社会公益组织\n法律服务机构\n其他\n"


def rows(t):
    df = frame("applications", [{"report_id": "x", **r} for r in t.applications])
    return grid(df, "row", "applicant")


def test_pipe_cells_and_broken_labels():
    # seed 002 shape: labels broken over lines, "结果 纠正" spaces, pipes and padding
    text = (
        "第二十条第(一)项 |\n|||\n信息内容 |\n本年新 制作数量 |\n本年新 公开数量 |\n对外公开总数量 |\n"
        "规章 |\n0 |\n0 |\n0 |\n规范性文件 |\n3 |\n2 |\n1 |\n"
        "第二十条第(五)项 |\n|||\n信息内容 |\n上一年项目数量 |\n本年增/减 |\n处理决定数量 |\n"
        "行政许可 |\n0 |\n5 |\n5 |\n"
    )
    t = parse_tables(text)
    df = frame("disclosure", [{"report_id": "x", **r} for r in t.disclosure])
    got = df[["item", "measure", "value", "raw"]].astype({"item": str, "measure": str}).values.tolist()
    assert got[:6] == [
        ["regulations", "made", 0.0, "0"], ["regulations", "published", 0.0, "0"],
        ["regulations", "published_total", 0.0, "0"], ["normative_documents", "made", 3.0, "3"],
        ["normative_documents", "published", 2.0, "2"], ["normative_documents", "published_total", 1.0, "1"],
    ]
    g = grid(df, "item", "measure")
    assert g[("licensing", "change")] == 5 and g[("licensing", "decisions")] == 5


def test_one_cell_per_line_with_blank_lines_and_fullwidth_digits():
    text = (HEAD_2021 + "一、本年新\n收政府信息公开申请数量\n\n１\n\n0\n\n0\n\n0\n\n0\n\n0\n\n１\n\n"
            "二、上年结转政府信息公开申请数量\n\n0\n\n0\n\n0\n\n0\n\n0\n\n0\n\n0\n")
    g = rows(parse_tables(text))
    assert g[("new", "natural_person")] == 1 and g[("new", "total")] == 1
    assert g[("carried_over", "total")] == 0


def test_flattened_row_unique_split():
    # pingtan_2023: …一、本年新收政府信息公开申请数量801000081二、…
    text = HEAD_2021 + "一、本年新收政府信息公开申请数量801000081二、上年结转政府信息公开申请数量0000000"
    t = parse_tables(text)
    g = rows(t)
    assert [g[("new", a)] for a in ("natural_person", "commercial_enterprise", "research_institution",
                                    "social_welfare_org", "legal_service_org", "other_org", "total")] == \
        [80, 1, 0, 0, 0, 0, 81]


def test_flattened_row_ambiguous_cells_are_na_with_check():
    # "111000012" splits as 11,1,0,0,0,0,12 or 1,11,0,0,0,0,12 (both add up): the first
    # two cells differ between them and stay NA; the others agree and are kept
    text = HEAD_2021 + "一、本年新收政府信息公开申请数量111000012二、上年结转政府信息公开申请数量0000000"
    t = parse_tables(text)
    g = rows(t)
    # also 1,1,10,0,0,0,12: three cells differ between the splits
    assert g[("new", "natural_person")] is None and g[("new", "commercial_enterprise")] is None
    assert g[("new", "research_institution")] is None
    assert g[("new", "social_welfare_org")] == 0 and g[("new", "total")] == 12
    amb = [c for c in t.checks if c.rule == "ambiguous_split" and c.row == "new"]
    assert {c.column for c in amb} == {"natural_person", "commercial_enterprise", "research_institution"}
    assert t.uncertain == 3


def test_spaces_in_flattened_rows_are_cell_borders():
    # pingtan_2019: （七）总计23 0 00 0 023四、结转下年度继续办理 0 0 00 00 0
    text = HEAD_2021 + "一、本年新收政府信息公开申请数量230 000023（七）总计23 0 00 0 023四、结转下年度继续办理 0 0 00 00 0 "
    g = rows(parse_tables(text))
    assert g[("new", "natural_person")] == 23 and g[("new", "total")] == 23
    assert g[("handled_total", "natural_person")] == 23 and g[("handled_total", "total")] == 23
    assert g[("carried_forward", "total")] == 0


def test_wrong_cell_count_is_na_not_shifted():
    text = HEAD_2021 + "一、本年新收政府信息公开申请数量\n3 |\n1 |\n0 |\n0 |\n4 |\n二、上年结转政府信息公开申请数量\n0|0|0|0|0|0|0|\n"
    t = parse_tables(text)
    g = rows(t)
    assert all(g[("new", a)] is None for a in ("natural_person", "total"))
    assert any(c.rule == "cell_count" and c.row == "new" for c in t.checks)
    assert g[("carried_over", "total")] == 0


def test_placeholders_units_and_negative_change():
    text = ("第二十条第(五)项\n信息内容\n上一年项目数量\n本年增/减\n处理决定数量\n行政许可\n10\n-3\n/\n"
            "第二十条第(九)项\n信息内容\n采购项目数量\n采购总金额\n政府集中采购\n3\n251000元\n"
            "三、收到和处理政府信息公开申请情况\n一、本年新收政府信息公开申请数量\n0\n0\n0\n0\n0\n0\n0\n")
    t = parse_tables(text)
    df = frame("disclosure", [{"report_id": "x", **r} for r in t.disclosure])
    g = grid(df, "item", "measure")
    assert g[("licensing", "prior_items")] == 10
    assert g[("licensing", "change")] == -3
    assert g[("licensing", "decisions")] is None  # "/" is missing, never 0
    assert g[("procurement", "amount")] == 25.1  # 251000 元 = 25.1 万元
    assert df.set_index(["item", "measure"]).loc[("procurement", "amount"), "raw"] == "251000元"
    assert any(c.rule == "placeholder" for c in t.checks)


def test_amount_without_unit_is_na():
    text = ("第二十条第(九)项\n信息内容\n采购项目数量\n采购总金额\n政府集中采购\n3\n2510\n"
            "第二十条第(一)项\n信息内容\n本年新制作数量\n本年新公开数量\n对外公开总数量\n规章\n0\n0\n0\n"
            "三、收到和处理政府信息公开申请情况\n一、本年新收政府信息公开申请数量\n0\n0\n0\n0\n0\n0\n0\n")
    t = parse_tables(text)
    amount = [r for r in t.disclosure if r["measure"] == "amount"][0]
    assert amount["value"] is None and amount["raw"] == "2510"
    assert any(c.rule == "unit_unknown" for c in t.checks)


def test_blank_total_beside_nonzero_parts_is_na():
    # shanghai_1.html: in the （一）予以公开 row the 总计 cell is blank
    text = HEAD_2021 + "一、本年新收政府信息公开申请数量 | 258 | 3 | 0 | 0 | 5 | 0 | 266\n（一）予以公开 | 250 | 3 | 0 | 0 | 5 | 0 | \n（二）部分公开 | 0 | 0 | 0 | 0 | 0 | 0 | \n"
    t = parse_tables(text, explicit=True)
    g = rows(t)
    assert g[("granted", "total")] is None
    assert g[("granted", "natural_person")] == 250
    assert g[("partly_granted", "total")] == 0  # blank beside zeros is 0
    assert [c.rule for c in t.checks if c.row == "granted"] == ["blank_total"]


def test_review_block_and_checks():
    text = ("四、政府信息公开行政复议、行政诉讼情况\n行政复议\n行政诉讼\n结果维持\n结果 纠正\n其他 结果\n尚未 审结\n总计\n"
            "未经复议直接起诉\n复议后起诉\n结果维持\n结果纠正\n其他结果\n尚未审结\n总计\n结果维持\n结果纠正\n其他结果\n尚未审结\n总计\n"
            "5\n0\n0\n2\n7\n8\n0\n0\n1\n9\n0\n0\n0\n0\n1\n五、存在的主要问题及改进情况\n2021年…")
    res = parse_bytes(("三、收到和处理政府信息公开申请情况\n一、本年新收政府信息公开申请数量\n0\n0\n0\n0\n0\n0\n0\n"
                       "四、结转下年度继续办理\n0\n0\n0\n0\n0\n0\n0\n" + text).encode(), "x.txt")
    g = {(r["proceeding"], r["outcome"]): r["value"] for r in res["reviews"]}
    assert g[("review", "total")] == 7 and g[("litigation_direct", "total")] == 9
    assert g[("litigation_after_review", "total")] == 1
    rules = [(c["rule"], c["row"]) for c in res["checks"]]
    assert ("review_sum", "litigation_after_review") in rules
    assert ("review_sum", "review") not in rules


def test_flattened_review_block():
    text = ("一、本年新收政府信息公开申请数量0000000四、结转下年度继续办理0000000"
            "四、政府信息公开行政复议、行政诉讼情况行政复议行政诉讼结果维持结果纠正其他结果尚未审结总计未经复议直接起诉复议后起诉"
            "结果维持结果纠正其他结果尚未审结总计结果维持结果纠正其他结果尚未审结总计110024001510102五、存在的主要问题")
    t = parse_tables(text)
    assert [r["value"] for r in t.reviews] == [1, 1, 0, 0, 2, 4, 0, 0, 1, 5, 1, 0, 1, 0, 2]


def test_template_from_structure_not_year():
    # seed 002 is a 2021 report in the 2019 layout
    text = ("2021年，我局…\n第二十条第(一)项\n信息内容\n本年新制作数量\n本年新公开数量\n对外公开总数量\n规章\n0\n0\n0\n"
            "三、收到和处理政府信息公开申请情况\n一、本年新收政府信息公开申请数量\n0\n0\n0\n0\n0\n0\n0\n")
    assert parse_tables(text).template == "2019"
    text21 = text.replace("本年新制作数量\n本年新公开数量\n对外公开总数量", "本年制发件数\n本年废止件数\n现行有效件数")
    assert parse_tables(text21).template == "2021"


def test_label_variant_and_label_numbers_not_taken_as_values():
    # 案件 instead of 案卷 (scj_2025), and "…00000002.其他法律…": the 2 is the next label's number
    text = HEAD_2021 + ("一、本年新收政府信息公开申请数量3000003（三）不予公开1.属于国家秘密00000002.其他法律行政法规禁止公开0000000"
                        "7.属于行政执法案件30000038.属于行政查询事项0000000")
    g = rows(parse_tables(text))
    assert g[("withheld_state_secret", "total")] == 0
    assert g[("withheld_prohibited", "total")] == 0
    assert g[("withheld_enforcement", "natural_person")] == 3
    assert g[("withheld_query", "total")] == 0


def test_year_of_following_narrative_is_not_a_value():
    # scj_2025: …四、结转下年度继续办理20000022025年，我局共收到…
    text = HEAD_2021 + "一、本年新收政府信息公开申请数量0000000四、结转下年度继续办理20000022025年，我局共收到申请。"
    g = rows(parse_tables(text))
    assert g[("carried_forward", "natural_person")] == 2 and g[("carried_forward", "total")] == 2


REVIEW_HEAD = ("一、本年新收政府信息公开申请数量 | 0 | 0 | 0 | 0 | 0 | 0 | 0\n四、结转下年度继续办理 | 0 | 0 | 0 | 0 | 0 | 0 | 0\n"
               "四、政府信息公开行政复议、行政诉讼情况\n行政复议 | 行政诉讼\n"
               "结果维持 | 结果纠正 | 其他结果 | 尚未审结 | 总计 | 未经复议直接起诉 | 复议后起诉\n"
               "结果维持 | 结果纠正 | 其他结果 | 尚未审结 | 总计 | 结果维持 | 结果纠正 | 其他结果 | 尚未审结 | 总计\n")


def test_grid_review_row_with_blank_cells():
    # a blank first cell is a cell (0), not the remainder of a label
    t = parse_tables(REVIEW_HEAD + " | 1 |  |  | 1 | 2 |  |  |  | 2 |  |  |  |  | \n五、存在的主要问题", explicit=True)
    assert [r["value"] for r in t.reviews] == [0, 1, 0, 0, 1, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0]


def test_grid_review_row_all_blank_and_spacer_rows():
    blank = " | ".join([""] * 15)
    t = parse_tables(REVIEW_HEAD + blank + "\n五、存在的主要问题", explicit=True)
    assert [r["value"] for r in t.reviews] == [0] * 15
    # a blank spacer row before the data row is not taken for the data
    t = parse_tables(REVIEW_HEAD + blank + "\n3 | 0 | 0 | 0 | 3" + " | 0" * 10 + "\n五、存在的主要问题", explicit=True)
    assert [r["value"] for r in t.reviews][:5] == [3, 0, 0, 0, 3]


def test_source_line_with_page_furniture_glued_on():
    from gxlib.meta import extract

    m = extract("发布日期：2021-01-20 来源：雷州市水利局浏览次数：12\n2020年，我局认真贯彻落实《条例》。")
    assert m.agency == "雷州市水利局"


def test_carry_over_compares_consecutive_years_of_one_agency():
    """nyn 2022 -> 2023 in the Pingtan corpus: 0 carried forward, 7 carried over."""
    import pandas as pd
    import pyarrow as pa

    from gxlib.checks import carry_over

    reports = pd.DataFrame({
        "report_id": ["a22", "a23", "b22", "b22bis", "b23", "c23"],
        "agency": ["平潭综合实验区农业农村局"] * 2 + ["乙局"] * 3 + [""],
        "year": [2022, 2023, 2022, 2022, 2023, 2023],
        "status": ["ok", "partial", "ok", "ok", "ok", "ok"]})
    rows = [("a22", "carried_forward", "natural_person", 0.0), ("a22", "carried_forward", "total", 0.0),
            ("a23", "carried_over", "natural_person", 7.0), ("a23", "carried_over", "total", 7.0),
            ("a23", "carried_over", "other_org", None),
            # two 乙局 reports for 2022: which one continues is unknown, never compared
            ("b22", "carried_forward", "total", 1.0), ("b22bis", "carried_forward", "total", 2.0),
            ("b23", "carried_over", "total", 3.0), ("c23", "carried_over", "total", 5.0)]
    carried = pa.table({"report_id": [r[0] for r in rows], "row": [r[1] for r in rows],
                        "applicant": [r[2] for r in rows], "value": [r[3] for r in rows]})
    carried = carried.set_column(0, "report_id", carried["report_id"].dictionary_encode())
    out = carry_over(reports, carried).sort_values("column").reset_index(drop=True)
    assert out[["report_id", "rule", "row", "column", "expected", "observed"]].values.tolist() == [
        ["a23", "carry_over", "carried_over", "natural_person", "0", "7"],
        ["a23", "carry_over", "carried_over", "total", "0", "7"]]
    assert out.loc[0, "message"] == ("warning: 平潭综合实验区农业农村局 2022 report carried forward 0, "
                                     "the 2023 report says 7 carried over")


def test_carry_over_in_parts_equals_in_one_pass():
    """The check matches a national table in parts by agency: the parts change nothing
    (rows, order, messages), whatever the agencies, years, duplicates and row order."""
    import pandas as pd
    import pyarrow as pa
    from hypothesis import given, settings, strategies as st

    from gxlib import checks

    agencies = ["甲局", "乙局", "丙局", "丁局", ""]
    report = st.tuples(st.sampled_from(agencies), st.integers(2019, 2022), st.sampled_from(["ok", "ok", "failed"]))
    rows, applicants = ["carried_over", "carried_forward", "new"], ["natural_person", "total", "nobody"]

    @settings(max_examples=200, deadline=None)
    @given(st.lists(report, min_size=1, max_size=14, unique_by=lambda r: r[:2]), st.booleans(), st.data())
    def check(reps, duplicate, data):
        reps = reps + reps[:1] * duplicate  # one agency-year twice: never compared
        reports = pd.DataFrame({"report_id": [f"r{i:02d}" for i in range(len(reps))],
                                "agency": [r[0] for r in reps], "year": [r[1] for r in reps],
                                "status": [r[2] for r in reps]})
        cells = [(rid, row, app) for rid in reports["report_id"] for row in rows for app in applicants]
        cells = data.draw(st.permutations(cells))
        values = data.draw(st.lists(st.sampled_from([None, 0.0, 1.0]), min_size=len(cells), max_size=len(cells)))
        carried = pa.table({"report_id": pa.array([c[0] for c in cells], pa.string()).dictionary_encode(),
                            "row": pa.array([c[1] for c in cells], pa.string()).dictionary_encode(),
                            "applicant": pa.array([c[2] for c in cells], pa.string()).dictionary_encode(),
                            "value": pa.array(values, pa.float64())})
        whole = checks.carry_over(reports, carried)
        part, checks.CARRY_PART = checks.CARRY_PART, 5
        try:
            parts = checks.carry_over(reports, carried)
        finally:
            checks.CARRY_PART = part
        pd.testing.assert_frame_equal(whole.reset_index(drop=True), parts.reset_index(drop=True))

    check()


def test_report_positions_by_binary_search_and_fallback():
    import pyarrow as pa

    from gxlib.checks import IdIndex

    col = pa.chunked_array([pa.array(["a", "x", None], pa.string()).dictionary_encode(),
                            pa.array(["c", "a"], pa.string()).dictionary_encode()])
    assert IdIndex(pa.array(["c", "a", "b"])).positions(col, "int32").tolist() == [1, -1, -1, 0, 1]
    # ids not unique: the hash lookup (first occurrence), not a binary search
    assert IdIndex(pa.array(["a", "c", "a"])).positions(col, "int32").tolist() == [0, -1, -1, 1, 0]
