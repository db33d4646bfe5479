"""Property tests: damaged real reports never crash the parser and always give a status;
a report cut off mid-table keeps the cells before the cut and never shifts values."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gxlib.parse import parse_bytes
from gxlib.runs import row_splits, splits

from conftest import RAW

SEEDS = sorted(RAW.glob("0*.txt"))
TEXTS = [p.read_bytes() for p in SEEDS]
FULL = [parse_bytes(b, p.name) for b, p in zip(TEXTS, SEEDS)]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _cells(res):
    out = {}
    for sec, keys in (("disclosure", ("item", "measure")), ("applications", ("row", "applicant")),
                      ("reviews", ("proceeding", "outcome"))):
        for r in res[sec]:
            out[(sec, r[keys[0]], r[keys[1]])] = r["value"]
    return out


def _valid(res):
    assert res["report"]["status"] in ("ok", "partial", "failed")
    if res["report"]["status"] != "ok":
        assert res["report"]["error"]


@SETTINGS
@given(st.integers(0, len(TEXTS) - 1), st.data())
def test_truncation_keeps_prefix_and_never_shifts(i, data):
    raw = TEXTS[i]
    cut = data.draw(st.integers(0, len(raw)))
    res = parse_bytes(raw[:cut], SEEDS[i].name)
    _valid(res)
    full = _cells(FULL[i])
    for key, value in _cells(res).items():
        # a value that survives the cut is the value of the whole report, or NA
        assert value is None or value == full.get(key), (key, value, full.get(key))


@SETTINGS
@given(st.integers(0, len(TEXTS) - 1), st.data())
def test_deletions_and_garbage_never_crash(i, data):
    raw = bytearray(TEXTS[i])
    for _ in range(data.draw(st.integers(1, 5))):
        a = data.draw(st.integers(0, len(raw)))
        b = data.draw(st.integers(a, min(len(raw), a + 300)))
        if data.draw(st.booleans()):
            del raw[a:b]
        else:
            raw[a:a] = data.draw(st.binary(max_size=40))
    _valid(parse_bytes(bytes(raw), SEEDS[i].name))


@SETTINGS
@given(st.binary(max_size=3000), st.sampled_from(["x.txt", "x.md", "x.html", "x.pdf", "x.docx", "x.doc", "x"]))
def test_garbage_files_get_a_status(data, name):
    res = parse_bytes(data, name)
    _valid(res)
    assert res["report"]["source_file"] == name


@SETTINGS
@given(st.text(alphabet="0123456789一二三四五六七、（）()|\n 本年新收政府信息公开申请数量总计结转", max_size=400))
def test_textual_garbage(text):
    _valid(parse_bytes(text.encode("utf-8"), "g.txt"))


# the splitter: the truth is always among the candidates, and a unique candidate is the truth
rows = st.lists(st.integers(0, 120), min_size=6, max_size=6).map(lambda xs: (*xs, sum(xs)))


@settings(max_examples=200, deadline=None)
@given(rows, st.data())
def test_row_split_contains_truth(row, data):
    s = "".join(str(x) for x in row)
    # keep some of the true borders as spaces, as real captures do
    chunks, cur = [], ""
    for j, x in enumerate(row):
        cur += str(x)
        if j < len(row) - 1 and data.draw(st.booleans()) and data.draw(st.booleans()):
            chunks.append(cur)
            cur = ""
    chunks.append(cur)
    cands = row_splits(chunks, 7)
    assert tuple(row) in cands
    if len(cands) == 1:
        assert cands[0] == tuple(row)
    assert all("".join(map(str, c)) == s for c in cands)
    assert all(sum(c[:6]) == c[6] for c in cands)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=4))
def test_free_split_contains_truth(values):
    assert tuple(values) in splits(["".join(map(str, values))], len(values))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300)
       | st.text(alphabet="０１９（）：，　\u00a0\u2212、。总计abc 1𠀋😀", max_size=300))
def test_normalize_is_the_fullwidth_translation(text):
    from gxlib.tables import _FW, normalize

    assert normalize(text) == text.translate(_FW)


def test_value_run_digit_class_covers_every_isdigit_character():
    from gxlib.tables import _ISDIGIT

    assert _ISDIGIT == "".join(filter(str.isdigit, map(chr, range(0x110000))))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789①²٣ |/—-–\\.,+万元亿%*×xX个笔件宗总计行政许可abc\n\t年", max_size=80),
       st.booleans())
def test_value_run_matches_the_character_loop(seg, explicit):
    from gxlib.tables import _VALUE_CHARS, value_run

    def reference(text, start, stop, explicit):  # the loop value_run replaced
        seg = text[start:stop]
        if explicit:
            line_end = seg.find("\n")
            if line_end > 0 and seg[:line_end].strip(" |"):
                seg = seg[:line_end]
            elif line_end == 0:
                nxt = seg.find("\n", 1)
                seg = seg[: nxt if nxt > 0 else len(seg)]
        i, n = 0, len(seg)
        while i < n and not (seg[i].isdigit() or seg[i] in "/—-–\\" or (explicit and seg[i] == "|")):
            i += 1
        j = i
        while j < n and seg[j] in _VALUE_CHARS:
            j += 1
        return i, j

    from gxlib.tables import _strip_label_number, _strip_year_tail

    text = "标签" + seg
    i, j = reference(text, 2, len(text), explicit)
    assert value_run(text, 2, len(text), explicit) == (
        _strip_label_number(_strip_year_tail(text, 2 + i, 2 + j)), 2 + i)


def _find_labels_by_regex(text, section, lo, hi):
    """The per-label regex scan that :func:`gxlib.tables._label_hits` replaced (oracle)."""
    from gxlib.tables import _labels

    found = []
    for k, lab in enumerate(_labels(section)):
        for m in lab.regex.finditer(text, lo, hi):
            start, end = m.span()
            found.append((start, start - end, k, end))
    return found


def _label_text():
    from gxlib.tables import labels

    pieces = sorted({kw for lab in labels() for kw in lab.keywords})
    # keywords, their halves (broken labels, overlaps), separators and value characters
    atoms = pieces + [kw[: len(kw) // 2] for kw in pieces] + [kw[len(kw) // 2:] for kw in pieces]
    atoms += [" ", "\n", "|", " | ", "\u3000", "0", "12", "、", "(", ")", "一、", "其他", "处理", "𠀋", "\ud800"]
    return st.lists(st.sampled_from(atoms), max_size=60).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_label_text(), st.sampled_from(["applications", "disclosure"]), st.integers(0, 30), st.integers(0, 30))
def test_label_hits_match_the_per_label_regex_scan(text, section, cut_lo, cut_hi):
    from gxlib.tables import _label_hits

    lo, hi = min(cut_lo, len(text)), max(len(text) - cut_hi, 0)
    assert sorted(_label_hits(text, section, lo, hi)) == sorted(_find_labels_by_regex(text, section, lo, hi))


def _find_labels_before(text, section, lo, hi):
    """find_labels before it made one pass over the packed hits (oracle): the hits of
    _label_hits (checked against the regex scan above) sorted, then filtered."""
    from gxlib.tables import _DIGIT, Match, _label_hits, _labels

    found = sorted(_label_hits(text, section, lo, hi))
    labs = _labels(section)
    out = []
    for start, _, k, end in found:
        if out and start < out[-1].end:
            continue
        code = labs[k].code
        if out and code == out[-1].code and not _DIGIT.search(text, out[-1].end, start):
            out[-1].end = end
            continue
        out.append(Match(code, labs[k].kind, start, end))
    return out


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_label_text(), st.sampled_from(["applications", "disclosure"]), st.integers(0, 30), st.integers(0, 30))
def test_find_labels_match_the_version_before(text, section, cut_lo, cut_hi):
    from gxlib.tables import find_labels

    lo, hi = min(cut_lo, len(text)), max(len(text) - cut_hi, 0)
    got = find_labels(text, section, lo, hi)
    assert got == _find_labels_before(text, section, lo, hi)
    assert all(type(m.start) is int and type(m.end) is int for m in got)


def test_find_labels_on_the_seed_reports():
    from gxlib.readers import read
    from gxlib.tables import find_labels, normalize

    for path in SEEDS:
        text = normalize(read(path).text)
        for section in ("applications", "disclosure"):
            assert find_labels(text, section, 0, len(text)) == _find_labels_before(text, section, 0, len(text)), path


def test_label_hits_on_the_seed_reports():
    from gxlib.readers import read
    from gxlib.tables import _label_hits, normalize

    for path in SEEDS:
        text = normalize(read(path).text)
        for section in ("applications", "disclosure"):
            assert sorted(_label_hits(text, section, 0, len(text))) == \
                sorted(_find_labels_by_regex(text, section, 0, len(text))), path


def test_label_separator_table_is_the_regex_class():
    import re

    from gxlib.tables import _NOT_SEP

    sep = re.compile(r"[\s|]")
    assert [c for c in range(0x110000) if not _NOT_SEP[c]] == \
        [c for c in range(0x110000) if sep.match(chr(c))]


def _application_checks_by_grid(records):
    """The (row, applicant)-keyed version that checks.application_checks replaced (oracle)."""
    from gxlib.checks import _fmt
    from gxlib.tables import APPLICANTS, OTHER_2019, OTHER_2021, OUTCOME_ROWS_COMMON, Check

    grid = {(r["row"], r["applicant"]): r["value"] for r in records}
    rows = list(dict.fromkeys(r["row"] for r in records))
    out = []
    parts = APPLICANTS[:-1]
    for row in rows:
        vals = [grid.get((row, a)) for a in parts]
        total = grid.get((row, "total"))
        if total is None or any(v is None for v in vals):
            continue
        if sum(vals) != total:
            out.append(Check("row_sum", "applications", row, "total", _fmt(sum(vals)), _fmt(total),
                             "the six applicant columns do not add up to 总计"))
    other = OTHER_2021 if any(r in rows for r in OTHER_2021) else OTHER_2019
    outcome = [*OUTCOME_ROWS_COMMON, *other]
    for col in APPLICANTS:
        handled = grid.get(("handled_total", col))
        vals = [grid.get((r, col)) for r in outcome]
        if handled is not None and all(v is not None for v in vals) and all((r, col) in grid for r in outcome):
            if sum(vals) != handled:
                out.append(Check("outcome_sum", "applications", "handled_total", col, _fmt(sum(vals)), _fmt(handled),
                                 "outcome rows （一）to（六）do not add up to （七）总计"))
        n, c, p, f = (grid.get((r, col)) for r in ("new", "carried_over", "handled_total", "carried_forward"))
        if None not in (n, c, p, f) and n + c != p + f:
            out.append(Check("balance", "applications", "", col, _fmt(n + c), _fmt(p + f),
                             "一、新收 + 二、上年结转 differs from （七）总计 + 四、结转下年度 "
                             f"({_fmt(n)} + {_fmt(c)} vs {_fmt(p)} + {_fmt(f)})"))
    return out


def _application_records():
    from gxlib.tables import APPLICANTS, application_rows

    codes = sorted(set(application_rows("2019")) | set(application_rows("2021")))
    value = st.sampled_from([None, 0.0, 0.0, 1.0, 2.0, 3.0, 0.5])
    full = st.builds(  # whole tables with a few cells or rows missing or NA
        lambda tpl, vals, holes, gone: [
            {"row": r, "applicant": a, "value": (None if (r, a) in holes else vals.get(a, 0.0))}
            for r in application_rows(tpl) if r not in gone for a in APPLICANTS],
        st.sampled_from(["2019", "2021"]), st.dictionaries(st.sampled_from(APPLICANTS), value),
        st.sets(st.tuples(st.sampled_from(codes), st.sampled_from(APPLICANTS)), max_size=3),
        st.sets(st.sampled_from(codes), max_size=2))
    scattered = st.lists(st.fixed_dictionaries({"row": st.sampled_from(codes),
                                                "applicant": st.sampled_from([*APPLICANTS, "subtotal"]),
                                                "value": value}), max_size=80)
    return full | scattered


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_application_records())
def test_application_checks_match_the_grid_version(records):
    from gxlib.checks import application_checks

    assert application_checks(records) == _application_checks_by_grid(records)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 |/—-.,万元个件年总计行政许可\n2019２０", max_size=60), st.integers(0, 60),
       st.booleans())
def test_row_chunks_depend_only_on_the_segment_and_the_next_character(text, cut, explicit):
    from gxlib.tables import chunks_of, row_chunks, value_run

    text = "标签" + text
    stop = min(2 + cut, len(text))
    assert row_chunks(text, 2, stop, explicit) == chunks_of(value_run(text, 2, stop, explicit)[0], explicit)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["0", "00", "12", "1,234", "", "/", "-", "3.5", "01", "x", "-2", "5件"]),
                min_size=7, max_size=7))
def test_clean_row_cache_gives_the_per_cell_result(chunks):
    from gxlib.tables import APPLICANTS, Tables, _cell, _cells_from_chunks

    cached, direct = Tables(), Tables()
    got = _cells_from_chunks(chunks, APPLICANTS, "new", cached, False)
    want = [_cell(c, "new", col, direct) for c, col in zip(chunks, APPLICANTS)]
    assert got == want and cached == direct


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789 |/—-.,万元个件年总计\n2019", max_size=40), st.sampled_from(["", "\n", "2", "年", "|"]),
       st.booleans(), st.sampled_from([7, 8]))
def test_clean_segment_gives_what_row_chunks_and_the_cell_path_give(seg, after, explicit, k):
    from gxlib.tables import APPLICANTS, Tables, _cells_from_chunks, _clean_segment, row_chunks

    cols = APPLICANTS if k == 7 else [*APPLICANTS[:-1], "subtotal", "total"]
    cells = _clean_segment(seg, after, explicit, k)
    chunks = row_chunks(seg + after, 0, len(seg), explicit)
    if cells is None:  # not k clean counts: the per-cell path has something to say
        direct = Tables()
        _cells_from_chunks(chunks, cols, "new", direct, False)
        assert len(chunks) != k or direct.checks
        return
    direct = Tables()
    assert list(cells) == _cells_from_chunks(chunks, cols, "new", direct, False)
    assert direct == Tables()  # no check, nothing uncertain


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10 ** 12))
def test_int_cell_is_the_cell_it_replaced(v):
    from gxlib.tables import Cell, _int_cell

    assert _int_cell(v) == Cell(float(v), str(v))
