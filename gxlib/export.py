"""The wide panel for statistics packages (``gx export --wide``): one row per report, one
column per table cell, with the report's metadata, its status and its number of checks.

Column names come from the codebook codes by one rule (:func:`column_name`)::

    <table prefix>_<row code>_<column code>
    dis_<item>_<measure>          section 二  e.g. dis_procurement_amount, dis_regulations_pt
    app_<row>_<applicant>         section 三  e.g. app_new_total, app_granted_np
    rev_<proceeding>_<outcome>    section 四  e.g. rev_review_corrected

* a column code of several words is written as its initials (:func:`short_code`):
  natural_person np, commercial_enterprise ce, research_institution ri,
  social_welfare_org swo, legal_service_org lso, other_org oo; published_total pt,
  prior_items pi, in_force if; one-word codes stay whole (total, amount, corrected);
* a row code is written in full, unless a name of that row would exceed Stata's 32
  characters: then each of its words is cut to 4 letters for every column of the row
  (:func:`row_code`: ``app_unav_need_crea_np``, ``rev_liti_afte_revi_corrected``).

The same names are used in every format, so a script moves between CSV, Excel, Stata, R and
Parquet without renaming.  Every column carries a label (Chinese, from the codebook, within
Stata's 80 characters; the English one is in the variables sheet).

A cell that is not in the report's layout (2019 vs 2021) or that the parser was not sure
of is NA, never 0: ``n_checks`` counts the report's rows in ``checks.csv``, which say why.

Outputs in OUT_DIR (each staged under a temporary name and moved into place)::

    wide.csv            UTF-8 with BOM (Excel opens it directly)
    wide.xlsx           sheet ``data`` and sheet ``variables`` (name, labels, codes)
    wide.dta            Stata 14+ (format 118): variable labels, value labels for the coded
                        metadata (status, template, level, year_source), Chinese intact
    wide.parquet        typed (categoricals for the coded columns)
    wide_variables.csv  the variables sheet as CSV (for R and scripts)
"""
from __future__ import annotations

import os
import sys
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path


STATA_NAME_MAX = 32      # characters in a Stata variable name
STATA_LABEL_MAX = 80     # characters in a Stata variable label
XLSX_MAX_ROWS = 1_048_576  # rows in an Excel sheet, the header included

PREFIX = {"disclosure": "dis", "applications": "app", "reviews": "rev"}
# (table, codebook variable of the row dimension, of the column dimension)
DIMENSIONS = {
    "disclosure": ("item", "measure"),
    "applications": ("row", "applicant"),
    "reviews": ("proceeding", "outcome"),
}
SECTION_ZH = {"disclosure": "主动公开", "applications": "依申请", "reviews": "复议诉讼"}
SECTION_EN = {"disclosure": "disclosure", "applications": "applications", "reviews": "review/litigation"}

# metadata columns whose codebook ``field`` label is missing: their Chinese / English label
_META_LABELS = {
    "sha256": ("文件SHA-256", "SHA-256 of the raw file"),
    "title": ("报告标题", "report title"),
    "year_source": ("年份来源", "where the year came from"),
    "published": ("发布日期", "publication date"),
    "format": ("文件格式", "file format"),
    "url": ("来源网址", "source address"),
}
FORMATS = ("csv", "xlsx", "dta", "parquet")


def short_code(code: str) -> str:
    """A column code in a wide name: its word initials when it has several words
    (natural_person -> np, published_total -> pt), else the code itself (total, amount)."""
    words = code.split("_")
    return "".join(w[0] for w in words) if len(words) > 1 else code


def row_code(table: str, row: str, columns: list[str], limit: int = STATA_NAME_MAX) -> str:
    """A row code in a wide name: in full, unless a name of that row would exceed
    ``limit``; then every word is cut to the same largest length (4 letters or fewer)
    that fits for all of the row's columns (unavailable_needs_creation -> unav_need_crea)."""
    prefix = PREFIX[table]
    longest = max(len(short_code(c)) for c in columns)
    if len(prefix) + len(row) + longest + 2 <= limit:
        return row
    words = row.split("_")
    for k in range(4, 0, -1):
        cut = "_".join(w[:k] for w in words)
        if len(prefix) + len(cut) + longest + 2 <= limit:
            return cut
    raise ValueError(f"{table}: row {row} cannot be named in {limit} characters")


def column_name(table: str, row: str, column: str, columns: list[str] | None = None) -> str:
    """The wide column of one cell: ``<prefix>_<row code>_<short column code>`` (see the
    module docstring); ``columns`` are all column codes of the row (default: the table's)."""
    cols = columns or [c for _, c in _cell_pairs(table)]
    return f"{PREFIX[table]}_{row_code(table, row, cols)}_{short_code(column)}"


@dataclass(frozen=True)
class Variable:
    name: str
    table: str          # reports (metadata) or disclosure / applications / reviews
    row: str            # row code (item, row, proceeding); empty for metadata
    column: str         # column code (measure, applicant, outcome); empty for metadata
    label_zh: str
    label_en: str
    unit: str = ""


def _cell_pairs(table: str) -> list[tuple[str, str]]:
    """Every (row, column) code pair of a table in either layout, in codebook order."""
    from .store import codes
    from .tables import APPLICANTS, DISCLOSURE, OUTCOMES, PROCEEDINGS, application_rows

    if table == "disclosure":
        out = []
        for item in codes("item"):
            measures = [m for t in ("2019", "2021") for m in DISCLOSURE[t].get(item, [])]
            seen = set(measures)
            out += [(item, m) for m in codes("measure") if m in seen]
        return out
    if table == "applications":
        rows = set(application_rows("2019")) | set(application_rows("2021"))
        return [(r, a) for r in codes("row") if r in rows for a in codes("applicant") if a in APPLICANTS]
    return [(p, o) for p in codes("proceeding") if p in PROCEEDINGS for o in codes("outcome") if o in OUTCOMES]


def _short(text: str, limit: int = STATA_LABEL_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cell_variables() -> list[Variable]:
    """The cell columns of the wide panel, in order (section 二, 三, 四)."""
    from .store import label

    out: list[Variable] = []
    for table, (rv, cv) in DIMENSIONS.items():
        pairs = _cell_pairs(table)
        for row, col in pairs:
            zh = f"{SECTION_ZH[table]}·{label(rv, row)}·{label(cv, col)}"
            en = f"{SECTION_EN[table]}: {label(rv, row, 'en')} / {label(cv, col, 'en')}"
            unit = "wan_yuan" if (table, col) == ("disclosure", "amount") else "count"
            row_cols = [c for r, c in pairs if r == row]
            out.append(Variable(column_name(table, row, col, row_cols), table, row, col, _short(zh), _short(en), unit))
    names = [v.name for v in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:  # the rule must give distinct names; a codebook change that breaks it is loud
        raise ValueError(f"wide column names collide: {dupes}")
    return out


def _meta_label(column: str) -> tuple[str, str]:
    from .store import label

    if column in _META_LABELS:
        return _META_LABELS[column]
    zh, en = label("field", column), label("field", column, "en")
    return zh, en  # the column name itself when the codebook has no label


CODED_META = {"template": "template", "level": "level", "status": "status", "year_source": "year_source"}


def wide(data_dir: str | Path = "data/processed") -> pd.DataFrame:
    """One row per report (in ``reports`` order): the metadata columns, ``n_checks`` and
    one float column per cell (NA where the report has no such cell or it is uncertain).
    Coded metadata columns stay categoricals of codebook codes."""
    import pandas as pd

    import gxlib

    t = gxlib.load(data_dir)
    reports = t.reports.reset_index(drop=True)
    ids = reports["report_id"].astype("str")
    meta = reports.copy()
    n_checks = t.checks["report_id"].astype("str").value_counts()
    meta.insert(meta.columns.get_loc("error") + 1 if "error" in meta else len(meta.columns),
                "n_checks", ids.map(n_checks).fillna(0).astype("int64").to_numpy())
    variables = cell_variables()
    frames = []
    for table, (rv, cv) in DIMENSIONS.items():
        long = getattr(t, table)[["report_id", rv, cv, "value"]]
        names = {(v.row, v.column): v.name for v in variables if v.table == table}
        key = pd.Series(list(zip(long[rv].astype("str"), long[cv].astype("str"))), index=long.index)
        col = key.map(names)
        unknown = sorted(set(key[col.isna()]))
        if unknown:
            raise ValueError(f"{data_dir}: {table} has cells outside the layouts: {unknown[:5]}")
        part = pd.DataFrame({"report_id": long["report_id"].astype("str").to_numpy(),
                             "name": col.to_numpy(),
                             "value": pd.to_numeric(long["value"]).astype("float64").to_numpy()})
        frames.append(part.pivot(index="report_id", columns="name", values="value"))
    cells = pd.concat(frames, axis=1) if frames else pd.DataFrame()
    cells = cells.reindex(index=ids.to_numpy(), columns=[v.name for v in variables]).astype("float64")
    cells.index = meta.index
    return pd.concat([meta, cells], axis=1)


def variables(panel: pd.DataFrame) -> pd.DataFrame:
    """The variables sheet: name, table, row and column codes, unit, Chinese and English
    label, for every column of ``panel`` (a :func:`wide` frame)."""
    import pandas as pd

    cellvars = {v.name: v for v in cell_variables()}
    rows = []
    for c in panel.columns:
        if c in cellvars:
            v = cellvars[c]
            rows.append((v.name, v.table, v.row, v.column, v.unit, v.label_zh, v.label_en))
        else:
            zh, en = _meta_label(c)
            rows.append((c, "reports", "", "", "", _short(zh), _short(en)))
    return pd.DataFrame(rows, columns=["name", "table", "row", "column", "unit", "label_zh", "label_en"])


def _plain(panel: pd.DataFrame) -> pd.DataFrame:
    """Codes as plain strings, NA as empty text (for CSV and Excel)."""
    import pandas as pd

    out = panel.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype) or out[c].dtype == "str" or out[c].dtype == object:
            out[c] = out[c].astype("str").where(out[c].notna(), "")
    return out


def _stata_frame(panel: pd.DataFrame) -> tuple[pd.DataFrame, dict, list[str]]:
    """The frame Stata gets: coded metadata as integers 1..n with value labels (the
    codebook's Chinese labels), years as floats (Stata missing for NA), text as str."""
    import pandas as pd

    from .store import codes, label

    df = panel.copy()
    value_labels: dict[str, dict[int, str]] = {}
    for col, var in CODED_META.items():
        if col not in df:
            continue
        values = df[col].astype("str").where(df[col].notna(), "")
        known = codes(var)
        extra = sorted(set(values) - set(known) - {""})
        order = known + extra
        number = {c: i + 1 for i, c in enumerate(order)}
        df[col] = values.map(lambda v: number.get(v, float("nan"))).astype("float64")
        value_labels[col] = {i + 1: label(var, c) for i, c in enumerate(order)}
    strl = []
    for c in df.columns:
        dt = df[c].dtype
        if isinstance(dt, pd.CategoricalDtype) or dt == "str" or dt == object:
            df[c] = df[c].astype("str").where(df[c].notna(), "").astype(object)
            longest = max((len(s.encode("utf-8")) for s in df[c]), default=0)
            if longest > 2000:
                strl.append(c)   # beyond str2045: Stata's long-string type
        elif str(dt) in ("Int64", "Int32", "Int16", "Int8", "Float64", "boolean"):
            df[c] = df[c].astype("float64")
    return df, value_labels, strl


def write_wide(data_dir: str | Path = "data/processed", out_dir: str | Path = "wide",
               formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write the wide panel of ``data_dir`` into ``out_dir`` in each of ``formats``, plus
    ``wide_variables.csv``; returns the paths written.  Files are written in a staging
    folder inside ``out_dir`` and moved into place only when all of them are complete."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown format(s) {sorted(unknown)}; choose from {', '.join(FORMATS)}")
    panel = wide(data_dir)
    labels = variables(panel)
    if "xlsx" in formats and len(panel) + 1 > XLSX_MAX_ROWS:
        raise ValueError(f"{len(panel):,} reports do not fit in an Excel sheet ({XLSX_MAX_ROWS:,} rows); "
                         "leave xlsx out (--format csv,dta,parquet)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".wide-", dir=out))
    try:
        written = []
        if "csv" in formats:
            _plain(panel).to_csv(stage / "wide.csv", index=False, encoding="utf-8-sig")
            written.append("wide.csv")
        if "xlsx" in formats:
            _write_xlsx(_plain(panel), labels, stage / "wide.xlsx")
            written.append("wide.xlsx")
        if "dta" in formats:
            df, value_labels, strl = _stata_frame(panel)
            df.to_stata(stage / "wide.dta", write_index=False, version=118,
                        variable_labels=dict(zip(labels["name"], labels["label_zh"])),
                        value_labels=value_labels, convert_strl=strl,
                        data_label=_short(f"gxlib 宽表：{Path(data_dir).name}"))
            written.append("wide.dta")
        if "parquet" in formats:
            panel.to_parquet(stage / "wide.parquet", index=False)
            written.append("wide.parquet")
        labels.to_csv(stage / "wide_variables.csv", index=False, encoding="utf-8-sig")
        written.append("wide_variables.csv")
        for name in written:
            os.chmod(stage / name, 0o644)
            os.replace(stage / name, out / name)
        return [out / name for name in written]
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _write_xlsx(panel: pd.DataFrame, labels: pd.DataFrame, path: Path) -> None:
    """Sheet ``data`` (a frozen header row) and sheet ``variables``."""
    import pandas as pd

    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        panel.to_excel(xw, sheet_name="data", index=False)
        labels.to_excel(xw, sheet_name="variables", index=False)
        xw.sheets["data"].freeze_panes = "B2"
        xw.sheets["variables"].freeze_panes = "B2"
        for sheet, widths in (("variables", {"A": 34, "F": 50, "G": 50}),):
            for col, w in widths.items():
                xw.sheets[sheet].column_dimensions[col].width = w


# --------------------------------------------------------------------------- gx export
def add_arguments(p) -> None:
    """The options of ``gx export``."""
    p.add_argument("--wide", metavar="OUT_DIR", required=True,
                   help="write the wide panel (one row per report, one column per cell) into OUT_DIR")
    p.add_argument("--data", default="data/processed",
                   help="tidy tables written by `gx parse` (default: data/processed)")
    p.add_argument("--format", default=",".join(FORMATS),
                   help=f"comma-separated formats among {','.join(FORMATS)} (default: all)")


def run(args) -> int:
    """``gx export --wide OUT_DIR [--data DATA_DIR] [--format csv,xlsx,dta,parquet]``."""
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    try:
        paths = write_wide(args.data, args.wide, formats)
    except (FileNotFoundError, ValueError) as exc:
        print(f"gx export: {exc}", file=sys.stderr)
        return 2
    for p in paths:
        print(f"wrote {p}")
    return 0
