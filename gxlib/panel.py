"""The per-report panel: DuckDB over the exported Parquet (or over pandas tables).

:func:`connect` gives a DuckDB connection with the five tables and ``panel``: one row
per report with the quantities the metrics read (``new``, ``handled``, ``withheld``, the
15 review cells, procurement and fees, ``new__<applicant>``, ``has_<table>``), computed
by one SQL query (:func:`panel_sql`). :class:`Panel` is a selection of reports on such a
connection; :mod:`gxlib.metrics` runs its SQL on it. The same code serves a 5-report
folder, in-memory tables and a 10^6-report folder: nothing but the selection's answer
reaches pandas.

For a data folder the panel is computed once and kept as a Parquet file in a cache folder
(``cache_dir``, ``$GXLIB_PANEL_CACHE`` or ``~/.cache/gxlib``), keyed by the size and
modification time of the exports; ``gx render`` prepares it once per run (:func:`prepare`).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

CACHE_ENV = "GXLIB_PANEL_CACHE"
PANEL_VERSION = 6  # 6: agency_id, duplicate_of, scope, cluster, _derived
TABLES = ("reports", "disclosure", "applications", "reviews", "checks")
APPLICANT_PARTS = ("natural_person", "commercial_enterprise", "research_institution", "social_welfare_org",
                   "legal_service_org", "other_org")
WITHHELD = ("withheld_state_secret", "withheld_prohibited", "withheld_security", "withheld_third_party",
            "withheld_internal", "withheld_process", "withheld_enforcement", "withheld_query")
UNAVAILABLE = ("unavailable_not_held", "unavailable_needs_creation", "unavailable_unclear")
REJECTED = ("rejected_petition", "rejected_duplicate", "rejected_publication", "rejected_excessive",
            "rejected_confirmation")
OTHER_2021 = ("other_no_correction", "other_no_fee", "other_misc")
REASON_ROWS = WITHHELD + UNAVAILABLE + REJECTED + ("other",) + OTHER_2021
SINGLE_ROWS = {"new": "new", "carried_over": "carried_over", "handled": "handled_total",
               "carried_forward": "carried_forward", "granted": "granted", "partly_granted": "partly_granted"}
APPLICATION_ROWS = tuple(SINGLE_ROWS.values()) + REASON_ROWS
PROCEEDINGS = ("review", "litigation_direct", "litigation_after_review")
OUTCOMES = ("upheld", "corrected", "other", "pending", "total")
REVIEW_CELLS = tuple(f"{p}__{o}" for p in PROCEEDINGS for o in OUTCOMES)
QUANTITY_COLUMNS = (tuple(SINGLE_ROWS) + ("withheld", "unavailable", "rejected", "other_handling") + REASON_ROWS
                    + REVIEW_CELLS + ("procurement_projects", "procurement_amount", "fee_amount"))
REPORT_COLUMNS = ["report_id", "source_file", "agency", "year", "template", "province", "prefecture", "county",
                  "division_code", "level", "status", "error"]


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _in(values) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _list(values) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]"


def _duckdb():
    """An in-memory DuckDB connection with a 1 GB memory limit (spilling where DuckDB can) and no progress bar."""
    import duckdb

    con = duckdb.connect(config={"memory_limit": "1GB", "threads": 2})
    try:
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:  # (in Jupyter without ipywidgets DuckDB refuses to change it; it shows none there)
        pass
    return con


def _sum(names) -> str:
    """The sum of quantities, NULL when one is NULL (NA is never a zero)."""
    return "(" + " + ".join(f'"{n}"' for n in names) + ")"


def panel_sql(applicant: str = "total", derive_total: bool = False) -> str:
    """One row per report of ``reports``: the report columns and the quantities of the
    ``applicant`` column of section 三 (with ``derive_total``, off by default, a 总计 that
    is NA or absent is the sum of the six applicant columns when all six are known, and
    ``_derived`` marks the report), the review cells, procurement (2019 layout) and fees
    (2021 layout), the new applications per applicant, whether each table gave rows,
    ``_dup`` (a cell given twice), and from ``report_keys`` (:func:`add_report_keys`):
    ``agency_id``, ``duplicate_of``, ``scope`` (own / area / NULL) and ``cluster`` (the
    agency_id, or ``report:<report_id>`` when the agency is unknown)."""
    derive = applicant == "total" and derive_total
    cell = (f"coalesce(CASE WHEN n_own = 1 THEN v_own END, "
            f"CASE WHEN n_parts = {len(APPLICANT_PARTS)} AND k_parts = {len(APPLICANT_PARTS)} THEN s_parts END)"
            if derive else "CASE WHEN n_own = 1 THEN v_own END")
    rows = ",\n".join(f"max(v) FILTER (row = {_lit(r)}) AS \"{r}\"" for r in APPLICATION_ROWS)
    news = ",\n".join(f"max(value) FILTER (row = 'new' AND applicant = {_lit(a)}) AS \"new__{a}\""
                      for a in APPLICANT_PARTS)
    reviews = ",\n".join(f"max(value) FILTER (proceeding = {_lit(p)} AND outcome = {_lit(o)}) AS \"{p}__{o}\""
                         for p in PROCEEDINGS for o in OUTCOMES)
    singles = ", ".join(f'"{row}" AS "{name}"' for name, row in SINGLE_ROWS.items() if name != row)
    return f"""
WITH cells AS (
  SELECT report_id, row,
    count(*) FILTER (applicant = {_lit(applicant)}) AS n_own, max(value) FILTER (applicant = {_lit(applicant)}) AS v_own,
    count(*) FILTER (applicant IN {_in(APPLICANT_PARTS)}) AS n_parts,
    count(value) FILTER (applicant IN {_in(APPLICANT_PARTS)}) AS k_parts,
    sum(value) FILTER (applicant IN {_in(APPLICANT_PARTS)}) AS s_parts,
    sum(1::BIGINT << pos) FILTER (pos IS NOT NULL) <> bit_or(1::BIGINT << pos) FILTER (pos IS NOT NULL) AS dup
  FROM (SELECT *, list_position([{', '.join(_lit(a) for a in (*APPLICANT_PARTS, "total"))}], applicant) AS pos
        FROM applications WHERE row IN {_in(APPLICATION_ROWS)})
  GROUP BY report_id, row),
app AS (
  SELECT report_id, bool_or(dup) AS dup, {rows}
  , bool_or(v IS NOT NULL AND NOT (n_own = 1 AND v_own IS NOT NULL)) AS _derived
  FROM (SELECT *, {cell} AS v FROM cells) GROUP BY report_id),
present AS (SELECT report_id, count(*) AS n FROM applications GROUP BY report_id),
new AS (SELECT report_id, {news} FROM applications WHERE row = 'new' GROUP BY report_id),
rev AS (
  SELECT report_id, sum(1::BIGINT << pos) FILTER (pos IS NOT NULL) <> bit_or(1::BIGINT << pos)
      FILTER (pos IS NOT NULL) AS dup, {reviews}
  FROM (SELECT *, list_position({_list(PROCEEDINGS)}, proceeding) * 8 + list_position({_list(OUTCOMES)}, outcome) AS pos
        FROM reviews)
  GROUP BY report_id),
dis AS (
  SELECT report_id, count(*) FILTER (item = 'procurement' AND measure = 'projects') > 1
      OR count(*) FILTER (item = 'procurement' AND measure = 'amount') > 1
      OR count(*) FILTER (item = 'fees' AND measure = 'amount') > 1 AS dup,
    max(value) FILTER (item = 'procurement' AND measure = 'projects') AS pp,
    max(value) FILTER (item = 'procurement' AND measure = 'amount') AS pa,
    max(value) FILTER (item = 'fees' AND measure = 'amount') AS fa
  FROM disclosure GROUP BY report_id)
SELECT r.report_id, r.source_file, r.agency, r.year, r.template, r.province, r.prefecture, r.county,
  r.division_code, r.level, r.status, r.error, r.format,
  k.agency_id, k.duplicate_of, k.scope,
  coalesce(k.agency_id, 'report:' || r.report_id) AS cluster,
  app.* EXCLUDE (report_id, dup, _derived), coalesce(app._derived, false) AS _derived, {singles},
  {_sum(WITHHELD)} AS withheld, {_sum(UNAVAILABLE)} AS unavailable, {_sum(REJECTED)} AS rejected,
  coalesce("other", {_sum(OTHER_2021)}) AS other_handling,
  rev.* EXCLUDE (report_id, dup),
  CASE WHEN r.template = '2019' THEN dis.pp END AS procurement_projects,
  CASE WHEN r.template = '2019' THEN dis.pa END AS procurement_amount,
  CASE WHEN r.template = '2021' THEN dis.fa END AS fee_amount,
  new.* EXCLUDE (report_id),
  dis.report_id IS NOT NULL AS has_disclosure, present.report_id IS NOT NULL AS has_applications,
  rev.report_id IS NOT NULL AS has_reviews,
  coalesce(app.dup, false) OR coalesce(rev.dup, false) OR coalesce(dis.dup, false) AS _dup,
  row_number() OVER (ORDER BY r.source_file, r.report_id) AS _row
FROM reports r LEFT JOIN report_keys k USING (report_id) LEFT JOIN app USING (report_id) LEFT JOIN present USING (report_id) LEFT JOIN new USING (report_id)
  LEFT JOIN rev USING (report_id) LEFT JOIN dis USING (report_id)
"""


def connect(data_dir: str | Path = "data/processed", cache_dir: str | Path | None = None):
    """A DuckDB connection with views of the five exported tables of ``data_dir`` and
    ``panel`` (from the cached panel file when ``cache_dir``, or else ``$GXLIB_PANEL_CACHE``,
    names a folder; computed by the view itself when neither does, or ``cache_dir=""``)."""
    from .store import reading

    d = Path(data_dir)
    if not (d / "reports.parquet").is_file():
        raise FileNotFoundError(f"{d}: no reports.parquet; run `gx parse RAW_DIR --out {d}` first")
    con = _duckdb()
    with reading(d):
        for name in TABLES:
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({_lit(d.resolve() / (name + '.parquet'))})")
        agencies_pq = d.resolve() / "agencies.parquet"
        add_report_keys(con, str(agencies_pq) if agencies_pq.is_file() else None)
    cache = os.environ.get(CACHE_ENV) if cache_dir is None else cache_dir  # "": computed by the view
    if cache:
        path = prepare(d, cache)
        con.execute(f"CREATE VIEW panel AS SELECT * FROM read_parquet({_lit(path)})")
    else:
        con.execute(f"CREATE VIEW panel AS {panel_sql()}")
    return con


def add_report_keys(con, agencies_parquet: str | None = None, fill_ids: bool = False) -> None:
    """Create ``report_keys`` (report_id, agency_id, duplicate_of, scope; empty text is
    NULL) and ``agencies`` on a connection that has ``reports``.

    The columns are read from ``reports`` when the export has them.  An export without
    ``agency_id`` (made before agency identity was written out) gets it from
    :func:`gxlib.agencies.assign` over its reports (so do tables in memory whose
    ``agency_id`` column is empty throughout, ``fill_ids``), and ``agencies`` from
    :func:`gxlib.agencies.agencies_table`; without ``duplicate_of`` no report is a copy;
    without ``scope`` every report's scope is unknown (NULL), which the metrics count
    and show, never add to either scope."""
    cols = {row[0] for row in con.execute("DESCRIBE reports").fetchall()}

    def col(name: str) -> str:
        return f"nullif(trim(CAST(r.{name} AS VARCHAR)), '')" if name in cols else "CAST(NULL AS VARCHAR)"

    computed = None
    if fill_ids and "agency_id" in cols:
        fill_ids = not con.execute("SELECT count(*) FROM reports WHERE nullif(trim(CAST(agency_id AS VARCHAR)), '') "
                                   "IS NOT NULL").fetchone()[0]
    if "agency_id" not in cols or fill_ids:
        from . import agencies

        rep = con.execute("SELECT report_id, agency, division_code, year FROM reports").df()
        rep["year"] = rep["year"].astype("Int64")
        rep["agency_id"] = agencies.assign(rep)
        computed = rep
        con.register("_ids", rep[["report_id", "agency_id"]].astype("str").where(rep[["report_id", "agency_id"]]
                                                                                  .notna(), None))
        con.execute("CREATE TEMP TABLE _agency_ids AS SELECT * FROM _ids")
        con.unregister("_ids")
        aid = "nullif(trim(i.agency_id), '')"
        join = " LEFT JOIN _agency_ids i USING (report_id)"
    else:
        aid, join = col("agency_id"), ""
    con.execute(f"CREATE TEMP VIEW report_keys AS SELECT r.report_id, {aid} AS agency_id, "
                f"{col('duplicate_of')} AS duplicate_of, {col('scope')} AS scope FROM reports r{join}")
    if agencies_parquet:
        con.execute(f"CREATE VIEW agencies AS SELECT * FROM read_parquet({_lit(agencies_parquet)})")
        return
    from . import agencies

    if computed is None:
        computed = con.execute("SELECT r.report_id, r.agency, r.division_code, r.year, r.level, k.agency_id "
                               "FROM reports r JOIN report_keys k USING (report_id)").df()
    else:
        computed = computed.merge(con.execute("SELECT report_id, level FROM reports").df(), on="report_id")
    computed["year"] = pd_int(computed["year"])
    table = agencies.agencies_table(computed)
    con.register("_agencies", table.astype("object").where(table.notna(), None))
    con.execute("CREATE TEMP TABLE agencies AS SELECT * FROM _agencies")
    con.unregister("_agencies")


def pd_int(values):
    import pandas as pd

    return pd.to_numeric(values, errors="coerce").astype("Int64")


def of_frames(tables: Any):
    """A DuckDB connection over pandas tables (any object with the five frames, or a
    reports frame alone): the same relations as :func:`connect`, ``panel`` materialised."""
    import pandas as pd

    from .store import _columns

    con = _duckdb()
    for name in TABLES:
        cols = _columns()[name]
        df = tables if isinstance(tables, pd.DataFrame) and name == "reports" else getattr(tables, name, None)
        if not isinstance(df, pd.DataFrame):
            df = pd.DataFrame(columns=cols)
        df = df.reindex(columns=list(dict.fromkeys([*cols, *df.columns])))
        plain = {c: (df[c].astype("Float64").astype("float64") if c == "value" else
                     df[c].astype("Int64").astype("float64") if c == "year" else
                     df[c].astype("str").where(df[c].notna(), "")) for c in df.columns}
        con.register(f"_{name}", pd.DataFrame(plain, index=range(len(df))))
        year = "CAST(year AS BIGINT) AS year, " if "year" in df.columns else ""
        exclude = " EXCLUDE (year)" if year else ""
        seq = "" if name == "reports" else ", row_number() OVER () AS seq"
        con.execute(f"CREATE TABLE {name} AS SELECT *{exclude}, {year.rstrip(', ')}{seq} FROM _{name}"
                    if year else f"CREATE TABLE {name} AS SELECT *{seq} FROM _{name}")
        con.unregister(f"_{name}")
    add_report_keys(con, fill_ids=True)
    con.execute(f"CREATE TABLE panel AS {panel_sql()}")
    return con


def _signature(d: Path) -> str:
    parts = [f"v{PANEL_VERSION}", str(d.resolve())]
    for name in TABLES:
        path = d / f"{name}.parquet"
        if path.is_file():
            st = path.stat()
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def cache_path(data_dir: str | Path, cache_dir: str | Path) -> Path:
    """Where the panel of ``data_dir`` is kept in ``cache_dir``."""
    return Path(cache_dir) / f"panel-{_signature(Path(data_dir))}.parquet"


def prepare(data_dir: str | Path, cache_dir: str | Path) -> Path:
    """Make sure the panel file of ``data_dir`` is in ``cache_dir`` (written by DuckDB if
    missing or unreadable) and return its path."""
    import duckdb

    path = cache_path(data_dir, cache_dir)
    try:
        duckdb.sql(f"SELECT _row FROM read_parquet({_lit(path)}) LIMIT 0")
        return path
    except duckdb.Error:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(data_dir, cache_dir="")
    con.execute("RESET memory_limit")  # DuckDB's 80 % of RAM: at 10^6 reports the build fails in 1 GB (~4 GB)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        con.execute(f"COPY (SELECT * FROM panel ORDER BY _row) TO {_lit(tmp)} (FORMAT parquet)")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
        con.close()
    return path


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/gxlib`` (``~/.cache/gxlib``): where :func:`open` keeps panel files."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gxlib"


class Panel:
    """A selection of reports on a connection with the relations of :func:`connect`.

    ``where`` holds SQL conditions on the report columns; :func:`gxlib.metrics.select`
    adds to them. ``reports`` and ``checks`` give the selected rows as typed frames."""

    def __init__(self, con, where: tuple[str, ...] = (), data_dir: str = ""):
        self.con, self.where, self.data_dir = con, tuple(where), data_dir

    def condition(self) -> str:
        return " AND ".join(f"({w})" for w in self.where) or "true"

    def sql(self, query: str):
        """Run ``query`` (which may read ``sel``: the selected rows of the panel) -> pandas."""
        return self.con.execute(f"WITH sel AS (SELECT * FROM panel WHERE {self.condition()}) {query}").df()

    def narrowed(self, condition: str) -> "Panel":
        return Panel(self.con, self.where + (condition,), self.data_dir)

    def count(self) -> int:
        return int(self.sql("SELECT count(*) AS n FROM sel")["n"].iloc[0])

    @property
    def reports(self):
        """The selected reports (the contract's columns), typed, in file order."""
        from .store import typed

        return typed("reports", self.sql("SELECT r.* FROM reports r JOIN sel USING (report_id) ORDER BY sel._row"),
                     sort=False)

    @property
    def checks(self):
        """The checks of the selected reports, typed."""
        from .store import typed

        df = self.sql("SELECT c.* FROM checks c WHERE c.report_id IN (SELECT report_id FROM sel)")
        return typed("checks", df.drop(columns=[c for c in ("seq",) if c in df.columns]))


def open(data_dir: str | Path = "data/processed", *, cache_dir: str | Path | None = None) -> Panel:
    """Every report of a processed folder as a :class:`Panel` (its panel file kept in
    ``cache_dir``, ``$GXLIB_PANEL_CACHE`` or :func:`default_cache_dir`)."""
    d = Path(data_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: no such folder; run `gx parse RAW_DIR --out {d}` first")
    explicit = cache_dir or os.environ.get(CACHE_ENV)
    cache = Path(explicit) if explicit else default_cache_dir() / hashlib.sha1(
        str(d.resolve()).encode()).hexdigest()[:12]
    path = prepare(d, cache)
    if not explicit:  # the default cache holds one panel file per data folder
        for old in cache.glob("panel-*.parquet"):
            if old != path:
                old.unlink(missing_ok=True)
    return Panel(connect(d, cache_dir=cache), data_dir=str(d.resolve()))
