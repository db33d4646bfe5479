"""Small hand-made tables that follow data-contract.md exactly (for metric/notebook tests).

Code columns are ordered categoricals in codebook order, ``value`` is Float64, ``year``
Int64, text columns ``str`` -- the dtypes ``gxlib.load`` promises.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from gxlib.store import COLUMNS, TidyTables as Tables  # noqa: F401  (re-exported for the tests)
from gxlib.store import typed as _typed
from gxlib.tables import APPLICANTS


def typed(name: str, records: list[dict]) -> pd.DataFrame:
    """A contract-typed frame for table ``name`` from a list of dicts (missing keys: NA/""),
    in the order given -- the same typing ``gxlib.load`` applies."""
    return _typed(name, pd.DataFrame(records, columns=COLUMNS[name]), sort=False)


def report(report_id: str, agency: str, year: int | None, template: str = "2021",
           province: str = "安徽省", prefecture: str = "", level: str = "county",
           status: str = "ok", error: str = "", division_code: str = "") -> dict:
    return {"report_id": report_id, "source_file": f"{report_id}.txt", "sha256": "0" * 64,
            "title": f"{agency}{year}年政府信息公开工作年度报告", "agency": agency, "year": year,
            "year_source": "title", "published": "", "template": template,
            "province": province, "prefecture": prefecture, "county": "",
            "division_code": division_code, "level": level, "status": status, "error": error}


def application_rows(report_id: str, totals: dict[str, float | None],
                     parts: dict[str, dict[str, float | None]] | None = None) -> list[dict]:
    """Rows for one report: ``totals`` gives the 总计 column per row code; applicant
    columns default to the whole total on natural_person and 0 elsewhere unless ``parts``
    gives them explicitly (row -> applicant -> value)."""
    out = []
    for row, total in totals.items():
        given = (parts or {}).get(row)
        for applicant in APPLICANTS:
            if applicant == "total":
                value = total
            elif given is not None:
                value = given.get(applicant, 0)
            else:
                value = total if applicant == "natural_person" else 0
            raw = "/" if value is None else ("" if value == 0 else str(value))
            out.append({"report_id": report_id, "row": row, "applicant": applicant,
                        "value": value, "raw": raw})
    return out


ROWS_2021 = ["new", "carried_over", "granted", "partly_granted", "withheld_state_secret",
             "withheld_prohibited", "withheld_security", "withheld_third_party",
             "withheld_internal", "withheld_process", "withheld_enforcement", "withheld_query",
             "unavailable_not_held", "unavailable_needs_creation", "unavailable_unclear",
             "rejected_petition", "rejected_duplicate", "rejected_publication",
             "rejected_excessive", "rejected_confirmation", "other_no_correction",
             "other_no_fee", "other_misc", "handled_total", "carried_forward"]
ROWS_2019 = [r for r in ROWS_2021 if not r.startswith("other_")]
ROWS_2019.insert(ROWS_2019.index("handled_total"), "other")


def full_section3(report_id: str, template: str = "2021", **given: float | None) -> list[dict]:
    """A complete section 三 with zeros except the rows given as keyword arguments."""
    rows = ROWS_2021 if template == "2021" else ROWS_2019
    return application_rows(report_id, {r: given.get(r, 0) for r in rows})


def review_rows(report_id: str, **cells: float | None) -> list[dict]:
    """All 15 section-四 cells, zero unless given as ``<proceeding>__<outcome>=value``."""
    out = []
    for proceeding in ("review", "litigation_direct", "litigation_after_review"):
        for outcome in ("upheld", "corrected", "other", "pending", "total"):
            value = cells.get(f"{proceeding}__{outcome}", 0)
            out.append({"report_id": report_id, "proceeding": proceeding, "outcome": outcome,
                        "value": value, "raw": "" if value is None else str(value)})
    return out


def tables(reports=(), disclosure=(), applications=(), reviews=(), checks=()) -> Tables:
    return Tables(typed("reports", list(reports)), typed("disclosure", list(disclosure)),
                  typed("applications", list(applications)), typed("reviews", list(reviews)),
                  typed("checks", list(checks)))


def write_processed(t: Tables, folder: Path) -> Path:
    """Write the tables as the contract's CSV (utf-8-sig) + Parquet pair."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in t:
        frame.to_csv(folder / f"{name}.csv", index=False, encoding="utf-8-sig")
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def seed_like() -> Tables:
    """Five zero-application reports in the shape of the data/raw seeds (fallback data for
    notebook and render tests until the parser can produce data/processed)."""
    specs = [("r000", "濉溪县公共资源交易中心", 2020, "2019", "安徽省", "淮北市", "county"),
             ("r001", "某市人民政府", 2019, "2019", "河南省", "驻马店市", "prefecture"),
             ("r002", "某县财政局", 2019, "2019", "江西省", "九江市", "county"),
             ("r003", "某区人民政府办公室", 2020, "2019", "", "", "unknown"),
             ("r004", "市公共资源交易中心", 2024, "2021", "", "", "unknown")]
    reps, disc, apps, revs = [], [], [], []
    for rid, agency, year, template, province, prefecture, level in specs:
        reps.append(report(rid, agency, year, template, province, prefecture, level))
        apps += full_section3(rid, template)
        revs += review_rows(rid)
        if template == "2019":
            disc += [{"report_id": rid, "item": "procurement", "measure": "projects",
                      "value": 3, "unit": "count", "raw": "3"},
                     {"report_id": rid, "item": "procurement", "measure": "amount",
                      "value": 120.5, "unit": "wan_yuan", "raw": "120.5"}]
        else:
            disc.append({"report_id": rid, "item": "fees", "measure": "amount", "value": 0,
                         "unit": "wan_yuan", "raw": "0"})
    return tables(reps, disc, apps, revs)
