"""Metrics over the tidy tables (report-format.md §2.2), as SQL on the per-report panel.

Every function takes a :class:`gxlib.panel.Panel` (``gxlib.panel.open(data_dir)``, a
selection of it) or the tables in pandas (``gxlib.load``; a reports frame where only
reports are read): pandas tables are put into DuckDB first (:func:`gxlib.panel.of_frames`),
so there is one code path, the SQL of :mod:`gxlib.panel`, whatever the number of reports.

The rules that hold everywhere:

* **NA is never a zero.**  A report whose needed values are NA or whose table is absent
  does not enter a metric; it is counted in ``n_excluded``.  Sums over several rows (e.g.
  不予公开 = Σ（三）1–8) are NA as soon as one part is NA.
* **Each report once.**  A report marked as a copy of another (``duplicate_of`` non-empty:
  the same agency and year parsed twice, e.g. an HTML page and its PDF attachment) is kept
  in the tables but enters no metric: every metric counts the kept copy only.
* **One scope at a time.**  A government report may count the applications of its whole
  area (``scope = area``: 全县共受理…, its departments and townships included) or its own
  (``own``); a department's report counts its own.  Adding both counts the departments'
  work twice, so every volume and every rate over applications uses one scope
  (``scope="own"`` by default, or ``"area"``, or ``"unknown"`` for the reports whose scope
  the text does not settle).  The reports of the other scopes are never added in: their
  number is in ``n_other_scope``, and :func:`volumes_by_scope` gives own, area and unknown
  side by side.  A report's scope describes its tables, all of them: an area report's
  review, litigation, procurement and fee figures are the area's too, so the volumes and
  pooled rates of every section (二 procurement and fees, 三 applications, 四 reviews and
  lawsuits) use one scope.  Only rates over reports (zero-application: each report one
  trial, nothing added) use every report (``scope = any``).  ``scope="any"`` is allowed for
  groups that cannot overlap (one agency's years), never for a region's total.
* **Honest intervals.**  Rates over reports (zero-application) get a 95 % Wilson score
  interval on k of n reports (``interval = wilson``).  Pooled rates over applications
  (granted / handled …) do not treat each application as an independent trial: one body's
  applications share its practice, so the interval is computed over agencies (clusters:
  ``agency_id``; a report whose agency is unknown is a cluster of its own).  It is the
  combined ratio estimator R = Σ num / Σ den with its linearised, cluster-robust design
  variance ``G/(G−1) · Σ_c (num_c − R·den_c)² / (Σ den)²`` and a Student t quantile with
  G − 1 degrees of freedom, clipped to [0, 1] for a proportion (``interval = cluster``;
  :func:`gxlib.intervals.ratio_interval_from_sums`, fed by ``GROUP BY`` sums in SQL).
  G counts the agencies with a non-zero denominator: with fewer than two the interval is NA
  (one agency's rate says nothing of the others', however many agencies had nothing to
  decide).  Ratios that may exceed 1
  (dispute_conversion_rate) get the same interval, not clipped.
* **Small is judged by reports and agencies**, never by applications
  (:func:`gxlib.intervals.is_small`): fewer than ``min_n`` reports, or (for pooled rates)
  fewer than :data:`gxlib.intervals.MIN_CLUSTERS` agencies.  One agency with 500
  applications is small.
* **Totals as stated.**  ``derive_total`` is off by default: a 总计 the parser left NA stays
  NA.  When on, an NA 总计 with all six applicant columns known is their sum, and the
  reports that rest on such a derived total are counted in ``n_derived``.

Notation as in report-format.md: N 本年新收, C 上年结转, P （七）总计, F 结转下年度,
G 予以公开, Pa 部分公开, D Σ不予公开, U Σ无法提供, X Σ不予处理, O Σ其他处理.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import intervals as gi
from .panel import (APPLICANT_PARTS, APPLICATION_ROWS, QUANTITY_COLUMNS, REASON_ROWS, REVIEW_CELLS, SINGLE_ROWS,
                    Panel, _lit, of_frames, panel_sql)

__all__ = ["GROUP_KEYS", "RATES", "VOLUMES", "QUANTITY_COLUMNS", "Rate", "applicant_mix", "check_counts",
           "coverage", "default_agency", "missing_summary", "missing_tables", "missing_values", "n_reports",
           "problem_reports", "rates", "reason_shares", "report_quantities", "report_table", "select",
           "similar_agencies", "status_counts", "t_quantile", "table_gaps", "volumes", "volumes_by_scope",
           "wilson_interval", "agency_name", "scope_counts", "SCOPES"]

#: report columns a metric may be grouped by (``cluster``: the agency_id, or ``report:<id>``
#: when the agency is unknown; grouping by it gives the per-agency sums a pooled interval
#: is made of, as the maps use them).
GROUP_KEYS = ("year", "province", "prefecture", "county", "level", "template", "agency", "agency_id",
              "division_code", "cluster")
FILTERS = ("year_from", "year_to", "province", "prefecture", "county", "level", "template", "agency")
Z95 = 1.959963984540054
_ = (APPLICATION_ROWS, REVIEW_CELLS, SINGLE_ROWS)  # (the panel's columns, re-exported)
#: the scopes a volume or a pooled rate can use (one at a time; see the module docstring)
SCOPES = ("own", "area", "unknown", "any")
#: a report counted by the metrics: not a copy of another
COUNTED = "coalesce(duplicate_of, '') = ''"


def _scope_sql(scope: str) -> str:
    """SQL condition on the panel for one scope."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r} (own and area are never "
                         "added together: that counts departments' applications twice)")
    return {"own": "coalesce(scope = 'own', false)", "area": "coalesce(scope = 'area', false)",
            "unknown": "scope IS NULL", "any": "true"}[scope]


# --------------------------------------------------------------------------- statistics
def wilson_interval(k: Any, n: Any, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """95 % Wilson score interval for ``k`` successes out of ``n`` trials (element-wise);
    NA where ``n`` is missing or ≤ 0, or ``k`` is not within ``0..n``
    (:func:`gxlib.intervals.wilson`, the one implementation)."""
    return gi.wilson(k, n, z)


_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def t_quantile(df: Any) -> np.ndarray:
    """0.975 quantile of Student's t for ``df`` degrees of freedom (NA where df < 1):
    tabulated up to 30, a Cornish–Fisher expansion above (error below 1e-4)."""
    d = np.atleast_1d(np.asarray(df, dtype=float))
    z = Z95
    safe = np.where(d >= 1, d, 1.0)
    cf = (z + (z**3 + z) / (4 * safe) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * safe**2)
          + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * safe**3))
    idx = np.clip(safe.astype(int), 1, 30) - 1
    return np.where(d >= 1, np.where(safe <= 30, np.asarray(_T975)[idx], cf), np.nan)


# --------------------------------------------------------------------------- definitions
@dataclass(frozen=True)
class Rate:
    """A rate Σnumerator / Σ(denominator − subtract) over the reports of a group.

    ``indicator`` rates count reports (1 when every ``numerator`` quantity is 0, for each
    report where they are known); ``proportion`` rates get a Wilson interval, a ``ratio``
    (which may exceed 1) does not."""

    name: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...] = ()
    subtract: tuple[str, ...] = ()
    kind: str = "proportion"  # proportion | ratio | indicator

    def sql(self) -> tuple[str, str]:
        """The per-report numerator and denominator as SQL over the panel."""
        if self.kind == "indicator":
            known = " AND ".join(f'"{c}" IS NOT NULL' for c in self.numerator)
            hit = " AND ".join(f'"{c}" = 0' for c in self.numerator)
            return f"CASE WHEN {known} THEN CAST({hit} AS DOUBLE) END", f"CASE WHEN {known} THEN 1.0 END"
        den = _sum(self.denominator)
        return _sum(self.numerator), f"({den} - {_sum(self.subtract)})" if self.subtract else den


def _sum(names: Sequence[str]) -> str:
    return "(" + " + ".join(f'"{n}"' for n in names) + ")"


RATES: dict[str, Rate] = {r.name: r for r in (
    Rate("zero_application", ("new",), kind="indicator"),
    Rate("zero_application_strict", ("new", "carried_over"), kind="indicator"),
    Rate("granted_rate", ("granted",), ("handled",)),
    Rate("substantive_disclosure_rate", ("granted", "partly_granted"), ("handled",)),
    Rate("withheld_rate", ("withheld",), ("handled",)),
    Rate("unavailable_rate", ("unavailable",), ("handled",)),
    Rate("rejected_rate", ("rejected",), ("handled",)),
    Rate("other_handling_rate", ("other_handling",), ("handled",)),
    Rate("backlog_rate", ("carried_forward",), ("new", "carried_over")),
    Rate("review_correction_rate", ("review__corrected",), ("review__total",), ("review__pending",)),
    Rate("litigation_correction_rate", ("litigation_direct__corrected", "litigation_after_review__corrected"),
         ("litigation_direct__total", "litigation_after_review__total"),
         ("litigation_direct__pending", "litigation_after_review__pending")),
    Rate("dispute_conversion_rate", ("review__total", "litigation_direct__total"), ("new",), kind="ratio"),
)}

#: volume metric -> (quantity column, unit)
VOLUMES: dict[str, tuple[str, str]] = {
    "applications_new": ("new", "count"),
    "applications_carried_over": ("carried_over", "count"),
    "applications_handled": ("handled", "count"),
    "applications_carried_forward": ("carried_forward", "count"),
    "reviews_total": ("review__total", "count"),
    "litigation_direct_total": ("litigation_direct__total", "count"),
    "litigation_after_review_total": ("litigation_after_review__total", "count"),
    "procurement_projects": ("procurement_projects", "count"),
    "procurement_amount": ("procurement_amount", "wan_yuan"),
    "fee_amount": ("fee_amount", "wan_yuan"),
}
RATE_COLUMNS = ["numerator", "denominator", "value", "ci_low", "ci_high", "interval", "n_reports", "n_agencies",
                "n_excluded", "n_other_scope", "n_derived", "scope", "small"]
VOLUME_COLUMNS = ["unit", "total", "mean", "ci_low", "ci_high", "median", "n_reports", "n_agencies", "n_excluded",
                  "n_other_scope", "n_derived", "scope", "small"]
MISSING_COLUMNS = ["report_id", "source_file", "agency", "year", "table", "row", "column", "raw", "reason"]
GAP_COLUMNS = ["report_id", "source_file", "agency", "year", "template", "status", "error"]
_HAS = ["has_disclosure", "has_applications", "has_reviews"]
PLACEHOLDERS = ("/", "-", "--", "—", "——", "／", "－", "─")


# --------------------------------------------------------------------------- the panel
def _panel(tables: Any) -> Panel:
    """``tables`` as a :class:`Panel`: itself, or pandas tables put into DuckDB."""
    return tables if isinstance(tables, Panel) else Panel(of_frames(tables))


def _source(p: Panel, applicant: str = "total", derive_total: bool = False) -> str:
    """The panel relation for the 总计 column as stated (``panel``), or another variant
    (another applicant column, derived totals), made once per connection; raises on
    duplicate cells."""
    name = "panel" if applicant == "total" and not derive_total else f"panel_{applicant}_{int(derive_total)}"
    if name != "panel":
        if applicant not in (*APPLICANT_PARTS, "total"):
            raise KeyError(f"unknown applicant {applicant!r}")
        p.con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} AS {panel_sql(applicant, derive_total)}")
    if p.con.execute(f"SELECT count(*) FROM {name} WHERE _dup").fetchone()[0]:
        raise ValueError("duplicate cells in applications, reviews or disclosure: the tidy table must have one row "
                         "per cell")
    return name


def _query(p: Panel, query: str, source: str = "panel") -> pd.DataFrame:
    """``query`` with ``sel``: the selected rows of the panel relation ``source`` that are
    counted (a report marked ``duplicate_of`` another is left out: each report once)."""
    return p.con.execute(f"WITH sel AS (SELECT * FROM {source} WHERE {p.condition()} AND {COUNTED}) {query}").df()


def _keys_typed(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The group keys with the reports' dtypes (Int64 year, ordered codes), sorted as pandas groups are."""
    from .store import typed

    if by:
        df[by] = typed("reports", df[by], sort=False, complete=False)
        df = df.sort_values(by, na_position="last", kind="stable").reset_index(drop=True)
    return df


def _check_by(by: Sequence[str] | str | None, allowed: Sequence[str] = GROUP_KEYS) -> list[str]:
    by = [] if by is None else [by] if isinstance(by, str) else list(by)
    unknown = [b for b in by if b not in allowed]
    if unknown:
        raise KeyError(f"cannot group by {unknown}: not a column of reports (use any of {', '.join(allowed)})")
    return by


def _group(by: list[str]) -> tuple[str, str]:
    cols = ", ".join(f'"{b}"' for b in by)
    return (cols + ", " if by else ""), (f"GROUP BY {cols}" if by else "")


def _names(metrics: Sequence[str] | None, known: dict, kind: str) -> list[str]:
    names = list(known) if metrics is None else list(metrics)
    unknown = [m for m in names if m not in known]
    if unknown:
        raise KeyError(f"unknown {kind}(s) {unknown}; known: {', '.join(known)}")
    return names


# --------------------------------------------------------------------------- selection
def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "") or (
        not isinstance(value, str) and value == 0)


def _conditions(**filters: Any) -> list[str]:
    """SQL conditions on the report columns for the filters given (blank: no filter)."""
    out = []
    for name, value in filters.items():
        if _blank(value):
            continue
        if name == "year_from":
            out.append(f"year >= {int(value)}")
        elif name == "year_to":
            out.append(f"year <= {int(value)}")
        elif name == "agency":
            raise TypeError("agency is resolved by select() (gxlib.agencies.match_agency)")
        elif name in FILTERS:
            out.append(f"CAST(\"{name}\" AS VARCHAR) = {_lit(value)}")
        else:
            raise TypeError(f"unknown filter {name!r}; known: {', '.join(FILTERS)}")
    return out


def select(tables: Any, *, year_from: int | None = None, year_to: int | None = None, province: str | None = None,
           prefecture: str | None = None, county: str | None = None, level: str | None = None,
           template: str | None = None, agency: str | None = None) -> Any:
    """``tables`` restricted to the reports matching every given filter ("", 0 and None:
    no filter; a year bound drops reports without a year). A Panel stays a Panel (the
    filters become SQL); pandas tables come back as pandas tables of the selected reports.

    ``agency`` is an ``agency_id`` (``320813:人民政府``) or a name as written in any year or
    as displayed (洪泽区人民政府 and 淮安市洪泽区人民政府 both give the one body
    ``320813:人民政府``, every year of it), resolved by :func:`gxlib.agencies.match_agency`.
    A bare 6-digit division code is refused (ValueError naming ``province=`` /
    ``prefecture=`` / ``county=``); a name shared by bodies of several places is refused
    with their ids (ValueError).  A name found only on reports whose place is unknown (no
    agency_id) selects exactly those reports by that name.  No match: LookupError with
    similar names."""
    where = _conditions(year_from=year_from, year_to=year_to, province=province, prefecture=prefecture,
                        county=county, level=level, template=template)
    p = _panel(tables)
    for w in where:
        p = p.narrowed(w)
    if not _blank(agency):
        p = p.narrowed(_agency_condition(p, str(agency)))
    if isinstance(tables, Panel):
        return p
    ids = set(p.sql("SELECT report_id FROM sel")["report_id"])  # copies stay in the tables (marked)
    frames = {f.name: getattr(tables, f.name) for f in dataclasses.fields(tables) if f.name != "agencies"}
    return dataclasses.replace(tables, **{name: df[df["report_id"].astype("str").isin(ids)].reset_index(drop=True)
                                          for name, df in frames.items()})


def _agencies(p: Panel) -> pd.DataFrame:
    return p.con.execute("SELECT * FROM agencies").df()


def _agency_condition(p: Panel, query: str) -> str:
    """SQL condition selecting the agency ``query`` means (see :func:`select`)."""
    from .agencies import _clean, match_agency

    q = query.strip()
    as_id = f"agency_id = {_lit(_clean(q))}"  # an agency_id is itself: no need to read every name
    if p.con.execute(f"SELECT count(*) FROM agencies WHERE {as_id}").fetchone()[0]:
        return as_id
    try:
        ids = match_agency(_agencies(p), q)
    except LookupError:
        n = p.con.execute(f"SELECT count(*) FROM panel WHERE agency_id IS NULL AND trim(agency) = {_lit(q)}"
                          ).fetchone()[0]
        if not n:
            raise
        return f"agency_id IS NULL AND trim(agency) = {_lit(q)}"
    return f"agency_id IN ({', '.join(_lit(i) for i in ids)})"


def agency_name(tables: Any, agency: str) -> str:
    """The display name of an agency_id (``agencies.name``: the latest name, with its place
    when the name lacks it); ``agency`` itself when it is no agency_id."""
    p = _panel(tables)
    df = p.con.execute(f"SELECT name FROM agencies WHERE agency_id = {_lit(str(agency).strip())}").df()
    return str(df["name"].iloc[0]) if len(df) else str(agency)


def scope_counts(tables: Any) -> dict[str, int]:
    """How many selected reports (copies counted once) are of each scope: own, area,
    unknown (the text does not settle it), and how many copies were left out."""
    p = _panel(tables)
    row = p.sql(f"SELECT count(*) FILTER ({COUNTED} AND scope = 'own') AS own, "
                f"count(*) FILTER ({COUNTED} AND scope = 'area') AS area, "
                f"count(*) FILTER ({COUNTED} AND scope IS NULL) AS unknown, "
                f"count(*) FILTER (NOT {COUNTED}) AS duplicates FROM sel").iloc[0]
    return {k: int(v) for k, v in row.items()}


def n_reports(tables: Any) -> int:
    """How many reports are selected."""
    return _panel(tables).count()


def default_agency(reports: Any) -> str:
    """The agency_id with the most reports (ties: first by id); "" when no report has one."""
    df = _query(_panel(reports), "SELECT agency_id AS a, count(*) AS n FROM sel WHERE agency_id IS NOT NULL "
                                 "GROUP BY a ORDER BY n DESC, a LIMIT 1")
    return str(df["a"].iloc[0]) if len(df) else ""


def similar_agencies(reports: Any, text: str, limit: int = 10) -> list[str]:
    """Agency names containing ``text`` or contained in it (suggestions for a name not found)."""
    text = (text or "").strip()
    names = _query(_panel(reports), "SELECT DISTINCT agency FROM sel WHERE agency <> '' ORDER BY agency")["agency"]
    return [n for n in names if not text or text in n or n in text][:limit]


def coverage(reports: Any) -> dict[str, Any]:
    """How much there is to look at: reports (copies counted once), agencies (by agency_id;
    a report of unknown place is an agency of its own), years, agencies seen in ≥ 2 years,
    provinces."""
    row = _query(_panel(reports), """SELECT count(*) AS n_reports, count(DISTINCT cluster) AS n_agencies,
        count(DISTINCT year) AS n_years, min(year) AS year_min, max(year) AS year_max,
        (SELECT count(*) FROM (SELECT cluster FROM sel WHERE year IS NOT NULL GROUP BY cluster
                               HAVING count(DISTINCT year) >= 2)) AS n_agencies_multi_year,
        count(DISTINCT province) FILTER (province <> '') AS n_provinces FROM sel""").iloc[0]
    out = {k: (None if pd.isna(v) else int(v)) for k, v in row.items()}
    return {k: out[k] for k in ("n_reports", "n_agencies", "n_years", "year_min", "year_max",
                                "n_agencies_multi_year", "n_provinces")}


# --------------------------------------------------------------------------- per report
def report_quantities(tables: Any, applicant: str = "total", derive_total: bool = False) -> pd.DataFrame:
    """One row per report (index ``report_id``, file order), the columns of
    :data:`QUANTITY_COLUMNS` (Float64, NA where the source has no value): section 三 of
    the ``applicant`` column (with ``derive_total`` an NA or absent 总计 is the sum of the
    six applicant columns when all six are known), the 15 section-四 cells, procurement
    (2019 layout) and fees (2021 layout)."""
    p = _panel(tables)
    src = _source(p, applicant, derive_total)
    cols = ", ".join(f'CAST("{c}" AS DOUBLE) AS "{c}"' for c in QUANTITY_COLUMNS)
    df = _query(p, f"SELECT report_id, {cols} FROM sel ORDER BY _row", src)
    return df.set_index("report_id").astype("Float64")


def report_table(tables: Any, columns: Sequence[str] = (
        "new", "carried_over", "handled", "carried_forward", "granted", "partly_granted", "withheld",
        "unavailable", "rejected", "other_handling", "review__total", "litigation_direct__total",
        "litigation_after_review__total"),
        rate_names: Sequence[str] = ("substantive_disclosure_rate", "backlog_rate"),
        meta: Sequence[str] = ("agency", "year", "template", "status")) -> pd.DataFrame:
    """One row per report: metadata, chosen quantities and per-report rates (NA where the
    denominator is 0 or unknown), sorted by year and agency (for profiles)."""
    p = _panel(tables)
    src = _source(p)
    rates_sql = []
    for name in rate_names:
        num, den = RATES[name].sql()
        rates_sql.append(f'CASE WHEN {den} > 0 THEN {num} / {den} END AS "{name}"')
    cols = ", ".join([*(f'"{m}"' for m in meta), *(f'CAST("{c}" AS DOUBLE) AS "{c}"' for c in columns), *rates_sql])
    df = _query(p, f"SELECT report_id, {cols} FROM sel ORDER BY _row", src)
    from .store import typed

    df[list(meta)] = typed("reports", df[list(meta)], sort=False, complete=False)
    df = df.astype({c: "Float64" for c in [*columns, *rate_names]})
    sort = [c for c in ("year", "agency") if c in df]
    return df.sort_values(sort, kind="stable").reset_index(drop=True) if sort else df


# --------------------------------------------------------------------------- aggregation

def _scope_of(name: str, pair: tuple[str, str], kind: str, scope: str) -> str:
    """The scope a pooled figure uses: ``scope`` (a report's scope describes all its
    tables, sections 二, 三 and 四 alike), except ``any`` for rates over reports (each
    report one trial; nothing is added)."""
    _scope_sql(scope)  # an invalid scope is an error whatever the metric
    return "any" if kind == "indicator" else scope


def _ratio_family(tables: Any, pairs: dict[str, tuple[str, str]], kinds: dict[str, str], by: list[str],
                  min_n: float, label: str, source_args=(), scope: str = "own") -> pd.DataFrame:
    """Σnumerator / Σdenominator per group for each pair (over the reports where both are
    known), with intervals and flags: the code behind rates, reason_shares, applicant_mix.

    Indicator pairs (one trial per report) use every report and a Wilson interval; the
    others use the reports of ``scope`` only and the clustered ratio interval, from sums per
    agency (``GROUP BY group, cluster``) and then per group (Σ, Σ², Σ cross products)."""
    p = _panel(tables)
    src = _source(p, *source_args)
    keys, group = _group(by)
    ckeys, cgroup = _group(by + ["cluster"])
    inner, mid, outer = [], [], []
    for i, (num, den) in enumerate(pairs.values()):
        name = list(pairs)[i]
        in_scope = _scope_sql(_scope_of(name, pairs[name], kinds[name], scope))
        inner += [f"{num} AS n{i}", f"{den} AS d{i}", f"({in_scope}) AS s{i}"]
        ok = f"n{i} IS NOT NULL AND d{i} IS NOT NULL AND s{i}"
        mid += [f"coalesce(sum(n{i}) FILTER ({ok}), 0) AS n{i}", f"coalesce(sum(d{i}) FILTER ({ok}), 0) AS d{i}",
                f"count(*) FILTER ({ok}) AS k{i}", f"count(*) FILTER (NOT s{i}) AS o{i}",
                f"count(*) FILTER ({ok} AND _derived) AS v{i}"]
        outer += [f"coalesce(sum({e}), 0) AS {a}" for e, a in (
            (f"n{i}", f"n{i}"), (f"d{i}", f"d{i}"), (f"n{i} * n{i}", f"qn{i}"), (f"d{i} * d{i}", f"qd{i}"),
            (f"n{i} * d{i}", f"x{i}"), (f"k{i}", f"k{i}"), (f"o{i}", f"o{i}"), (f"v{i}", f"v{i}"))]
        outer.append(f"count(*) FILTER (k{i} > 0) AS g{i}")
        outer.append(f"count(*) FILTER (k{i} > 0 AND d{i} <> 0) AS h{i}")   # agencies with a denominator
    sums = _query(p, f"SELECT {keys}{', '.join(outer)}, coalesce(sum(size), 0) AS size FROM "
                     f"(SELECT {ckeys}{', '.join(mid)}, count(*) AS size FROM "
                     f"(SELECT {ckeys}_derived, {', '.join(inner)} FROM sel) {cgroup}) {group}", src)
    sums = _keys_typed(sums, by)
    parts = []
    for i, name in enumerate(pairs):
        f = lambda c: sums[f"{c}{i}"].to_numpy(float)  # noqa: E731
        agg = sums[by].copy()
        agg["numerator"] = pd.array(f("n"), dtype="Float64")
        agg["denominator"] = pd.array(f("d"), dtype="Float64")
        agg["n_reports"] = sums[f"k{i}"].astype("int64")
        agg["n_agencies"] = sums[f"g{i}"].astype("int64")
        agg["n_other_scope"] = sums[f"o{i}"].astype("int64")
        agg["n_excluded"] = sums["size"].astype("int64") - agg["n_reports"] - agg["n_other_scope"]
        agg["n_derived"] = sums[f"v{i}"].astype("int64")
        agg["value"] = (agg["numerator"] / agg["denominator"].where(agg["denominator"] > 0)).astype("Float64")
        if kinds[name] == "indicator":
            low, high = wilson_interval(agg["numerator"], agg["denominator"])
            agg["interval"], agg["scope"] = "wilson", "any"
            small = gi.is_small(agg["n_reports"].to_numpy(), min_reports=min_n)
        else:
            # G = the agencies with a denominator: when one agency alone has one (3 of its 8
            # lawsuits corrected, the others none to decide) its residual is 0 by construction and
            # the interval would have zero width; it is NA, as for a single agency
            _, low, high = gi.ratio_interval_from_sums(f("n"), f("d"), f("qn"), f("qd"), f("x"), f("h"),
                                                       proportion=kinds[name] == "proportion")
            agg["interval"], agg["scope"] = "cluster", _scope_of(name, pairs[name], kinds[name], scope)
            if kinds[name] == "proportion":   # a share above 1 (parts exceeding their 总计): no interval,
                bad = (f("n") > f("d")) | (f("n") < 0)   # as Wilson gives none for k > n
                low, high = np.where(bad, np.nan, low), np.where(bad, np.nan, high)
            small = gi.is_small(agg["n_reports"].to_numpy(), agg["n_agencies"].to_numpy(), min_reports=min_n)
        agg["ci_low"], agg["ci_high"] = pd.array(low, dtype="Float64"), pd.array(high, dtype="Float64")
        agg["small"] = np.asarray(small, dtype=bool).reshape(len(agg))
        agg[label] = name
        parts.append(agg[by + [label] + RATE_COLUMNS])
    return pd.concat(parts, ignore_index=True)


def rates(tables: Any, metrics: Sequence[str] | None = None, by: Sequence[str] | str | None = ("year",), *,
          min_n: float = 10, applicant: str = "total", derive_total: bool = False, scope: str = "own") -> pd.DataFrame:
    """Grouped rates, one row per group × metric (long format).

    ``metrics`` are names from :data:`RATES` (default: all). Columns: the ``by`` keys,
    ``metric``, ``numerator``, ``denominator``, ``value``, ``ci_low``, ``ci_high`` and
    ``interval`` (``wilson`` for rates over reports; ``cluster``: the ratio estimator's
    interval over agencies for pooled rates over applications; see the module docstring),
    ``n_reports`` (reports behind the value), ``n_agencies`` (agencies behind it),
    ``n_excluded`` (reports of the group and scope without the values needed),
    ``n_other_scope`` (reports of another scope, not added in), ``n_derived`` (reports whose
    总计 was derived; only with ``derive_total=True``), ``scope`` (``any`` for rates over
    reports), ``small`` (:func:`gxlib.intervals.is_small` with ``min_n`` reports)."""
    by = _check_by(by)
    names = _names(metrics, RATES, "rate")
    out = _ratio_family(tables, {n: RATES[n].sql() for n in names}, {n: RATES[n].kind for n in names}, by, min_n,
                        "metric", (applicant, derive_total), scope)
    return _ordered(out, "metric", names)


def reason_shares(tables: Any, by: Sequence[str] | str | None = None, *, min_n: float = 10,
                  rows: Sequence[str] = REASON_ROWS, derive_total: bool = False, scope: str = "own") -> pd.DataFrame:
    """Share of （七）总计 handled by each sub-reason row; the columns of :func:`rates` with
    ``row`` instead of ``metric``. A report enters a row's share only where that row is
    present and known (the 2019 single （六） row and the 2021 rows have different bases)."""
    by = _check_by(by)
    rows = list(rows)
    out = _ratio_family(tables, {r: (f'"{r}"', '"handled"') for r in rows}, dict.fromkeys(rows, "proportion"), by,
                        min_n, "row", ("total", derive_total), scope)
    return _ordered(out, "row")


def applicant_mix(tables: Any, by: Sequence[str] | str | None = None, *, min_n: float = 10,
                  derive_total: bool = False, scope: str = "own") -> pd.DataFrame:
    """Share of 本年新收 (N) by applicant type: applicant N / 总计 N; the columns of
    :func:`rates` with ``applicant`` instead of ``metric``."""
    by = _check_by(by)
    out = _ratio_family(tables, {a: (f'"new__{a}"', '"new"') for a in APPLICANT_PARTS},
                        dict.fromkeys(APPLICANT_PARTS, "proportion"), by, min_n, "applicant",
                        ("total", derive_total), scope)
    return _ordered(out, "applicant")


def _ordered(out: pd.DataFrame, column: str, names: list[str] | None = None) -> pd.DataFrame:
    """``column`` as an ordered categorical: the order asked for, or the codebook's."""
    from .store import codes

    known = list(dict.fromkeys(names)) if names is not None else codes(column)
    extra = sorted(set(out[column].astype("str")) - set(known))
    out[column] = pd.Categorical(out[column], categories=known + extra, ordered=True)
    return out


def volumes(tables: Any, metrics: Sequence[str] | None = None, by: Sequence[str] | str | None = ("year",), *,
            min_n: float = 10, applicant: str = "total", derive_total: bool = False,
            scope: str = "own") -> pd.DataFrame:
    """Grouped volumes over the reports of ONE scope, one row per group × metric, for
    every section alike (applications, reviews and lawsuits, procurement and fees: a
    report's scope describes all its tables).

    ``scope``: ``own`` (default: each body's own figures), ``area`` (government
    reports that count their whole area), ``unknown`` (reports whose scope the text does
    not settle) or ``any`` (only for groups that cannot overlap, such as one agency's
    years).  Reports of the other scopes are never added in: they are counted in
    ``n_other_scope``; :func:`volumes_by_scope` shows the three side by side.

    Columns: the ``by`` keys, ``metric``, ``unit`` (count / wan_yuan), ``total`` (sum over
    the reports with a value), ``mean`` with a 95 % t interval (``ci_low``, ``ci_high``;
    NA for fewer than two reports; clipped at 0), ``median``, ``n_reports``,
    ``n_agencies``, ``n_excluded`` (reports of the scope without a value),
    ``n_other_scope``, ``n_derived`` (reports whose 总计 was derived, only with
    ``derive_total=True``), ``scope``, ``small`` (:func:`gxlib.intervals.is_small`:
    fewer than ``min_n`` reports)."""
    by = _check_by(by)
    names = _names(metrics, VOLUMES, "volume")
    p = _panel(tables)
    src = _source(p, applicant, derive_total)
    keys, group = _group(by)
    stats = []
    for i, name in enumerate(names):
        sc = scope
        x = f'CASE WHEN {_scope_sql(sc)} THEN CAST("{VOLUMES[name][0]}" AS DOUBLE) END'
        stats += [f"sum({x}) AS s{i}", f"avg({x}) AS m{i}", f"median({x}) AS med{i}", f"stddev_samp({x}) AS sd{i}",
                  f"count({x}) AS c{i}", f"count(DISTINCT CASE WHEN {x} IS NOT NULL THEN cluster END) AS g{i}",
                  f"count(*) FILTER ({x} IS NOT NULL AND _derived) AS v{i}",
                  f"count(*) FILTER (NOT ({_scope_sql(sc)})) AS o{i}"]
    sums = _keys_typed(_query(p, f"SELECT {keys}{', '.join(stats)}, count(*) AS size FROM sel {group}", src), by)
    parts = []
    for i, name in enumerate(names):
        n = sums[f"c{i}"].to_numpy(float)
        mean = sums[f"m{i}"].to_numpy(float)
        half = t_quantile(n - 1) * sums[f"sd{i}"].to_numpy(float) / np.sqrt(np.where(n > 0, n, 1))
        half = np.where(n >= 2, half, np.nan)
        res = sums[by].assign(
            metric=name, unit=VOLUMES[name][1],
            total=pd.array(np.where(n > 0, sums[f"s{i}"].to_numpy(float), np.nan), dtype="Float64"),
            mean=pd.array(mean, dtype="Float64"),
            ci_low=pd.array(np.maximum(mean - half, 0.0), dtype="Float64"),
            ci_high=pd.array(mean + half, dtype="Float64"),
            median=pd.array(sums[f"med{i}"].to_numpy(float), dtype="Float64"),
            n_reports=sums[f"c{i}"].astype("int64"), n_agencies=sums[f"g{i}"].astype("int64"),
            n_excluded=(sums["size"] - sums[f"o{i}"] - sums[f"c{i}"]).astype("int64"),
            n_other_scope=sums[f"o{i}"].astype("int64"), n_derived=sums[f"v{i}"].astype("int64"),
            scope=scope,
            small=np.asarray(gi.is_small(n, min_reports=min_n), dtype=bool).reshape(len(sums)))
        parts.append(res[by + ["metric"] + VOLUME_COLUMNS])
    return _ordered(pd.concat(parts, ignore_index=True), "metric", names)


def volumes_by_scope(tables: Any, metrics: Sequence[str] | None = None, by: Sequence[str] | str | None = ("year",),
                     *, min_n: float = 10, derive_total: bool = False,
                     scopes: Sequence[str] = ("own", "area", "unknown")) -> pd.DataFrame:
    """:func:`volumes` once per scope, stacked (a ``scope`` column, ordered own, area,
    unknown): own figures with the area reports beside them and the reports of unknown
    scope shown, never added together.  Groups where a scope has no report at all are
    left out of that scope's rows."""
    parts = []
    for sc in scopes:
        v = volumes(tables, metrics, by, min_n=min_n, derive_total=derive_total, scope=sc)
        parts.append(v[(v["n_reports"] + v["n_excluded"]) > 0])
    out = pd.concat(parts, ignore_index=True)
    out["scope"] = pd.Categorical(out["scope"], categories=list(scopes), ordered=True)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- data quality
def status_counts(reports: Any, by: Sequence[str] | str | None = None) -> pd.DataFrame:
    """Number of files per parse status (ok / partial / failed, zeros shown), optionally per group."""
    by = _check_by(by)
    keys, group = _group(by + ["status"])
    df = _keys_typed(_query(_panel(reports), f"SELECT {keys}count(*) AS n FROM sel {group}"), by + ["status"])
    counts = df.groupby(by + ["status"], observed=False, dropna=False)["n"].sum()
    return counts.astype("int64").rename("n_reports").reset_index()


def check_counts(tables: Any, by: Sequence[str] | str | None = ("rule",)) -> pd.DataFrame:
    """Consistency problems: check rows and distinct reports per group; ``by`` names
    columns of ``checks`` (rule, section, ...) or of the reports."""
    from .store import _columns, typed

    by = [] if by is None else [by] if isinstance(by, str) else list(by)
    in_checks = [b for b in by if b in _columns()["checks"]]
    _check_by([b for b in by if b not in in_checks])
    cols = ", ".join(f'c."{b}"' if b in in_checks else f'sel."{b}"' for b in by)
    group = f"GROUP BY {cols}" if by else ""
    df = _query(_panel(tables), f"SELECT {cols + ', ' if by else ''}count(*) AS n_checks, "
                                f"count(DISTINCT c.report_id) AS n_reports FROM checks c JOIN sel USING (report_id) "
                                f"{group}")
    if in_checks:
        df[in_checks] = typed("checks", df[in_checks], sort=False, complete=False)
    rest = [b for b in by if b not in in_checks]
    if rest:
        df[rest] = typed("reports", df[rest], sort=False, complete=False)
    if by:
        df = df.sort_values(by, na_position="last", kind="stable")
    df = df[df["n_checks"] > 0] if not by else df
    df = df.astype({"n_checks": "int64", "n_reports": "int64"})
    return df.sort_values("n_checks", ascending=False, kind="stable").reset_index(drop=True)


_NA_SQL = """
na AS (
  SELECT report_id, 1 AS t, 'disclosure' AS "table", item AS row, measure AS "column", raw FROM disclosure
    WHERE value IS NULL AND report_id IN (SELECT report_id FROM sel)
  UNION ALL SELECT report_id, 2, 'applications', row, applicant, raw FROM applications
    WHERE value IS NULL AND report_id IN (SELECT report_id FROM sel)
  UNION ALL SELECT report_id, 3, 'reviews', proceeding, outcome, raw FROM reviews
    WHERE value IS NULL AND report_id IN (SELECT report_id FROM sel)),
chk AS (SELECT report_id, section AS "table", coalesce(row, '') AS c_row, coalesce("column", '') AS c_col, message,
               row_number() OVER () AS k FROM checks WHERE report_id IN (SELECT report_id FROM na)),
c1 AS (SELECT report_id, "table", c_row, c_col, arg_min(message, k) AS m FROM chk WHERE c_col <> '' GROUP BY ALL),
c2 AS (SELECT report_id, "table", c_row, arg_min(message, k) AS m FROM chk WHERE c_row <> '' GROUP BY ALL),
c3 AS (SELECT report_id, "table", c_col, arg_min(message, k) AS m FROM chk WHERE c_col <> '' GROUP BY ALL),
c5 AS (SELECT report_id, "table", arg_min(message, k) AS m FROM chk WHERE c_row = '' AND c_col = '' GROUP BY ALL),
explained AS (
  SELECT na.report_id, sel.source_file, sel.agency, sel.year, na."table", na.row, na."column", na.raw, na.t,
    coalesce(c1.m, c2.m, c3a.m, c3b.m, c5.m, CASE WHEN trim(coalesce(na.raw, '')) IN {placeholders}
             THEN 'placeholder in source: ' || trim(na.raw) ELSE 'no reason recorded' END) AS reason
  FROM na JOIN sel USING (report_id)
  LEFT JOIN c1 ON c1.report_id = na.report_id AND c1."table" = na."table" AND c1.c_row = na.row
    AND c1.c_col = na."column"
  LEFT JOIN c2 ON c2.report_id = na.report_id AND c2."table" = na."table" AND c2.c_row = na.row
  LEFT JOIN c3 AS c3a ON c3a.report_id = na.report_id AND c3a."table" = na."table" AND c3a.c_col = na.row
  LEFT JOIN c3 AS c3b ON c3b.report_id = na.report_id AND c3b."table" = na."table" AND c3b.c_col = na."column"
  LEFT JOIN c5 ON c5.report_id = na.report_id AND c5."table" = na."table")
"""


def _na_query(select: str) -> str:
    return ", " + _NA_SQL.format(placeholders="(" + ", ".join(_lit(p) for p in PLACEHOLDERS) + ")") + select


def missing_values(tables: Any, limit: int | None = None) -> pd.DataFrame:
    """Every NA cell of disclosure / applications / reviews and why it is NA.

    ``row``/``column`` are (item, measure), (row, applicant) or (proceeding, outcome). The
    reason is the message of the most specific check of the same report and section (same
    row and column; same row; the check's column naming the cell's row or column; a check
    about the whole table), else "placeholder in source: /" for "/"-like cells, else "no
    reason recorded". ``limit``: only the first that many rows."""
    cols = ", ".join(f'"{c}"' for c in MISSING_COLUMNS)
    return _missing(_panel(tables), cols, limit)


def _missing(p: Panel, cols: str, limit: int | None) -> pd.DataFrame:
    lim = f" LIMIT {int(limit)}" if limit is not None else ""
    query = (f"WITH sel AS (SELECT * FROM panel WHERE {p.condition()} AND {COUNTED})"
             + _na_query(f" SELECT {cols} FROM explained ORDER BY t, report_id, row, \"column\"{lim}"))
    df = p.con.execute(query).df()
    df["year"] = df["year"].astype("Int64")
    for c in MISSING_COLUMNS:
        if c != "year":
            df[c] = df[c].astype("str").where(df[c].notna(), "")
    return df.reset_index(drop=True)


def missing_summary(tables: Any) -> pd.DataFrame:
    """NA cells counted by table and reason (of the selection, or of a
    :func:`missing_values` result when that is what is passed)."""
    if isinstance(tables, pd.DataFrame):
        if tables.empty:
            return pd.DataFrame({"table": pd.Series([], dtype="str"), "reason": pd.Series([], dtype="str"),
                                 "n_cells": pd.Series([], dtype="int64"), "n_reports": pd.Series([], dtype="int64")})
        agg = tables.groupby(["table", "reason"], sort=True).agg(n_cells=("report_id", "size"),
                                                                  n_reports=("report_id", "nunique"))
        return agg.reset_index().sort_values("n_cells", ascending=False, kind="stable")
    p = _panel(tables)
    query = (f"WITH sel AS (SELECT * FROM panel WHERE {p.condition()} AND {COUNTED})"
             + _na_query(' SELECT "table", reason, count(*) AS n_cells, count(DISTINCT report_id) AS n_reports '
                         'FROM explained GROUP BY ALL ORDER BY "table", reason'))
    df = p.con.execute(query).df().astype({"table": "str", "reason": "str", "n_cells": "int64", "n_reports": "int64"})
    return df.sort_values("n_cells", ascending=False, kind="stable").reset_index(drop=True)


def missing_tables(tables: Any) -> pd.DataFrame:
    """Per report: whether sections 二, 三, 四 gave any rows (absent tables are not zeros)."""
    return _gaps(_panel(tables), "true")


def table_gaps(tables: Any) -> pd.DataFrame:
    """The rows of :func:`missing_tables` where a section's table is absent."""
    return _gaps(_panel(tables), "NOT (has_disclosure AND has_applications AND has_reviews)")


def problem_reports(tables: Any) -> pd.DataFrame:
    """Reports whose parse status is not ``ok`` (partial, failed), with the error."""
    return _gaps(_panel(tables), "status <> 'ok'", with_has=False)


def _gaps(p: Panel, where: str, with_has: bool = True) -> pd.DataFrame:
    from .store import typed

    cols = GAP_COLUMNS + (_HAS if with_has else [])
    df = _query(p, f"SELECT {', '.join(cols)} FROM sel WHERE {where} ORDER BY _row")
    df[GAP_COLUMNS] = typed("reports", df[GAP_COLUMNS], sort=False, complete=False)
    return df.astype({h: bool for h in _HAS if h in df}).reset_index(drop=True)
