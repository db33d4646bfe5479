"""Intervals for the panel metrics (gxlib.intervals): Wilson over reports, the cluster-aware
intervals over applications, ``small`` by reports and agencies, derive_total marked."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from gxlib import intervals as iv

# per-cluster (agency) sums: (granted, handled) of 1..40 agencies
clusters = st.lists(st.tuples(st.integers(0, 400), st.integers(1, 400)).map(lambda t: (min(t), t[1])),
                    min_size=2, max_size=40)


def _arrays(cs):
    return np.array([c[0] for c in cs], float), np.array([c[1] for c in cs], float)


# --------------------------------------------------------------------------- real figures
# 淮安市人民政府 2024 (govnianbao_1.pdf): 3,119 new applications; 洪泽区 2023 / 2024
# (kirogov_1/2.pdf): 21 and 95; 平潭 2023 (pingtan_2023.txt): 81.  Granted (（一）予以公开)
# of handled (（七）总计) 总计 cells as parsed from those files.
REAL = pd.DataFrame({
    "report_id": ["govnianbao_1", "kirogov_1", "kirogov_2", "pingtan_2023"],
    "agency_id": ["320800:人民政府", "320813:人民政府", "320813:人民政府", "350128:人民政府"],
    "granted": [1362.0, 0.0, 50.0, 22.0],
    "handled": [3050.0, 21.0, 95.0, 81.0],
})


def test_pooled_rate_over_three_agencies_is_wide_where_wilson_is_narrow():
    cl = iv.cluster_ids(REAL["agency_id"], REAL["report_id"])
    assert cl.tolist() == ["320800:人民政府", "320813:人民政府", "320813:人民政府", "350128:人民政府"]
    res = iv.pooled_rate(REAL["granted"], REAL["handled"], cl)
    assert (res.numerator, res.denominator, res.n_reports, res.n_clusters) == (1434.0, 3247.0, 4, 3)
    assert res.estimate == pytest.approx(1434 / 3247)
    assert res.small  # 4 reports of 3 agencies, whatever the 3,247 applications
    lo_w, hi_w = iv.wilson(1434, 3247)
    # as if 3,247 independent applications: about ±1.7 points; over 3 agencies (t with 2
    # degrees of freedom) about ±3.3 points
    assert (hi_w[0] - lo_w[0]) == pytest.approx(0.0340, abs=5e-4)
    assert (res.high - res.low) == pytest.approx(0.0665, abs=5e-4)
    assert res.low <= res.estimate <= res.high


def test_one_agency_with_500_applications_is_small_and_has_no_interval():
    res = iv.pooled_rate([150.0], [500.0], ["320800:人民政府"])
    assert res.small and res.n_clusters == 1
    assert res.estimate == 0.3 and math.isnan(res.low) and math.isnan(res.high)
    boot = iv.pooled_rate([100.0, 50.0], [300.0, 200.0], ["a", "a"], method="bootstrap")
    assert boot.n_clusters == 1 and math.isnan(boot.low)


def test_unknown_agencies_are_clusters_of_their_own():
    cl = iv.cluster_ids(pd.Series(["", None, "320813:人民政府"], dtype="object"), ["r1", "r2", "r3"])
    assert cl.tolist() == ["report:r1", "report:r2", "320813:人民政府"]


def test_na_values_leave_the_report_out_never_zero():
    res = iv.pooled_rate([10.0, None, 5.0], [20.0, 50.0, None], ["a", "b", "c"])
    assert (res.numerator, res.denominator, res.n_reports, res.n_clusters) == (10.0, 20.0, 1, 1)


def test_wilson_over_reports_known_values():
    lo, hi = iv.wilson([5, 0, 7], [5, 10, 12])
    assert lo[0] == pytest.approx(0.5655, abs=1e-4) and hi[0] == 1.0
    assert lo[1] == 0.0 and hi[1] == pytest.approx(0.2775, abs=1e-4)
    lo, hi = iv.wilson([3, None, 4], [2, 5, 0])
    assert np.isnan(lo).all() and np.isnan(hi).all()


def test_small_by_reports_and_agencies():
    assert iv.is_small(9) and not iv.is_small(10)
    assert iv.is_small(40, 4) and not iv.is_small(40, 5)
    assert iv.is_small(np.array([100, 3]), np.array([1, 3])).tolist() == [True, True]


def test_pooled_rates_per_group():
    frame = REAL.assign(year=[2024, 2023, 2024, 2023], cluster=iv.cluster_ids(REAL["agency_id"], REAL["report_id"]))
    out = iv.pooled_rates(frame, "year", "granted", "handled")
    assert out[["year", "numerator", "denominator", "n_reports", "n_clusters"]].values.tolist() == [
        [2023, 22.0, 102.0, 2, 2], [2024, 1412.0, 3145.0, 2, 2]]
    assert out["small"].tolist() == [True, True]


def test_ratio_interval_from_sums_equals_from_clusters():
    n, d = np.array([1362.0, 50.0, 22.0]), np.array([3050.0, 116.0, 81.0])
    a = iv.ratio_interval(n, d)
    b = iv.ratio_interval_from_sums(n.sum(), d.sum(), (n * n).sum(), (d * d).sum(), (n * d).sum(), 3)
    assert a == pytest.approx(tuple(float(x) for x in b))


def test_derive_total_is_off_by_default_and_marks_what_it_fills():
    total = pd.Series([None, 95.0, None])
    parts = pd.DataFrame({"natural_person": [18.0, 95.0, 4.0], "commercial_enterprise": [3.0, 0.0, None]})
    off = iv.derive_total(total, parts)
    assert off["value"].isna().tolist() == [True, False, True] and not off["derived"].any()
    on = iv.derive_total(total, parts, enabled=True)
    assert on["value"].tolist()[:2] == [21.0, 95.0] and pd.isna(on["value"].iloc[2])
    assert on["derived"].tolist() == [True, False, False]


# --------------------------------------------------------------------------- invariants
@settings(max_examples=60, deadline=None)
@given(clusters, st.sampled_from(["ratio", "bootstrap"]))
def test_interval_contains_the_estimate(cs, method):
    n, d = _arrays(cs)
    res = iv.pooled_rate(n, d, [f"a{i}" for i in range(len(n))], method=method, n_boot=200, seed=1)
    assert res.estimate == pytest.approx(n.sum() / d.sum())
    assert 0.0 <= res.low <= res.estimate <= res.high <= 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=20), st.lists(st.integers(1, 60), min_size=1, max_size=20))
def test_wilson_contains_the_estimate(ks, ns):
    m = min(len(ks), len(ns))
    k, n = np.array([min(a, b) for a, b in zip(ks[:m], ns[:m])]), np.array(ns[:m])
    lo, hi = iv.wilson(k, n)
    assert ((lo <= k / n) & (k / n <= hi) & (lo >= 0) & (hi <= 1)).all()


@settings(max_examples=30, deadline=None)
@given(clusters, st.integers(0, 2**31 - 1))
def test_bootstrap_is_reproducible_with_a_seed(cs, seed):
    n, d = _arrays(cs)
    a = iv.cluster_bootstrap(n, d, n_boot=150, seed=seed)
    b = iv.cluster_bootstrap(n, d, n_boot=150, seed=seed)
    assert a == b or all((x == y) or (x != x and y != y) for x, y in zip(a, b))


@settings(max_examples=25, deadline=None)
@given(clusters)
def test_width_shrinks_with_more_clusters(cs):
    # the same agencies observed 16 times over (e.g. 16 times as many agencies like them):
    # the between-agency spread is the same, so the interval must be narrower
    n, d = _arrays(cs)
    if np.all(n / d == n.sum() / d.sum()):
        return  # no spread between agencies: zero width either way
    few = iv.ratio_interval(n, d)
    many = iv.ratio_interval(np.tile(n, 16), np.tile(d, 16))
    assert few[0] == pytest.approx(many[0])
    assert (many[2] - many[1]) < (few[2] - few[1])
    b_few = iv.cluster_bootstrap(n, d, n_boot=400, seed=3)
    b_many = iv.cluster_bootstrap(np.tile(n, 16), np.tile(d, 16), n_boot=400, seed=3)
    assert (b_many[2] - b_many[1]) < (b_few[2] - b_few[1]) + 1e-12


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5000), st.floats(0.0, 1.0))
def test_a_single_agency_is_small_however_many_applications(n_apps, share):
    granted = float(round(n_apps * share))
    res = iv.pooled_rate([granted], [float(n_apps)], ["one"])
    assert res.small and math.isnan(res.low) and math.isnan(res.high)
