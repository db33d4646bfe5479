"""The analysis side of issue 23 with non-zero values: one scope at a time, copies counted
once, intervals clustered by agency, agencies selected by identity."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gxlib import intervals as gi
from gxlib import metrics as m
from gxlib import panel
import contract_frames as cf  # tests/ is on sys.path


def _report(rid, agency, year, *, scope="", agency_id="", duplicate_of="", division_code="", **kw):
    return {**cf.report(rid, agency, year, division_code=division_code, **kw), "scope": scope,
            "agency_id": agency_id, "duplicate_of": duplicate_of}


def _tables(reports, sections):
    """Contract tables; agency_id and duplicate_of (columns the typed contract frames do not
    carry yet) are added to reports as an export that has them would give them."""
    apps = []
    for rid, vals in sections.items():
        apps += cf.full_section3(rid, **vals)
    t = cf.tables(reports, [], apps, [])
    extra = {c: [r.get(c, "") for r in reports] for c in ("agency_id", "duplicate_of") if c in reports[0]}
    if extra:
        t.reports = t.reports.assign(**{c: pd.array(v, dtype="str") for c, v in extra.items()})
    return t


def _one(frame, **keys):
    sel = frame
    for k, v in keys.items():
        sel = sel[sel[k].astype("str") == str(v)]
    assert len(sel) == 1, (keys, sel)
    return sel.iloc[0]


@pytest.fixture()
def county():
    """One county in 2023: the government's report counts the whole county (area, 300 new,
    150 granted of 300 handled), two departments report their own (40 new, 10 of 40
    granted; 25 new, 20 of 25), one report's scope is unknown (7 new, 7 of 7)."""
    reports = [_report("gov", "某县人民政府", 2023, scope="area", agency_id="340100:人民政府"),
               _report("d1", "某县财政局", 2023, scope="own", agency_id="340100:财政局"),
               _report("d2", "某县教育局", 2023, scope="own", agency_id="340100:教育局"),
               _report("u", "某县某中心", 2023, scope="", agency_id="340100:某中心")]
    return _tables(reports, {
        "gov": dict(new=300, granted=150, handled_total=300),
        "d1": dict(new=40, granted=10, handled_total=40),
        "d2": dict(new=25, granted=20, handled_total=25),
        "u": dict(new=7, granted=7, handled_total=7)})


def test_area_and_own_reports_of_one_region_are_never_added(county):
    own = _one(m.volumes(county, ["applications_new"], by="year"), year=2023)
    assert (own["total"], own["n_reports"], own["n_other_scope"], own["scope"]) == (65, 2, 2, "own")
    area = _one(m.volumes(county, ["applications_new"], by="year", scope="area"), year=2023)
    assert (area["total"], area["n_reports"], area["n_other_scope"]) == (300, 1, 3)
    unknown = _one(m.volumes(county, ["applications_new"], by="year", scope="unknown"), year=2023)
    assert (unknown["total"], unknown["n_reports"]) == (7, 1)
    beside = m.volumes_by_scope(county, ["applications_new"], by="year")
    assert [(str(s), float(t)) for s, t in zip(beside["scope"], beside["total"])] == [
        ("own", 65), ("area", 300), ("unknown", 7)]
    assert 372 not in set(beside["total"]) and 365 not in set(beside["total"])  # never summed
    with pytest.raises(ValueError, match="never"):
        m.volumes(county, ["applications_new"], scope="own+area")


def test_rates_over_applications_use_one_scope_rates_over_reports_every_report(county):
    r = m.rates(county, ["granted_rate", "zero_application"], by=None)
    g = _one(r, metric="granted_rate")
    assert (g["numerator"], g["denominator"], g["n_other_scope"], g["scope"]) == (30, 65, 2, "own")
    assert g["value"] == pytest.approx(30 / 65)
    a = _one(m.rates(county, ["granted_rate"], by=None, scope="area"), metric="granted_rate")
    assert (a["numerator"], a["denominator"]) == (150, 300)
    z = _one(r, metric="zero_application")     # each report one trial, whatever its scope
    assert (z["denominator"], z["scope"], z["interval"]) == (4, "any", "wilson")
    counts = m.scope_counts(county)
    assert counts == {"own": 2, "area": 1, "unknown": 1, "duplicates": 0}


def test_a_duplicate_report_is_counted_once():
    """The same agency-year as a PDF and as the HTML page showing it: the page is marked
    duplicate_of the PDF; every metric counts 25 new applications once."""
    reports = [_report("pdf", "某县财政局", 2023, scope="own", agency_id="340100:财政局"),
               _report("html", "某县财政局", 2023, scope="own", agency_id="340100:财政局", duplicate_of="pdf"),
               _report("d2", "某县教育局", 2023, scope="own", agency_id="340100:教育局")]
    t = _tables(reports, {"pdf": dict(new=25, granted=20, handled_total=25),
                          "html": dict(new=25, granted=20, handled_total=25),
                          "d2": dict(new=12, granted=3, handled_total=12)})
    v = _one(m.volumes(t, ["applications_new"], by=None), metric="applications_new")
    assert (v["total"], v["n_reports"]) == (37, 2)
    g = _one(m.rates(t, ["granted_rate"], by=None), metric="granted_rate")
    assert (g["numerator"], g["denominator"], g["n_reports"], g["n_agencies"]) == (23, 37, 2, 2)
    assert m.coverage(t)["n_reports"] == 2
    assert m.scope_counts(t)["duplicates"] == 1
    # the copy stays in the tables, marked
    assert set(m.select(t, year_from=2023).reports["report_id"]) == {"pdf", "html", "d2"}


def test_clustered_interval_on_real_figures_is_wider_than_wilson():
    """Real figures (issue 23): 淮安市人民政府 2024 granted 1362 of 3050; 洪泽 0 of 21 (2023) and
    50 of 95 (2024), one body; 平潭 2023 22 of 81. Four reports, three agencies."""
    reports = [_report("ha", "淮安市人民政府", 2024, scope="own", agency_id="320800:人民政府"),
               _report("hz23", "洪泽区人民政府", 2023, scope="own", agency_id="320813:人民政府"),
               _report("hz24", "淮安市洪泽区人民政府", 2024, scope="own", agency_id="320813:人民政府"),
               _report("pt", "平潭综合实验区管委会", 2023, scope="own", agency_id="350128:管委会")]
    t = _tables(reports, {"ha": dict(new=3050, granted=1362, handled_total=3050),
                          "hz23": dict(new=21, granted=0, handled_total=21),
                          "hz24": dict(new=95, granted=50, handled_total=95),
                          "pt": dict(new=81, granted=22, handled_total=81)})
    g = _one(m.rates(t, ["granted_rate"], by=None), metric="granted_rate")
    assert (g["numerator"], g["denominator"], g["n_reports"], g["n_agencies"]) == (1434, 3247, 4, 3)
    ref = gi.pooled_rate([1362, 0, 50, 22], [3050, 21, 95, 81],
                         ["320800:人民政府", "320813:人民政府", "320813:人民政府", "350128:管委会"])
    assert (g["value"], g["ci_low"], g["ci_high"]) == pytest.approx((ref.estimate, ref.low, ref.high))
    assert g["interval"] == "cluster" and g["small"]          # 3 agencies: small, whatever 3,247 applications
    wl, wh = m.wilson_interval(1434, 3247)
    assert g["ci_high"] - g["ci_low"] > 1.5 * (wh[0] - wl[0])
    assert g["ci_low"] <= g["value"] <= g["ci_high"]


def test_unknown_agencies_are_clusters_of_their_own_and_one_agency_has_no_interval():
    reports = [_report("a", "某局", 2023, scope="own"), _report("b", "某局", 2023, scope="own")]
    t = _tables(reports, {"a": dict(new=10, granted=5, handled_total=10),
                          "b": dict(new=30, granted=3, handled_total=30)})
    g = _one(m.rates(t, ["granted_rate"], by=None), metric="granted_rate")
    assert g["n_agencies"] == 2 and not pd.isna(g["ci_low"])   # two unknown-place reports: two clusters
    one = _one(m.rates(m.select(t, agency="某局"), ["granted_rate"], by=None), metric="granted_rate")
    assert one["n_agencies"] == 2                              # selected by name, still two clusters
    solo = [_report("x", "甲局", 2023, scope="own", agency_id="340100:甲局"),
            _report("y", "甲局", 2024, scope="own", agency_id="340100:甲局")]
    t2 = _tables(solo, {"x": dict(new=500, granted=250, handled_total=500),
                        "y": dict(new=10, granted=1, handled_total=10)})
    s = _one(m.rates(t2, ["granted_rate"], by=None), metric="granted_rate")
    assert s["n_agencies"] == 1 and pd.isna(s["ci_low"]) and s["small"]


def test_derive_total_is_off_by_default_and_marked_when_on():
    reports = [_report("r", "某局", 2023, scope="own", agency_id="340100:某局")]
    apps = [a for a in cf.full_section3("r", new=5, granted=5, handled_total=5) if a["row"] != "new"]
    apps += cf.application_rows("r", {"new": None}, {"new": {"natural_person": 5}})
    t = cf.tables(reports, [], apps, [])
    off = _one(m.volumes(t, ["applications_new"], by=None), metric="applications_new")
    assert pd.isna(off["total"]) and off["n_excluded"] == 1 and off["n_derived"] == 0
    on = _one(m.volumes(t, ["applications_new"], by=None, derive_total=True), metric="applications_new")
    assert (on["total"], on["n_derived"]) == (5, 1)


@pytest.fixture()
def huaian():
    """The two names of 洪泽区's government and the city government above it (agency_id
    computed from the names and the division code, as an export without the column)."""
    reports = [cf.report("hz23", "洪泽区人民政府", 2023, division_code="320813", province="江苏省"),
               cf.report("hz24", "淮安市洪泽区人民政府", 2024, division_code="320813", province="江苏省"),
               cf.report("ha24", "淮安市人民政府", 2024, division_code="320813", province="江苏省")]
    for r, s in zip(reports, ("area", "", "area")):
        r["scope"] = s
    return _tables(reports, {"hz23": dict(new=21, granted=0, handled_total=21),
                             "hz24": dict(new=95, granted=50, handled_total=95),
                             "ha24": dict(new=3119, granted=1362, handled_total=3050)})


def test_select_agency_by_either_name_or_id_gives_one_body_with_both_years(huaian):
    for query in ("洪泽区人民政府", "淮安市洪泽区人民政府", "320813:人民政府"):
        sel = m.select(huaian, agency=query)
        assert list(sel.reports["report_id"]) == ["hz23", "hz24"], query
        v = m.volumes(sel, ["applications_new"], by="year", scope="any")
        assert list(zip(v["year"], v["total"])) == [(2023, 21), (2024, 95)]
    assert list(m.select(huaian, agency="淮安市人民政府").reports["report_id"]) == ["ha24"]
    with pytest.raises(ValueError, match="province=.*county="):
        m.select(huaian, agency="320813")
    with pytest.raises(LookupError):
        m.select(huaian, agency="不存在的机关")


def _exported(t, folder):
    """Written as gx parse writes it: agency_id computed over the reports (agencies.csv is
    left out here: the connection derives the agencies table from the reports)."""
    from gxlib import agencies

    t.reports = t.reports.assign(agency_id=agencies.assign(t.reports))
    return cf.write_processed(t, folder)


def test_folder_panel_has_agency_ids_and_display_names(huaian, tmp_path):
    folder = _exported(huaian, tmp_path / "p")
    p = panel.open(folder, cache_dir=tmp_path / "c")
    assert m.default_agency(p) == "320813:人民政府"
    assert m.agency_name(p, "320813:人民政府") == "淮安市洪泽区人民政府"
    sel = m.select(p, agency="洪泽区人民政府")
    assert m.coverage(sel)["n_reports"] == 2 and m.coverage(sel)["n_agencies"] == 1


def test_render_grid_iterates_agency_ids_with_display_names(huaian, tmp_path):
    from gxlib import render

    folder = _exported(huaian, tmp_path / "p")
    grid = tmp_path / "grid.yml"
    grid.write_text("reports:\n  - notebook: x.ipynb\n    title: 机关概况\n    for_each: agency_id\n"
                    "    parameter: agency\n    limit: 1\n", encoding="utf-8")
    jobs, omitted = render.expand_grid(grid, folder)
    assert [j.parameters["agency"] for j in jobs] == ["320813:人民政府"]   # 2 reports beat 1
    assert jobs[0].title == "机关概况 · 淮安市洪泽区人民政府" and "淮安市洪泽区人民政府" in jobs[0].name
    assert [(o.shown, o.total) for o in omitted] == [(1, 2)]


def test_a_share_above_one_gets_no_interval():
    """Real case (福建省 corpus): natural persons 575 of 571 new applications (the parts of
    a table exceed its 总计): the share is shown, its interval is NA, as Wilson's for k > n."""
    reports = [_report("a", "甲局", 2023, scope="own", agency_id="350128:甲局"),
               _report("b", "乙局", 2023, scope="own", agency_id="350128:乙局")]
    apps = cf.application_rows("a", {"new": 471}, {"new": {"natural_person": 475}})
    apps += cf.application_rows("b", {"new": 100}, {"new": {"natural_person": 100}})
    t = cf.tables(reports, [], apps, [])
    t.reports = t.reports.assign(agency_id=pd.array(["350128:甲局", "350128:乙局"], dtype="str"))
    mix = _one(m.applicant_mix(t), applicant="natural_person")
    assert (mix["numerator"], mix["denominator"]) == (575, 571)
    assert pd.isna(mix["ci_low"]) and pd.isna(mix["ci_high"])


@pytest.fixture()
def county_all_sections():
    """One county in 2020 (template 2019: procurement in section 二) with figures in every
    section: the government's area report counts the whole county (reviews 9, corrected 3;
    direct lawsuits 4; procurement 12 projects, 800.5 万元); two departments report their own
    (reviews 2 + 3, corrected 1 + 0; lawsuits 1 + 0; procurement 5 + 2 projects, 120 + 35.5 万元)
    and one report's scope is unknown (reviews 6, procurement 1 project, 10 万元)."""
    specs = [  # id, agency, scope, agency_id, new, review total, corrected, lawsuits, projects, amount
        ("gov", "某县人民政府", "area", "340100:人民政府", 300, 9, 3, 4, 12, 800.5),
        ("d1", "某县财政局", "own", "340100:财政局", 40, 2, 1, 1, 5, 120.0),
        ("d2", "某县教育局", "own", "340100:教育局", 25, 3, 0, 0, 2, 35.5),
        ("u", "某县某中心", "", "340100:某中心", 7, 6, 2, 0, 1, 10.0)]
    reps, disc, apps, revs = [], [], [], []
    for rid, agency, scope, aid, new, rv, corr, lit, projects, amount in specs:
        reps.append(_report(rid, agency, 2020, scope=scope, agency_id=aid, template="2019"))
        apps += cf.full_section3(rid, "2019", new=new, granted=new, handled_total=new)
        revs += cf.review_rows(rid, review__total=rv, review__corrected=corr, review__upheld=rv - corr,
                               litigation_direct__total=lit, litigation_direct__upheld=lit)
        disc += [{"report_id": rid, "item": "procurement", "measure": "projects", "value": projects,
                  "unit": "count", "raw": str(projects)},
                 {"report_id": rid, "item": "procurement", "measure": "amount", "value": amount,
                  "unit": "wan_yuan", "raw": str(amount)}]
    return _with_ids(cf.tables(reps, disc, apps, revs), reps)


def _with_ids(t, reports):
    t.reports = t.reports.assign(agency_id=pd.array([r["agency_id"] for r in reports], dtype="str"),
                                 duplicate_of=pd.array([""] * len(reports), dtype="str"))
    return t


SECTION_VOLUMES = ["reviews_total", "litigation_direct_total", "procurement_projects", "procurement_amount"]


def test_section_4_and_procurement_totals_use_one_scope(county_all_sections):
    """Issue 23: an area report's review, lawsuit and procurement figures are its area's, as
    its applications are: the regional total under the default scope is the departments' own
    sum exactly, the area figure and the unknown one stand beside it, never added."""
    t = county_all_sections
    own = m.volumes(t, SECTION_VOLUMES, by="year").set_index("metric")
    assert own["total"].astype(float).to_dict() == {"reviews_total": 5.0, "litigation_direct_total": 1.0,
                                                    "procurement_projects": 7.0, "procurement_amount": 155.5}
    assert set(own["scope"]) == {"own"} and set(own["n_reports"]) == {2} and set(own["n_other_scope"]) == {2}
    beside = m.volumes_by_scope(t, SECTION_VOLUMES, by="year")
    got = {(str(s), str(k)): float(v) for s, k, v in zip(beside["scope"], beside["metric"], beside["total"])}
    assert got == {("own", "reviews_total"): 5, ("own", "litigation_direct_total"): 1,
                   ("own", "procurement_projects"): 7, ("own", "procurement_amount"): 155.5,
                   ("area", "reviews_total"): 9, ("area", "litigation_direct_total"): 4,
                   ("area", "procurement_projects"): 12, ("area", "procurement_amount"): 800.5,
                   ("unknown", "reviews_total"): 6, ("unknown", "litigation_direct_total"): 0,
                   ("unknown", "procurement_projects"): 1, ("unknown", "procurement_amount"): 10}
    everything = m.volumes(t, SECTION_VOLUMES, by="year", scope="any").set_index("metric")
    assert everything.loc["reviews_total", "total"] == 20         # only when asked for, and labelled
    assert everything.loc["reviews_total", "scope"] == "any"
    with pytest.raises(ValueError, match="never"):
        m.volumes(t, ["reviews_total"], scope="own+area")


def test_section_4_rates_use_one_scope(county_all_sections):
    """纠错率 (corrected / reviews decided) and dispute conversion pool own reports only;
    zero-application, a rate over reports, still counts every report once."""
    r = m.rates(county_all_sections, ["review_correction_rate", "dispute_conversion_rate", "zero_application"],
                by=None).set_index("metric")
    assert (r.loc["review_correction_rate", "numerator"], r.loc["review_correction_rate", "denominator"]) == (1, 5)
    assert r.loc["review_correction_rate", "scope"] == "own"
    assert r.loc["review_correction_rate", "n_other_scope"] == 2
    assert r.loc["review_correction_rate", "interval"] == "cluster"
    assert (r.loc["dispute_conversion_rate", "numerator"], r.loc["dispute_conversion_rate", "denominator"]) == (6, 65)
    assert (r.loc["zero_application", "denominator"], r.loc["zero_application", "scope"]) == (4, "any")
    a = m.rates(county_all_sections, ["review_correction_rate"], by=None, scope="area").iloc[0]
    assert (a["numerator"], a["denominator"], a["scope"]) == (3, 9, "area")
    with pytest.raises(ValueError, match="never"):
        m.rates(county_all_sections, ["review_correction_rate"], scope="all")


def test_one_agency_with_a_denominator_has_no_interval():
    """2025 on the corpus: one 平潭 body decided 8 lawsuits (3 corrected); the 13 other own
    reports had none. Its residual is 0 by construction, so the clustered interval would be
    [0.375, 0.375]: it is NA, as for one agency. A second agency with cases gives one."""
    reports = [_report(f"r{i}", f"某县{i}局", 2025, scope="own", agency_id=f"340100:{i}局") for i in range(4)]
    revs = cf.review_rows("r0", litigation_direct__total=8, litigation_direct__corrected=3,
                          litigation_direct__upheld=5)
    for rid in ("r1", "r2", "r3"):
        revs += cf.review_rows(rid)
    apps = [row for r in reports for row in cf.full_section3(r["report_id"], new=1, granted=1, handled_total=1)]
    t = _with_ids(cf.tables(reports, [], apps, revs), reports)
    r = _one(m.rates(t, ["litigation_correction_rate"], by=None), metric="litigation_correction_rate")
    assert (r["numerator"], r["denominator"], r["n_agencies"]) == (3, 8, 4)
    assert pd.isna(r["ci_low"]) and pd.isna(r["ci_high"])
    revs2 = [x for x in revs if x["report_id"] != "r1"] + cf.review_rows(
        "r1", litigation_direct__total=4, litigation_direct__corrected=1, litigation_direct__upheld=3)
    t2 = _with_ids(cf.tables(reports, [], apps, revs2), reports)
    r2 = _one(m.rates(t2, ["litigation_correction_rate"], by=None), metric="litigation_correction_rate")
    assert r2["value"] == pytest.approx(4 / 12)
    assert r2["ci_low"] < 4 / 12 < r2["ci_high"]
