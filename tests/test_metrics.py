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
    r5 2021 B: 总计 of N is "/" (NA) but the six applicant cells are known (natural person 5)
    """
    reports = [cf.report("r1", "甲局", 2020, "2021", province="A省"),
               cf.report("r2", "乙局", 2020, "2019", province="A省"),
               cf.report("r3", "丙局", 2021, "2021", province="B省", division_code="350128"),
               cf.report("r4", "丁局", 2021, "2021", province="B省"),
               cf.report("r5", "戊局", 2021, "2021", province="B省")]
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
    q = m.report_quantities(five)
    assert list(q.index) == ["r1", "r2", "r3", "r4", "r5"]
    assert q.loc["r1", "withheld"] == 1 and q.loc["r1", "other_handling"] == 1
    assert q.loc["r2", "other_handling"] == 0          # the 2019 single （六） row
    assert q.loc["r3"].isna().all()                    # absent tables are NA, never 0
    assert q.loc["r5", "new"] == 5                     # derived from the six applicant cells
    assert pd.isna(m.report_quantities(five, derive_total=False).loc["r5", "new"])
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
    r = m.rates(five, ["zero_application", "zero_application_strict"], by="year")
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
    r = m.rates(five, by=None)
    # G+Pa: 6 + 0 + 3 + 5 = 14 over P: 11 + 0 + 3 + 5 = 19
    assert one(r, metric="substantive_disclosure_rate")["value"] == approx(14 / 19)
    assert one(r, metric="granted_rate")["value"] == approx(12 / 19)
    assert one(r, metric="withheld_rate")["value"] == approx(1 / 19)
    assert one(r, metric="unavailable_rate")["value"] == approx(2 / 19)
    assert one(r, metric="rejected_rate")["value"] == approx(1 / 19)
    assert one(r, metric="other_handling_rate")["value"] == approx(1 / 19)
    # F / (N + C): (1 + 0 + 0 + 0) / (12 + 0 + 3 + 5)
    assert one(r, metric="backlog_rate")["value"] == approx(1 / 20)
    lo, hi = m.wilson_interval(14, 19)
    row = one(r, metric="substantive_disclosure_rate")
    assert (row["ci_low"], row["ci_high"]) == (approx(lo[0]), approx(hi[0]))
    assert row["n_reports"] == 4 and row["n_excluded"] == 1 and not row["small"]


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
    # (R_total + L1_total) / N = (4 + 2) / 10 (r2 adds 0/0); a ratio: no Wilson interval
    assert conv["value"] == approx(0.6) and pd.isna(conv["ci_low"])


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
    s = m.reason_shares(five)
    assert one(s, row="unavailable_not_held")["value"] == approx(2 / 19)
    other = one(s, row="other")                        # only r2 (2019 layout) has it: 0/0
    assert other["n_reports"] == 1 and pd.isna(other["value"])
    assert one(s, row="other_misc")["value"] == approx(1 / 19)
    assert isinstance(s["row"].dtype, pd.CategoricalDtype)


def test_applicant_mix(five):
    mix = m.applicant_mix(five)
    # natural persons: 6 + 0 + 0 + 5 of N = 10 + 0 + 0 + 5 (r5's 总计 derived)
    assert one(mix, applicant="natural_person")["value"] == approx(11 / 15)
    assert one(mix, applicant="commercial_enterprise")["value"] == approx(4 / 15)
    assert one(mix, applicant="natural_person")["n_reports"] == 4


# ----------------------------------------------------------------------------- volumes
def test_volumes(five):
    v = m.volumes(five, ["applications_new", "procurement_amount", "fee_amount"], by="year")
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
    assert list(m.select(five, agency="350128").reports["report_id"]) == ["r3"]
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
# gxlib.panel aggregates the Parquet files per report (streamed, in batches); every metric
# must give exactly what it gives on the long tables.
@pytest.fixture()
def five_dir(five, tmp_path):
    checks = [{"report_id": "r1", "rule": "balance", "section": "applications", "row": None,
               "column": "total", "expected": "12", "observed": "13", "message": "x"},
              {"report_id": "r4", "rule": "cell_count", "section": "reviews", "row": None,
               "column": "review", "expected": "15", "observed": "0", "message": "unreadable"}]
    t = cf.Tables(five.reports, five.disclosure, five.applications, five.reviews,
                  cf.typed("checks", checks))
    return t, cf.write_processed(t, tmp_path / "processed")


def test_panel_matches_the_long_tables(five_dir, monkeypatch):
    from gxlib import panel

    monkeypatch.setattr(panel, "BATCH_ROWS", 7)   # cells of one report across batches
    t, folder = five_dir
    p = panel.load(folder, cache_dir=None)
    assert list(p.reports["report_id"]) == ["r1", "r2", "r3", "r4", "r5"]
    pd.testing.assert_frame_equal(m.report_quantities(p), m.report_quantities(t))
    for by in (None, "year", ["province", "template"]):
        pd.testing.assert_frame_equal(m.rates(p, by=by), m.rates(t, by=by))
        pd.testing.assert_frame_equal(m.volumes(p, by=by), m.volumes(t, by=by))
        pd.testing.assert_frame_equal(m.applicant_mix(p, by=by), m.applicant_mix(t, by=by))
        pd.testing.assert_frame_equal(m.reason_shares(p, by=by), m.reason_shares(t, by=by))
    pd.testing.assert_frame_equal(m.report_table(p), m.report_table(t))
    pd.testing.assert_frame_equal(m.missing_tables(p), m.missing_tables(t))
    q = m.report_quantities(p)
    assert q.loc["r3"].isna().all() and q.loc["r5", "new"] == 5   # NA stays NA; derived total
    full = p.attach(checks=True, na_cells=True)
    pd.testing.assert_frame_equal(m.missing_values(full), m.missing_values(t))
    pd.testing.assert_frame_equal(m.check_counts(full, by=["rule", "year"]),
                                  m.check_counts(t, by=["rule", "year"]))


def test_panel_selection_reads_only_its_rows(five_dir):
    from gxlib import panel

    t, folder = five_dir
    sel = m.select(panel.load(folder), province="B省").attach(checks=True, na_cells=True)
    assert set(sel.quantities["report_id"]) == {"r3", "r4", "r5"}
    assert list(sel.checks["report_id"]) == ["r4"]                 # r1's check is not read
    assert set(sel.applications["report_id"]) == {"r5"}            # NA cells only
    ref = m.select(t, province="B省")
    pd.testing.assert_frame_equal(m.missing_values(sel), m.missing_values(ref))
    pd.testing.assert_frame_equal(m.rates(sel, by="year"), m.rates(ref, by="year"))


def test_panel_refuses_what_it_does_not_hold(five_dir):
    from gxlib import panel

    p = panel.load(five_dir[1])
    with pytest.raises(ValueError, match="applicant"):
        m.rates(p, applicant="natural_person")
    with pytest.raises(ValueError, match="attach"):
        m.check_counts(p)
    with pytest.raises(ValueError, match="attach"):
        m.missing_values(p)


def test_panel_cache_is_keyed_by_the_files(five_dir, tmp_path):
    from gxlib import panel

    t, folder = five_dir
    cache = tmp_path / "cache"
    first = panel.load(folder, cache_dir=cache).quantities
    files = list(cache.glob("panel-*.parquet"))
    assert len(files) == 1
    panel._MEMO.clear()   # the cached quantities are the computed ones, nothing more
    assert list(first.columns) == list(panel.load(folder).quantities.columns)
    panel._MEMO.clear()
    pd.testing.assert_frame_equal(panel.load(folder, cache_dir=cache).quantities, first)
    # a re-parse (new files) gets a new cache entry, never the stale one
    apps = t.applications.copy()
    apps.loc[(apps["report_id"] == "r4") & (apps["row"] == "new")
             & (apps["applicant"] == "total"), "value"] = 7
    cf.write_processed(cf.Tables(t.reports, t.disclosure, apps, t.reviews, t.checks), folder)
    panel._MEMO.clear()
    again = panel.load(folder, cache_dir=cache).quantities.set_index("report_id")
    assert again.loc["r4", "new"] == 7 and len(list(cache.glob("panel-*.parquet"))) == 2


def test_panel_duplicate_cells_raise(five, tmp_path):
    from gxlib import panel

    apps = pd.concat([five.applications, five.applications.iloc[:1]], ignore_index=True)
    folder = cf.write_processed(cf.Tables(five.reports, five.disclosure, apps, five.reviews,
                                          five.checks), tmp_path / "dup")
    with pytest.raises(ValueError, match="duplicate"):
        panel.build(folder)


def test_panel_from_csv_only(five_dir, tmp_path):
    from gxlib import panel

    t, folder = five_dir
    for f in folder.glob("*.parquet"):
        f.unlink()
    p = panel.load(folder).attach(checks=True, na_cells=True)
    pd.testing.assert_frame_equal(m.rates(p, by="year"), m.rates(t, by="year"))
    pd.testing.assert_frame_equal(m.missing_values(p), m.missing_values(t))


def test_panel_memo_is_not_changed_by_its_users(five_dir):
    """gx render reuses kernels: what one notebook does to its panel never reaches the next."""
    from gxlib import panel

    folder = five_dir[1]
    first = panel.load(folder)
    first.reports.loc[0, "agency"] = "changed"
    first.quantities.loc[0, "new"] = 999
    again = panel.load(folder)
    assert again.reports.loc[0, "agency"] == "甲局" and again.quantities.loc[0, "new"] == 10


def test_panel_id_lookup_by_binary_search_equals_the_hash_lookup():
    """The panel finds each batch's report ids by binary search in the sorted ids; it
    must give the positions the Arrow hash lookup gives (absent ids and nulls: -1)."""
    import pyarrow as pa
    from hypothesis import given, settings, strategies as st

    from gxlib.checks import IdIndex, codes_in

    hexid = st.text("0123456789abcdef", min_size=16, max_size=16)

    @settings(max_examples=200, deadline=None)
    @given(st.lists(hexid, unique=True, max_size=40), st.lists(st.one_of(st.none(), hexid), max_size=60),
           st.booleans(), st.data())
    def check(ids, extra, encode, data):
        ids = sorted(ids)
        pool = ids + extra
        column = data.draw(st.lists(st.sampled_from(pool), max_size=80)) if pool else []
        col = pa.array(column, pa.string())
        col = col.dictionary_encode() if encode else col
        arrow_ids = pa.array(ids, pa.string())
        expected = codes_in(col, arrow_ids)
        index = IdIndex(arrow_ids)
        assert index.unique and index.positions(col).tolist() == expected.tolist()
        twice = pa.array(ids + ids[:1], pa.string())  # not unique: the hash lookup
        if ids:
            assert not IdIndex(twice).unique
        assert IdIndex(twice).positions(col).tolist() == codes_in(col, twice).tolist()

    check()


def test_panel_built_a_window_of_reports_at_a_time(five_dir, tmp_path, monkeypatch):
    """The panel accumulates the cells of a window of reports at a time; any window gives
    the same panel, and long tables not in report_id order are read in one window."""
    from gxlib import panel

    t, folder = five_dir
    whole = panel.build(folder)
    for window in (1, 2, 3):
        pd.testing.assert_frame_equal(panel.build(folder, window=window), whole)
    apps = t.applications.iloc[::-1].reset_index(drop=True)  # another writer's order
    shuffled = cf.write_processed(cf.Tables(t.reports, t.disclosure, apps, t.reviews, t.checks),
                                  tmp_path / "shuffled")
    windows = []
    real = panel._build_windows
    monkeypatch.setattr(panel, "_build_windows", lambda *a: windows.append(a[3]) or real(*a))
    pd.testing.assert_frame_equal(panel.build(shuffled, window=2), whole)
    assert windows == [2, len(t.reports)]


def test_attached_rows_carry_no_whole_row_group_dictionaries():
    """A filtered Parquet scan keeps each row group's whole dictionary: free-text columns
    become plain strings before pandas (no category per report id of the file), codebook
    columns stay coded."""
    import pyarrow as pa

    from gxlib.store import CODED, undictionary

    ids = pa.array([f"r{i}" for i in range(1000)])
    table = pa.table({"report_id": pa.DictionaryArray.from_arrays(pa.array([7, 993], pa.int32()), ids),
                      "row": pa.array(["new", "total"]).dictionary_encode(), "value": [None, None]})
    out = undictionary(table, CODED["applications"])
    assert out.column("report_id").type == pa.string()
    assert out.column("report_id").to_pylist() == ["r7", "r993"]
    assert pa.types.is_dictionary(out.column("row").type)


# ----------------------------------------------------------------------------- the scan
# gxlib.panel.open keeps the panel on disk (PanelScan): every metric reads it a chunk at a
# time and adds group sums up; it must give what the long tables and the Panel give.
def _same(a, b):
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True),
                                  check_exact=False, rtol=1e-9)


def _every_metric(a, b, bys):
    for by in bys:
        for fn in (m.rates, m.volumes, m.applicant_mix, m.reason_shares):
            _same(fn(a, by=by), fn(b, by=by))


@pytest.fixture()
def scan_of(monkeypatch, tmp_path):
    """Open a folder as a PanelScan with tiny chunks (several per table)."""
    from gxlib import panel

    def open_(folder, rows=2):
        monkeypatch.setattr(panel, "SCAN_ROWS", rows)
        panel._CUBES.clear()
        return panel.open(folder, cache_dir=tmp_path / f"cache-{rows}")
    return open_


def test_scan_matches_the_long_tables(five_dir, scan_of):
    from gxlib import panel

    t, folder = five_dir
    s = scan_of(folder)
    assert isinstance(s, panel.PanelScan) and pq_row_groups(s.path) == 3   # 5 reports, 2 a group
    _every_metric(s, t, (None, "year", ["province", "template"], "agency", ["year", "level"]))
    assert m.coverage(s) == m.coverage(t.reports)
    assert m.n_reports(s) == 5 and m.default_agency(s) == m.default_agency(t.reports)
    _same(m.status_counts(s, by="year"), m.status_counts(t.reports, by="year"))
    _same(m.missing_tables(s), m.missing_tables(t))
    _same(m.table_gaps(s), m.table_gaps(t))
    assert list(m.table_gaps(s)["report_id"]) == ["r3", "r4", "r5"]   # r3: no 三; r4, r5: no 二
    _same(m.problem_reports(s), m.problem_reports(t))
    _same(m.missing_values(s), m.missing_values(t))
    _same(m.missing_summary(s), m.missing_summary(t))
    _same(m.missing_summary(m.missing_values(s)), m.missing_summary(t))
    for by in (["rule"], ["rule", "year"]):
        _same(m.check_counts(s, by=by), m.check_counts(t, by=by))
    _same(m.report_table(s), m.report_table(t))


def pq_row_groups(path):
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_row_groups


def test_scan_selection(five_dir, scan_of):
    from gxlib import panel

    t, folder = five_dir
    s = scan_of(folder)
    for flt in ({"province": "B省"}, {"year_from": 2021}, {"template": "2019"},
                {"county": "不存在"}, {"year_to": 2020, "province": "A省"}):
        sel, ref = m.select(s, **flt), m.select(t, **flt)
        assert m.n_reports(sel) == len(ref.reports), flt
        _every_metric(sel, ref, (None, "year"))
        assert m.coverage(sel) == m.coverage(ref.reports)
        _same(m.missing_values(sel), m.missing_values(ref))
        _same(m.check_counts(sel, by=["rule"]), m.check_counts(ref, by=["rule"]))
        _same(m.table_gaps(sel), m.table_gaps(ref))
    # selections add up: province, then year
    both = m.select(m.select(s, province="B省"), year_from=2021, year_to=2021)
    _every_metric(both, m.select(t, province="B省", year_from=2021, year_to=2021), ("year",))
    # an agency (by name or division code) is read into memory: a Panel, rows in order
    one = m.select(s, agency="350128")
    assert isinstance(one, panel.Panel) and list(one.reports["report_id"]) == ["r3"]
    two = m.select(m.select(s, province="B省"), agency="丁局").attach(checks=True)
    assert list(two.checks["report_id"]) == ["r4"]
    _same(m.report_table(two), m.report_table(m.select(t, agency="丁局")))
    assert m.n_reports(m.select(s, agency="没有这个机关")) == 0


def test_scan_file_is_rebuilt_for_new_data_and_when_damaged(five_dir, scan_of, tmp_path):
    from gxlib import panel

    t, folder = five_dir
    s = scan_of(folder)
    assert m.volumes(s, ["applications_new"], by=None).loc[0, "total"] == 15
    apps = t.applications.copy()
    apps.loc[(apps["report_id"] == "r4") & (apps["row"] == "new")
             & (apps["applicant"] == "total"), "value"] = 7
    cf.write_processed(cf.Tables(t.reports, t.disclosure, apps, t.reviews, t.checks), folder)
    again = panel.open(folder, cache_dir=Path(s.path).parent)
    assert again.path != s.path
    assert m.volumes(again, ["applications_new"], by=None).loc[0, "total"] == 22
    Path(s.path).unlink()           # replaced by a newer panel: a clear error, not a crash
    with pytest.raises(FileNotFoundError, match="panel.open again"):
        m.n_reports(m.select(s, province="A省"))
    Path(again.path).write_bytes(b"not parquet")
    panel._CUBES.clear()
    assert m.volumes(panel.open(folder, cache_dir=Path(s.path).parent), ["applications_new"],
                     by=None).loc[0, "total"] == 22


def test_scan_default_cache_keeps_one_file_per_folder(five_dir, monkeypatch, tmp_path):
    from gxlib import panel

    monkeypatch.delenv(panel.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    t, folder = five_dir
    first = panel.open(folder)
    assert Path(first.path).is_relative_to(tmp_path / "xdg" / "gxlib")
    cf.write_processed(cf.Tables(t.reports.iloc[:4], t.disclosure, t.applications, t.reviews,
                                 t.checks), folder)
    second = panel.open(folder)
    assert list(Path(second.path).parent.glob("panel-*.parquet")) == [Path(second.path)]
    assert m.n_reports(second) == 4


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


def test_scan_of_generated_reports_matches_the_panel(scan_of, tmp_path):
    """A few hundred benchmark reports (both layouts, damaged files, many regions) through
    gx parse: the PanelScan, in chunks of 64, gives what the in-memory Panel gives."""
    from gxlib import panel

    out = _generated(tmp_path, 400, seed=3)
    eager = panel.load(out, cache_dir=None)
    s = scan_of(out, rows=64)
    assert m.n_reports(s) == len(eager.reports) == 400
    prov = eager.reports["province"].value_counts().index[0]
    for flt in ({}, {"province": prov}, {"year_from": 2021, "level": "county"},
                {"template": "2019"}):
        e, sc = m.select(eager, **flt), m.select(s, **flt)
        _every_metric(sc, e, (None, "year", ["prefecture", "year"], ["year", "level"]))
        assert m.coverage(sc) == m.coverage(e.reports)
        _same(m.status_counts(sc, by="year"), m.status_counts(e.reports, by="year"))
    _every_metric(s, eager, ("agency",))          # not kept by the group sums: chunks
    full = eager.attach(checks=True, na_cells=True)
    _same(m.missing_values(s), m.missing_values(full))
    _same(m.check_counts(s, by=["rule", "section"]), m.check_counts(full, by=["rule", "section"]))
    _same(m.problem_reports(s), m.problem_reports(eager))
    assert len(m.problem_reports(s)) > 0
    _same(m.table_gaps(s), m.table_gaps(eager))
    top = m.default_agency(s)
    _same(m.report_table(m.select(s, agency=top)), m.report_table(m.select(eager, agency=top)))


def test_volume_stats_from_value_counts_equal_pandas_on_the_values():
    """Volumes are computed from how often each value occurs per group (what adds up
    across chunks): sum, mean, exact median and std must be pandas' on the values."""
    import numpy as np
    from hypothesis import given, settings, strategies as st

    values = st.one_of(st.none(), st.integers(0, 50).map(float),
                       st.floats(0, 1e6, allow_nan=False).map(lambda x: round(x, 4)))

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), values), max_size=40))
    def check(rows):
        frame = pd.DataFrame(rows, columns=["g", "x"]).astype({"g": "str", "x": "float64"})
        counts = frame.groupby(["g", "x"], dropna=False).size().rename("count").reset_index()
        counts = counts.rename(columns={"x": "_x"}).sample(frac=1, random_state=0)  # any order
        got = m._volume_stats(counts, ["g"]).set_index("g")
        want = frame.groupby("g")["x"].agg(["sum", "mean", "median", "std", "count", "size"])
        for col in ("mean", "median", "std", "count", "size"):
            np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float),
                                       rtol=1e-9, atol=1e-9, err_msg=col)
        np.testing.assert_allclose(got["sum"].to_numpy(float), want["sum"].to_numpy(float),
                                   rtol=1e-9)
    check()


def test_scan_na_cells_a_row_group_at_a_time(scan_of, tmp_path):
    """missing_values / missing_summary of a PanelScan read one row group of NA cells at a
    time: with row groups of 5 rows (a report's cells across several), and with the rows
    out of report order, they equal the in-memory result; limit stops early."""
    import pyarrow.parquet as pq

    from gxlib import panel

    out = _generated(tmp_path, 120, seed=5)
    full = panel.load(out, cache_dir=None).attach(checks=True, na_cells=True)
    want_values, want_summary = m.missing_values(full), m.missing_summary(full)
    # several NA cells of one report share a reason: counted once per report
    assert len(want_values) > 20 and (want_summary["n_cells"] > want_summary["n_reports"]).any()
    for name in ("disclosure", "applications", "reviews", "checks"):
        table = pq.read_table(out / f"{name}.parquet")
        pq.write_table(table, out / f"{name}.parquet", row_group_size=5)
    s = scan_of(out, rows=16)
    _same(m.missing_values(s), want_values)
    _same(m.missing_summary(s), want_summary)
    _same(m.missing_values(s, limit=7), want_values.head(7))
    # rows out of report order (not written by gx parse): still every report once
    import random

    for name in ("disclosure", "applications"):
        table = pq.read_table(out / f"{name}.parquet")
        order = list(range(table.num_rows))
        random.Random(1).shuffle(order)
        pq.write_table(table.take(order), out / f"{name}.parquet", row_group_size=5)
    _same(m.missing_summary(s), want_summary)


def test_coverage_of_parts_equals_coverage():
    """A PanelScan's coverage is gathered a row group at a time (a year bit mask per
    agency): the same figures as on the whole reports frame, odd years included."""
    from hypothesis import given, settings, strategies as st

    rows = st.lists(st.tuples(st.sampled_from(["甲局", "乙局", "丙局", "", "丁 局"]),
                              st.one_of(st.none(), st.integers(2015, 2026),
                                        st.sampled_from([1900, 1989, 2052, 2053, 2199])),
                              st.sampled_from(["A省", "B省", ""])), max_size=30)

    @settings(max_examples=200, deadline=None)
    @given(rows, st.integers(1, 7))
    def check(data, size):
        frame = pd.DataFrame(data, columns=["agency", "year", "province"]).astype(
            {"agency": "str", "year": "Int64", "province": "str"})
        parts = [frame.iloc[i:i + size] for i in range(0, len(frame), size)]
        assert m._coverage_of_parts(parts) == m.coverage(frame)
    check()
