"""The tidy tables: their schema and codebook, the result store, and the exports.

* The **contract** (columns, codes, dtypes, sort order) and typed pandas frames
  (:func:`typed`, :func:`frame`, :func:`load`), and the generated data dictionary.
* The **result store** (:class:`ResultStore`): an embedded DuckDB database in
  ``OUT/.gx/store.duckdb`` holding every input file's parse result (its rows in the five
  tables) under a content key: sha256 of the file's bytes, its path (the report id is
  derived from it), its manifest row and the parser fingerprint.
* The **exports** (:func:`export`): each table written by DuckDB with ``COPY (SELECT …
  ORDER BY …)`` as CSV (UTF-8 with BOM) and Parquet, plus the data dictionary, into a
  staging folder inside OUT, then moved in place; each file's size and sha256 are kept in
  ``OUT/.gx/state.json`` so that a damaged export is noticed and rewritten.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from .listing import sha256_of, stat

TABLES = ("reports", "disclosure", "applications", "reviews", "checks")  # kept per file in the store
# exported: the five tables and agencies.csv (made from reports at export, gxlib.agencies)
OUTPUTS = TABLES + ("agencies",)
LONG = ("disclosure", "applications", "reviews")
NUMERIC = {"year": "BIGINT", "value": "DOUBLE", "n_reports": "BIGINT"}  # every other column is text ("" where empty)
# column -> codebook variable, for the coded columns (ordered categoricals)
CODED = {
    "reports": {"template": "template", "level": "level", "status": "status", "year_source": "year_source",
                "region_source": "region_source", "scope": "scope"},
    "disclosure": {"item": "item", "measure": "measure", "unit": "unit"},
    "applications": {"row": "row", "applicant": "applicant"},
    "reviews": {"proceeding": "proceeding", "outcome": "outcome"},
    "checks": {"rule": "rule", "section": "section"},
    "agencies": {"level": "level", "kind": "kind"},
}
SORT = {
    "reports": ["source_file"],
    "disclosure": ["report_id", "item", "measure"],
    "applications": ["report_id", "row", "applicant"],
    "reviews": ["report_id", "proceeding", "outcome"],
    "checks": ["report_id", "section", "row", "column", "rule", "message"],
    "agencies": ["agency_id"],
}
META = ".gx"  # OUT/.gx: the store, the state of the exports, the swap lock
STAGING = ".gx-staging"  # OUT/.gx-staging: the next set of exports while it is written
EXPORTS = tuple(f"{n}.{ext}" for n in OUTPUTS for ext in ("csv", "parquet")) + ("README.md",)


@lru_cache(maxsize=1)
def _columns() -> dict[str, list[str]]:
    """The contract's columns of each table (defined beside the parser, in gxlib.parse;
    imported when first needed: a run with nothing to do never imports the parser)."""
    from . import agencies, parse

    return {"reports": parse.REPORT_COLUMNS, "disclosure": parse.DISCLOSURE_COLUMNS,
            "applications": parse.APPLICATION_COLUMNS, "reviews": parse.REVIEW_COLUMNS, "checks": parse.CHECK_COLUMNS,
            "agencies": agencies.AGENCY_COLUMNS}


def __getattr__(name: str):
    if name == "COLUMNS":  # gxlib.store.COLUMNS: table -> its columns
        return _columns()
    raise AttributeError(name)


@dataclass
class TidyTables:
    """The five tables of the data contract as typed pandas frames, and ``agencies`` (one
    row per agency_id, :func:`gxlib.agencies.agencies_table`; None when not made yet)."""

    reports: object
    disclosure: object
    applications: object
    reviews: object
    checks: object
    agencies: object = None

    def __iter__(self):
        return iter((f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None)


# ------------------------------------------------------------------------------- codebook
@lru_cache(maxsize=1)
def codebook():
    """Every code with its Chinese and English label, in the canonical order."""
    import pandas as pd

    with files("gxlib.data").joinpath("codebook.csv").open(encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


@lru_cache(maxsize=1)
def _lookup() -> tuple[dict[str, tuple[str, ...]], dict[tuple[str, str], tuple[str, str]]]:
    """The codebook as dicts: the codes of each variable in order, and (variable, code) -> (zh, en)."""
    import csv

    codes_of: dict[str, list[str]] = {}
    labels: dict[tuple[str, str], tuple[str, str]] = {}
    with files("gxlib.data").joinpath("codebook.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            codes_of.setdefault(row["variable"], []).append(row["code"])
            labels.setdefault((row["variable"], row["code"]), (row["zh"], row["en"]))
    return {v: tuple(c) for v, c in codes_of.items()}, labels


def codes(variable: str) -> list[str]:
    """The codes of one codebook variable, in their canonical order."""
    return list(_lookup()[0].get(variable, ()))


def label(variable: str, code: str, lang: str = "zh") -> str:
    """The label of one code in ``zh`` or ``en`` (the code itself when unknown)."""
    hit = _lookup()[1].get((variable, str(code)))
    return str(code) if hit is None else (hit[0] if lang == "zh" else hit[1])


# ------------------------------------------------------------------------------- typed frames
def _category(values, variable: str):
    import pandas as pd

    cats = codes(variable)
    values = values.astype("str").where(values.notna(), "")
    extra = sorted(set(values.unique()) - set(cats) - {""})
    return values.replace({"": None}).astype(pd.CategoricalDtype(cats + extra, ordered=True))


def typed(name: str, df, sort: bool = True, complete: bool = True):
    """A frame with the contract's dtypes: codes as ordered categoricals (codebook order),
    ``value`` Float64, ``year`` Int64, other columns text ("" where empty). With
    ``complete=False`` only the columns present are typed (a projection)."""
    import pandas as pd

    df = df.copy()
    for col in _columns()[name]:
        if col not in df.columns and complete:
            df[col] = pd.NA
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        if col == "value":
            df[col] = pd.to_numeric(s, errors="coerce").astype("Float64")
        elif col in ("year", "n_reports"):
            df[col] = pd.to_numeric(s, errors="coerce").astype("Int64")
        elif col in CODED[name]:
            df[col] = _category(s, CODED[name][col])
        else:
            df[col] = s.astype("str").where(s.notna(), "").astype("str")
    if not complete:
        return df
    if sort:
        df = df.sort_values(SORT[name], kind="stable").reset_index(drop=True)
    return df[_columns()[name] + [c for c in df.columns if c not in _columns()[name]]]


def frame(name: str, records: list[dict]):
    """Records (dicts with the contract's columns) -> a typed, sorted contract frame."""
    import pandas as pd

    cols = _columns()[name]
    df = pd.DataFrame.from_records(records, columns=cols) if records else pd.DataFrame(columns=cols)
    return typed(name, df)


@contextlib.contextmanager
def reading(out_dir: Path):
    """Held while a reader opens the exports of ``out_dir``: a run moves a new set in place
    only when no reader holds it, so the reader sees the whole old set or the whole new one."""
    lock = Path(out_dir) / META / "swap.lock"
    if not lock.parent.is_dir():
        yield
        return
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH)
        yield


def load(processed_dir: str | Path = "data/processed", columns: dict | None = None,
         filters: dict | None = None) -> TidyTables:
    """The tables of a processed folder as typed frames (Parquet when present, else CSV).

    ``columns`` maps a table name to the columns to read, ``filters`` to pyarrow filters
    pushed into the Parquet scan, e.g. ``filters={"applications": [("row", "in", ["new"])]}``."""
    import pandas as pd

    d = Path(processed_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: no such folder; run `gx parse RAW_DIR --out {d}` first")
    out = {}
    with reading(d):
        for name in OUTPUTS:
            pqf, cs = d / f"{name}.parquet", d / f"{name}.csv"
            if name == "agencies" and not (pqf.is_file() or cs.is_file()):
                continue  # (a folder written before agencies.csv existed)
            cols, flt = (columns or {}).get(name), (filters or {}).get(name)
            if pqf.is_file():
                df = pd.read_parquet(pqf, columns=cols, filters=flt)
            elif cs.is_file() and not flt:
                df = pd.read_csv(cs, dtype=str, keep_default_na=False, encoding="utf-8-sig", usecols=cols)
            else:
                raise FileNotFoundError(f"{d}: {name}.parquet is missing; run `gx parse RAW_DIR --out {d}` again")
            out[name] = typed(name, df, sort=not pqf.is_file(), complete=cols is None)
    return TidyTables(**out)


# ------------------------------------------------------------------------------- the store
def _ddl(name: str) -> str:
    cols = [f'"{c}" {NUMERIC.get(c, "VARCHAR")}' for c in _columns()[name]]
    seq = [] if name == "reports" else ["seq INTEGER"]
    return f"CREATE TABLE IF NOT EXISTS {name} (key VARCHAR, {', '.join(seq + cols)})"


STORE_VERSION = 2  # 2: seq is the row's place in the contract's order within its report


def schema_tag() -> str:
    """What the store's tables look like (the contract's columns, what seq means): a store
    of another shape is rebuilt."""
    return hashlib.sha256(json.dumps([STORE_VERSION, _columns()], sort_keys=True).encode()).hexdigest()[:16]


class ResultStore:
    """Parse results by content key, in ``OUT/.gx/store.duckdb`` (see the module doc).

    Every table carries ``key``; ``files`` remembers each input's stat and sha256 so an
    unchanged file is not read again; ``meta`` holds the schema tag and a generation
    number that grows with every change (the exports record the one they were made from)."""

    def __init__(self, out_dir: Path, memory_limit: str = "768MB"):
        import duckdb

        self.path = Path(out_dir) / META / "store.duckdb"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = self._open(duckdb, memory_limit)
        except duckdb.Error:  # damaged or of another shape: it only caches parse results
            for p in self.path.parent.glob("store.duckdb*"):
                p.unlink()
            self.con = self._open(duckdb, memory_limit)

    def _open(self, duckdb, memory_limit: str):
        con = duckdb.connect(str(self.path), config={"memory_limit": memory_limit,
                                                     "temp_directory": str(self.path.parent / "tmp")})
        con.execute("CREATE TABLE IF NOT EXISTS meta (name VARCHAR, value VARCHAR)")
        tag = con.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        if tag is not None and tag[0] != schema_tag():
            con.close()
            raise duckdb.Error("store of another schema")
        if tag is None:  # a new store: its generations are told apart from another store's
            con.execute("INSERT INTO meta VALUES ('schema', ?), ('generation', '0'), ('store', ?)",
                        [schema_tag(), os.urandom(8).hex()])
        for name in TABLES:
            con.execute(_ddl(name))
        con.execute("CREATE TABLE IF NOT EXISTS files (source_file VARCHAR, size BIGINT, mtime_ns BIGINT, "
                    "ctime_ns BIGINT, ino BIGINT, sha256 VARCHAR)")
        return con

    def generation(self) -> str:
        """Which contents the store has: its id and the number of changes made to it."""
        rows = dict(self.con.execute("SELECT name, value FROM meta").fetchall())
        return f"{rows.get('store', '')}:{rows['generation']}"

    def _bump(self) -> None:
        self.con.execute("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) WHERE name = 'generation'")

    def keys(self) -> set[str]:
        """The keys whose results the store holds."""
        return {k for (k,) in self.con.execute("SELECT key FROM reports").fetchall()}

    def known_files(self) -> dict[str, tuple[tuple[int, int, int, int], str]]:
        """source_file -> (its stat when last hashed, its sha256)."""
        rows = self.con.execute("SELECT source_file, size, mtime_ns, ctime_ns, ino, sha256 FROM files").fetchall()
        return {r[0]: ((r[1], r[2], r[3], r[4]), r[5]) for r in rows}

    def add(self, batch: dict) -> None:
        """Store the results of a batch of files (Arrow tables per table, each row with its
        ``key``, keys the store does not hold) in one transaction: a run killed half-way
        leaves whole results only."""
        self.con.execute("BEGIN")
        try:
            for name in TABLES:
                part = batch[name]  # noqa: F841 - read by name from the SQL below
                cols = f"* REPLACE ({_in_report_order(name)})" if name in LONG else "*"
                self.con.execute(f"INSERT INTO {name} BY NAME SELECT {cols} FROM part")
            self._bump()
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def keep_only(self, current: set[str], listing) -> None:
        """Forget the results whose key is not in ``current``; remember the stat and hash of
        the files in ``listing`` (rows source_file, size, mtime_ns, ctime_ns, ino, trusted)
        that may vouch for them next time."""
        import pyarrow as pa

        keys = pa.table({"key": pa.array(sorted(current), pa.string())})  # noqa: F841 - used in SQL
        self.con.execute("BEGIN")
        try:
            gone = self.con.execute("SELECT count(*) FROM reports WHERE key NOT IN (SELECT key FROM keys)").fetchone()[0]
            if gone:
                for name in TABLES:
                    self.con.execute(f"DELETE FROM {name} WHERE key NOT IN (SELECT key FROM keys)")
                self._bump()
            self.con.execute("DELETE FROM files")
            self.con.execute("INSERT INTO files SELECT l.source_file, l.size, l.mtime_ns, l.ctime_ns, l.ino, r.sha256 "
                             "FROM listing l JOIN reports r USING (source_file) WHERE l.trusted AND r.sha256 <> ''")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.con.close()


# ------------------------------------------------------------------------------- exports
def _quoted(c: str) -> str:
    return f'"{c}"'


def _sort_terms(name: str, columns) -> list[str]:
    """SQL sort terms for ``columns`` of table ``name``: coded columns in codebook order
    (unknown codes after the known ones, by text; empty last), text by code point."""
    terms = []
    for col in columns:
        c = _quoted(col)
        if col in CODED[name]:
            known = ", ".join("'" + code.replace("'", "''") + "'" for code in codes(CODED[name][col]))
            terms += [f"({c} = '')", f"coalesce(list_position([{known}], {c}), 1000000)", c]
        else:
            terms.append(c)
    return terms


def _in_report_order(name: str) -> str:
    """``seq`` of the rows of a long table made their position in the contract's order
    within their report (ties in the order given): the export then sorts by
    (report_id, seq) only."""
    terms = ", ".join(_sort_terms(name, SORT[name][1:]) + ["seq"])
    return f"row_number() OVER (PARTITION BY report_id ORDER BY {terms}) AS seq"


def _order_by(name: str) -> str:
    """The contract's sort order as SQL (long tables: by ``seq``, see :func:`_in_report_order`)."""
    if name in LONG:
        return "report_id, seq"
    return ", ".join(_sort_terms(name, SORT[name]) + ([] if name in ("reports", "agencies") else ["seq"]))


def _csv_columns(name: str) -> str:
    """The columns as the CSV shows them: a value with six decimals at most and no
    trailing ``.0`` (0, 26.048), NA empty; an empty code is NA (empty, not quoted); other
    text as it is, quoted."""
    out = []
    for col in _columns()[name]:
        c = _quoted(col)
        if col in CODED[name]:
            out.append(f"NULLIF({c}, '') AS {c}")
        elif col == "value":
            r = "round(value, 6)"
            out.append(f"CASE WHEN {r} = trunc({r}) AND abs({r}) < 1e15 THEN CAST(CAST({r} AS BIGINT) AS VARCHAR) "
                       f"ELSE CAST({r} AS VARCHAR) END AS value")
        else:
            out.append(c)
    return ", ".join(out)


def _write_csv(con, name: str, parquet: Path, target: Path) -> str:
    """Write one table's CSV (BOM, quoted header, rows) from its sorted Parquet export and
    return its sha256. The rows are read in the file's order (DuckDB keeps a scan's order
    without ORDER BY: ``preserve_insertion_order``), so each table is sorted once. DuckDB
    writes the rows; the BOM and the header are written first and the rows appended, the
    checksum taken on the way."""
    body = target.with_suffix(".body")
    text = [_quoted(c) for c in _columns()[name] if c not in NUMERIC]
    con.execute(f"COPY (SELECT {_csv_columns(name)} FROM read_parquet('{parquet}')) TO '{body}' "
                f"(FORMAT csv, HEADER false, FORCE_QUOTE ({', '.join(text)}))")
    h = hashlib.sha256()
    head = ("\ufeff" + ",".join(_quoted(c) for c in _columns()[name]) + "\n").encode("utf-8")
    with open(target, "wb") as out, open(body, "rb") as rows:
        out.write(head)
        h.update(head)
        while chunk := rows.read(1 << 20):
            out.write(chunk)
            h.update(chunk)
    body.unlink()
    return h.hexdigest()


def export(con, out_dir: Path, sources: dict[str, str] | None = None, progress=None) -> dict[str, list]:
    """Write the five tables, ``agencies`` and the data dictionary of ``con`` (tables or
    views named as the contract's, each with a ``seq`` column but reports and agencies;
    ``sources`` may name other relations) into ``OUT/.gx-staging``, then move them in
    place. Returns each export's [size, sha256]. Call it holding the writer's lock
    (:func:`writer_lock`)."""
    out_dir = Path(out_dir)
    stage = out_dir / STAGING
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    record = {}
    for name in OUTPUTS:
        source = (sources or {}).get(name, name)
        if progress:
            progress(f"exporting {name}")
        cols = ", ".join(_quoted(c) for c in _columns()[name])
        parquet = stage / f"{name}.parquet"
        con.execute(f"COPY (SELECT {cols} FROM {source} ORDER BY {_order_by(name)}) TO '{parquet}' "
                    "(FORMAT parquet, COMPRESSION zstd)")
        record[f"{name}.parquet"] = sha256_of(parquet)
        record[f"{name}.csv"] = _write_csv(con, name, parquet, stage / f"{name}.csv")
    (stage / "README.md").write_text(data_dictionary(), encoding="utf-8")
    record["README.md"] = sha256_of(stage / "README.md")
    sizes = {f: [(stage / f).stat().st_size, sha] for f, sha in record.items()}
    swap_in(stage, out_dir)
    return sizes


def swap_in(stage: Path, out_dir: Path) -> None:
    """Move the staged set in place while no reader holds the swap lock (see :func:`reading`)."""
    lock = out_dir / META / "swap.lock"
    lock.parent.mkdir(exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        for f in EXPORTS:
            os.replace(stage / f, out_dir / f)
    shutil.rmtree(stage, ignore_errors=True)


@lru_cache(maxsize=1)
def exporter_tag() -> str:
    """What makes the exports' bytes from the store's rows: this module, the pipeline
    (what it computes over all reports at export: agency_id, duplicates, carry-over), the
    page/attachment rules and DuckDB's version. Exports made by another exporter are written again."""
    from .pipeline import installed_versions

    h = hashlib.sha256(Path(__file__).read_bytes())
    for name in ("pipeline.py", "attachments.py"):
        h.update((Path(__file__).parent / name).read_bytes())
    h.update(installed_versions().get("duckdb", "-").encode())
    return h.hexdigest()[:16]


def verify(out_dir: Path, recorded: dict) -> bool:
    """Every export is in OUT with the size and sha256 recorded when it was written."""
    if set(recorded) != set(EXPORTS):
        return False
    if any(stat(str(out_dir / f))[0] != size for f, (size, _) in recorded.items()):
        return False
    from concurrent.futures import ThreadPoolExecutor  # (hashlib lets go of the GIL)

    with ThreadPoolExecutor(2) as ex:
        return all(ex.map(lambda f: sha256_of(out_dir / f) == recorded[f][1], list(recorded)))


@contextlib.contextmanager
def writer_lock(out_dir: Path, wait: bool = True, say=print):
    """The one writer of ``out_dir``: an exclusive ``flock`` on ``OUT/.gx.lock``. Another
    run holding it makes this one wait (saying so), or raise :class:`Busy` with ``wait=False``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".gx.lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise Busy(f"another gx parse is writing {out_dir}; not waiting (--no-wait)") from None
            say(f"another gx parse is writing {out_dir}; waiting")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


class Busy(RuntimeError):
    """Another run holds the output folder's lock."""


def remove_stale(out_dir: Path) -> None:
    """What a killed run may have left in OUT: its staging folder, the previous engine's
    temporary files and run cache."""
    shutil.rmtree(out_dir / STAGING, ignore_errors=True)
    for p in list(out_dir.glob(".*.tmp")) + [out_dir / ".gxcache.arrow", out_dir / ".gxcache.json"]:
        p.unlink(missing_ok=True)


def read_state(out_dir: Path) -> dict:
    try:
        return json.loads((out_dir / META / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_state(out_dir: Path, state: dict) -> None:
    """``OUT/.gx/state.json``: what the exports in OUT were made from and their checksums."""
    path = out_dir / META / "state.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def write(tables: TidyTables, out_dir: str | Path) -> dict:
    """Write typed pandas tables (:class:`TidyTables`) to ``out_dir`` as a run would."""
    import duckdb

    out_dir = Path(out_dir)
    con = duckdb.connect()
    if tables.agencies is None:
        from .agencies import agencies_table

        tables = TidyTables(*[df for _, df in tables][:5], agencies=agencies_table(tables.reports))
    for name, df in tables:
        df = df[_columns()[name]].copy()
        for c in df.columns:
            df[c] = (df[c].astype("float64") if c == "value" else df[c] if c in ("year", "n_reports")
                     else df[c].astype("str"))
        con.register(f"{name}_df", df)
        seq = "" if name in ("reports", "agencies") else ", row_number() OVER () AS seq"
        con.execute(f"CREATE TABLE {name} AS SELECT *{seq} FROM {name}_df")
        if name in LONG:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * REPLACE ({_in_report_order(name)}) FROM {name}")
    with writer_lock(out_dir):
        (out_dir / META).mkdir(exist_ok=True)
        remove_stale(out_dir)
        return export(con, out_dir)


# ------------------------------------------------------------------------------- dictionary
_DESCRIPTIONS = {
    "reports": ("one row per input file", {
        "report_id": "stable id: the same file (relative path + bytes) gives the same id on every run and machine",
        "source_file": "path of the raw file relative to the raw folder",
        "sha256": "hash of the raw bytes",
        "title": "report title as found (may be empty)",
        "agency": "机关名称 as found in the title (else the 信息来源 line); the manifest's agency overrides it",
        "year": "report year: the year the statistics cover, not the publication year",
        "year_source": "how `year` was found (codes below)",
        "published": "publication date if found (ISO date)",
        "template": "table layout detected from the table structure (not the year)",
        "province": "province name, empty where unknown",
        "prefecture": "prefecture name, empty where unknown",
        "county": "county name, empty where unknown",
        "division_code": "6-digit administrative division code (MCA) of the most specific known level",
        "level": "administrative level of the agency",
        "status": "ok / partial / failed",
        "error": "why, for partial and failed",
        "format": "file format read (text, html, pdf, docx)",
        "url": "source address, from manifest.csv when given",
        "text_source": "where the text came from: text / html / pdf_text / docx / ocr / libreoffice / ofd",
    }),
    "disclosure": ("section 二, 主动公开政府信息情况", {
        "report_id": "see reports", "item": "信息内容 row (codes below)", "measure": "column (codes below)",
        "value": "number; NA where missing or uncertain (see checks)", "unit": "count or wan_yuan (万元)",
        "raw": "cell text as found, before normalisation"}),
    "applications": ("section 三, 收到和处理政府信息公开申请情况", {
        "report_id": "see reports", "row": "table row (codes below)", "applicant": "申请人 column (codes below)",
        "value": "number; NA where missing or uncertain (see checks)", "raw": "cell text as found"}),
    "reviews": ("section 四, 行政复议、行政诉讼", {
        "report_id": "see reports", "proceeding": "block (codes below)", "outcome": "column (codes below)",
        "value": "number; NA where missing or uncertain (see checks)", "raw": "cell text as found"}),
    "checks": ("every consistency problem and every value left NA, one row each", {
        "report_id": "see reports", "rule": "rule broken (codes below)", "section": "table concerned",
        "row": "row code (or proceeding / item)", "column": "column code (or outcome / measure)",
        "expected": "what the rule expects", "observed": "what the report says", "message": "explanation"}),
    "agencies": ("one row per agency (agency_id): the bodies behind the reports, whatever name they wrote", {}),
}


@lru_cache(maxsize=1)
def _descriptions() -> dict:
    """:data:`_DESCRIPTIONS` with the columns of gxlib.agencies (agency_id, scope, …)."""
    from .agencies import COLUMN_DESCRIPTIONS

    out = {name: (what, dict(cols)) for name, (what, cols) in _DESCRIPTIONS.items()}
    for name, cols in COLUMN_DESCRIPTIONS.items():
        out[name][1].update(cols)
    return out


def _writing_variants() -> str:
    """gxlib/layouts/writing_variants.md: which ways of writing a report are handled."""
    try:
        return files("gxlib.layouts").joinpath("writing_variants.md").read_text(encoding="utf-8")
    except (OSError, ModuleNotFoundError):
        return ""


def data_dictionary() -> str:
    """The README.md written beside the exports: every column and every code."""
    lookup = _lookup()
    lines = [
        "# Data dictionary (generated by `gx parse`; do not edit)",
        "",
        "Tidy tables written by `gx parse`. CSV files are UTF-8 with BOM (Excel opens them",
        "directly); a Parquet copy of each sits beside it. Read them typed with `gxlib.load(folder)`",
        "or query them with `gxlib.connect(folder)` (DuckDB).",
        "Values: a blank cell inside a present table is 0; `/`, `-`, `—` placeholders are NA;",
        "a value the parser is not sure of is NA with a row in checks.csv saying why.",
        "An optional `manifest.csv` in the raw folder (file, agency, year, division_code, url, …)",
        "overrides what is inferred from the report (agency, year, region, publication date, url).",
        "",
    ]
    for name in OUTPUTS:
        what, cols = _descriptions()[name]
        lines += [f"## {name}.csv — {what}", "", "| column | meaning |", "|---|---|"]
        lines += [f"| {c} | {cols.get(c, '')} |" for c in _columns()[name]]
        lines.append("")
        for col, var in CODED[name].items():
            lines += [f"`{col}` codes:", "", "| code | 中文 | English |", "|---|---|---|"]
            lines += [f"| {c} | {lookup[1][(var, c)][0]} | {lookup[1][(var, c)][1]} |" for c in lookup[0].get(var, ())]
            lines.append("")
    variants = _writing_variants().strip()
    if variants:  # issue 21: the dictionary says which ways of writing a report are read
        lines += [*variants.splitlines(), ""]
    return "\n".join(lines) + "\n"
