"""The wide panel (``gx export --wide``): one row per report, one column per cell, read back
from every format with non-zero values, labels and Chinese intact."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import contract_frames as cf
import gxlib
from gxlib import export
from gxlib.cli import main

from conftest import PROCESSED


def _folder(tmp_path):
    """Two reports with non-zero cells in all three sections, one NA cell and three checks."""
    r1 = cf.report("r1", "福州市鼓楼区人民政府", 2022, template="2021", province="福建省",
                   prefecture="福州市", division_code="350102", status="partial", error="一个单元格不确定")
    r2 = cf.report("r2", "淮安市人民政府", 2020, template="2019", province="江苏省",
                   prefecture="淮安市", division_code="320800", level="prefecture")
    apps = cf.application_rows("r1", {"new": 40, "granted": 30, "unavailable_not_held": 10,
                                      "handled_total": 40, "carried_forward": None},
                               parts={"new": {"natural_person": 25, "commercial_enterprise": 15}})
    apps += cf.full_section3("r2", template="2019", new=7, granted=3, partly_granted=4, handled_total=7)
    disc = [{"report_id": "r1", "item": "regulations", "measure": "in_force", "value": 11,
             "unit": "count", "raw": "11"},
            {"report_id": "r2", "item": "procurement", "measure": "amount", "value": 120.5,
             "unit": "wan_yuan", "raw": "120.5"}]
    revs = cf.review_rows("r1", review__corrected=2, review__upheld=3, review__total=5)
    revs += cf.review_rows("r2", litigation_after_review__pending=1, litigation_after_review__total=1)
    checks = [{"report_id": "r1", "rule": "row_sum", "section": "applications", "row": "new",
               "column": "total", "expected": "40", "observed": "41", "message": "行合计不符"}] * 2
    checks += [{"report_id": "r2", "rule": "row_sum", "section": "applications", "row": "granted",
                "column": "total", "expected": "3", "observed": "4", "message": "x"}]
    t = cf.tables([r1, r2], disc, apps, revs, checks)
    return cf.write_processed(t, tmp_path / "processed")


def test_names_follow_one_rule_and_fit_stata():
    v = export.cell_variables()
    names = [x.name for x in v]
    assert len(names) == len(set(names)) == 29 + 26 * 7 + 15
    assert all(re.fullmatch(r"[a-z][a-z0-9_]{0,31}", n) for n in names)
    assert all(len(x.label_zh) <= export.STATA_LABEL_MAX for x in v)
    for name in ("app_new_total", "app_new_np", "app_granted_swo", "dis_procurement_amount",
                 "dis_regulations_pt", "rev_review_corrected", "app_unav_need_crea_total",
                 "rev_liti_afte_revi_pending"):
        assert name in names, name
    by = {(x.table, x.row, x.column): x for x in v}
    assert by[("applications", "new", "total")].label_zh == "依申请·一、本年新收政府信息公开申请数量·总计"
    assert by[("disclosure", "procurement", "amount")].unit == "wan_yuan"
    assert export.short_code("natural_person") == "np" and export.short_code("total") == "total"


def test_wide_frame(tmp_path):
    w = export.wide(_folder(tmp_path)).set_index("report_id")
    assert list(w.index) == ["r1", "r2"]
    r1, r2 = w.loc["r1"], w.loc["r2"]
    assert (r1["app_new_total"], r1["app_new_np"], r1["app_new_ce"], r1["app_granted_total"]) == (40, 25, 15, 30)
    assert pd.isna(r1["app_carried_forward_total"])               # NA stays NA
    assert pd.isna(r1["app_other_total"]) and r2["app_other_total"] == 0  # not in the 2021 layout / in 2019
    assert pd.isna(r1["dis_regulations_made"]) and r1["dis_regulations_if"] == 11
    assert r2["dis_procurement_amount"] == 120.5
    assert (r1["rev_review_corrected"], r1["rev_review_total"], r2["rev_liti_afte_revi_pending"]) == (2, 5, 1)
    assert (r1["n_checks"], r2["n_checks"]) == (2, 1)
    assert r1["agency"] == "福州市鼓楼区人民政府" and r1["status"] == "partial"


def test_every_format_reads_back(tmp_path):
    import openpyxl

    data = _folder(tmp_path)
    out = tmp_path / "wide"
    assert main(["export", "--wide", str(out), "--data", str(data)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["wide.csv", "wide.dta", "wide.parquet",
                                                    "wide.xlsx", "wide_variables.csv"]
    # CSV: UTF-8 with BOM, Chinese intact, NA empty
    raw = (out / "wide.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "福州市鼓楼区人民政府".encode() in raw
    csv = pd.read_csv(out / "wide.csv", encoding="utf-8-sig", dtype={"division_code": str}).set_index("report_id")
    assert csv.loc["r1", "app_new_total"] == 40 and csv.loc["r2", "dis_procurement_amount"] == 120.5
    assert pd.isna(csv.loc["r1", "app_carried_forward_total"]) and csv.loc["r1", "division_code"] == "350102"
    # Excel: the data sheet and the variables sheet
    wb = openpyxl.load_workbook(out / "wide.xlsx", read_only=True)
    assert wb.sheetnames == ["data", "variables"]
    rows = list(wb["data"].iter_rows(values_only=True))
    header = list(rows[0])
    r1 = dict(zip(header, next(r for r in rows[1:] if r[0] == "r1")))
    assert (r1["app_new_total"], r1["app_new_np"], r1["rev_review_corrected"]) == (40, 25, 2)
    assert r1["agency"] == "福州市鼓楼区人民政府" and r1["app_carried_forward_total"] in (None, "")
    labels = {r[0]: r for r in wb["variables"].iter_rows(values_only=True)}
    assert labels["app_new_total"][5] == "依申请·一、本年新收政府信息公开申请数量·总计"
    assert labels["status"][5] == "解析状态" and set(header) == set(labels) - {"name"}
    wb.close()
    # Stata: variable labels, value labels (Chinese), values
    with pd.io.stata.StataReader(out / "wide.dta") as reader:
        dta = reader.read(convert_categoricals=True)
        var_labels = reader.variable_labels()
        value_labels = reader.value_labels()
    assert (out / "wide.dta").read_bytes()[:32] == b"<stata_dta><header><release>118<"
    dta = dta.set_index("report_id")
    assert dta.loc["r1", "app_new_total"] == 40 and dta.loc["r2", "dis_procurement_amount"] == 120.5
    assert np.isnan(dta.loc["r1", "app_carried_forward_total"])
    assert dta.loc["r1", "status"] == "部分解析" and dta.loc["r2", "status"] == "成功"
    assert dta.loc["r2", "template"].startswith("2019年格式") and dta.loc["r1", "agency"] == "福州市鼓楼区人民政府"
    assert var_labels["app_new_total"] == "依申请·一、本年新收政府信息公开申请数量·总计"
    assert var_labels["agency"] == "机关" and value_labels["status"] == {1: "成功", 2: "部分解析", 3: "失败"}
    # Parquet: the frame itself
    pq = pd.read_parquet(out / "wide.parquet")
    pd.testing.assert_frame_equal(pq, export.wide(data), check_dtype=False, check_categorical=False)
    # nothing staged is left behind
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_errors_name_the_folder(tmp_path, capsys):
    assert main(["export", "--wide", str(tmp_path / "w"), "--data", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["export", "--wide", str(tmp_path / "w"), "--data", str(_folder(tmp_path)),
                 "--format", "csv,sav"]) == 2
    assert "sav" in capsys.readouterr().err


def test_wide_panel_of_the_committed_data():
    """data/processed (seeds + shipped corpus): one row per report, and the cells agree
    with the long tables."""
    t = gxlib.load(PROCESSED)
    w = export.wide(PROCESSED).set_index("report_id")
    assert len(w) == len(t.reports) > 100
    a = t.applications
    new = a[(a["row"] == "new") & (a["applicant"] == "total")].set_index("report_id")["value"]
    assert new.sum() > 0
    pd.testing.assert_series_equal(w.loc[new.index, "app_new_total"].astype("float64"),
                                   new.astype("float64"), check_names=False)
    assert w["n_checks"].sum() == len(t.checks)


def test_new_report_columns_are_labelled():
    """The reports columns added by issue 23 (agency_id, scope, …) carry Chinese labels
    from the codebook, not their bare names."""
    for column, zh in (("agency_id", "机关标识"), ("duplicate_of", "重复报告（所指报告编号）"),
                       ("scope", "统计范围"), ("scope_source", "统计范围依据"),
                       ("region_source", "区划来源"), ("text_source", "文字来源")):
        assert export._meta_label(column)[0] == zh, column
