"""Metrics over the tidy tables (report-format.md §2.2).

Every function takes the long tables of the data contract (``gxlib.load`` returns them as
``Tables``) and pivots only the rows it needs, so memory grows with the number of reports,
not with the number of cells.  They equally take a :class:`gxlib.panel.Panel`, which holds
the per-report quantities already aggregated from the Parquet files (one row per report,
see :func:`gxlib.panel.load`): that is how the notebooks work at national scale.

Three rules hold everywhere:

* **NA is never a zero.**  A report whose section 三 (or 四, or the 二 block a metric reads)
  is absent or whose needed cells are NA does not enter that metric; it is counted in
  ``n_excluded`` instead.  Sums over several rows (e.g. 不予公开 = Σ（三）1–8) are NA as soon
  as one part is NA.
* **Small groups are flagged, not hidden.**  Every grouped result carries the number of
  reports behind it (``n_reports``) and a ``small`` flag (denominator below ``min_n``).
  Groups with nothing to measure appear with ``value`` NA.
* **Proportions come with a 95 % Wilson interval.**  Pooled application-based rates treat
  each application as a trial (numerator and denominator are summed over the reports of a
  group first); report-based rates (zero-application) treat each report as a trial.

Notation as in report-format.md: N 本年新收, C 上年结转, P （七）总计, F 结转下年度,
G 予以公开, Pa 部分公开, D Σ不予公开, U Σ无法提供, X Σ不予处理, O Σ其他处理.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "GROUP_KEYS",
    "RATES",
    "VOLUMES",
    "Rate",
    "applicant_mix",
    "check_counts",
    "coverage",
    "default_agency",
    "missing_summary",
    "missing_values",
    "missing_tables",
    "n_reports",
    "problem_reports",
    "table_gaps",
    "QUANTITY_COLUMNS",
    "quantities_from_cells",
    "rates",
    "reason_shares",
    "report_quantities",
    "report_table",
    "resolve_agency",
    "select",
    "similar_agencies",
    "status_counts",
    "t_quantile",
    "volumes",
    "wilson_interval",
]

#: report columns a metric may be grouped by.
GROUP_KEYS = ("year", "province", "prefecture", "county", "level", "template", "agency",
              "division_code")

Z95 = 1.959963984540054

APPLICANT_PARTS = ("natural_person", "commercial_enterprise", "research_institution",
                   "social_welfare_org", "legal_service_org", "other_org")
WITHHELD = ("withheld_state_secret", "withheld_prohibited", "withheld_security",
            "withheld_third_party", "withheld_internal", "withheld_process",
            "withheld_enforcement", "withheld_query")
UNAVAILABLE = ("unavailable_not_held", "unavailable_needs_creation", "unavailable_unclear")
REJECTED = ("rejected_petition", "rejected_duplicate", "rejected_publication",
            "rejected_excessive", "rejected_confirmation")
OTHER_2021 = ("other_no_correction", "other_no_fee", "other_misc")
#: the sub-reason rows whose shares of （七）总计 ``reason_shares`` reports.
REASON_ROWS = WITHHELD + UNAVAILABLE + REJECTED + ("other",) + OTHER_2021
SINGLE_ROWS = {"new": "new", "carried_over": "carried_over", "handled": "handled_total",
               "carried_forward": "carried_forward", "granted": "granted",
               "partly_granted": "partly_granted"}
APPLICATION_ROWS = tuple(SINGLE_ROWS.values()) + REASON_ROWS
PROCEEDINGS = ("review", "litigation_direct", "litigation_after_review")
OUTCOMES = ("upheld", "corrected", "other", "pending", "total")
REVIEW_CELLS = tuple(f"{p}__{o}" for p in PROCEEDINGS for o in OUTCOMES)
DISCLOSURE_CELLS = ("procurement__projects", "procurement__amount", "fees__amount")
#: the columns of :func:`report_quantities`, in order.
QUANTITY_COLUMNS = (tuple(SINGLE_ROWS) + ("withheld", "unavailable", "rejected",
                                          "other_handling") + REASON_ROWS + REVIEW_CELLS
                    + ("procurement_projects", "procurement_amount", "fee_amount"))


# --------------------------------------------------------------------------- statistics
def wilson_interval(k: Any, n: Any, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """95 % Wilson score interval for ``k`` successes out of ``n`` trials (element-wise).

    NA (``nan``) where ``n`` is missing or ≤ 0, or ``k`` is not within ``0..n`` (a ratio
    that is not a proportion has no Wilson interval).

    >>> lo, hi = wilson_interval(5, 5)
    >>> round(float(lo[0]), 4), float(hi[0])
    (0.5655, 1.0)
    """
    k = pd.array(np.atleast_1d(np.asarray(k, dtype=object)), dtype="Float64")
    n = pd.array(np.atleast_1d(np.asarray(n, dtype=object)), dtype="Float64")
    k = k.to_numpy(float, na_value=np.nan)
    n = n.to_numpy(float, na_value=np.nan)
    valid = (n > 0) & (k >= 0) & (k <= n)
    n_safe = np.where(valid, n, 1.0)
    p = np.where(valid, k / n_safe, 0.0)
    denom = 1 + z**2 / n_safe
    centre = (p + z**2 / (2 * n_safe)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n_safe + z**2 / (4 * n_safe**2))
    low = np.where(valid, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(valid, np.clip(centre + half, 0.0, 1.0), np.nan)
    # exact ends: k == 0 gives low 0, k == n gives high 1 (clip removes rounding noise)
    low = np.where(valid & (k == 0), 0.0, low)
    high = np.where(valid & (k == n), 1.0, high)
    return low, high


# two-sided 95 % Student t quantiles for 1..30 degrees of freedom
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile(df: Any) -> np.ndarray:
    """0.975 quantile of Student's t for ``df`` degrees of freedom (NA where df < 1).

    Tabulated up to 30, a Cornish–Fisher expansion of the normal quantile above (error
    below 1e-4 there).
    """
    d = np.atleast_1d(np.asarray(df, dtype=float))
    z = Z95
    safe = np.where(d >= 1, d, 1.0)
    cf = (z + (z**3 + z) / (4 * safe) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * safe**2)
          + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * safe**3))
    table = np.asarray(_T975)
    idx = np.clip(safe.astype(int), 1, 30) - 1
    out = np.where(safe <= 30, table[idx], cf)
    return np.where(d >= 1, out, np.nan)


# --------------------------------------------------------------------------- selection
def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "") or (
        not isinstance(value, str) and value == 0)


def _fields(tables: Any) -> dict[str, pd.DataFrame]:
    if dataclasses.is_dataclass(tables):
        return {f.name: getattr(tables, f.name) for f in dataclasses.fields(tables)}
    return dict(vars(tables))


def _replace(tables: Any, **frames: pd.DataFrame) -> Any:
    if dataclasses.is_dataclass(tables):
        return dataclasses.replace(tables, **frames)
    clone = type(tables).__new__(type(tables))
    clone.__dict__.update(_fields(tables))
    clone.__dict__.update(frames)
    return clone


def resolve_agency(reports: pd.DataFrame, agency: str) -> pd.Series:
    """Boolean mask of the reports of ``agency``: an exact 机关名称 or a division code.

    A 6-digit code matches ``division_code``; otherwise the name must equal ``agency``
    after stripping spaces.  An empty ``agency`` matches nothing.
    """
    agency = (agency or "").strip()
    if not agency:
        return pd.Series(False, index=reports.index)
    names = reports["agency"].astype("str").str.strip()
    mask = names == agency
    if "division_code" in reports and agency.isdigit():
        mask = mask | (reports["division_code"].astype("str").str.strip() == agency)
    return mask.fillna(False).astype(bool)


FILTERS = ("year_from", "year_to", "province", "prefecture", "county", "level", "template",
           "agency")


def _mask(reports: pd.DataFrame, *, year_from: int | None = None, year_to: int | None = None,
          province: str | None = None, prefecture: str | None = None,
          county: str | None = None, level: str | None = None, template: str | None = None,
          agency: str | None = None) -> pd.Series:
    """Boolean mask of the rows of ``reports`` (or of any frame with those columns, such as a
    panel's group sums) matching every given filter; blank filters match everything."""
    mask = pd.Series(True, index=reports.index)
    if not _blank(year_from):
        mask &= (reports["year"] >= int(year_from)).fillna(False).astype(bool)
    if not _blank(year_to):
        mask &= (reports["year"] <= int(year_to)).fillna(False).astype(bool)
    for column, wanted in (("province", province), ("prefecture", prefecture),
                           ("county", county), ("level", level), ("template", template)):
        if not _blank(wanted):
            mask &= _equals(reports[column], str(wanted))
    if not _blank(agency):
        mask &= resolve_agency(reports, str(agency))
    return mask


def _equals(column: pd.Series, wanted: str) -> pd.Series:
    """column (as text) == wanted, NA never equal; categorical columns by their codes."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        cats = column.cat.categories
        where = [i for i, c in enumerate(cats) if str(c) == wanted]
        return pd.Series(np.isin(column.cat.codes.to_numpy(), where), index=column.index)
    return (column.astype("str") == wanted).fillna(False).astype(bool)


def select(tables: Any, *, year_from: int | None = None, year_to: int | None = None,
           province: str | None = None, prefecture: str | None = None,
           county: str | None = None, level: str | None = None,
           template: str | None = None, agency: str | None = None) -> Any:
    """Return ``tables`` restricted to the reports matching every given filter.

    Empty strings, ``0`` and ``None`` mean "no filter", so notebook parameters can be
    passed straight through.  Reports with an unknown year are dropped as soon as a year
    bound is set (they cannot be placed in the range).  A :class:`gxlib.panel.PanelScan`
    stays on disk and only records the filters (a selection by agency is small and is read
    into a :class:`gxlib.panel.Panel`).
    """
    filters = {"year_from": year_from, "year_to": year_to, "province": province,
               "prefecture": prefecture, "county": county, "level": level,
               "template": template, "agency": agency}
    if _is_scan(tables):
        return tables.select(**filters)
    reports = tables.reports
    mask = _mask(reports, **filters)
    everything = bool(mask.all())
    keep = reports.loc[mask, "report_id"]
    frames = {}
    for name, frame in _fields(tables).items():
        if isinstance(frame, pd.DataFrame) and "report_id" in frame:
            if everything:       # no filter applies: nothing to look up (100k-report panels)
                frames[name] = frame.reset_index(drop=True)
            elif frame is reports or (len(frame) == len(reports) and frame["report_id"].equals(
                    reports["report_id"])):   # aligned with reports (a Panel's quantities)
                frames[name] = frame[mask.to_numpy()].reset_index(drop=True)
            else:
                frames[name] = frame[frame["report_id"].isin(keep)].reset_index(drop=True)
    return _replace(tables, **frames)


def _is_scan(tables: Any) -> bool:
    """A :class:`gxlib.panel.PanelScan`: a panel read from disk a chunk at a time."""
    return callable(getattr(tables, "group_sums", None))


def _reports_of(tables: Any, columns: Sequence[str]) -> pd.DataFrame:
    """``columns`` of the selected reports: the reports frame itself (a DataFrame or an
    in-memory table set), or only those columns, read from disk (a PanelScan)."""
    if isinstance(tables, pd.DataFrame):
        return tables
    if _is_scan(tables):
        return tables.frame(list(dict.fromkeys(columns)))
    return tables.reports


def n_reports(tables: Any) -> int:
    """How many reports ``tables`` (reports frame, tables, Panel or PanelScan) holds."""
    return tables.count() if _is_scan(tables) else len(_reports_of(tables, ["report_id"]))


def default_agency(reports: Any) -> str:
    """The agency with the most reports (ties: first by name); "" when there is none."""
    if _is_scan(reports):
        scan = reports
        return scan.remember("default_agency", lambda: default_agency(scan.frame(["agency"])))
    names = _reports_of(reports, ["agency"])["agency"].astype("str").str.strip()
    names = names[names != ""]
    if names.empty:
        return ""
    counts = names.value_counts()
    top = counts[counts == counts.max()].index
    return str(sorted(top)[0])


def similar_agencies(reports: Any, text: str, limit: int = 10) -> list[str]:
    """Agency names containing ``text`` (to suggest when an exact name did not match)."""
    text = (text or "").strip()
    names = sorted(set(_reports_of(reports, ["agency"])["agency"].astype("str")) - {""})
    if not text:
        return names[:limit]
    return [n for n in names if text in n or n in text][:limit]


def coverage(reports: Any) -> dict[str, Any]:
    """How much there is to look at: reports, agencies, years, agencies seen in ≥ 2 years.

    Takes the reports frame or the tables (a PanelScan reads only these three columns, once
    per selection and process)."""
    if _is_scan(reports):
        scan = reports
        return scan.remember("coverage", lambda: _coverage_of_parts(
            scan.parts(["agency", "year", "province"])))
    reports = _reports_of(reports, ["agency", "year", "province"])
    years = reports["year"].dropna()
    per_agency = reports.dropna(subset=["year"]).groupby("agency", observed=True)["year"].nunique()
    return {
        "n_reports": int(len(reports)),
        "n_agencies": int(reports["agency"].nunique()),
        "n_years": int(years.nunique()),
        "year_min": int(years.min()) if len(years) else None,
        "year_max": int(years.max()) if len(years) else None,
        "n_agencies_multi_year": int((per_agency >= 2).sum()),
        "n_provinces": int(reports["province"].replace("", pd.NA).dropna().nunique()),
    }


_YEAR0 = 1990   # years _YEAR0 .. _YEAR0 + 62 are bits of one int64 per agency


def _coverage_of_parts(parts: Iterable[pd.DataFrame]) -> dict[str, Any]:
    """:func:`coverage` of the reports in ``parts`` (frames with agency, year, province),
    one part at a time: what is kept is one bit mask of years per agency (years outside
    the mask's range as (agency, year) pairs) and the provinces and years seen."""
    n = 0
    masks: dict[str, int] = {}
    odd: set[tuple[str, int]] = set()
    years: set[int] = set()
    provinces: set[str] = set()
    for part in parts:
        n += len(part)
        agency = part["agency"].astype("str").to_numpy()
        year = part["year"].astype("Float64").to_numpy(float, na_value=np.nan)
        known = ~np.isnan(year)
        years.update(int(y) for y in np.unique(year[known]))
        provinces.update(str(p) for p in part["province"].astype("str").unique() if p != "")
        inside = known & (year >= _YEAR0) & (year < _YEAR0 + 63)
        bits = np.left_shift(1, np.where(inside, year - _YEAR0, 0).astype(np.int64))
        pairs = pd.DataFrame({"a": agency, "b": np.where(inside, bits, 0)}).drop_duplicates()
        part_masks = pairs.groupby("a", sort=False)["b"].sum()   # distinct bits: sum = or
        for a, b in zip(part_masks.index.tolist(), part_masks.tolist()):
            masks[a] = masks.get(a, 0) | b
        outside = known & ~inside
        odd.update(zip(agency[outside].tolist(), year[outside].astype(int).tolist()))
    n_years = np.bitwise_count(np.fromiter(masks.values(), np.uint64, len(masks)))
    n_years = n_years.astype(np.int64)
    if odd:
        extra = pd.Series([a for a, _ in odd]).value_counts()
        n_years = n_years + extra.reindex(list(masks), fill_value=0).to_numpy()
    return {
        "n_reports": int(n),
        "n_agencies": int(len(masks)),
        "n_years": len(years),
        "year_min": min(years) if years else None,
        "year_max": max(years) if years else None,
        "n_agencies_multi_year": int((n_years >= 2).sum()),
        "n_provinces": len(provinces),
    }


# --------------------------------------------------------------------------- per report
def _as_str(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    return frame.assign(**{c: frame[c].astype("str") for c in columns})


def _pivot_unique(frame: pd.DataFrame, index: list[str], columns: str, table: str) -> pd.DataFrame:
    dup = frame.duplicated(index + [columns], keep=False)
    if dup.any():
        sample = frame.loc[dup, index + [columns]].head(3).to_dict("records")
        raise ValueError(f"{table}: duplicate cells, e.g. {sample}; the tidy table must have "
                         "one row per cell")
    values = frame.set_index(index + [columns])["value"].astype("Float64")
    return values.unstack(columns)


def _application_cells(applications: pd.DataFrame, rows: Sequence[str], applicant: str,
                       derive_total: bool) -> pd.DataFrame:
    """report_id × row frame of one applicant column (Float64, NA where absent)."""
    wanted = applications[applications["row"].isin(list(rows))]
    use_parts = applicant == "total" and derive_total
    if not use_parts:
        wanted = wanted[wanted["applicant"] == applicant]
    wanted = _as_str(wanted[["report_id", "row", "applicant", "value"]], ["row", "applicant"])
    if wanted.empty:
        return pd.DataFrame(index=pd.Index([], name="report_id"), columns=list(rows),
                            dtype="Float64")
    wide = _pivot_unique(wanted, ["report_id", "row"], "applicant", "applications")
    cell = wide.reindex(columns=[applicant])[applicant].astype("Float64")
    if use_parts:
        parts = wide.reindex(columns=list(APPLICANT_PARTS)).astype("Float64")
        cell = cell.fillna(parts.sum(axis=1, skipna=False))
    return cell.unstack("row").reindex(columns=list(rows)).astype("Float64")


def _sum(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    return frame.reindex(columns=list(columns)).astype("Float64").sum(axis=1, skipna=False)


def _precomputed(tables: Any, applicant: str = "total",
                 derive_total: bool = True) -> pd.DataFrame | None:
    """The per-report quantities a :class:`gxlib.panel.Panel` carries (None for long tables),
    indexed by ``report_id`` in the order of ``tables.reports``."""
    q = getattr(tables, "quantities", None)
    if q is None:
        return None
    if applicant != "total" or not derive_total:
        raise ValueError("a Panel holds the quantities of the 总计 column with derived totals "
                         "only; use gxlib.load() (the long tables) for applicant="
                         f"{applicant!r}, derive_total={derive_total}")
    return q.set_index("report_id").reindex(
        pd.Index(tables.reports["report_id"], name="report_id"))


def report_quantities(tables: Any, applicant: str = "total",
                      derive_total: bool = True) -> pd.DataFrame:
    """One row per report (index ``report_id``, in the order of ``tables.reports``).

    Columns (Float64, NA where the source has no value):

    * section 三 for the chosen ``applicant`` column: ``new, carried_over, handled,
      carried_forward, granted, partly_granted, withheld, unavailable, rejected,
      other_handling`` and every sub-reason row under its contract code;
    * section 四: ``<proceeding>__<outcome>`` for the 15 cells;
    * section 二: ``procurement_projects``, ``procurement_amount`` (万元; 2019 layout
      only, NA for other templates) and ``fee_amount`` (万元; 2021 layout only).

    With ``derive_total`` (default) a 总计 cell that is NA or missing is replaced by the sum of
    the six applicant columns when all six are known (a derived total belongs in the
    metrics, never in the tidy tables).  ``other_handling`` is the 2019 single row where
    present, else the sum of the three 2021 rows.

    A :class:`gxlib.panel.Panel` already carries these columns (computed the same way,
    by :func:`quantities_from_cells`); they are returned as they are.
    """
    pre = _precomputed(tables, applicant, derive_total)
    if pre is not None:
        return pre[list(QUANTITY_COLUMNS)]
    reports = tables.reports
    ids = pd.Index(reports["report_id"], name="report_id")
    cells = _application_cells(tables.applications, APPLICATION_ROWS, applicant,
                                derive_total).reindex(ids)

    reviews = _as_str(tables.reviews[["report_id", "proceeding", "outcome", "value"]],
                      ["proceeding", "outcome"])
    reviews = reviews.assign(cell=reviews["proceeding"] + "__" + reviews["outcome"])
    if reviews.empty:
        wide = pd.DataFrame(index=ids, columns=list(REVIEW_CELLS), dtype="Float64")
    else:
        wide = _pivot_unique(reviews[["report_id", "cell", "value"]], ["report_id"], "cell",
                             "reviews")

    disc = tables.disclosure
    disc = disc[disc["item"].isin(["procurement", "fees"]) & disc["measure"].isin(
        ["projects", "amount"])]
    disc = _as_str(disc[["report_id", "item", "measure", "value"]], ["item", "measure"])
    disc = disc.assign(cell=disc["item"] + "__" + disc["measure"])
    if disc.empty:
        dwide = pd.DataFrame(index=ids, columns=list(DISCLOSURE_CELLS), dtype="Float64")
    else:
        dwide = _pivot_unique(disc[["report_id", "cell", "value"]], ["report_id"], "cell",
                              "disclosure")
    return quantities_from_cells(ids, cells, wide, dwide, reports["template"])


def quantities_from_cells(ids: pd.Index, cells: pd.DataFrame, reviews: pd.DataFrame,
                          disclosure: pd.DataFrame, template: Any) -> pd.DataFrame:
    """The columns of :func:`report_quantities` from per-report cells (index report_id):
    ``cells`` has the :data:`APPLICATION_ROWS` of one applicant column (totals already
    derived), ``reviews`` the :data:`REVIEW_CELLS`, ``disclosure`` the
    :data:`DISCLOSURE_CELLS`; ``template`` is aligned with ``ids``."""
    cells = cells.reindex(index=ids, columns=list(APPLICATION_ROWS)).astype("Float64")
    out = pd.DataFrame(index=ids)
    for name, row in SINGLE_ROWS.items():
        out[name] = cells[row]
    out["withheld"] = _sum(cells, WITHHELD)
    out["unavailable"] = _sum(cells, UNAVAILABLE)
    out["rejected"] = _sum(cells, REJECTED)
    out["other_handling"] = cells["other"].fillna(_sum(cells, OTHER_2021))
    for row in REASON_ROWS:
        out[row] = cells[row]
    wide = reviews.reindex(index=ids, columns=list(REVIEW_CELLS)).astype("Float64")
    out = pd.concat([out, wide], axis=1)
    dwide = disclosure.reindex(index=ids, columns=list(DISCLOSURE_CELLS)).astype("Float64")
    template = np.asarray(pd.Series(template).astype("str"))
    is2019 = pd.Series(template == "2019", index=ids)
    is2021 = pd.Series(template == "2021", index=ids)
    out["procurement_projects"] = dwide["procurement__projects"].where(is2019)
    out["procurement_amount"] = dwide["procurement__amount"].where(is2019)
    out["fee_amount"] = dwide["fees__amount"].where(is2021)
    return out


# --------------------------------------------------------------------------- definitions
@dataclass(frozen=True)
class Rate:
    """A rate Σnumerator / Σ(denominator − subtract) over the reports of a group.

    ``indicator`` rates count reports: the per-report numerator is 1 when the condition
    (all ``numerator`` quantities == 0) holds, and the denominator is 1 for every report
    where those quantities are known.  ``proportion`` rates get a Wilson interval; a
    ``ratio`` (which may exceed 1) does not.
    """

    name: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...] = ()
    subtract: tuple[str, ...] = ()
    kind: str = "proportion"  # proportion | ratio | indicator

    def per_report(self, q: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        if self.kind == "indicator":
            known = q.reindex(columns=list(self.numerator)).notna().all(axis=1)
            hit = (q.reindex(columns=list(self.numerator)) == 0).all(axis=1)
            num = hit.astype("Float64").where(known)
            den = pd.Series(1.0, index=q.index, dtype="Float64").where(known)
            return num, den
        num = _sum(q, self.numerator)
        den = _sum(q, self.denominator)
        if self.subtract:
            den = den - _sum(q, self.subtract)
        return num, den


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
    Rate("review_correction_rate", ("review__corrected",), ("review__total",),
         ("review__pending",)),
    Rate("litigation_correction_rate",
         ("litigation_direct__corrected", "litigation_after_review__corrected"),
         ("litigation_direct__total", "litigation_after_review__total"),
         ("litigation_direct__pending", "litigation_after_review__pending")),
    Rate("dispute_conversion_rate", ("review__total", "litigation_direct__total"), ("new",),
         kind="ratio"),
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

RATE_COLUMNS = ["numerator", "denominator", "value", "ci_low", "ci_high", "n_reports",
                "n_excluded", "small"]
VOLUME_COLUMNS = ["unit", "total", "mean", "ci_low", "ci_high", "median", "n_reports",
                  "n_excluded", "small"]


# --------------------------------------------------------------------------- aggregation
def _check_by(reports: pd.DataFrame, by: Sequence[str] | str | None) -> list[str]:
    if by is None:
        return []
    by = [by] if isinstance(by, str) else list(by)
    unknown = [b for b in by if b not in reports.columns]
    if unknown:
        raise KeyError(f"cannot group by {unknown}: not a column of reports "
                       f"(use any of {', '.join(GROUP_KEYS)})")
    return by


def _keys(reports: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    return reports.set_index("report_id")[by]


def _group(frame: pd.DataFrame, by: list[str]):
    if by:
        return frame.groupby(by, observed=True, dropna=False, sort=True)
    return frame.groupby(np.zeros(len(frame), dtype=int), sort=False)


RATIO_SUMS = ["numerator", "denominator", "n_reports", "size"]


def _groups(keys: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """(group number of each row, one row of keys per group): grouped once, then every
    metric of a family is summed with ``bincount``."""
    if not by:
        return np.zeros(len(keys), dtype=np.intp), pd.DataFrame(index=range(min(len(keys), 1)))
    codes = keys.groupby(by, observed=True, dropna=False, sort=False).ngroup().to_numpy()
    first = np.unique(codes, return_index=True)[1]
    return codes, keys[by].iloc[first].reset_index(drop=True)


def _floats(values: pd.Series, index: pd.Index) -> np.ndarray:
    if not values.index.equals(index):
        values = values.reindex(index)
    return values.astype("Float64").to_numpy(float, na_value=np.nan)


def _ratio_sums(keys: pd.DataFrame, pairs: dict[str, tuple[pd.Series, pd.Series]],
                by: list[str]) -> pd.DataFrame:
    """One row per group; per pair ``name``: ``name|numerator`` and ``name|denominator``
    (Σ over the reports where both are known), ``name|n_reports`` (those reports) and
    ``name|size`` (all reports).  Sums that add up across chunks of reports (a
    :class:`gxlib.panel.PanelScan` is read in chunks)."""
    codes, groups = _groups(keys, by)
    m = len(groups)
    sums = {}
    for name, (num, den) in pairs.items():
        num, den = _floats(num, keys.index), _floats(den, keys.index)
        ok = ~np.isnan(num) & ~np.isnan(den)
        sums[f"{name}|numerator"] = np.bincount(codes, np.where(ok, num, 0.0), m)
        sums[f"{name}|denominator"] = np.bincount(codes, np.where(ok, den, 0.0), m)
        sums[f"{name}|n_reports"] = np.bincount(codes, ok, m).astype("int64")
        sums[f"{name}|size"] = np.bincount(codes, minlength=m).astype("int64")
    return pd.concat([groups, pd.DataFrame(sums)], axis=1)


def _pair_sums(sums: pd.DataFrame, by: list[str], name: str) -> pd.DataFrame:
    """The group sums of one pair of :func:`_ratio_sums`, as :func:`_ratio_finish` wants."""
    return sums[by + [f"{name}|{c}" for c in RATIO_SUMS]].set_axis(by + RATIO_SUMS, axis=1)


def _ratio_finish(agg: pd.DataFrame, by: list[str], kind: str, min_n: float) -> pd.DataFrame:
    """Rates, intervals and flags from the group sums of :func:`_ratio_sums`."""
    agg = agg[by + RATIO_SUMS].reset_index(drop=True)
    if not by and agg.empty:
        agg = pd.DataFrame({"numerator": [0.0], "denominator": [0.0], "n_reports": [0],
                            "size": [0]})
    agg["numerator"] = agg["numerator"].astype("Float64")
    agg["denominator"] = agg["denominator"].astype("Float64")
    agg["n_reports"] = agg["n_reports"].astype("int64")
    agg["n_excluded"] = agg.pop("size").astype("int64") - agg["n_reports"]
    den_pos = agg["denominator"] > 0
    agg["value"] = (agg["numerator"] / agg["denominator"].where(den_pos)).astype("Float64")
    if kind in ("proportion", "indicator"):
        low, high = wilson_interval(agg["numerator"], agg["denominator"])
    else:
        low = high = np.full(len(agg), np.nan)
    agg["ci_low"] = pd.array(low, dtype="Float64")
    agg["ci_high"] = pd.array(high, dtype="Float64")
    agg["small"] = (agg["denominator"].fillna(0) < min_n).astype(bool)
    return agg


def _group_sums(tables: Any, family: str, by: list[str], per_chunk,
                extra: Sequence[str] = ()) -> pd.DataFrame:
    """Additive per-group sums of one ``family`` of metrics over the reports of ``tables``.

    ``per_chunk(t, by)`` computes them (columns: ``by``, ``extra`` keys, sums) for reports
    held in memory.  A :class:`gxlib.panel.PanelScan` applies it a chunk of reports at a
    time, or to its memoised sums per (year, province, prefecture, level, template), and
    hands back the pieces; they are added up here, so pandas only ever sees one chunk and
    the group sums, never the whole panel.
    """
    keys = by + list(extra)
    if _is_scan(tables):
        parts = tables.group_sums(family, by, per_chunk, list(extra))
    else:
        parts = per_chunk(tables, by)
    groups = set(keys) | set(_report_keys(tables).columns)  # a PanelScan's finer keys
    values = [c for c in parts.columns if c not in groups]
    if not keys:
        return parts[values].sum().to_frame().T if len(parts) else parts[values]
    return parts.groupby(keys, observed=True, dropna=False, sort=True)[values].sum().reset_index()


def _report_keys(tables: Any) -> pd.DataFrame:
    """The reports (or, for a PanelScan, an empty frame with their columns and dtypes)."""
    if isinstance(tables, pd.DataFrame):
        return tables
    return tables.report_columns() if _is_scan(tables) else tables.reports


def _finish(parts: list[pd.DataFrame], by: list[str], label_col: str, columns: list[str],
            reports: pd.DataFrame) -> pd.DataFrame:
    if parts:
        out = pd.concat(parts, ignore_index=True)
    else:
        out = pd.DataFrame(columns=by + [label_col] + columns)
    for b in by:  # keep the reports' dtypes (ordered categoricals, Int64) on the keys
        out[b] = out[b].astype(reports[b].dtype)
    return out[by + [label_col] + columns]


def _metric_names(metrics: Sequence[str] | None, known: dict, kind: str) -> list[str]:
    """The metrics asked for (default: all of ``known``); unknown names raise KeyError."""
    names = list(known) if metrics is None else list(metrics)
    unknown = [m for m in names if m not in known]
    if unknown:
        raise KeyError(f"unknown {kind}(s) {unknown}; known: {', '.join(known)}")
    return names


def _ratio_family(tables: Any, family: str, label: str, names: list[str], by: list[str],
                  min_n: float, kinds: dict[str, str], per_report) -> pd.DataFrame:
    """Rates of several numerator/denominator pairs (``per_report(t) -> {name: (num,
    den)}``), summed per group, then finished: the code behind rates, reason_shares and
    applicant_mix.  A PanelScan computes every name of the family once (memoised)."""
    wanted = list(kinds) if _is_scan(tables) else names

    def per_chunk(t: Any, keys_by: list[str]) -> pd.DataFrame:
        return _ratio_sums(_keys(t.reports, keys_by), per_report(t, wanted), keys_by)

    sums = _group_sums(tables, family, by, per_chunk)
    parts = [_ratio_finish(_pair_sums(sums, by, n), by, kinds[n], min_n).assign(**{label: n})
             for n in names]
    return _finish(parts, by, label, RATE_COLUMNS, _report_keys(tables))


def rates(tables: Any, metrics: Sequence[str] | None = None,
          by: Sequence[str] | str | None = ("year",), *, min_n: float = 10,
          applicant: str = "total", derive_total: bool = True) -> pd.DataFrame:
    """Grouped rates, one row per group × metric (long format).

    ``metrics`` are names from :data:`RATES` (default: all).  Columns: the ``by`` keys,
    ``metric``, ``numerator``, ``denominator``, ``value``, ``ci_low``, ``ci_high``
    (95 % Wilson; NA for ratios), ``n_reports`` (reports behind the value),
    ``n_excluded`` (reports of the group left out because a needed value is NA or the
    table is absent), ``small`` (denominator < ``min_n``).
    """
    by = _check_by(_report_keys(tables), by)
    names = _metric_names(metrics, RATES, "rate")

    def per_report(t: Any, wanted: list[str]) -> dict:
        q = report_quantities(t, applicant=applicant, derive_total=derive_total)
        return {n: RATES[n].per_report(q) for n in wanted}

    family = f"rates:{applicant}:{derive_total}"
    out = _ratio_family(tables, family, "metric", names, by, min_n,
                        {n: r.kind for n, r in RATES.items()}, per_report)
    return _ordered(out, names)


def reason_shares(tables: Any, by: Sequence[str] | str | None = None, *, min_n: float = 10,
                  rows: Sequence[str] = REASON_ROWS, derive_total: bool = True) -> pd.DataFrame:
    """Share of （七）总计 handled by each sub-reason row (不予公开 1–8, 无法提供 1–3, ...).

    Same columns as :func:`rates`, with ``row`` (contract code) instead of ``metric``.
    A report enters a row's share only if that row is present and known: the 2019 single
    （六） row and the three 2021 rows therefore have different report bases.
    """
    by = _check_by(_report_keys(tables), by)
    rows = list(rows)

    def per_report(t: Any, wanted: list[str]) -> dict:
        q = report_quantities(t, derive_total=derive_total)
        return {row: (q[row], q["handled"]) for row in wanted}

    kinds = {row: "proportion" for row in dict.fromkeys([*REASON_ROWS, *rows])}
    out = _ratio_family(tables, f"reasons:{derive_total}", "row", rows, by, min_n, kinds,
                        per_report)
    return _recode(out, "row", getattr(tables, "applications", None))


def applicant_mix(tables: Any, by: Sequence[str] | str | None = None, *, min_n: float = 10,
                  derive_total: bool = True) -> pd.DataFrame:
    """Share of 本年新收 (N) by applicant type: applicant N / 总计 N.

    Same columns as :func:`rates`, with ``applicant`` instead of ``metric``.
    """
    by = _check_by(_report_keys(tables), by)

    def per_report(t: Any, wanted: list[str]) -> dict:
        ids = pd.Index(t.reports["report_id"], name="report_id")
        pre = _precomputed(t, "total", derive_total)
        if pre is not None:      # a Panel: the new row of every applicant column is there
            total = pre["new"]
            new = {a: pre[f"new__{a}"] for a in wanted}
        else:
            total = _application_cells(t.applications, ("new",), "total", derive_total)
            total = total.reindex(ids)["new"]
            new = {a: _application_cells(t.applications, ("new",), a, False).reindex(ids)["new"]
                   for a in wanted}
        return {a: (new[a], total) for a in wanted}

    out = _ratio_family(tables, f"mix:{derive_total}", "applicant", list(APPLICANT_PARTS), by,
                        min_n, dict.fromkeys(APPLICANT_PARTS, "proportion"), per_report)
    return _recode(out, "applicant", getattr(tables, "applications", None))


def _ordered(out: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """``metric`` as an ordered categorical in the order asked for (legends, tables)."""
    out["metric"] = pd.Categorical(out["metric"], categories=list(dict.fromkeys(names)),
                                   ordered=True)
    return out


def _recode(out: pd.DataFrame, column: str, source: pd.DataFrame | None) -> pd.DataFrame:
    """Give ``column`` the categorical dtype it has in ``source`` (codebook order; the
    codebook itself when there is no long table, as in a Panel)."""
    if source is None or column not in source:
        from .store import codes

        known = codes(column)
        extra = sorted(set(out[column].astype("str")) - set(known))
        out[column] = out[column].astype(pd.CategoricalDtype(known + extra, ordered=True))
        return out
    dtype = source[column].dtype
    if isinstance(dtype, pd.CategoricalDtype):
        out[column] = out[column].astype(dtype)
    return out


def _volume_stats(h: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """sum, mean, median, std, count (reports with a value) and size per group from the
    value counts ``h`` (columns ``by``, ``_x`` (NaN: no value), ``count``).  Counts are
    what adds up across chunks; the median is exact (the middle of the sorted values)."""
    g = by or ["_g"]
    h = h.assign(_g=0) if not by else h
    h = h.sort_values(g + ["_x"], na_position="last", kind="stable")
    x = h["_x"].to_numpy(float)
    c = h["count"].to_numpy(float)
    known = ~np.isnan(x)
    kc = np.where(known, c, 0.0)
    h = h.assign(_kc=kc, _xc=np.where(known, x * c, 0.0))
    grp = h.groupby(g, observed=True, dropna=False, sort=False)
    n = grp["_kc"].transform("sum").to_numpy(float)
    total = grp["_xc"].transform("sum").to_numpy(float)
    mean = np.divide(total, n, out=np.full_like(total, np.nan), where=n > 0)
    cum = grp["_kc"].cumsum().to_numpy(float)
    start = cum - kc
    lo, hi = np.floor((n - 1) / 2), np.floor(n / 2)     # 0-based ranks of the middle
    h = h.assign(_xlo=np.where(known & (start <= lo) & (lo < cum), x, np.nan),
                 _xhi=np.where(known & (start <= hi) & (hi < cum), x, np.nan),
                 _dev=np.where(known, c * (x - mean) ** 2, 0.0))
    agg = h.groupby(g, observed=True, dropna=False, sort=True).agg(
        sum=("_xc", "sum"), count=("_kc", "sum"), size=("count", "sum"), _dev=("_dev", "sum"),
        _xlo=("_xlo", "max"), _xhi=("_xhi", "max"))
    cnt = agg["count"].to_numpy(float)
    agg["mean"] = np.divide(agg["sum"].to_numpy(float), cnt, out=np.full(len(agg), np.nan),
                            where=cnt > 0)
    agg["median"] = (agg.pop("_xlo") + agg.pop("_xhi")) / 2
    var = np.divide(agg.pop("_dev").to_numpy(float), cnt - 1, out=np.full(len(agg), np.nan),
                    where=cnt >= 2)
    agg["std"] = np.sqrt(var)
    return agg.reset_index(drop=not by)


def volumes(tables: Any, metrics: Sequence[str] | None = None,
            by: Sequence[str] | str | None = ("year",), *, min_n: float = 10,
            applicant: str = "total", derive_total: bool = True) -> pd.DataFrame:
    """Grouped volumes, one row per group × metric (long format).

    ``metrics`` are names from :data:`VOLUMES` (default: all).  Columns: the ``by`` keys,
    ``metric``, ``unit`` (count / wan_yuan), ``total`` (sum over reports with a value),
    ``mean`` per report with a 95 % t interval (``ci_low``, ``ci_high``; NA for fewer than
    two reports), ``median``, ``n_reports``, ``n_excluded`` (reports without a value, e.g.
    procurement for 2021-layout reports), ``small`` (n_reports < ``min_n``).

    The groups are summed up from how often each value occurs per group, so a
    :class:`gxlib.panel.PanelScan` never holds more than a chunk of reports.
    """
    by = _check_by(_report_keys(tables), by)
    names = _metric_names(metrics, VOLUMES, "volume")
    wanted = list(VOLUMES) if _is_scan(tables) else names

    def per_chunk(t: Any, keys_by: list[str]) -> pd.DataFrame:
        q = report_quantities(t, applicant=applicant, derive_total=derive_total)
        keys = _keys(t.reports, keys_by)
        codes, groups = _groups(keys, keys_by)
        parts = []
        for name in wanted:
            x = _floats(q[VOLUMES[name][0]], keys.index)
            counts = pd.DataFrame({"_g": codes, "_x": x}).groupby(
                ["_g", "_x"], dropna=False, sort=False).size()
            g = counts.index.get_level_values("_g").to_numpy()
            parts.append(groups.take(g).reset_index(drop=True).assign(
                _x=counts.index.get_level_values("_x").to_numpy(float),
                count=counts.to_numpy(), metric=name))
        return pd.concat(parts, ignore_index=True)

    sums = _group_sums(tables, f"volumes:{applicant}:{derive_total}", by, per_chunk,
                       extra=["metric", "_x"])
    parts = []
    for name in names:
        unit = VOLUMES[name][1]
        agg = _volume_stats(sums.loc[sums["metric"] == name, by + ["_x", "count"]], by)
        if not by and agg.empty:
            agg = pd.DataFrame({"sum": [0.0], "mean": [np.nan], "median": [np.nan],
                                "std": [np.nan], "count": [0], "size": [0]})
        n = agg["count"].to_numpy(float)
        half = t_quantile(n - 1) * agg["std"].to_numpy(float) / np.sqrt(np.where(n > 0, n, 1))
        half = np.where(n >= 2, half, np.nan)
        res = agg.drop(columns=["sum", "mean", "median", "std", "count", "size"]).assign(
            metric=name, unit=unit,
            total=pd.array(np.where(n > 0, agg["sum"], np.nan), dtype="Float64"),
            mean=pd.array(agg["mean"], dtype="Float64"),
            # every volume is a non-negative count or amount: clip the interval at 0
            ci_low=pd.array(np.maximum(agg["mean"] - half, 0.0), dtype="Float64"),
            ci_high=pd.array(agg["mean"] + half, dtype="Float64"),
            median=pd.array(agg["median"], dtype="Float64"),
            n_reports=agg["count"].astype("int64"),
            n_excluded=(agg["size"] - agg["count"]).astype("int64"),
            small=(n < min_n))
        parts.append(res)
    return _ordered(_finish(parts, by, "metric", VOLUME_COLUMNS, _report_keys(tables)), names)


def report_table(tables: Any, columns: Sequence[str] = (
        "new", "carried_over", "handled", "carried_forward", "granted", "partly_granted",
        "withheld", "unavailable", "rejected", "other_handling", "review__total",
        "litigation_direct__total", "litigation_after_review__total"),
        rate_names: Sequence[str] = ("substantive_disclosure_rate", "backlog_rate"),
        meta: Sequence[str] = ("agency", "year", "template", "status")) -> pd.DataFrame:
    """One row per report: metadata, chosen quantities and per-report rates (for profiles).

    Per-report rates are NA where the denominator is 0 or unknown.
    """
    if _is_scan(tables):   # one row per report: read the selection (e.g. one agency's)
        tables = tables.load()
    q = report_quantities(tables)
    out = tables.reports.set_index("report_id")[list(meta)].join(q[list(columns)])
    for name in rate_names:
        num, den = RATES[name].per_report(q)
        out[name] = (num / den.where(den > 0)).astype("Float64")
    sort = [c for c in ("year", "agency") if c in out]
    return out.sort_values(sort).reset_index() if sort else out.reset_index()


# --------------------------------------------------------------------------- data quality
def status_counts(reports: Any, by: Sequence[str] | str | None = None) -> pd.DataFrame:
    """Number of files per parse status (ok / partial / failed), optionally per group.

    Takes the reports frame or the tables (a PanelScan reads only ``by`` and status)."""
    by = _check_by(_report_keys(reports), by)
    reports = _reports_of(reports, [*by, "status"])
    counts = reports.groupby(by + ["status"], observed=False, dropna=False).size()
    return counts.rename("n_reports").reset_index()


def check_counts(tables: Any, by: Sequence[str] | str | None = ("rule",)) -> pd.DataFrame:
    """Consistency problems: number of check rows and of distinct reports per group.

    ``by`` may name columns of ``checks`` (rule, section, ...) or of ``reports``.
    """
    by = [by] if isinstance(by, str) else list(by or [])
    if _is_scan(tables):   # the checks of the selected reports, and the report columns asked
        from .store import COLUMNS

        tables = tables.checks_view([b for b in by if b not in COLUMNS["checks"]])
    checks = _need(tables, "checks")
    extra = [b for b in by if b not in checks.columns]
    if extra:
        _check_by(tables.reports, extra)
        checks = checks.merge(tables.reports[["report_id", *extra]], on="report_id", how="left")
    if checks.empty:
        return pd.DataFrame({**{b: pd.Series([], dtype=checks[b].dtype) for b in by},
                             "n_checks": pd.Series([], dtype="int64"),
                             "n_reports": pd.Series([], dtype="int64")})
    agg = checks.groupby(by, observed=True, dropna=False).agg(
        n_checks=("report_id", "size"), n_reports=("report_id", "nunique"))
    return agg.reset_index().sort_values("n_checks", ascending=False, kind="stable")


def _need(tables: Any, name: str) -> pd.DataFrame:
    frame = getattr(tables, name, None)
    if frame is None:
        raise ValueError(f"this Panel has no {name!r} rows loaded; use "
                         "panel.attach(checks=True, na_cells=True) first")
    return frame


PLACEHOLDERS = {"/", "-", "--", "—", "——", "／", "－", "─"}


MISSING_COLUMNS = ["report_id", "source_file", "agency", "year", "table", "row", "column",
                   "raw", "reason"]


def _no_missing_values() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="str") for c in MISSING_COLUMNS})


def missing_values(tables: Any, limit: int | None = None) -> pd.DataFrame:
    """Every NA cell of disclosure / applications / reviews and why it is NA.

    Columns: ``report_id, source_file, agency, year, table, row, column, raw, reason``.
    ``row``/``column`` are (item, measure), (row, applicant) or (proceeding, outcome).
    The reason is the message of the most specific matching ``checks`` row (same report
    and section, then: same row and column; same row; check column naming the cell's row
    or column; a check about the whole table), else "placeholder in source" for "/"-like
    cells, else "no reason recorded".  ``limit``: only the first that many rows (a
    PanelScan then reads no further than it needs).
    """
    if _is_scan(tables):   # a row group of NA cells at a time, with their reports' checks
        parts, n = [], 0
        for view in tables.na_views():
            parts.append(missing_values(view))
            n += len(parts[-1])
            if limit is not None and n >= limit:
                break
        if not parts:
            return _no_missing_values()
        out = pd.concat(parts, ignore_index=True)
        return out if limit is None else out.head(limit)
    specs = (("disclosure", "item", "measure"), ("applications", "row", "applicant"),
             ("reviews", "proceeding", "outcome"))
    parts = []
    for table, rcol, ccol in specs:
        frame = _need(tables, table)
        na = frame[frame["value"].isna()]
        parts.append(pd.DataFrame({
            "report_id": na["report_id"].astype("str"), "table": table,
            "row": na[rcol].astype("str"), "column": na[ccol].astype("str"),
            "raw": na["raw"].astype("str") if "raw" in na else ""}))
    cols = MISSING_COLUMNS
    out = pd.concat(parts, ignore_index=True)
    if out.empty:
        return _no_missing_values()
    checks = _need(tables, "checks")
    chk = pd.DataFrame({"report_id": checks["report_id"].astype("str"),
                        "table": checks["section"].astype("str"),
                        "c_row": checks["row"].astype("str").fillna(""),
                        "c_col": checks["column"].astype("str").fillna(""),
                        "message": checks["message"].astype("str")})
    # most specific first: same cell; same row; the check's column names the cell's row
    # or column (e.g. a proceeding of section 四); a check about the whole table
    candidates = [
        (chk, ["report_id", "table", "c_row", "c_col"], ["report_id", "table", "row", "column"]),
        (chk, ["report_id", "table", "c_row"], ["report_id", "table", "row"]),
        (chk, ["report_id", "table", "c_col"], ["report_id", "table", "row"]),
        (chk, ["report_id", "table", "c_col"], ["report_id", "table", "column"]),
        (chk[(chk["c_row"] == "") & (chk["c_col"] == "")], ["report_id", "table"],
         ["report_id", "table"]),
    ]
    reason = pd.Series(pd.NA, index=out.index, dtype="str")
    for source, right, left in candidates:
        source = source[source[right[-1]] != ""] if len(right) > 2 else source
        found = out[left].merge(source.drop_duplicates(right)[right + ["message"]],
                                left_on=left, right_on=right, how="left")["message"]
        reason = reason.fillna(pd.Series(found.to_numpy(), index=out.index, dtype="str"))
    raw = out["raw"].fillna("").str.strip()
    reason = reason.fillna(pd.Series(np.where(raw.isin(PLACEHOLDERS),
                                              "placeholder in source: " + raw,
                                              "no reason recorded"), index=out.index))
    out["reason"] = reason.astype("str")
    meta = tables.reports[["report_id", "source_file", "agency", "year"]].assign(
        report_id=lambda d: d["report_id"].astype("str"))
    out = out.merge(meta, on="report_id", how="left")
    return out[cols] if limit is None else out[cols].head(limit)


GAP_COLUMNS = ["report_id", "source_file", "agency", "year", "template", "status", "error"]
_HAS = ["has_disclosure", "has_applications", "has_reviews"]


def missing_tables(tables: Any) -> pd.DataFrame:
    """Per report: whether sections 二, 三, 四 gave any rows (absent tables are not zeros)."""
    if _is_scan(tables):
        return tables.frame(GAP_COLUMNS + _HAS).astype({h: bool for h in _HAS})
    reports = tables.reports
    out = reports[GAP_COLUMNS].copy()
    pre = getattr(tables, "quantities", None)
    for table in ("disclosure", "applications", "reviews"):
        if pre is not None:  # a Panel counted the rows of every table per report
            has = pre.set_index("report_id")[f"has_{table}"].reindex(reports["report_id"])
            out[f"has_{table}"] = has.fillna(False).astype(bool).to_numpy()
            continue
        present = set(getattr(tables, table)["report_id"].astype("str"))
        out[f"has_{table}"] = reports["report_id"].astype("str").isin(present).to_numpy()
    return out


def table_gaps(tables: Any) -> pd.DataFrame:
    """The rows of :func:`missing_tables` for reports where a section's table is absent
    (a PanelScan reads only those reports)."""
    if _is_scan(tables):
        import pyarrow.compute as pc

        every = pc.field(_HAS[0]) & pc.field(_HAS[1]) & pc.field(_HAS[2])
        return tables.frame(GAP_COLUMNS + _HAS, where=~every).astype({h: bool for h in _HAS})
    tabs = missing_tables(tables)
    return tabs[~tabs[_HAS].all(axis=1)].reset_index(drop=True)


def problem_reports(tables: Any) -> pd.DataFrame:
    """Reports whose parse status is not ``ok`` (partial, failed), with the error
    (a PanelScan reads only those reports)."""
    if _is_scan(tables):
        import pyarrow.compute as pc

        return tables.frame(GAP_COLUMNS, where=pc.field("status") != "ok")
    reports = _reports_of(tables, GAP_COLUMNS)
    return reports.loc[reports["status"].astype("str") != "ok", GAP_COLUMNS].reset_index(drop=True)


def missing_summary(tables: Any) -> pd.DataFrame:
    """NA cells counted by table and reason (from :func:`missing_values`, or its result
    when that is what is passed)."""
    if _is_scan(tables):
        return _missing_summary_streamed(tables)
    na = tables if isinstance(tables, pd.DataFrame) else missing_values(tables)
    if na.empty:
        return pd.DataFrame({"table": pd.Series([], dtype="str"),
                             "reason": pd.Series([], dtype="str"),
                             "n_cells": pd.Series([], dtype="int64"),
                             "n_reports": pd.Series([], dtype="int64")})
    agg = na.groupby(["table", "reason"], sort=True).agg(
        n_cells=("report_id", "size"), n_reports=("report_id", "nunique"))
    return agg.reset_index().sort_values("n_cells", ascending=False, kind="stable")


def _missing_summary_streamed(scan: Any, exact: bool = False) -> pd.DataFrame:
    """:func:`missing_summary` of a PanelScan, a row group of NA cells at a time: cells
    are counted per (table, reason); a report is counted once per (table, reason) by
    carrying the last report of each row group into the next (the long tables are in
    report_id order).  Out of order (not written by gx parse): every report is kept
    (``exact``)."""
    cells: dict[tuple[str, str], int] = {}
    reports: dict[tuple[str, str], int] = {}
    seen: set[tuple[str, str, str]] = set()
    last: tuple[str, str] = ("", "")           # (table, report_id) where the previous part ended
    for view in scan.na_views():
        na = missing_values(view)
        if na.empty:
            continue
        table = str(na["table"].iloc[0])
        ids = na["report_id"].astype("str")
        if not exact and table == last[0] and (ids.iloc[0] < last[1] or
                                               not ids.is_monotonic_increasing):
            return _missing_summary_streamed(scan, exact=True)
        for key, n in na.groupby(["table", "reason"], sort=False).size().items():
            cells[key] = cells.get(key, 0) + int(n)
        for t, r, rid in na[["table", "reason", "report_id"]].drop_duplicates().itertuples(
                index=False, name=None):
            if (t, r, rid) in seen:
                continue
            reports[(t, r)] = reports.get((t, r), 0) + 1
            seen.add((t, r, rid))
        end = str(ids.iloc[-1])
        if not exact:      # only the last report of this part can go on in the next one
            seen = {k for k in seen if k[0] == table and k[2] == end}
        last = (table, end)
    if not cells:
        return missing_summary(pd.DataFrame())
    out = pd.DataFrame([(t, r, n, reports[(t, r)]) for (t, r), n in cells.items()],
                       columns=["table", "reason", "n_cells", "n_reports"])
    out = out.astype({"table": "str", "reason": "str", "n_cells": "int64", "n_reports": "int64"})
    out = out.sort_values(["table", "reason"], kind="stable").reset_index(drop=True)
    return out.sort_values("n_cells", ascending=False, kind="stable")   # as missing_summary
