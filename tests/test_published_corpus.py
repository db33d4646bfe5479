"""The four published reports in ../shared/corpus against their golden files.

Two levels:

* reader level: the text each reader writes carries, on the row of each label, exactly
  the cells a person read from the document (tests/golden/*.json).  This needs no table
  core: it is the readers' own contract.
* end to end: ``gxlib.parse_report`` gives every golden cell, or NA with a check row that
  names the cell (or its whole row / section); metadata as read by a person.

Skipped when the corpus folder is absent (it is never copied into the repository).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from gxlib.readers import read

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT.parent.parent / "shared" / "corpus"
GOLDEN = ROOT / "golden"
FILES = ["shanghai_1.html", "govnianbao_1.pdf", "kirogov_1.pdf", "kirogov_2.pdf"]

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus folder {CORPUS} is absent")

# the label text a row carries in these documents (a piece of its cell, misprints included)
ROW_LABELS = {
    "new": "一、本年新收",
    "carried_over": "二、上年结转",
    "granted": "（一）予以公开",
    "partly_granted": "（二）部分公开",
    "withheld_state_secret": "1.属于国家秘密",
    "withheld_prohibited": "2.其他法律行政",  # kirogov: "2.其他法律行政止公开"
    "withheld_security": "3.危及",
    "withheld_third_party": "4.保护第三方",
    "withheld_internal": "5.属于三类内部",
    "withheld_process": "6.属于四类过程",
    "withheld_enforcement": "7.属于行政执法",
    "withheld_query": "8.属于行政查询",
    "unavailable_not_held": "1.本机关不掌握",
    "unavailable_needs_creation": "2.没有现成信息",
    "unavailable_unclear": "3.补正后",
    "rejected_petition": "1.信访举报",
    "rejected_duplicate": "2.重复申请",
    "rejected_publication": "3.要求提供公开出版物",
    "rejected_excessive": "4.无正当理由大量",
    "rejected_confirmation": "5.要求行政机关确认",
    "other": "（六）其他处理",
    "other_no_correction": "申请人无正当理由逾期不补正",
    "other_no_fee": "申请人逾期未按收费",
    "other_misc": "3、其他",
    "handled_total": "（七）总计",
    "carried_forward": "四、结转下年度",
}
ITEM_LABELS = {
    "regulations": "规章",
    "normative_documents": "规范性文件",
    "licensing": "行政许可",
    "other_services": "其他对外管理服务事项",
    "penalty": "行政处罚",
    "coercion": "行政强制",
    "fees": "行政事业性收费",
    "procurement": "政府集中采购",
}


def golden(name: str) -> dict:
    return json.loads((GOLDEN / name.replace(".html", ".json").replace(".pdf", ".json")).read_text("utf-8"))


_docs: dict[str, object] = {}


def doc(name: str):
    if name not in _docs:
        _docs[name] = read(CORPUS / name)
    return _docs[name]


def cells_after(lines: list[str], label: str) -> list[str]:
    """The cells after the (last) piece holding ``label`` on the single table line with it."""
    hits = [ln for ln in lines if "|" in ln and any(label in p for p in ln.split("|"))]
    assert len(hits) == 1, f"{label!r}: expected one table line, found {len(hits)}: {hits}"
    pieces = [p.strip() for p in hits[0].split("|")]
    k = max(i for i, p in enumerate(pieces) if label in p)
    return pieces[k + 1:]


def as_number(raw: str) -> float | None:
    raw = raw.strip()
    if raw == "":
        return 0.0
    m = re.fullmatch(r"(-?[\d.]+)(万元|元)?", raw)
    if not m:
        return None
    value = float(m.group(1))
    return value / 10000 if m.group(2) == "元" else value


# ---------------------------------------------------------------------------------------
# reader level


def test_huaian_2024_new_applications_row():
    lines = doc("govnianbao_1.pdf").text.splitlines()
    assert cells_after(lines, "一、本年新收政府信息公开申请数量") == ["3001", "53", "0", "0", "61", "4", "3119"]
    assert doc("govnianbao_1.pdf").explicit_cells


@pytest.mark.parametrize("name", [f for f in FILES if f.endswith(".pdf")])
def test_pdf_page_numbers_removed(name):
    text = doc(name).text
    assert not re.search(r"^\s*[-－—]\s*\d+\s*[-－—]\s*$", text, re.M)
    assert not re.search(r"^\s*第\s*\d+\s*页", text, re.M)


def test_pdf_table_continues_across_page_break():
    """淮安 2024: the page break falls inside （四）无法提供 (label split '（四）无' / '法提供')."""
    lines = doc("govnianbao_1.pdf").text.splitlines()
    i = next(i for i, ln in enumerate(lines) if "1.本机关不掌握" in ln)
    assert "2.没有现成信息" in lines[i + 1] and "3.补正后" in lines[i + 2]


def test_shanghai_granted_row_on_one_line():
    lines = doc("shanghai_1.html").text.splitlines()
    row = [ln for ln in lines if "（一）予以公开" in ln and "|" in ln]
    assert row == ["三、本年度办理结果 | （一）予以公开 | 258 | 12 |  |  | 1 | 1 |"]


def test_shanghai_metadata_lines_kept():
    d = doc("shanghai_1.html")
    head = d.text.splitlines()[:3]
    assert head[0] == "2019年上海市人民政府办公厅政府信息公开工作年度报告"
    assert head[1] == "发布日期：2020-01-31"
    assert d.format == "html" and d.explicit_cells


def test_pdf_titles():
    assert doc("govnianbao_1.pdf").title == "淮安市人民政府2024年政府信息公开工作年度报告"
    assert doc("kirogov_1.pdf").title == "洪泽区人民政府2023年政府信息公开工作年度报告"
    assert doc("kirogov_2.pdf").title == "淮安市洪泽区人民政府2024年政府信息公开工作年度报告"


@pytest.mark.parametrize("name", FILES)
def test_reader_text_carries_golden_applications(name):
    g = golden(name)
    lines = doc(name).text.splitlines()
    problems = []
    for row, values in g["applications"]["rows"].items():
        cells = cells_after(lines, ROW_LABELS[row])
        if len(cells) != len(values):
            problems.append(f"{row}: {len(cells)} cells {cells}, golden {values}")
            continue
        for col, raw, want in zip(g["applications"]["columns"], cells, values):
            if want is None:
                ok = raw == ""  # the golden NA cells are blank 总计 cells
            else:
                ok = as_number(raw) == want
            if not ok:
                problems.append(f"{row}/{col}: text {raw!r}, golden {want}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", FILES)
def test_reader_text_carries_golden_disclosure(name):
    g = golden(name)
    lines = doc(name).text.splitlines()
    by_item: dict[str, list[dict]] = {}
    for rec in g["disclosure"]:
        by_item.setdefault(rec["item"], []).append(rec)
    problems = []
    for item, recs in by_item.items():
        label = ITEM_LABELS[item]
        hits = [ln for ln in lines if "|" in ln and ln.split("|")[0].strip().endswith(label)]
        if len(hits) != 1:
            problems.append(f"{item}: {len(hits)} lines")
            continue
        cells = [p.strip() for p in hits[0].split("|")[1:]]
        if cells != [r["raw"] for r in recs]:
            problems.append(f"{item}: text {cells}, golden {[r['raw'] for r in recs]}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", FILES)
def test_reader_text_carries_golden_reviews(name):
    g = golden(name)
    lines = doc(name).text.splitlines()
    start = max(i for i, ln in enumerate(lines) if "尚未审结" in ln)
    pieces = [p.strip() for p in lines[start + 1].split("|")]
    want = [v for block in g["reviews"]["rows"].values() for v in block]
    assert [as_number(p) for p in pieces] == want


# ---------------------------------------------------------------------------------------
# end to end (reader + table core)

APPLICANTS = ["natural_person", "commercial_enterprise", "research_institution", "social_welfare_org",
              "legal_service_org", "other_org", "total"]


def _na(v) -> bool:
    try:
        return v is None or (isinstance(v, float) and math.isnan(v)) or bool(__import__("pandas").isna(v))
    except (TypeError, ValueError):
        return False


def _named(checks, section: str, row: str, column: str) -> bool:
    if checks is None or len(checks) == 0:
        return False
    for rec in checks.to_dict("records"):
        if rec.get("section") not in (section, "", None):
            continue
        if str(rec.get("row") or "") not in ("", row):
            continue
        if str(rec.get("column") or "") not in ("", column):
            continue
        return True
    return False


_results: dict[str, object] = {}


def parsed(name: str):
    import gxlib

    if name not in _results:
        _results[name] = gxlib.parse_report(CORPUS / name)
    return _results[name]


def compare_metadata(name: str) -> list[str]:
    g = golden(name)
    rep = parsed(name).report
    problems = []
    agencies = [g["report"]["agency"], *g["report"].get("agency_alternatives", [])]
    if rep.get("agency") not in agencies:
        problems.append(f"report/agency: got {rep.get('agency')!r}, golden {agencies}")
    for key in ("year", "template", "province", "prefecture", "county", "published"):
        got, want = rep.get(key), g["report"][key]
        if want is None:
            continue
        if str(got if got is not None else "") != str(want):
            problems.append(f"report/{key}: got {got!r}, golden {want!r}")
    return problems


def compare(name: str) -> list[str]:
    g = golden(name)
    res = parsed(name)
    problems: list[str] = []

    def check_cells(section: str, frame, key_cols: tuple[str, str], expected: dict, value_of=None):
        got = {}
        for rec in frame.to_dict("records"):
            got[(rec[key_cols[0]], rec[key_cols[1]])] = rec
        for key, want in expected.items():
            rec = got.get(key)
            value = None if rec is None else rec["value"]
            if _na(value):
                if not _named(res.checks, section, key[0], key[1]):
                    problems.append(f"{section}/{key[0]}/{key[1]}: NA without a check naming it (golden {want})")
                continue
            if want is None:
                problems.append(f"{section}/{key[0]}/{key[1]}: got {value}, golden NA (blank 总计 beside non-zero parts)")
            elif not math.isclose(float(value), float(want), rel_tol=1e-9, abs_tol=1e-9):
                problems.append(f"{section}/{key[0]}/{key[1]}: got {value} (raw {rec.get('raw')!r}), golden {want}")
        for key, rec in got.items():
            if key not in expected and not _na(rec["value"]):
                problems.append(f"{section}/{key[0]}/{key[1]}: got {rec['value']} for a cell the document does not have")

    check_cells(
        "applications", res.applications, ("row", "applicant"),
        {(row, col): v for row, vals in g["applications"]["rows"].items()
         for col, v in zip(g["applications"]["columns"], vals)},
    )
    check_cells(
        "reviews", res.reviews, ("proceeding", "outcome"),
        {(row, col): v for row, vals in g["reviews"]["rows"].items()
         for col, v in zip(g["reviews"]["columns"], vals)},
    )
    check_cells(
        "disclosure", res.disclosure, ("item", "measure"),
        {(r["item"], r["measure"]): r["value"] for r in g["disclosure"]},
    )
    units = {(r["item"], r["measure"]): r["unit"] for r in g["disclosure"]}
    for rec in res.disclosure.to_dict("records"):
        want = units.get((rec["item"], rec["measure"]))
        if want and not _na(rec["value"]) and rec.get("unit") != want:
            problems.append(f"disclosure/{rec['item']}/{rec['measure']}: unit {rec.get('unit')!r}, golden {want!r}")
    return problems


@pytest.mark.parametrize("name", FILES)
def test_end_to_end_cells_match_golden(name):
    problems = compare(name)
    assert not problems, f"{name}:\n" + "\n".join(problems)




@pytest.mark.parametrize(
    "name",
    FILES,
)
def test_end_to_end_metadata_matches_golden(name):
    problems = compare_metadata(name)
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", FILES)
def test_end_to_end_no_gaps(name):
    """Stricter than the comparison above: every cell the document states (golden not
    null) comes out as a number, and the report is ``ok`` unless something is NA."""
    g = golden(name)
    res = parsed(name)
    gaps = []
    for section, keys, frame in (("applications", ("row", "applicant"), res.applications),
                                 ("reviews", ("proceeding", "outcome"), res.reviews)):
        got = {(r[keys[0]], r[keys[1]]): r["value"] for r in frame.to_dict("records")}
        for row, vals in g[section]["rows"].items():
            for col, want in zip(g[section]["columns"], vals):
                if want is not None and _na(got.get((row, col))):
                    gaps.append(f"{section}/{row}/{col} (golden {want})")
    got = {(r["item"], r["measure"]): r["value"] for r in res.disclosure.to_dict("records")}
    gaps += [f"disclosure/{r['item']}/{r['measure']}" for r in g["disclosure"]
             if r["value"] is not None and _na(got.get((r["item"], r["measure"])))]
    assert not gaps, gaps
