"""The consistency rules of the templates -> check rows.

Each rule is evaluated only on values that are known: an NA cell neither passes nor fails
a rule (its own reason is already in checks).  Rules (report-format.md §1.4):

* ``row_sum``      six applicant columns = 总计, for every row of section 三
* ``outcome_sum``  （一）…（六） = （七）总计, for every column
* ``balance``      一 + 二 = （七）总计 + 四, for every column (the rule printed in the table)
* ``review_sum``   维持 + 纠正 + 其他 + 尚未审结 = 总计, for each section-四 block
* ``carry_over``   last year's 结转下年度 = this year's 上年结转 (warning; across reports)
* ``duplicate_report``  the same agency-year parsed twice: which copy is kept and why
"""
from __future__ import annotations

from operator import itemgetter

from .tables import APPLICANTS, OTHER_2019, OTHER_2021, OUTCOME_ROWS_COMMON, OUTCOMES, PROCEEDINGS, Check


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def application_checks(records: list[dict]) -> list[Check]:
    table: dict[str, dict[str, float | None]] = {}  # row -> applicant -> value
    for r in records:
        cells = table.get(r["row"])
        if cells is None:  # (setdefault would build a dict for every record)
            cells = table[r["row"]] = {}
        cells[r["applicant"]] = r["value"]
    out: list[Check] = []
    for row, cells in table.items():
        try:
            vals = _PARTS_AND_TOTAL(cells)  # (a C call for the usual full row)
        except KeyError:
            vals = tuple(map(cells.get, _PARTS_AND_TOTAL_KEYS))  # a column is missing: None
        total = vals[-1]
        vals = vals[:-1]
        if total is None or None in vals:
            continue
        s = sum(vals)
        if s != total:
            out.append(Check("row_sum", "applications", row, "total", _fmt(s), _fmt(total),
                             "the six applicant columns do not add up to 总计"))
    other = OTHER_2021 if any(r in table for r in OTHER_2021) else OTHER_2019
    outcome = [table.get(r) for r in (*OUTCOME_ROWS_COMMON, *other)]
    if None in outcome:
        outcome = None  # an outcome row is missing: no column can be summed
    else:
        # the outcome rows' values column by column (a missing cell is None)
        outcome = list(zip(*(_row_values(cells) for cells in outcome)))
    handled_row, new_row, carried_row, forward_row = (table.get(r, {}) for r in ("handled_total", "new", "carried_over",
                                                                                 "carried_forward"))
    for j, col in enumerate(APPLICANTS):
        handled = handled_row.get(col)
        if handled is not None and outcome is not None:
            vals = outcome[j]
            if None not in vals:
                s = sum(vals)
                if s != handled:
                    out.append(Check("outcome_sum", "applications", "handled_total", col, _fmt(s), _fmt(handled),
                                     "outcome rows （一）to（六）do not add up to （七）总计"))
        n, c, p, f = new_row.get(col), carried_row.get(col), handled, forward_row.get(col)
        if None not in (n, c, p, f):
            if n + c != p + f:
                out.append(Check("balance", "applications", "", col, _fmt(n + c), _fmt(p + f),
                                 "一、新收 + 二、上年结转 differs from （七）总计 + 四、结转下年度 "
                                 f"({_fmt(n)} + {_fmt(c)} vs {_fmt(p)} + {_fmt(f)})"))
    return out


_PARTS_AND_TOTAL_KEYS = (*APPLICANTS[:-1], "total")
_PARTS_AND_TOTAL = itemgetter(*_PARTS_AND_TOTAL_KEYS)
_ALL_COLUMNS = itemgetter(*APPLICANTS)


def _row_values(cells: dict) -> tuple:
    """The values of a row in the order of APPLICANTS, None where a cell is missing."""
    try:
        return _ALL_COLUMNS(cells)
    except KeyError:
        return tuple(map(cells.get, APPLICANTS))


def review_checks(records: list[dict]) -> list[Check]:
    grid = {(r["proceeding"], r["outcome"]): r["value"] for r in records}
    out: list[Check] = []
    for proc in PROCEEDINGS:
        vals = [grid.get((proc, o)) for o in OUTCOMES[:-1]]
        total = grid.get((proc, "total"))
        if total is None or any(v is None for v in vals):
            continue
        if sum(vals) != total:
            out.append(Check("review_sum", "reviews", proc, "total", _fmt(sum(vals)), _fmt(total),
                             "维持 + 纠正 + 其他 + 尚未审结 does not add up to 总计"))
    return out


CARRY_PART = 1 << 18  # carried rows matched at a time: bounds the check's memory


def carry_over(reports, carried, by: str = "agency"):
    """Across years of one agency: last year's 结转下年度 = this year's 上年结转 (a warning).

    ``reports``: DataFrame (report_id, agency, year, status, and ``by`` when it is not
    ``agency``); ``carried``: Arrow table of
    the application rows ``carried_over``/``carried_forward`` (report_id, row, applicant,
    value).  Only agencies with one report per year are compared (with two we cannot tell
    which continues which).  Returns check rows as a DataFrame (contract columns).
    ``by``: the column that says which reports are one body's; ``agency`` (the name
    string, the engine's historical key) or ``agency_id`` (:func:`carry_over_by_agency`).
    A national panel has millions of carried rows: they are matched on integer keys
    (report position, agency code, year, applicant code), never as strings."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    cols = ["report_id", "rule", "section", "row", "column", "expected", "observed", "message"]
    # the reports compared, as positions in ``reports`` (no copy of its string columns)
    body = reports[by]
    mask = ((reports["status"].astype(str) != "failed") & body.notna() & (body.astype(str) != "")
            & reports["year"].notna())
    if "duplicate_of" in reports:  # a copy of a kept report continues nothing
        dup = reports["duplicate_of"]
        mask &= dup.isna() | (dup.astype(str) == "")
    mask = mask.to_numpy(dtype=bool)
    agency_code = pd.factorize(body)[0].astype(np.int64)
    keep = np.flatnonzero(mask)
    year_kept = pd.to_numeric(reports["year"]).to_numpy(dtype="float64", na_value=np.nan)[keep].astype(np.int64)
    _, group, size = np.unique(agency_code[keep] * 100_000 + year_kept, return_inverse=True, return_counts=True)
    single = size[group.reshape(-1)] == 1  # one report of the agency that year
    sel, year_of, agency_of = keep[single], year_kept[single], agency_code[keep][single]
    del mask, keep, year_kept, group, size, single
    if carried.num_rows == 0 or len(sel) == 0:
        return pd.DataFrame(columns=cols)
    ids = pa.array(reports["report_id"].astype(str))
    ids = (ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids).take(pa.array(sel)).cast(pa.string())
    # 14 rows a report: narrow integer codes, the rows not compared dropped batch by batch
    rep_all = IdIndex(ids).positions(carried["report_id"], np.int32)  # position in sel; -1: not compared
    del ids
    keep_rep, keep_row, keep_app, keep_value = [], [], [], []
    at = 0
    for batch in carried.select(["row", "applicant", "value"]).to_batches():
        rep = rep_all[at:at + batch.num_rows]
        at += batch.num_rows
        row = codes_in(batch.column("row"), ["carried_over", "carried_forward"], np.int8)
        app = codes_in(batch.column("applicant"), APPLICANTS, np.int8)
        value = batch.column("value").to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        ok = (rep >= 0) & (row >= 0) & (app >= 0) & ~np.isnan(value)
        keep_rep.append(rep[ok])
        keep_row.append(row[ok])
        keep_app.append(app[ok])
        keep_value.append(value[ok])
    del rep_all
    rep, row, app = np.concatenate(keep_rep), np.concatenate(keep_row), np.concatenate(keep_app)
    value = np.concatenate(keep_value)
    del keep_rep, keep_row, keep_app, keep_value
    # matches never cross agencies: work on parts of about CARRY_PART rows, by agency
    parts = len(rep) // CARRY_PART + 1
    part = (agency_of[rep] % parts).astype(np.int32) if parts > 1 else None
    found, before = [], []
    for p in range(parts):
        rows_p = np.flatnonzero(part == p) if parts > 1 else np.arange(len(rep))
        r, w, a = rep[rows_p], row[rows_p], app[rows_p]
        v = value[rows_p]
        # the key of the year a value belongs to: carried_forward of year y is carried_over of y + 1
        key = (agency_of[r] * 100_000 + year_of[r] + w) * 16 + a
        fwd, this = w == 1, w == 0
        uniq, first = np.unique(key[fwd], return_index=True)  # a repeated key: its first row
        pos = sorted_positions(uniq, key[this])
        hit = pos >= 0
        prev = v[fwd][first[pos[hit]]]
        differ = prev != v[this][hit]
        found.append(rows_p[np.flatnonzero(this)[hit][differ]])  # positions among the kept rows
        before.append(prev[differ])
        del key, fwd, this, uniq, first, pos, hit, r, w, a, v
    idx = np.concatenate(found)
    order = np.argsort(idx, kind="stable")
    idx, prev = idx[order], np.concatenate(before)[order]
    at = sel[rep[idx]]  # rows of ``reports``
    both = pd.DataFrame({"report_id": reports["report_id"].iloc[at].astype(str).to_numpy(),
                         "agency": reports["agency"].iloc[at].astype(str).to_numpy(), "year": year_of[rep[idx]],
                         "applicant": np.asarray(APPLICANTS, dtype=object)[app[idx]],
                         "value": value[idx], "value_prev": prev})
    if by != "agency":  # the body's key beside the name it used this year
        both["agency"] = [f"{a} ({k})" for a, k in zip(both["agency"], reports[by].iloc[at].astype(str))]
    return pd.DataFrame({
        "report_id": both["report_id"], "rule": "carry_over", "section": "applications", "row": "carried_over",
        "column": both["applicant"], "expected": both["value_prev"].map(_fmt), "observed": both["value"].map(_fmt),
        "message": [f"warning: {a} {int(y) - 1} report carried forward {_fmt(p)}, the {int(y)} report says "
                    f"{_fmt(v)} carried over"
                    for a, y, p, v in zip(both["agency"], both["year"], both["value_prev"], both["value"])],
    }, columns=cols)


def carry_over_by_agency(reports, carried):
    """:func:`carry_over` keyed on ``agency_id`` (:mod:`gxlib.agencies`): 洪泽区人民政府 2023
    and 淮安市洪泽区人民政府 2024 are one body and are compared; 市公共资源交易中心 of two
    cities are two bodies and never are; a report whose place is unknown (empty
    agency_id) and a report marked ``duplicate_of`` another are compared with nothing.
    ``reports`` must have ``agency_id`` (report_id, agency, agency_id, year, status)."""
    if "agency_id" not in reports:
        raise ValueError("carry_over_by_agency needs the reports' agency_id (gxlib.agencies.assign)")
    return carry_over(reports, carried, by="agency_id")


class IdIndex:
    """Report ids prepared once for looking up Arrow columns of ids (a check, or every
    batch of the panel): by binary search over the ids as sorted bytes, or through a hash
    of the ids (:func:`codes_in`) when they are not unique. Hashing all ids for every
    chunk, or unifying the chunks' dictionaries, costs O(chunks x ids) or ~16 bytes a row."""

    def __init__(self, ids):
        import numpy as np

        self.ids = ids
        as_bytes = fixed_bytes(ids)
        order = np.argsort(as_bytes, kind="stable")
        self.order = order.astype(np.int32)  # position in ``ids`` of each sorted id
        self.sorted = as_bytes[order]
        self.unique = bool((self.sorted[1:] > self.sorted[:-1]).all())

    def positions(self, column, dtype="int64"):
        """Position in ``ids`` of every element of ``column`` (-1 when absent or null)."""
        import numpy as np

        if not self.unique:
            return codes_in(column, self.ids, dtype)
        pos = sorted_codes(column, self.sorted, np.int32)
        hit = pos >= 0
        pos[hit] = self.order[pos[hit]]
        return pos.astype(dtype, copy=False)


def sorted_codes(column, ids, dtype="int64"):
    """Position in ``ids`` (strictly increasing NumPy bytes) of every element of an Arrow
    string column, dictionary-encoded or not, chunked or not (-1 when absent or null): a
    binary search per dictionary entry, chunk by chunk, into one preallocated array."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    out = np.full(len(column), -1, dtype=dtype)
    at = 0
    for c in (column.chunks if isinstance(column, pa.ChunkedArray) else [column]):
        n = len(c)
        if n and len(ids):
            values = c.dictionary if pa.types.is_dictionary(c.type) else c
            values = values.cast(pa.string())
            pos = np.zeros(0, dtype=np.int64)
            if len(values):
                pos = sorted_positions(ids, fixed_bytes(values))
                pos[pc.is_null(values).to_numpy(zero_copy_only=False)] = -1
            if pa.types.is_dictionary(c.type):
                pos = pa.array(pos, pa.int64()).take(c.indices).fill_null(-1).to_numpy(zero_copy_only=False)
            out[at:at + n] = pos
        at += n
    return out


def codes_in(column, values, dtype="int64"):
    """Position in ``values`` (an Arrow string array, or a list) of every element of an
    Arrow column (-1 where absent or null), looked up in Arrow once per dictionary entry:
    no Python string per row or per value, and ``values`` hashed once whatever the number
    of chunks (a dictionary column's chunks are given one dictionary first)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = pa.array([str(v) for v in values], pa.large_string())
    values = values.cast(pa.large_string())
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    if not chunks:
        return np.array([], dtype=dtype)
    if not pa.types.is_dictionary(column.type):
        pos = pc.index_in(pa.chunked_array(chunks, type=column.type).cast(pa.large_string()), value_set=values)
        return pos.fill_null(-1).to_numpy().astype(dtype)
    if len(chunks) > 1:
        chunks = pa.chunked_array(chunks, type=column.type).unify_dictionaries().chunks
    lookup = pc.index_in(chunks[0].dictionary.cast(pa.large_string()), value_set=values)
    out = [lookup.take(c.indices).fill_null(-1).to_numpy(zero_copy_only=False).astype(dtype) for c in chunks]
    return np.concatenate(out) if out else np.array([], dtype=dtype)


# --------------------------------------------------------------------------- duplicates
#: two copies must share at least this many known cells (all equal) to be called copies
DUPLICATE_MIN_SHARED = 20
_STATUS_RANK = {"ok": 0, "partial": 1, "failed": 2}
#: how the text was obtained (the ``text_source`` column when present, else the format):
#: a text layer or markup beats OCR
_OCR = {"ocr", "image", "png", "jpg", "jpeg", "tif", "tiff"}
#: the document as issued (the attachment a reader cites) before the page that shows it
_FORMAT_RANK = {"pdf": 0, "docx": 0, "doc": 0, "wps": 0, "html": 1, "htm": 1, "text": 2, "txt": 2}


_CELL_KEYS = {"applications": ("row", "applicant"), "disclosure": ("item", "measure"),
              "reviews": ("proceeding", "outcome")}


def _agreement(con, candidates, frames: dict | None = None) -> tuple[dict, dict]:
    """How the cells of some reports agree, by one DuckDB query over the long tables:
    ``known`` {report_id: its known (non-NA) cells} and ``pairs`` {(a, b): (cells known in
    both, of which differ)} for two reports of one group (a < b; absent: none shared).
    A cell is (table, key, key). ``candidates``: report_id and group of each report.
    The tables are ``frames`` (pandas or Arrow; None or empty: no cells) or, without
    ``frames``, the tables of ``con`` named as the contract's."""
    import pandas as pd

    con.register("_candidates", pd.DataFrame({"report_id": candidates["report_id"], "grp": candidates["grp"]}))
    parts = []
    for name, (k1, k2) in _CELL_KEYS.items():
        source = name
        if frames is not None:
            if frames.get(name) is None or len(frames[name]) == 0:
                continue
            source = f"_frame_{name}"
            con.register(source, frames[name])
        parts.append(f"SELECT c.grp, c.report_id, '{name}' AS tab, CAST(t.\"{k1}\" AS VARCHAR) AS k1, "
                     f"CAST(t.\"{k2}\" AS VARCHAR) AS k2, max(TRY_CAST(t.value AS DOUBLE)) AS value "
                     f"FROM {source} t JOIN _candidates c ON CAST(t.report_id AS VARCHAR) = c.report_id "
                     f"WHERE NOT coalesce(isnan(TRY_CAST(t.value AS DOUBLE)), true) GROUP BY ALL")
    known, pairs = {}, {}
    if parts:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _known_cells AS {' UNION ALL '.join(parts)}")
        known = dict(con.execute("SELECT report_id, count(*) FROM _known_cells GROUP BY report_id").fetchall())
        pairs = {(a, b): (n, d) for a, b, n, d in con.execute(
            "SELECT x.report_id, y.report_id, count(*), count(*) FILTER (WHERE x.value <> y.value) "
            "FROM _known_cells x JOIN _known_cells y ON x.grp = y.grp AND x.tab = y.tab AND x.k1 = y.k1 "
            "AND x.k2 = y.k2 AND x.report_id < y.report_id GROUP BY ALL").fetchall()}
        con.execute("DROP TABLE _known_cells")
    for name in ("_candidates", *(f"_frame_{n}" for n in (frames or {}))):
        con.unregister(name)
    return known, pairs


def find_duplicates(reports, applications=None, disclosure=None, reviews=None,
                    min_shared: int = DUPLICATE_MIN_SHARED, con=None):
    """Reports that are copies of another: ``(duplicate_of, checks)``.

    ``duplicate_of``: a str Series aligned with ``reports`` (the report_id of the copy that
    is kept; NA for every kept or unique report).  ``checks``: check rows (contract
    columns), rule ``duplicate_report`` for each copy (which one was kept and why) and rule
    ``same_agency_year`` (a warning) for reports of one agency and year whose tables differ
    (both stay in every metric: nothing says which is right).

    Two reports are copies when

    * their raw bytes are identical (same ``sha256``), whatever their agency; or
    * they have the same ``agency_id`` (non-empty: unknown-place names are never grouped)
      and ``year``, and their tables are *near-identical*: at least ``min_shared`` cells
      (default 20, over sections 二, 三 and 四) are known (a number, not NA) in both, and
      every cell known in both is equal.  A cell NA in one copy (OCR, an ambiguous split)
      counts neither way.

    Which copy is kept (the first that differs decides; the check row says which):
    status ok before partial; more known cells; a text layer or markup before OCR (the
    ``text_source`` column when present); the document as issued (PDF/Word attachment)
    before the HTML page that shows it, and that before a plain-text capture; then the
    source file path (first in sort order) so the choice is the same on every run.
    Copies are matched against the kept reports in that order, so a copy is always
    compatible with the report it points to (no chains).

    ``reports``: report_id, agency_id, year, status, source_file, sha256 (and optionally
    format, text_source); the long tables as in the contract (report_id, keys, value), as
    pandas or Arrow tables, or the tables of the DuckDB connection ``con`` (the result
    store's) when they are not given."""
    import duckdb
    import pandas as pd

    cols = ["report_id", "rule", "section", "row", "column", "expected", "observed", "message"]
    r = reports.reset_index(drop=True)
    ids = r["report_id"].astype(str)
    dup_of = pd.Series(pd.array([None] * len(r), dtype="str"), index=reports.index, name="duplicate_of")
    aid = r["agency_id"].astype("str") if "agency_id" in r else pd.Series(pd.NA, index=r.index, dtype="str")
    year = pd.to_numeric(r["year"], errors="coerce")
    sha = r["sha256"].astype(str) if "sha256" in r else pd.Series("", index=r.index)
    by_body = aid.notna() & (aid != "") & year.notna()
    group = pd.Series(pd.NA, index=r.index, dtype="object")
    group[by_body] = aid[by_body] + "|" + year[by_body].astype("Int64").astype(str)
    same_bytes = sha.duplicated(keep=False) & (sha != "")
    # bodies of one year, and files with the same bytes; a report in both joins its body's group
    group = group.where(group.notna(), "sha|" + sha)
    size = group.map(group.value_counts())
    candidates = r.index[(size > 1) & (by_body | same_bytes)]
    if len(candidates) == 0:
        return dup_of, pd.DataFrame(columns=cols)
    frames = None if con is not None else {"applications": applications, "disclosure": disclosure,
                                           "reviews": reviews}
    own = con is None
    con = duckdb.connect() if own else con
    try:
        known, pairs = _agreement(con, pd.DataFrame({"report_id": ids[candidates].tolist(),
                                                     "grp": group[candidates].astype(str).tolist()}), frames)
    finally:
        if own:
            con.close()
    fmt = (r["text_source"] if "text_source" in r else r.get("format", pd.Series("", index=r.index)))
    fmt = fmt.astype(str).str.lower().fillna("").tolist()
    fmt_rank = r.get("format", pd.Series("", index=r.index)).astype(str).str.lower().tolist()
    status, source = r["status"].astype(str).tolist(), r["source_file"].astype(str).tolist()
    ids, sha = ids.tolist(), sha.tolist()

    def order_key(i):
        return (_STATUS_RANK.get(status[i], 3), -known.get(ids[i], 0),
                1 if fmt[i] in _OCR else 0, _FORMAT_RANK.get(fmt_rank[i], 3), source[i])

    def compare(a: int, b: int) -> tuple[int, int]:
        """(cells known in both, of which differ)."""
        x, y = ids[a], ids[b]
        return pairs.get((x, y) if x < y else (y, x), (0, 0))

    def why(kept, copy):
        a, b = order_key(kept), order_key(copy)
        reasons = [f"status {status[kept]} vs {status[copy]}",
                   f"{-a[1]} known cells vs {-b[1]}",
                   f"text layer ({fmt[kept]}) vs OCR",
                   f"the document as issued ({fmt_rank[kept]}) vs the page or capture showing it ({fmt_rank[copy]})",
                   "same status, cells, text and format: the first by file path"]
        for reason, x, y in zip(reasons, a, b):
            if x != y:
                return reason
        return reasons[-1]

    rows = []
    members_of: dict[str, list[int]] = {}
    for i, g in zip(candidates.tolist(), group[candidates].astype(str).tolist()):
        members_of.setdefault(g, []).append(i)
    for g in sorted(members_of):
        ordered = sorted(members_of[g], key=order_key)
        kept: list[int] = []
        for i in ordered:
            match = None
            for k in kept:
                if sha[i] != "" and sha[i] == sha[k]:
                    match, shared, differ = k, known.get(ids[i], 0), 0
                    break
                shared, differ = compare(k, i)
                if differ == 0 and shared >= min_shared:
                    match = k
                    break
            if match is None:
                for k in kept:  # one body's year twice with different tables: say so
                    shared, differ = compare(k, i)
                    if differ and by_body[i] and by_body[k]:
                        rows.append({"report_id": ids[i], "rule": "same_agency_year", "section": "report",
                                     "row": "", "column": "", "expected": ids[k], "observed": ids[i],
                                     "message": f"warning: {aid[i]} {int(year[i])} has another report "
                                                f"{ids[k]} ({source[k]}) whose tables differ in "
                                                f"{differ} of {shared} shared cells: not a copy, both are counted"})
                        break
                kept.append(i)
                continue
            dup_of.iloc[i] = ids[match]
            basis = ("identical bytes" if sha[i] == sha[match] and sha[i] != ""
                     else f"{shared} cells known in both, all equal")
            rows.append({"report_id": ids[i], "rule": "duplicate_report", "section": "report", "row": "",
                         "column": "", "expected": ids[match], "observed": ids[i],
                         "message": f"copy of {ids[match]} ({source[match]}): same agency and year "
                                    f"({aid[i] if by_body[i] else 'agency unknown'}, "
                                    f"{'' if pd.isna(year[i]) else int(year[i])}), {basis}; kept "
                                    f"{ids[match]} ({why(match, i)}); metrics count it once"})
    return dup_of, pd.DataFrame(rows, columns=cols)

# (array helpers of the carry-over check; they lived in store.py, which imports parse,
# which imports this module: an import cycle)
def sorted_positions(sorted_values, keys):
    """Position of each key in ``sorted_values`` (ascending; the first of equal values),
    -1 where the key is absent: one binary search each."""
    import numpy as np

    if len(sorted_values) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(sorted_values, keys), len(sorted_values) - 1)
    return np.where(sorted_values[pos] == keys, pos, -1)


def fixed_bytes(arr):
    """An Arrow string array as a NumPy bytes array; report ids (16 characters, no
    nulls) as a copy of the data buffer, other strings through Python."""
    import numpy as np

    n = len(arr)
    if n and arr.null_count == 0:
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + n + 1]
        lengths = np.diff(offsets)
        width = int(lengths[0])
        if width > 0 and (lengths == width).all():
            data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
            if (data != 0).all():  # NumPy bytes drop trailing NULs
                return data.view(f"S{width}").copy()
    ids = arr.to_pylist()
    return np.char.encode(np.asarray(ids, dtype="U"), "utf-8") if len(ids) else np.array([], dtype="S1")
