"""Real reports kept in the repository (tests/fixtures/), parsed WITHOUT ../shared.

* ``shanghai_1.html`` and ``kirogov_2.pdf``: published reports with golden files
  (tests/golden/*.json, every value read by a person from the document).  Every golden
  cell must come out, or be NA with a check naming it.
* ``gwh_2025.txt`` (平潭 管委会办公室 2025, a text capture): its cells are compared with
  the corpus baseline (tests/golden/corpus_baseline.csv: the parser's output on the corpus
  before issue 21, not a person's reading) and checked for the template identities.
* a DOCX built here from the golden values of the 上海 report, in the national grid.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from gxlib.parse import parse_bytes

from corpus_cells import read as read_baseline

HERE = Path(__file__).resolve().parent
FIX = HERE / "fixtures"
GOLDEN = HERE / "golden"


def parsed(name: str, source: str | None = None) -> dict:
    return parse_bytes((FIX / name).read_bytes(), source or name)


def na_with_check(res, section, row, col) -> bool:
    return any(c["section"] == section and c["row"] in ("", row) and c["column"] in ("", col) for c in res["checks"])


def compare_with_golden(res, g) -> list[str]:
    problems = []
    apps = {(r["row"], r["applicant"]): r["value"] for r in res["applications"]}
    for row, values in g["applications"]["rows"].items():
        for col, want in zip(g["applications"]["columns"], values):
            got = apps.get((row, col))
            if want is None or got is None or (isinstance(got, float) and math.isnan(got)):
                if got is not None and want is None:
                    problems.append(f"applications {row}/{col}: {got}, golden NA")
                elif got is None and want is not None and not na_with_check(res, "applications", row, col):
                    problems.append(f"applications {row}/{col}: NA without a check, golden {want}")
                continue
            if got != want:
                problems.append(f"applications {row}/{col}: {got}, golden {want}")
    revs = {(r["proceeding"], r["outcome"]): r["value"] for r in res["reviews"]}
    for proc, values in g["reviews"]["rows"].items():
        for col, want in zip(g["reviews"]["columns"], values):
            if revs.get((proc, col)) != want:
                problems.append(f"reviews {proc}/{col}: {revs.get((proc, col))}, golden {want}")
    disc = {(r["item"], r["measure"]): r["value"] for r in res["disclosure"]}
    for rec in g["disclosure"]:
        got = disc.get((rec["item"], rec["measure"]))
        if got is None or rec["value"] is None:
            if got != rec["value"] and not na_with_check(res, "disclosure", rec["item"], rec["measure"]):
                problems.append(f"disclosure {rec['item']}/{rec['measure']}: {got}, golden {rec['value']}")
        elif got != pytest.approx(rec["value"]):
            problems.append(f"disclosure {rec['item']}/{rec['measure']}: {got}, golden {rec['value']}")
    return problems


@pytest.mark.parametrize("name", ["shanghai_1.html", "kirogov_2.pdf"])
def test_published_fixture_against_golden(name):
    g = json.loads((GOLDEN / name.rsplit(".", 1)[0]).with_suffix(".json").read_text("utf-8"))
    res = parsed(name)
    assert not compare_with_golden(res, g), "\n".join(compare_with_golden(res, g))
    assert res["report"]["agency"] in [g["report"]["agency"], *g["report"].get("agency_alternatives", [])]
    assert res["report"]["year"] == g["report"]["year"]
    assert res["report"]["template"] == g["report"]["template"]
    # the golden values are not all zero: a shifted 0 would not pass
    assert any(v for vals in g["applications"]["rows"].values() for v in vals if v)


def test_pingtan_department_text_against_the_corpus_baseline():
    res = parsed("gwh_2025.txt", "pingtan_depts/gwh_2025.txt")
    base = {k: v for k, v in read_baseline(GOLDEN / "corpus_baseline.csv").items()
            if k[0] == "pingtan_depts/gwh_2025.txt"}
    keys = {"disclosure": ("item", "measure"), "applications": ("row", "applicant"), "reviews": ("proceeding", "outcome")}
    got = {}
    for table, (rk, ck) in keys.items():
        for r in res[table]:
            if r["value"] is not None:
                got[("pingtan_depts/gwh_2025.txt", table, r[rk], r[ck])] = r["value"]
    assert base and {k: got.get(k) for k in base} == base
    assert sum(1 for k, v in base.items() if k[1] == "applications" and v) >= 10  # non-zero values
    assert res["report"]["agency"] == "平潭综合实验区管委会办公室" and res["report"]["year"] == 2025


def test_docx_built_from_real_values():
    docx = pytest.importorskip("docx")  # python-docx, a third-party library (not gxlib)
    import io

    g = json.loads((GOLDEN / "shanghai_1.json").read_text("utf-8"))
    d = docx.Document()
    d.add_paragraph(g["report"]["title"])
    d.add_paragraph("三、收到和处理政府信息公开申请情况")
    labels = {
        "new": "一、本年新收政府信息公开申请数量", "carried_over": "二、上年结转政府信息公开申请数量",
        "granted": "（一）予以公开", "partly_granted": "（二）部分公开（区分处理的，只计这一情形，不计其他情形）",
        "withheld_state_secret": "1.属于国家秘密", "withheld_prohibited": "2.其他法律行政法规禁止公开",
        "withheld_security": "3.危及“三安全一稳定”", "withheld_third_party": "4.保护第三方合法权益",
        "withheld_internal": "5.属于三类内部事务信息", "withheld_process": "6.属于四类过程性信息",
        "withheld_enforcement": "7.属于行政执法案卷", "withheld_query": "8.属于行政查询事项",
        "unavailable_not_held": "1.本机关不掌握相关政府信息", "unavailable_needs_creation": "2.没有现成信息需要另行制作",
        "unavailable_unclear": "3.补正后申请内容仍不明确", "rejected_petition": "1.信访举报投诉类申请",
        "rejected_duplicate": "2.重复申请", "rejected_publication": "3.要求提供公开出版物",
        "rejected_excessive": "4.无正当理由大量反复申请", "rejected_confirmation": "5.要求行政机关确认或重新出具已获取信息",
        "other": "（六）其他处理", "handled_total": "（七）总计", "carried_forward": "四、结转下年度继续办理",
    }
    rows = g["applications"]["rows"]
    t = d.add_table(rows=2 + len(rows), cols=8)
    for j, h in enumerate(["申请人情况", "自然人", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他", "总计"]):
        t.cell(0, j).text = h
    t.cell(1, 0).text = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
    for i, (code, values) in enumerate(rows.items(), start=2):
        t.cell(i, 0).text = labels[code]
        for j, v in enumerate(values, start=1):
            t.cell(i, j).text = "" if v is None or v == 0 else str(v)  # as printed: zeros blank
    d.add_paragraph("四、政府信息公开行政复议、行政诉讼情况")
    r = d.add_table(rows=3, cols=15)
    for j, h in enumerate(["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"] * 3):
        r.cell(0, j).text = h
    flat = [v for block in g["reviews"]["rows"].values() for v in block]
    for j, v in enumerate(flat):
        r.cell(1, j).text = str(v)
    d.add_paragraph("五、政府信息公开工作存在的主要问题及改进情况")
    buf = io.BytesIO()
    d.save(buf)
    res = parse_bytes(buf.getvalue(), "shanghai_built.docx")
    apps = {(x["row"], x["applicant"]): x["value"] for x in res["applications"]}
    for code, values in rows.items():
        for col, want in zip(g["applications"]["columns"], values):
            if want is None:
                assert apps[(code, col)] is None  # blank 总计 beside non-zero parts
            else:
                assert apps[(code, col)] == want, (code, col)
    revs = [x["value"] for x in res["reviews"]]
    assert revs == flat
