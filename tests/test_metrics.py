"""Metrics on small hand-made contract frames; every expected number is computed by hand
in the comments next to it (report-format.md §2.2 notation)."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from gxlib import metrics as m
import contract_frames as cf  # tests/ is on sys.path (pytest rootdir-relative import)


def approx(x, rel=1e-4):
    return pytest.approx(x, rel=rel, abs=1e-4)


@pytest.fixture()
def five():
    """r1 2020 A: N=10 C=2 G=4 Pa=2 D=1 U=2 X=1 O=1 P=11 F=1 (balance 12 = 12)
    r2 2020 A (2019 layout): all zero
    r3 2021 B: section 三 absent (no rows)
    r4 2021 B: N=0 C=3 G=3 P=3 F=0
    r5 2021 B: 总计 of N is "/" (NA) but the six applicant cells are known (natural person 5;
       the total is derived only with derive_total=True)
    Every report is a department's own (scope own); the place is unknown, so no agency_id:
    each report is an agency (cluster) of its own.
    """
    reports = [cf.report("r1", "甲局", 2020, "2021", province="A省"),
               cf.report("r2", "乙局", 2020, "2019", province="A省"),
               cf.report("r3", "丙局", 2021, "2021", province="B省", division_code="350128"),
               cf.report("r4", "丁局", 2021, "2021", province="B省"),
               cf.report("r5", "戊局", 2021, "2021", province="B省")]
    reports = [{**r, "scope": "own"} for r in reports]
    apps = cf.full_section3("r1", new=10, carried_over=2, granted=4, partly_granted=2,
                            withheld_third_party=1, unavailable_not_held=2,
                            rejected_duplicate=1, other_misc=1, handled_total=11,
                            carried_forward=1)
    # r1's applicants: natural person 6, commercial enterprise 4 for the new row
    apps = [a for a in apps if a["row"] != "new"] + cf.application_rows(
        "r1", {"new": 10}, {"new": {"natural_person": 6, "commercial_enterprise": 4}})
    apps += cf.full_section3("r2", "2019")
    apps += cf.full_section3("r4", carried_over=3, granted=3, handled_total=3)
    apps += [a for a in cf.full_section3("r5", new=5, granted=5, handled_total=5)
             if a["row"] != "new"]
    apps += cf.application_rows("r5", {"new": None}, {"new": {"natural_person": 5}})
    reviews = cf.review_rows("r1", review__upheld=2, review__corrected=1, review__pending=1,
                             review__total=4, litigation_direct__upheld=1,
                             litigation_direct__corrected=1, litigation_direct__total=2,
                             litigation_after_review__pending=1,
                             litigation_after_review__total=1)
    reviews += cf.review_rows("r2")
    reviews += cf.review_rows("r4", **{f"review__{o}": None
                                       for o in ("upheld", "corrected", "other", "pending",
                                                 "total")})
    disclosure = [
        {"report_id": "r2", "item": "procurement", "measure": "projects", "value": 2,
         "unit": "count", "raw": "2"},
        {"report_id": "r2", "item": "procurement", "measure": "amount", "value": 30.5,
         "unit": "wan_yuan", "raw": "305000元"},
        # a stray procurement cell in a 2021-layout report must not count
        {"report_id": "r1", "item": "procurement", "measure": "amount", "value": 99,
         "unit": "wan_yuan", "raw": "99"},
        {"report_id": "r1", "item": "fees", "measure": "amount", "value": 1.2,
         "unit": "wan_yuan", "raw": "1.2"},
    ]
    return cf.tables(reports, disclosure, apps, reviews)


def one(frame, **keys):
    sel = frame
    for k, v in keys.items():
        sel = sel[sel[k].astype("str") == str(v)]
    assert len(sel) == 1, (keys, sel)
    return sel.iloc[0]


# ----------------------------------------------------------------------------- Wilson / t
def test_wilson_known_values():
    lo, hi = m.wilson_interval([5, 1, 0], [5, 2, 10])
    assert lo[0] == approx(0.5655) and hi[0] == 1.0      # 5/5
    assert lo[1] == approx(0.0945) and hi[1] == approx(0.9055)  # 1/2
    assert lo[2] == 0.0 and hi[2] == approx(0.2775)      # 0/10


def test_wilson_undefined_for_empty_or_non_proportion():
    lo, hi = m.wilson_interval([0, 3, pd.NA], [0, 2, 4])
    assert all(math.isnan(x) for x in list(lo) + list(hi))


def test_t_quantile():
    assert m.t_quantile(1)[0] == approx(12.706)
    assert m.t_quantile(40)[0] == approx(2.0211, rel=1e-3)
    assert math.isnan(m.t_quantile(0)[0])


# ----------------------------------------------------------------------------- quantities
def test_report_quantities(five):
    q = m.report_quantities(five, derive_total=True)
    assert list(q.index) == ["r1", "r2", "r3", "r4", "r5"]
    assert q.loc["r1", "withheld"] == 1 and q.loc["r1", "other_handling"] == 1
    assert q.loc["r2", "other_handling"] == 0          # the 2019 single （六） row
    assert q.loc["r3"].isna().all()                    # absent tables are NA, never 0
    assert q.loc["r5", "new"] == 5                     # derived from the six applicant cells
    assert pd.isna(m.report_quantities(five).loc["r5", "new"])   # off by default: as stated
    assert q.loc["r2", "procurement_amount"] == 30.5
    assert pd.isna(q.loc["r1", "procurement_amount"])  # 2021 layout: no procurement
    assert q.loc["r1", "fee_amount"] == 1.2
    assert pd.isna(q.loc["r2", "fee_amount"])          # 2019 layout: no fee amount


def test_one_na_part_makes_the_sum_na(five):
    apps = five.applications.copy()
    # the whole row is "/" (with only 总计 NA the six known parts would give it back)
    hit = (apps["report_id"] == "r1") & (apps["row"] == "withheld_process")
    apps.loc[hit, "value"] = pd.NA
    t = cf.Tables(five.reports, five.disclosure, apps, five.reviews, five.checks)
    q = m.report_quantities(t)
    assert pd.isna(q.loc["r1", "withheld"])
    r = m.rates(t, ["withheld_rate", "granted_rate"], by=None)
    # withheld: r1 left out -> D = 0 over P = 0 + 3 + 5 = 8
    assert one(r, metric="withheld_rate")["denominator"] == 8
    assert one(r, metric="withheld_rate")["n_excluded"] == 2   # r1 and r3
    assert one(r, metric="granted_rate")["denominator"] == 19  # r1 still counts here


# ----------------------------------------------------------------------------- rates
def test_zero_application_by_year(five):
    r = m.rates(five, ["zero_application", "zero_application_strict"], by="year", derive_total=True)
    z20 = one(r, metric="zero_application", year=2020)
    assert (z20["numerator"], z20["denominator"], z20["n_reports"]) == (1, 2, 2)
    assert z20["value"] == 0.5 and z20["ci_low"] == approx(0.0945)
    z21 = one(r, metric="zero_application", year=2021)
    # r3 has no section 三: excluded, not a zero; r4 zero, r5 five new
    assert (z21["numerator"], z21["denominator"], z21["n_excluded"]) == (1, 2, 1)
    assert z21["small"]
    s21 = one(r, metric="zero_application_strict", year=2021)
    assert (s21["numerator"], s21["denominator"]) == (0, 2)   # r4 carried over 3
    assert one(r, metric="zero_application_strict", year=2020)["value"] == 0.5


def test_zero_application_without_derived_totals(five):
    r = m.rates(five, ["zero_application"], by=None, derive_total=False)
    row = one(r, metric="zero_application")
    assert (row["numerator"], row["denominator"], row["n_excluded"]) == (2, 3, 2)


def test_outcome_rates_pooled(five):
    r = m.rates(five, by=None, derive_total=True)
    # G+Pa: 6 + 0 + 3 + 5 = 14 over P: 11 + 0 + 3 + 5 = 19
    assert one(r, metric="substantive_disclosure_rate")["value"] == approx(14 / 19)
    assert one(r, metric="granted_rate")["value"] == approx(12 / 19)
    assert one(r, metric="withheld_rate")["value"] == approx(1 / 19)
    assert one(r, metric="unavailable_rate")["value"] == approx(2 / 19)
    assert one(r, metric="rejected_rate")["value"] == approx(1 / 19)
    assert one(r, metric="other_handling_rate")["value"] == approx(1 / 19)
    # F / (N + C): (1 + 0 + 0 + 0) / (12 + 0 + 3 + 5)
    assert one(r, metric="backlog_rate")["value"] == approx(1 / 20)
    # pooled over applications: the interval is clustered by agency (no agency_id here, so
    # each report is its own cluster), not a Wilson interval on 14 of 19 applications
    from gxlib import intervals as gi
    ref = gi.pooled_rate([6, 0, 3, 5], [11, 0, 3, 5], ["r1", "r2", "r4", "r5"])
    row = one(r, metric="substantive_disclosure_rate")
    assert (row["ci_low"], row["ci_high"]) == (approx(ref.low), approx(ref.high))
    assert row["interval"] == "cluster" and row["n_agencies"] == 4
    assert row["n_reports"] == 4 and row["n_excluded"] == 1 and row["small"]   # 4 reports < 10
    assert row["n_derived"] == 1                                               # r5's total


def test_review_and_litigation(five):
    r = m.rates(five, ["review_correction_rate", "litigation_correction_rate",
                       "dispute_conversion_rate"], by=None)
    rev = one(r, metric="review_correction_rate")
    # corrected 1 over total − pending = 4 − 1; r2 adds 0/0; r4 all NA; r3, r5 no table
    assert (rev["numerator"], rev["denominator"]) == (1, 3)
    assert (rev["n_reports"], rev["n_excluded"]) == (2, 3)
    lit = one(r, metric="litigation_correction_rate")
    # (1 + 0) / ((2 + 1) − (0 + 1))
    assert (lit["numerator"], lit["denominator"]) == (1, 2)
    conv = one(r, metric="dispute_conversion_rate")
    # (R_total + L1_total) / N = (4 + 2) / 10 (r2 adds 0/0); a ratio: a clustered interval,
    # not clipped to [0, 1]; NA here: r1 is the only agency with new applications, and one
    # agency's residual is 0 by construction (never a zero-width interval)
    assert conv["value"] == approx(0.6) and conv["interval"] == "cluster"
    assert pd.isna(conv["ci_low"]) and pd.isna(conv["ci_high"])


def test_empty_group_is_shown_not_hidden(five):
    r = m.rates(five, ["review_correction_rate"], by="province")
    b = one(r, province="B省")
    assert b["n_reports"] == 0 and b["n_excluded"] == 3
    assert pd.isna(b["value"]) and pd.isna(b["ci_low"]) and b["small"]


def test_group_keys_keep_dtypes_and_unknown_year(five):
    reports = five.reports.copy()
    reports.loc[reports["report_id"] == "r1", "year"] = pd.NA
    t = cf.Tables(reports, five.disclosure, five.applications, five.reviews, five.checks)
    r = m.rates(t, ["zero_application"], by=["year", "template"])
    assert r["year"].dtype == "Int64"
    assert isinstance(r["template"].dtype, pd.CategoricalDtype)
    assert r["year"].isna().sum() == 1                 # the report without a year is kept


def test_no_reports_at_all():
    empty = cf.tables()
    r = m.rates(empty, ["zero_application"], by="year")
    assert r.empty and list(r.columns) == ["year", "metric", *m.RATE_COLUMNS]
    whole = m.rates(empty, ["zero_application"], by=None)
    assert len(whole) == 1 and whole["n_reports"].iloc[0] == 0 and whole["small"].iloc[0]
    v = m.volumes(empty, ["applications_new"], by=None)
    assert v["n_reports"].iloc[0] == 0 and pd.isna(v["total"].iloc[0])


def test_unknown_names_raise(five):
    with pytest.raises(KeyError):
        m.rates(five, ["no_such_rate"])
    with pytest.raises(KeyError):
        m.rates(five, by="colour")


def test_duplicate_cells_raise(five):
    apps = pd.concat([five.applications, five.applications.iloc[:1]], ignore_index=True)
    t = cf.Tables(five.reports, five.disclosure, apps, five.reviews, five.checks)
    with pytest.raises(ValueError, match="duplicate"):
        m.report_quantities(t)


# ----------------------------------------------------------------------------- shares
def test_reason_shares(five):
    s = m.reason_shares(five, derive_total=True)
    assert one(s, row="unavailable_not_held")["value"] == approx(2 / 19)
    other = one(s, row="other")                        # only r2 (2019 layout) has it: 0/0
    assert other["n_reports"] == 1 and pd.isna(other["value"])
    assert one(s, row="other_misc")["value"] == approx(1 / 19)
    assert isinstance(s["row"].dtype, pd.CategoricalDtype)


def test_applicant_mix(five):
    mix = m.applicant_mix(five, derive_total=True)
    # natural persons: 6 + 0 + 0 + 5 of N = 10 + 0 + 0 + 5 (r5's 总计 derived)
    assert one(mix, applicant="natural_person")["value"] == approx(11 / 15)
    assert one(mix, applicant="commercial_enterprise")["value"] == approx(4 / 15)
    assert one(mix, applicant="natural_person")["n_reports"] == 4


# ----------------------------------------------------------------------------- volumes
def test_volumes(five):
    v = m.volumes(five, ["applications_new", "procurement_amount", "fee_amount"], by="year", derive_total=True)
    n20 = one(v, metric="applications_new", year=2020)
    # 10 and 0: mean 5, sd 7.0711, t(1) = 12.706 -> half width 63.53, clipped at 0
    assert (n20["total"], n20["mean"], n20["n_reports"]) == (10, 5, 2)
    assert n20["ci_low"] == 0 and n20["ci_high"] == approx(5 + 12.706 * 5, rel=1e-3)
    n21 = one(v, metric="applications_new", year=2021)
    assert (n21["total"], n21["n_reports"], n21["n_excluded"]) == (5, 2, 1)
    p20 = one(v, metric="procurement_amount", year=2020)
    assert p20["total"] == 30.5 and p20["n_reports"] == 1 and p20["unit"] == "wan_yuan"
    assert pd.isna(p20["ci_low"])                      # one report: no interval
    p21 = one(v, metric="procurement_amount", year=2021)
    assert p21["n_reports"] == 0 and pd.isna(p21["total"])
    assert one(v, metric="fee_amount", year=2020)["total"] == 1.2


# ----------------------------------------------------------------------------- selection
def test_select(five):
    assert list(m.select(five, year_from=2021).reports["report_id"]) == ["r3", "r4", "r5"]
    assert list(m.select(five, year_to=2020, province="A省").reports["report_id"]) == ["r1", "r2"]
    sub = m.select(five, agency="丁局")
    assert list(sub.reports["report_id"]) == ["r4"]
    assert set(sub.applications["report_id"]) == {"r4"} and set(sub.reviews["report_id"]) == {"r4"}
    with pytest.raises(ValueError, match="division code, not an agency"):
        m.select(five, agency="350128")     # a county is no agency: region filters instead
    same = m.select(five, year_from=0, year_to=0, province="", level="")
    assert len(same.reports) == 5


def test_coverage(five):
    c = m.coverage(five.reports)
    assert c == {"n_reports": 5, "n_agencies": 5, "n_years": 2, "year_min": 2020,
                 "year_max": 2021, "n_agencies_multi_year": 0, "n_provinces": 2}


# ----------------------------------------------------------------------------- quality
def test_missing_values_reasons(five):
    checks = [{"report_id": "r4", "rule": "cell_count", "section": "applications",
               "row": None, "column": "", "expected": "15", "observed": "0",
               "message": "section 四 cells unreadable"}]
    t = cf.Tables(five.reports, five.disclosure, five.applications, five.reviews,
                  cf.typed("checks", checks))
    na = m.missing_values(t)
    r5 = one(na, report_id="r5", table="applications")
    assert r5["row"] == "new" and r5["column"] == "total"
    assert r5["reason"] == "placeholder in source: /"
    # r4's review cells: the only check is about section 三 -> no reason recorded
    assert set(na.loc[na["report_id"] == "r4", "reason"]) == {"no reason recorded"}
    t2 = cf.Tables(five.reports, five.disclosure, five.applications, five.reviews,
                   cf.typed("checks", [dict(checks[0], section="reviews", column="review")]))
    r4 = m.missing_values(t2)
    r4 = r4[r4["report_id"] == "r4"]
    assert len(r4) == 5 and set(r4["reason"]) == {"section 四 cells unreadable"}


def test_missing_tables_and_status(five):
    mt = m.missing_tables(five).set_index("report_id")
    assert not mt.loc["r3", "has_applications"] and mt.loc["r4", "has_applications"]
    sc = m.status_counts(five.reports)
    assert one(sc, status="ok")["n_reports"] == 5 and one(sc, status="failed")["n_reports"] == 0


def test_check_counts(five):
    checks = [{"report_id": "r1", "rule": "balance", "section": "applications", "row": None,
               "column": "total", "expected": "12", "observed": "13", "message": "x"},
              {"report_id": "r1", "rule": "row_sum", "section": "applications", "row": "new",
               "column": "", "expected": "10", "observed": "9", "message": "y"},
              {"report_id": "r2", "rule": "balance", "section": "applications", "row": None,
               "column": "total", "expected": "0", "observed": "1", "message": "z"}]
    t = cf.Tables(five.reports, five.disclosure, five.applications, five.reviews,
                  cf.typed("checks", checks))
    cc = m.check_counts(t)
    assert (one(cc, rule="balance")["n_checks"], one(cc, rule="balance")["n_reports"]) == (2, 2)
    by_year = m.check_counts(t, by=["year"])
    assert one(by_year, year=2020)["n_checks"] == 3
    assert m.check_counts(five).empty


def test_report_table(five):
    rt = m.report_table(five).set_index("report_id")
    assert rt.loc["r1", "substantive_disclosure_rate"] == approx(6 / 11)
    assert pd.isna(rt.loc["r2", "substantive_disclosure_rate"])   # 0 / 0
    assert list(rt["year"]) == [2020, 2020, 2021, 2021, 2021]     # sorted by year, agency


# ----------------------------------------------------------------------------- the panel
# gxlib.panel runs the same SQL over the exported Parquet files of a folder as over the
# tables in memory: every metric must give exactly what it gives on the long tables.
@pytest.fixture()
def five_dir(five, tmp_path):
    from gxlib import store

    checks = [{"report_id": "r1", "rule": "balance", "section": "applications", "row": None,
               "column": "total", "expected": "12", "observed": "13", "message": "x"},
              {"report_id": "r4", "rule": "cell_count", "section": "reviews", "row": None,
               "column": "review", "expected": "15", "observed": "0", "message": "unreadable"}]
    from gxlib import agencies

    reports = five.reports.assign(agency_id=agencies.assign(five.reports))   # as gx parse writes it
    t = cf.Tables(reports, five.disclosure, five.applications, five.reviews, cf.typed("checks", checks))
    store.write(t, tmp_path / "processed")
    return t, tmp_path / "processed"


def _same(a, b):
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True),
                                  check_exact=False, rtol=1e-9)


def _every_metric(a, b, bys):
    for by in bys:
        for fn in (m.rates, m.volumes, m.applicant_mix, m.reason_shares):
            _same(fn(a, by=by), fn(b, by=by))


def test_folder_panel_matches_the_long_tables(five_dir, tmp_path):
    from gxlib import panel

    t, folder = five_dir
    p = panel.open(folder, cache_dir=tmp_path / "cache")
    assert list(p.reports["report_id"]) == ["r1", "r2", "r3", "r4", "r5"]
    pd.testing.assert_frame_equal(m.report_quantities(p), m.report_quantities(t))
    _every_metric(p, t, (None, "year", ["province", "template"], "agency", ["year", "level"]))
    assert m.coverage(p) == m.coverage(t.reports)
    assert m.n_reports(p) == 5 and m.default_agency(p) == m.default_agency(t.reports)
    _same(m.status_counts(p, by="year"), m.status_counts(t.reports, by="year"))
    _same(m.missing_tables(p), m.missing_tables(t))
    assert list(m.table_gaps(p)["report_id"]) == ["r3", "r4", "r5"]   # r3: no 三; r4, r5: no 二
    _same(m.problem_reports(p), m.problem_reports(t))
    _same(m.missing_values(p), m.missing_values(t))
    _same(m.missing_summary(p), m.missing_summary(t))
    _same(m.missing_summary(m.missing_values(p)), m.missing_summary(t))
    for by in (["rule"], ["rule", "year"]):
        _same(m.check_counts(p, by=by), m.check_counts(t, by=by))
    _same(m.report_table(p), m.report_table(t))
    q = m.report_quantities(p, derive_total=True)
    assert q.loc["r3"].isna().all() and q.loc["r5", "new"] == 5   # NA stays NA; derived total
    # another applicant column or no derived totals: computed from the long tables
    _same(m.rates(p, ["zero_application"], applicant="natural_person"),
          m.rates(t, ["zero_application"], applicant="natural_person"))
    _same(m.rates(p, by=None, derive_total=True), m.rates(t, by=None, derive_total=True))


def test_gxlib_connect_answers_sql(five_dir):
    import gxlib

    con = gxlib.connect(five_dir[1])
    got = con.execute("SELECT year, sum(new) AS new FROM panel GROUP BY year ORDER BY year").fetchall()
    assert got == [(2020, 10.0), (2021, 0.0)]   # r4 0, r5 NA as stated (no derived total), r3 no table
    got = con.execute("SELECT count(new) FROM panel WHERE year = 2021").fetchone()[0]
    assert got == 1


def test_panel_selection(five_dir, tmp_path):
    from gxlib import panel

    t, folder = five_dir
    sel = m.select(panel.open(folder, cache_dir=tmp_path / "c"), province="B省")
    assert list(sel.reports["report_id"]) == ["r3", "r4", "r5"]
    assert list(sel.checks["report_id"]) == ["r4"]
    ref = m.select(t, province="B省")
    assert list(ref.reports["report_id"]) == ["r3", "r4", "r5"]
    _same(m.missing_values(sel), m.missing_values(ref))
    _same(m.rates(sel, by="year"), m.rates(ref, by="year"))
    one_agency = m.select(sel, agency="丁局")
    assert m.n_reports(one_agency) == 1 and m.coverage(one_agency)["n_agencies"] == 1


def test_panel_cache_is_keyed_by_the_files(five_dir, tmp_path):
    from gxlib import panel, store

    t, folder = five_dir
    cache = tmp_path / "cache"
    first = m.report_quantities(panel.open(folder, cache_dir=cache))
    assert len(list(cache.glob("panel-*.parquet"))) == 1
    # a re-parse (new files) gets a new panel file, never the stale one
    apps = t.applications.copy()
    apps.loc[(apps["report_id"] == "r4") & (apps["row"] == "new")
             & (apps["applicant"] == "total"), "value"] = 7
    store.write(cf.Tables(t.reports, t.disclosure, apps, t.reviews, t.checks), folder)
    again = m.report_quantities(panel.open(folder, cache_dir=cache))
    assert again.loc["r4", "new"] == 7 and first.loc["r4", "new"] == 0
    assert len(list(cache.glob("panel-*.parquet"))) == 2
    # a damaged panel file is made again
    path = panel.cache_path(folder, cache)
    path.write_bytes(b"garbage")
    assert m.report_quantities(panel.open(folder, cache_dir=cache)).loc["r4", "new"] == 7


def test_panel_duplicate_cells_raise(five, tmp_path):
    from gxlib import panel, store

    apps = pd.concat([five.applications, five.applications.iloc[:1]], ignore_index=True)
    store.write(cf.Tables(five.reports, five.disclosure, apps, five.reviews, five.checks), tmp_path / "dup")
    with pytest.raises(ValueError, match="duplicate"):
        m.rates(panel.open(tmp_path / "dup", cache_dir=tmp_path / "c"))


def _generated(tmp_path, n, seed):
    """``n`` benchmark reports (benchmarks/generate.py) parsed by gx parse: their folder."""
    import sys

    from gxlib import pipeline

    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from benchmarks import generate as gen

    gen.generate(tmp_path / "raw", n, seed=seed)
    pipeline.run(tmp_path / "raw", tmp_path / "out", jobs=1, progress=False)
    return tmp_path / "out"


def test_generated_reports_folder_panel_equals_the_tables_in_memory(tmp_path):
    """A few hundred benchmark reports (both layouts, damaged files, many regions) through
    gx parse: the folder's panel gives what the long tables in memory give."""
    import gxlib
    from gxlib import panel

    out = _generated(tmp_path, 400, seed=3)
    eager = gxlib.load(out)
    p = panel.open(out, cache_dir=tmp_path / "cache")
    assert m.n_reports(p) == len(eager.reports) == 400
    prov = eager.reports["province"].value_counts().index[0]
    for flt in ({}, {"province": prov}, {"year_from": 2021, "level": "county"}, {"template": "2019"}):
        e, sc = m.select(eager, **flt), m.select(p, **flt)
        _every_metric(sc, e, (None, "year", ["prefecture", "year"]))
        assert m.coverage(sc) == m.coverage(e.reports)
        _same(m.status_counts(sc, by="year"), m.status_counts(e.reports, by="year"))
    _same(m.missing_values(p), m.missing_values(eager))
    _same(m.check_counts(p, by=["rule", "section"]), m.check_counts(eager, by=["rule", "section"]))
    assert len(m.problem_reports(p)) > 0
    _same(m.problem_reports(p), m.problem_reports(eager))
    top = m.default_agency(p)
    _same(m.report_table(m.select(p, agency=top)), m.report_table(m.select(eager, agency=top)))
