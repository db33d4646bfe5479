"""The five seed reports: every cell of all three tables and the metadata, exact values."""
from __future__ import annotations

import pytest

import gxlib
from gxlib.tables import DISCLOSURE, PROCEEDINGS, OUTCOMES, APPLICANTS, application_rows

from conftest import RAW, grid

SEEDS = {
    "000_d041f4bcca68913a.txt": dict(
        title="濉溪县公共资源交易中心2020年政府信息公开工作年度报告", agency="濉溪县公共资源交易中心",
        year=2020, year_source="title", published="2021-01-25", template="2019",
        province="安徽省", prefecture="淮北市", county="濉溪县", division_code="340621", level="county",
        disclosure={("normative_documents", "made"): 2, ("normative_documents", "published"): 2,
                    ("normative_documents", "published_total"): 2, ("procurement", "projects"): 2,
                    ("procurement", "amount"): 26.048},
    ),
    "001_d6bc68039ea8c73c.txt": dict(
        title="共青城市政府办公室2019年政府信息公开工作年度报告", agency="共青城市政府办公室",
        year=2019, year_source="title", published="2020-01-30", template="2019",
        province="江西省", prefecture="九江市", county="共青城市", division_code="360482", level="county",
        disclosure={("other_services", "prior_items"): 13, ("penalty", "prior_items"): 1,
                    ("procurement", "projects"): 12, ("procurement", "amount"): 398.3675},
    ),
    "002_9f0ed78e15ea2a92.txt": dict(
        # no title and no agency name in the text ("我局"); year from "2022年，我局将…" minus one
        title="", agency="", year=2021, year_source="body", published="", template="2019",
        province="", prefecture="", county="", division_code="", level="unknown",
        disclosure={("licensing", "change"): 5, ("licensing", "decisions"): 5},
    ),
    "003_09886ce637bf6d9d.txt": dict(
        title="", agency="", year=2020, year_source="body", published="", template="2019",
        province="", prefecture="", county="", division_code="", level="unknown",
        disclosure={},
    ),
    "004_384974d2e2d35c17.txt": dict(
        # agency from the 信息来源 line; region from the body (驻马店市), level from "市"
        title="", agency="市公共资源交易中心", year=2024, year_source="body", published="2025-01-21",
        template="2021", province="河南省", prefecture="驻马店市", county="", division_code="411700",
        level="prefecture", disclosure={},
    ),
}


@pytest.fixture(scope="module", params=sorted(SEEDS))
def seed(request):
    return request.param, gxlib.parse_report(RAW / request.param), SEEDS[request.param]


def test_metadata(seed):
    name, res, exp = seed
    for key in ("title", "agency", "year", "year_source", "published", "template", "province", "prefecture",
                "county", "division_code", "level"):
        assert res.report[key] == exp[key], (name, key)
    assert res.report["status"] == "ok"
    assert res.report["error"] == ""


def test_every_disclosure_cell(seed):
    name, res, exp = seed
    layout = DISCLOSURE[exp["template"]]
    expected = {(item, m): float(exp["disclosure"].get((item, m), 0)) for item, ms in layout.items() for m in ms}
    assert grid(res.disclosure, "item", "measure") == expected
    units = dict(zip(res.disclosure["measure"].astype(str), res.disclosure["unit"].astype(str)))
    assert units.get("amount") == "wan_yuan"
    assert set(res.disclosure.loc[res.disclosure["measure"] != "amount", "unit"].astype(str)) == {"count"}


def test_every_application_cell_is_zero(seed):
    # all five seeds are zero-application reports with all-zero section 三
    name, res, exp = seed
    expected = {(r, a): 0.0 for r in application_rows(exp["template"]) for a in APPLICANTS}
    assert grid(res.applications, "row", "applicant") == expected


def test_every_review_cell_is_zero(seed):
    name, res, exp = seed
    assert grid(res.reviews, "proceeding", "outcome") == {(p, o): 0.0 for p in PROCEEDINGS for o in OUTCOMES}


def test_no_checks(seed):
    name, res, exp = seed
    assert res.checks.empty, res.checks.to_dict("records")


def test_raw_cells_kept():
    res = gxlib.parse_report(RAW / "000_d041f4bcca68913a.txt")
    d = res.disclosure.set_index(["item", "measure"])
    assert d.loc[("procurement", "amount"), "raw"] == "26.0480万元"
    a = res.applications.set_index(["row", "applicant"])
    # the "00" typo in the 重复申请 row is read as 0 and kept as written
    assert a.loc[("rejected_duplicate", "total"), "raw"] == "00"
    assert a.loc[("rejected_duplicate", "total"), "value"] == 0
