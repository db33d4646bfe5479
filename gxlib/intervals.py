"""Honest uncertainty for the panel metrics.

Two kinds of rate, two kinds of interval:

* **Rates over reports** (the share of reports with no application at all): every report
  is one trial, so a Wilson score interval (:func:`wilson`) on ``k`` of ``n`` reports is
  right, and ``small`` is ``n`` below a minimum number of reports.

* **Pooled rates over applications** (granted / handled over every report of a region):
  the applications are *not* independent trials.  One body's applications share its
  practice (a city government that grants 30 % of 3,000 requests is one decision-maker,
  not 3,000 coin flips), and one body's reports over the years share it too.  A Wilson
  interval on 900 of 3,000 is then far too narrow.  The unit that carries the information
  is the agency, so the interval is computed over agencies (clusters):

  - :func:`ratio_interval` (the default, ``method="ratio"``): the combined ratio estimator
    R = Σ num / Σ den with its design-based (Taylor-linearised, cluster-robust) variance

        var(R) = G / (G - 1) · Σ_c (num_c − R · den_c)² / (Σ den)²

    over the G clusters' sums, and a Student t quantile with G − 1 degrees of freedom; the
    ends are clipped to [0, 1] for a proportion.  It needs only per-group sums of the
    cluster sums, their squares and their cross product (:func:`ratio_interval_from_sums`),
    so a SQL engine can compute it with ``GROUP BY``; it is deterministic and always
    contains the estimate.
  - :func:`cluster_bootstrap` (``method="bootstrap"``): resample whole clusters with
    replacement (``n_boot`` times, a seeded ``numpy.random.Generator``: the same seed gives
    the same interval), percentile interval of the replicate ratios.  Better shaped near 0
    and 1 with a few dozen clusters, but needs the per-cluster arrays.  A percentile
    interval need not contain the estimate when the replicates all fall on one side (a
    handful of clusters): the interval is then *extended* to the estimate, and the result
    says so (``extended``).

  With fewer than two clusters there is no between-agency variation to learn from: the
  interval is NA (never a zero-width interval around one agency's figure).  G counts the
  clusters with a non-zero denominator: when one agency alone decided any case, its
  residual is 0 by construction whatever the others' zeros, so that is one agency too.

* **small**: judged by the number of reports and of agencies behind a figure, never by the
  number of applications (:func:`is_small`): one agency with 500 applications is small.

* :func:`derive_total`: filling a 总计 the parser left NA with the sum of its parts is off by
  default; when on, every filled value is marked ``derived``.

Everything works on plain NumPy / pandas per-report arrays (numerator, denominator,
cluster id), so the SQL metrics can feed them with per-report or per-cluster sums.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

Z95 = 1.959963984540054
#: defaults of :func:`is_small`
MIN_REPORTS = 10
MIN_CLUSTERS = 5

__all__ = ["Z95", "MIN_REPORTS", "MIN_CLUSTERS", "wilson", "is_small", "cluster_ids", "cluster_sums",
           "ratio_interval", "ratio_interval_from_sums", "cluster_bootstrap", "pooled_rate", "pooled_rates",
           "derive_total", "PooledRate", "t_quantile"]


# --------------------------------------------------------------------------- rates over reports
def wilson(k, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k`` of ``n`` reports (element-wise; NA where ``n`` is
    missing or ≤ 0 or ``k`` is not within 0..n).  For rates whose trials are reports."""
    k = pd.to_numeric(pd.Series(np.atleast_1d(np.asarray(k, dtype=object))), errors="coerce").to_numpy(float)
    n = pd.to_numeric(pd.Series(np.atleast_1d(np.asarray(n, dtype=object))), errors="coerce").to_numpy(float)
    valid = (n > 0) & (k >= 0) & (k <= n)
    ns = np.where(valid, n, 1.0)
    p = np.where(valid, k / ns, 0.0)
    denom = 1 + z ** 2 / ns
    centre = (p + z ** 2 / (2 * ns)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / ns + z ** 2 / (4 * ns ** 2))
    low = np.where(valid, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(valid, np.clip(centre + half, 0.0, 1.0), np.nan)
    low = np.where(valid & (k == 0), 0.0, low)
    high = np.where(valid & (k == n), 1.0, high)
    # the estimate k/n lies inside by construction; guard the float ends
    low = np.where(valid, np.minimum(low, p), low)
    high = np.where(valid, np.maximum(high, p), high)
    return low, high


# --------------------------------------------------------------------------- small
def is_small(n_reports, n_clusters=None, min_reports: int = MIN_REPORTS,
             min_clusters: int = MIN_CLUSTERS):
    """A figure too thin to say anything general: fewer than ``min_reports`` reports, or
    (when ``n_clusters`` is given) fewer than ``min_clusters`` agencies behind it.  The
    number of applications plays no part: 500 applications of one agency are one agency's
    practice.  Element-wise on arrays; NA counts as 0."""
    r = np.nan_to_num(np.asarray(n_reports, dtype=float), nan=0.0)
    out = r < min_reports
    if n_clusters is not None:
        c = np.nan_to_num(np.asarray(n_clusters, dtype=float), nan=0.0)
        out = out | (c < min_clusters)
    return out if out.ndim else bool(out)


# --------------------------------------------------------------------------- clusters
def cluster_ids(agency_id, report_id) -> pd.Series:
    """The cluster of each report: its ``agency_id``; a report whose agency is unknown
    (empty agency_id) is a cluster of its own (its ``report_id``), never pooled with other
    unknown reports."""
    a = pd.Series(agency_id, dtype="object").reset_index(drop=True)
    r = pd.Series(report_id, dtype="object").reset_index(drop=True).astype(str)
    blank = a.isna() | (a.astype(str).str.strip() == "")
    return a.where(~blank, "report:" + r).astype(str)


def cluster_sums(num, den, cluster) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums of numerator and denominator over the reports where both are known
    (a report with either NA is left out of the rate, never read as 0)."""
    num = np.asarray(pd.to_numeric(pd.Series(num), errors="coerce"), dtype=float)
    den = np.asarray(pd.to_numeric(pd.Series(den), errors="coerce"), dtype=float)
    keep = ~np.isnan(num) & ~np.isnan(den)
    codes, _ = pd.factorize(pd.Series(cluster).reset_index(drop=True)[keep], sort=True)
    g = int(codes.max()) + 1 if len(codes) else 0
    return (np.bincount(codes, weights=num[keep], minlength=g),
            np.bincount(codes, weights=den[keep], minlength=g))


# two-sided 95 % Student t quantiles for 1..30 degrees of freedom
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile(df) -> np.ndarray:
    """Two-sided 95 % t quantile for ``df`` degrees of freedom (table to 30, then a
    Cornish-Fisher step from the normal quantile); NA where df < 1."""
    d = np.atleast_1d(np.asarray(df, dtype=float))
    out = np.full(d.shape, np.nan)
    small = (d >= 1) & (d <= 30)
    out[small] = np.asarray(_T975)[np.floor(d[small]).astype(int) - 1]
    big = d > 30
    z = Z95
    out[big] = z + (z ** 3 + z) / (4 * d[big]) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * d[big] ** 2)
    return out


# --------------------------------------------------------------------------- ratio estimator
def ratio_interval_from_sums(sum_num, sum_den, ss_num, ss_den, s_cross, n_clusters,
                             proportion: bool = True):
    """Ratio estimate and 95 % interval from group sums of the clusters' sums:
    ``sum_num = Σ num_c``, ``sum_den = Σ den_c``, ``ss_num = Σ num_c²``, ``ss_den = Σ den_c²``,
    ``s_cross = Σ num_c·den_c``, ``n_clusters = G`` (element-wise over groups).

    Σ_c (num_c − R den_c)² = ss_num − 2 R s_cross + R² ss_den, so a SQL ``GROUP BY`` over the
    per-cluster sums gives everything.  Returns ``(estimate, low, high)``; the interval is NA
    where G < 2 or Σ den ≤ 0."""
    S_n, S_d = np.asarray(sum_num, dtype=float), np.asarray(sum_den, dtype=float)
    Q_n, Q_d, X = (np.asarray(a, dtype=float) for a in (ss_num, ss_den, s_cross))
    G = np.asarray(n_clusters, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        R = np.where(S_d > 0, S_n / S_d, np.nan)
        resid = np.maximum(Q_n - 2 * R * X + R ** 2 * Q_d, 0.0)
        var = np.where(G >= 2, G / (G - 1) * resid / S_d ** 2, np.nan)
    half = t_quantile(np.maximum(G - 1, 0)).reshape(np.shape(G)) * np.sqrt(var)
    low, high = R - half, R + half
    if proportion:
        low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
    return R, low, high


def ratio_interval(num_c, den_c, proportion: bool = True) -> tuple[float, float, float]:
    """Combined ratio estimator over clusters with its linearised design variance (see the
    module docstring).  ``num_c``, ``den_c``: the clusters' sums.  Returns
    ``(estimate, low, high)``; (estimate, NA, NA) with fewer than two clusters with a
    non-zero denominator."""
    n, d = np.asarray(num_c, dtype=float), np.asarray(den_c, dtype=float)
    R, lo, hi = ratio_interval_from_sums(n.sum(), d.sum(), (n * n).sum(), (d * d).sum(), (n * d).sum(),
                                         int((d != 0).sum()), proportion)
    return float(R), float(lo), float(hi)


# --------------------------------------------------------------------------- bootstrap
def cluster_bootstrap(num_c, den_c, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                      proportion: bool = True, chunk: int = 200) -> tuple[float, float, float, bool]:
    """Seeded cluster bootstrap of the ratio Σ num / Σ den: ``n_boot`` resamples of the G
    clusters with replacement (counts drawn from a multinomial, ``chunk`` resamples at a
    time so memory stays ``chunk × G``), percentile interval at ``level``.

    Returns ``(estimate, low, high, extended)``: ``extended`` is True when the percentile
    interval did not contain the estimate and was extended to it.  NA interval with fewer
    than two clusters; replicates whose denominator is 0 are left out."""
    n, d = np.asarray(num_c, dtype=float), np.asarray(den_c, dtype=float)
    G = len(n)
    est = float(n.sum() / d.sum()) if d.sum() > 0 else np.nan
    if G < 2 or np.isnan(est):
        return est, np.nan, np.nan, False
    rng = np.random.default_rng(seed)
    reps = []
    p = np.full(G, 1.0 / G)
    left = n_boot
    while left > 0:
        b = min(chunk, left)
        w = rng.multinomial(G, p, size=b).astype(float)
        sd = w @ d
        with np.errstate(divide="ignore", invalid="ignore"):
            reps.append(np.where(sd > 0, (w @ n) / sd, np.nan))
        left -= b
    r = np.concatenate(reps)
    r = r[~np.isnan(r)]
    if len(r) == 0:
        return est, np.nan, np.nan, False
    a = (1 - level) / 2
    low, high = (float(x) for x in np.quantile(r, [a, 1 - a]))
    if proportion:
        low, high = max(low, 0.0), min(high, 1.0)
    extended = not (low <= est <= high)
    return est, min(low, est), max(high, est), extended


# --------------------------------------------------------------------------- one call
@dataclass
class PooledRate:
    estimate: float
    low: float
    high: float
    numerator: float
    denominator: float
    n_reports: int
    n_clusters: int
    small: bool
    method: str
    extended: bool = False


def pooled_rate(num, den, cluster, *, method: str = "ratio", n_boot: int = 2000, seed: int = 0,
                min_reports: int = MIN_REPORTS, min_clusters: int = MIN_CLUSTERS,
                proportion: bool = True) -> PooledRate:
    """A pooled rate Σ num / Σ den over reports with an interval that accounts for
    clustering by agency.  ``num``, ``den``: per-report values (NA: the report is left
    out); ``cluster``: per-report cluster ids (:func:`cluster_ids`).  ``method``: ``ratio``
    (default: linearised design variance) or ``bootstrap`` (seeded cluster bootstrap)."""
    num_s = pd.to_numeric(pd.Series(num).reset_index(drop=True), errors="coerce")
    den_s = pd.to_numeric(pd.Series(den).reset_index(drop=True), errors="coerce")
    cl = pd.Series(cluster).reset_index(drop=True)
    keep = num_s.notna() & den_s.notna()
    n_c, d_c = cluster_sums(num_s, den_s, cl)
    n_reports, G = int(keep.sum()), len(n_c)
    extended = False
    if method == "ratio":
        est, lo, hi = ratio_interval(n_c, d_c, proportion)
    elif method == "bootstrap":
        est, lo, hi, extended = cluster_bootstrap(n_c, d_c, n_boot=n_boot, seed=seed, proportion=proportion)
    else:
        raise ValueError(f"method must be 'ratio' or 'bootstrap', not {method!r}")
    return PooledRate(est, lo, hi, float(n_c.sum()), float(d_c.sum()), n_reports, G,
                      bool(is_small(n_reports, G, min_reports, min_clusters)), method, extended)


def pooled_rates(frame: pd.DataFrame, by, num: str, den: str, cluster: str = "cluster", **kwargs) -> pd.DataFrame:
    """:func:`pooled_rate` per group of a per-report frame (columns ``by``, ``num``, ``den``,
    ``cluster``).  One row per group: the group keys, estimate, low, high, numerator,
    denominator, n_reports, n_clusters, small, method, extended."""
    by = [by] if isinstance(by, str) else list(by)
    rows = []
    groups = frame.groupby(by, dropna=False, sort=True) if by else [((), frame)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        res = pooled_rate(g[num], g[den], g[cluster], **kwargs)
        rows.append({**dict(zip(by, key)), **res.__dict__})
    cols = by + list(PooledRate.__dataclass_fields__)
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------- derived totals
def derive_total(total, parts: pd.DataFrame, enabled: bool = False) -> pd.DataFrame:
    """A 总计 column for metrics: ``value`` and ``derived``.

    Off (the default): ``value`` is the 总计 as the report states it (NA stays NA) and
    ``derived`` is False everywhere.  On: where the 总计 is NA and every part is known, the
    value is the sum of the parts and ``derived`` is True (a table that left a 总计 NA did
    so for a reason, so the metrics must be able to say which figures rest on a filled
    value).  A row with any part NA is never filled."""
    total = pd.to_numeric(pd.Series(total), errors="coerce").astype("Float64")
    parts = parts.apply(pd.to_numeric, errors="coerce").astype("Float64")
    parts.index = total.index
    derived = pd.Series(False, index=total.index)
    value = total.copy()
    if enabled and parts.shape[1]:
        fill = total.isna() & parts.notna().all(axis=1)
        value[fill] = parts[fill].sum(axis=1)
        derived = fill.astype(bool)
    return pd.DataFrame({"value": value, "derived": derived.astype(bool)}, index=total.index)
