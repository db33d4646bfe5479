"""One report file -> records of every contract table; a folder -> all tables.

The flow is one-way: reader (bytes -> Document) -> table core (labels -> coded cells)
-> checks -> records.  A bad file never stops a batch: it becomes a ``failed`` or
``partial`` row of ``reports`` with a reason a person understands.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import asdict
from pathlib import Path

from . import agencies
from . import checks as rules
from . import meta as metamod
from . import regions
from .listing import list_inputs  # noqa: F401 - part of this module's interface
from .readers import ReadError, read
from .tables import Check, Tables, normalize, parse_tables

REPORT_COLUMNS = [
    "report_id", "source_file", "sha256", "title", "agency", "year", "year_source", "published", "template",
    "province", "prefecture", "county", "division_code", "level", "status", "error", "format", "url",
    "text_source",
]
# issue 23: where the division came from; whose applications the tables count (own / area)
REPORT_COLUMNS += ["region_source", "scope", "scope_source"]
# issue 23: computed by `gx parse` over every report of the folder when it exports
# (gxlib.pipeline._export: agencies.assign, checks.find_duplicates); empty in one file's parse
REPORT_COLUMNS += ["agency_id", "duplicate_of"]
DISCLOSURE_COLUMNS = ["report_id", "item", "measure", "value", "unit", "raw"]
APPLICATION_COLUMNS = ["report_id", "row", "applicant", "value", "raw"]
REVIEW_COLUMNS = ["report_id", "proceeding", "outcome", "value", "raw"]
CHECK_COLUMNS = ["report_id", "rule", "section", "row", "column", "expected", "observed", "message"]

MANIFEST_NAME = "manifest.csv"
_SECTION_ZH = {"disclosure": "二", "applications": "三", "reviews": "四"}


def report_id(source_file: str, sha256: str) -> str:
    """Stable id: the same file (relative path and bytes) gives the same id everywhere."""
    return hashlib.sha256(f"{source_file}\n{sha256}".encode()).hexdigest()[:16]


def read_manifest(raw_dir: Path) -> dict[str, dict]:
    """``RAW_DIR/manifest.csv``: file, agency, year, division_code, url, ... (overrides)."""
    path = raw_dir / MANIFEST_NAME
    if not path.is_file():
        return {}
    text = path.read_bytes().decode("utf-8-sig")
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        name = (row.get("file") or "").strip()
        if name:
            out[name.replace("\\", "/")] = {k: (v or "").strip() for k, v in row.items() if k}
    return out


def parse_bytes(data: bytes, source_file: str, manifest_row: dict | None = None, path: Path | None = None) -> dict:
    """Parse one file's bytes.  Returns plain records (picklable, cheap to pass between
    processes): ``{"report": {...}, "disclosure": [...], "applications": [...],
    "reviews": [...], "checks": [...]}``, every record with its ``report_id``."""
    result = parse_rows(data, source_file, manifest_row, path)
    rid = result["report"]["report_id"]
    for name in ("disclosure", "applications", "reviews"):
        result[name] = [{"report_id": rid, **r} for r in result[name]]
    result["checks"] = [{"report_id": rid, **asdict(c)} for c in result["checks"]]
    return result


def parse_rows(data: bytes, source_file: str, manifest_row: dict | None = None, path: Path | None = None) -> dict:
    """:func:`parse_bytes` without the ``report_id`` in every row: the rows of the three
    tables as the table core gives them, and the checks as :class:`Check` objects.
    ``path``: where the file is, when the reader needs its neighbours (the images saved
    beside an HTML page); default ``source_file``."""
    sha = hashlib.sha256(data).hexdigest()
    rid = report_id(source_file, sha)
    report = {c: "" for c in REPORT_COLUMNS}
    report.update(report_id=rid, source_file=source_file, sha256=sha, year=None, level="unknown")
    result = {"report": report, "disclosure": [], "applications": [], "reviews": [], "checks": []}
    try:
        doc = read(path if path is not None else Path(source_file), data)
    except ReadError as err:
        report.update(status="failed", error=str(err), format=Path(source_file).suffix.lstrip(".").lower())
        _apply_manifest(report, manifest_row, "")
        return result
    except Exception as err:  # a reader bug must not stop the batch
        report.update(status="failed", error=f"could not read the file ({type(err).__name__}: {err})")
        _apply_manifest(report, manifest_row, "")
        return result
    report["format"] = doc.format
    report["text_source"] = doc.text_source
    text = normalize(doc.text)
    if not text or text.isspace():  # (= not text.strip(), without copying the text)
        report.update(status="failed", error="empty file (no text)")
        _apply_manifest(report, manifest_row, "")
        return result
    internal = None
    try:
        tables = parse_tables(text, doc.explicit_cells, normalized=True)
    except Exception as err:  # never crash a batch on one file; but say it was our fault
        internal = f"internal error in the table parser ({type(err).__name__}: {err})"
        tables = Tables()
        tables.checks.append(Check("parser_error", "report", message=f"{type(err).__name__}: {err}"))
    if doc.postprocess is not None:  # e.g. OCR'd cells held to their scores and identities
        tables = doc.postprocess(tables)
    m = metamod.extract(text, doc.title, doc.published, normalized=True)
    report.update(title=m.title, agency=m.agency, year=m.year, year_source=m.year_source,
                  published=m.published, template=tables.template or "")
    _apply_manifest(report, manifest_row, text)
    claim = _apply_scope(report, text, tables.applications)
    checks = list(tables.checks) + claim
    checks += rules.application_checks(tables.applications)
    checks += rules.review_checks(tables.reviews)
    present = [s for s in ("disclosure", "applications", "reviews") if getattr(tables, s)]
    missing = [s for s in ("disclosure", "applications", "reviews") if not getattr(tables, s)]
    if not present:
        report["template"] = ""
        report["status"] = "failed"
        report["error"] = internal or _no_tables_reason(text, m)
    else:
        problems = []
        for s in missing:
            checks.append(Check("missing_table", s, message=f"section {_SECTION_ZH[s]} table not found"))
            problems.append(f"section {_SECTION_ZH[s]} table not found")
        if tables.missing_rows:
            problems.append(f"{tables.missing_rows} row(s) not found, see checks")
        if tables.uncertain:
            problems.append(f"{tables.uncertain} cell(s) left NA, see checks")
        report["status"] = "partial" if problems else "ok"
        report["error"] = "; ".join(problems)
    result["disclosure"] = tables.disclosure
    result["applications"] = tables.applications
    result["reviews"] = tables.reviews
    result["checks"] = checks
    return result


def _no_tables_reason(text: str, m: metamod.Meta) -> str:
    if m.title or re.search(r"政府信息公开|政务公开", text):
        if len(text.strip()) < 800:
            return "no statistical tables: the page holds only a title or a short text (tables may be images or attachments)"
        return "no statistical tables found in the text (tables may be images or attachments)"
    return "not a government information-disclosure annual report (no title, no statistical tables)"


def _apply_scope(report: dict, text: str, applications: list[dict]) -> list[Check]:
    """``scope`` (own / area / empty) and ``scope_source`` (:func:`agencies.scope_and_claims`);
    returns a ``claim_total`` check when the text's number of applications is not the
    table's 新收 总计 (the document disagrees with itself, or they count different bodies)."""
    totals = {r["row"]: r["value"] for r in applications
              if r["applicant"] == "total" and r["row"] in ("new", "carried_over")}
    kind = agencies.agency_kind(report["agency"], report["division_code"], report["year"])
    report["scope"], report["scope_source"], claim = agencies.scope_and_claims(
        text, kind, totals.get("new"), totals.get("carried_over"))
    if claim is None:
        return []
    cls, n, sentence = claim
    table = int(totals["new"])
    return [Check("claim_total", "applications", "new", "total", str(n), str(table),
                  f"the text says {n} applications ({agencies._quote(sentence, 70)}) but the table's "
                  f"本年新收 总计 is {table}: the report disagrees with itself, or the two count different "
                  f"bodies ({'own' if cls == 'own' else 'whole area'} in the text); scope left empty")]


def _apply_manifest(report: dict, row: dict | None, text: str) -> None:
    """Region inference, then manifest overrides (manifest wins over inference)."""
    row = row or {}
    if row.get("agency"):
        report["agency"] = row["agency"]
    if row.get("year"):
        try:
            report["year"] = int(float(row["year"]))
            report["year_source"] = "manifest"
        except ValueError:
            pass
    if row.get("published"):
        report["published"] = row["published"]
    if row.get("url"):
        report["url"] = row["url"]
    year = report.get("year")
    if row.get("division_code"):
        reg = regions.resolve_code(row["division_code"], year)
    else:
        reg = regions.infer(report.get("agency") or "", text, year)
    report.update(province=reg.province, prefecture=reg.prefecture, county=reg.county,
                  division_code=reg.division_code, level=reg.level or "unknown",
                  region_source=reg.region_source)
    for col in ("province", "prefecture", "county", "level"):
        if row.get(col):
            report[col] = row[col]
