"""The one label-based table core: report text -> coded cells of sections 二, 三 and 四.

It works on the text of a :class:`gxlib.readers.Document`, whatever the file format was.
Rows are found by their labels (``gxlib/layouts/labels.csv``), tolerant of labels broken
over lines or cells, spaces inside labels and full-width characters.  The numbers of a row
are the first run of value characters after its label.  Three shapes occur:

* explicit cells (HTML/DOCX grids, ruled PDF tables, Markdown pipe tables): ``label | 0 | 0 | | 3``,
  a blank piece is a blank cell (decided per section, see :func:`parse_tables`);
* text captures with one cell per line or ``|`` pieces: separators are certain, blanks are
  layout padding;
* flattened captures, a row's digits run together: split under the template's identities
  (:mod:`gxlib.runs`); cells that stay ambiguous are NA with a check.

Sections are found as a reader finds them: section 三 at the 本年新收 row that the 上年结转
row follows, section 四 by its heading and header (also without section 三); a label quoted
in a sentence is narrative, not a row.  Label variants (and OCR confusions, never in
digits) are data: ``layouts/labels.csv``, ``layouts/ocr_confusions.csv``.

Nothing here computes a value that the report does not state.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from bisect import bisect_left
from itertools import product

import numpy as np

from . import runs

APPLICANTS = [
    "natural_person",
    "commercial_enterprise",
    "research_institution",
    "social_welfare_org",
    "legal_service_org",
    "other_org",
    "total",
]
_APPLICANT_HEADERS = [
    ("natural_person", "自然人"),
    ("commercial_enterprise", "商业企业"),
    ("research_institution", "科研机构"),
    ("social_welfare_org", "社会公益组织"),
    ("legal_service_org", "法律服务机构"),
    ("subtotal", "小计"),
    ("total", "总计"),
]
OUTCOME_ROWS_COMMON = [
    "granted",
    "partly_granted",
    "withheld_state_secret",
    "withheld_prohibited",
    "withheld_security",
    "withheld_third_party",
    "withheld_internal",
    "withheld_process",
    "withheld_enforcement",
    "withheld_query",
    "unavailable_not_held",
    "unavailable_needs_creation",
    "unavailable_unclear",
    "rejected_petition",
    "rejected_duplicate",
    "rejected_publication",
    "rejected_excessive",
    "rejected_confirmation",
]
OTHER_2019 = ["other"]
OTHER_2021 = ["other_no_correction", "other_no_fee", "other_misc"]


def application_rows(template: str) -> list[str]:
    other = OTHER_2019 if template == "2019" else OTHER_2021
    return ["new", "carried_over", *OUTCOME_ROWS_COMMON, *other, "handled_total", "carried_forward"]


def outcome_rows(template: str) -> list[str]:
    return [*OUTCOME_ROWS_COMMON, *(OTHER_2019 if template == "2019" else OTHER_2021)]


PROCEEDINGS = ["review", "litigation_direct", "litigation_after_review"]
OUTCOMES = ["upheld", "corrected", "other", "pending", "total"]

# section 二: measures per item and template (the national layouts)
DISCLOSURE = {
    "2019": {
        "regulations": ["made", "published", "published_total"],
        "normative_documents": ["made", "published", "published_total"],
        "licensing": ["prior_items", "change", "decisions"],
        "other_services": ["prior_items", "change", "decisions"],
        "penalty": ["prior_items", "change", "decisions"],
        "coercion": ["prior_items", "change", "decisions"],
        "fees": ["prior_items", "change"],
        "procurement": ["projects", "amount"],
    },
    "2021": {
        "regulations": ["issued", "repealed", "in_force"],
        "normative_documents": ["issued", "repealed", "in_force"],
        "licensing": ["decisions"],
        "penalty": ["decisions"],
        "coercion": ["decisions"],
        "fees": ["amount"],
    },
}

TEMPLATE_MARKERS = {
    "2019": ["本年新制作数量", "本年新公开数量", "对外公开总数量", "上一年项目数量", "本年增/减", "采购项目数量",
             "政府集中采购", "其他对外管理服务事项"],
    "2021": ["本年制发件数", "本年废止件数", "现行有效件数", "本年处理决定数量", "本年收费金额", "逾期不补正",
             "缴纳费用"],
}

PLACEHOLDERS = {"/", "-", "--", "---", "—", "——", "–", "－", "\\", "／", "无", "空", "×", "x", "X", "*"}
_FW = {i: i - 0xFEE0 for i in range(0xFF01, 0xFF5F)}
_FW[0x3000] = 0x20  # ideographic space
_FW[0x00A0] = 0x20  # nbsp
_FW[0x2212] = ord("-")  # minus sign
_FW[0x3001] = 0x3001


def normalize(text: str) -> str:
    """Full-width ASCII to half-width, one character for one (positions are kept).

    Same as ``text.translate(_FW)``, through a lookup table over the UTF-32 code points
    (str.translate costs ~75 ns per character of Chinese text, this ~7)."""
    if text.isascii():
        return text
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    bmp = points < len(_FW_TABLE)
    if bmp.all():
        points = _FW_TABLE[points]
    else:
        points = points.copy()
        points[bmp] = _FW_TABLE[points[bmp]]
    return points.tobytes().decode("utf-32-le", "surrogatepass")


_FW_TABLE = np.arange(0x10000, dtype=np.uint32)
_FW_TABLE[list(_FW)] = list(_FW.values())


# ---------------------------------------------------------------------------------------
# label patterns

_SEP = r"[\s|]*"
_SEP_CHARS = re.compile(r"[\s|]")


def fuzzy(keyword: str) -> str:
    """Regex for a label keyword that may be broken by spaces, newlines or cell pipes
    (a "." in a keyword also matches "、" and "．": ``3.其他`` = ``3、其他``)."""
    return _SEP.join("[.、．]" if ch == "." else re.escape(ch) for ch in normalize(keyword))


@dataclass(frozen=True)
class Label:
    section: str
    code: str
    kind: str
    layout: str
    regex: re.Pattern
    keywords: tuple[str, ...] = ()  # normalised, longest first: the alternatives of ``regex`` in order


@lru_cache(maxsize=1)
def labels() -> tuple[Label, ...]:
    path = files("gxlib.layouts").joinpath("labels.csv")
    out = []
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            written = row["keywords"].split(";")
            keys = sorted(dict.fromkeys([*written, *(v for k in written for v in ocr_variants(k))]),
                          key=len, reverse=True)
            for k in keys:
                if not k or _SEP_CHARS.search(normalize(k)):
                    raise ValueError(f"labels.csv, {row['code']}: keyword {k!r} is empty or holds a space or |")
            pattern = "|".join(fuzzy(k) for k in keys)
            out.append(Label(row["section"], row["code"], row["kind"], row["layout"], re.compile(pattern),
                             tuple(normalize(k) for k in keys)))
    return tuple(out)


@lru_cache(maxsize=1)
def _ocr_confusions() -> dict[str, tuple[str, ...]]:
    """meant character -> characters OCR reads for it (``gxlib/layouts/ocr_confusions.csv``)."""
    out: dict[str, list[str]] = {}
    with files("gxlib.layouts").joinpath("ocr_confusions.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["meant"], []).append(row["seen"])
    return {k: tuple(v) for k, v in out.items()}


def ocr_variants(keyword: str) -> list[str]:
    """A label keyword as OCR may give it: one character replaced by a character OCR
    confuses it with; the keyword's other characters must match.  Keywords shorter than
    four characters get none (too little left to be sure), and digits and punctuation are
    never replaced."""
    if len(keyword) < 4:
        return []
    conf = _ocr_confusions()
    return [keyword[:i] + seen + keyword[i + 1:]
            for i, ch in enumerate(keyword) for seen in conf.get(ch, ())]


@lru_cache(maxsize=None)
def _labels(section: str) -> tuple[Label, ...]:
    return tuple(lab for lab in labels() if lab.section == section)


# value characters: digits, separators, decimal point, sign, placeholders, money units
_VALUE_CHARS = set("0123456789 \t\r\n|.,+-—–/\\万元亿%*×xX个笔件宗条项") | {"\x0b", "\x0c"}
# a number, its unit, and a parenthetical note after it: 22(其中修订16件) is 22, the note stays in raw
_NUM = re.compile(r"^([-+])?(\d+(?:,\d{3})*)(?:\.(\d+))?\s*(亿元|万元|亿|万|元|个|笔|件|宗|条|项)?"
                  r"(?:\s*\((?:其中|含|包括|包含)[^()|\n]{0,40}\))?$")
_COUNT_UNITS = {"个", "笔", "件", "宗", "条", "项"}
_COUNT_FACTOR = {"万": 1e4, "亿": 1e8}  # 1.2万 (件) is 12000
_MONEY_UNITS = {"元", "万元", "亿元"}
_LABEL_NUMBER_TAIL = re.compile(r"(?:\d\s*[.、]|\(\s*[一二三四五六七八九十]\s*\)?|[一二三四五六七八九十]\s*、)\s*$")


@dataclass
class Match:
    code: str
    kind: str
    start: int
    end: int


def find_labels(text: str, section: str, lo: int, hi: int) -> list[Match]:
    """The label matches of a section in ``text[lo:hi]``: of the hits of
    :func:`_label_hits`, earliest first, at the same place the longest; overlaps
    dropped; two keywords of one label with no digit between are one match.

    One pass over the hits of :func:`_packed_hits`: their order (packed start, longest
    first, label) is, label by label, the order in which :func:`_label_hits` keeps or
    drops them, and over all labels the order its caller sorted them into."""
    hits, at = _packed_hits(text, section, lo, hi)
    labs = _labels(section)
    out: list[Match] = []
    last_of: dict[int, int] = {}  # label index -> packed end of its previous match
    for first, _, k, _rank, last in hits:
        if first <= last_of.get(k, -1):
            continue  # inside the label's previous match (or its longer keyword here)
        last_of[k] = last
        start = lo + at[first]
        if out and start < out[-1].end:
            continue
        end = lo + at[last] + 1
        code = labs[k].code
        if out and code == out[-1].code and not _DIGIT.search(text, out[-1].end, start):
            out[-1].end = end  # two keywords of one label (收费通知 … 缴纳费用)
            continue
        out.append(Match(code, labs[k].kind, start, end))
    return out


_DIGIT = re.compile(r"\d")


def _label_hits(text: str, section: str, lo: int, hi: int) -> list[tuple[int, int, int, int]]:
    """``(start, start - end, label index, end)`` of every match of every label regex of
    the section in ``text[lo:hi]``, exactly as ``label.regex.finditer(text, lo, hi)``
    gives them, found in one pass instead of one regex scan per label.

    Per label, as in ``finditer``: the leftmost match wins, at one place the first
    alternative (the longest keyword), and the next match starts at or after the end of
    the previous one."""
    hits, at = _packed_hits(text, section, lo, hi)
    found: list[tuple[int, int, int, int]] = []
    last_of: dict[int, int] = {}
    for first, _, k, _rank, last in hits:
        if first <= last_of.get(k, -1):
            continue
        last_of[k] = last
        start, end = lo + at[first], lo + at[last] + 1
        found.append((start, start - end, k, end))
    return found


def _packed_hits(text: str, section: str, lo: int, hi: int) -> tuple[list[tuple[int, int, int, int, int]], list[int]]:
    """Every keyword hit of the section's labels in ``text[lo:hi]``, as ``(packed first,
    -packed last, label index, keyword rank, packed last)`` sorted, and the position in
    the region of every packed character.

    A label regex is its keywords with ``[\\s|]*`` between the characters.  So the
    region is packed (separator characters removed, their positions kept) and every
    keyword is found in the packed text by one Aho-Corasick scan.  A packed position maps
    to a region position by a strictly increasing function, so packed order is text
    order and, at one start, a longer keyword is a longer match; of one label at one
    place the longest keyword is the first alternative (keywords are sorted longest
    first, and two keywords of one length cannot match at one place)."""
    points = np.frombuffer(text[lo:hi].encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    kept = np.flatnonzero(_NOT_SEP[points])  # position in the region of each packed character
    packed = points[kept].tobytes().decode("utf-32-le", "surrogatepass")
    hits = [(last - size + 1, -last, k, rank, last)
            for last, (size, entries) in _keyword_automaton(section).iter(packed) for k, rank in entries]
    hits.sort()
    return hits, kept.tolist() if hits else []


# False for the characters the label regexes skip between keyword characters ([\s|]),
# over every code point (a test checks it against the regex)
_NOT_SEP = np.ones(0x110000, dtype=bool)
_NOT_SEP[[c for c in range(0x3001) if chr(c).isspace() or chr(c) == "|"]] = False  # none above U+3000


@lru_cache(maxsize=None)
def _keyword_automaton(section: str):
    """Aho-Corasick automaton of the keywords of a section's labels: packed keyword ->
    ``(length, ((label index, keyword rank), ...))``; a "." in a keyword also stands for
    "、" and "．", as in :func:`fuzzy`."""
    import ahocorasick

    words: dict[str, list[tuple[int, int]]] = {}
    for k, lab in enumerate(_labels(section)):
        for rank, kw in enumerate(lab.keywords):
            for variant in product(*((".", "、", "．") if ch == "." else (ch,) for ch in kw)):
                words.setdefault("".join(variant), []).append((k, rank))
    auto = ahocorasick.Automaton()
    for word, entries in words.items():
        auto.add_word(word, (len(word), tuple(entries)))
    auto.make_automaton()
    return auto


# ---------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class Cell:  # frozen: one Cell object may stand for many cells with the same text
    value: float | None
    raw: str


@dataclass
class Check:
    rule: str
    section: str
    row: str = ""
    column: str = ""
    expected: str = ""
    observed: str = ""
    message: str = ""


@dataclass
class Tables:
    template: str | None = None
    disclosure: list[dict] = field(default_factory=list)
    applications: list[dict] = field(default_factory=list)
    reviews: list[dict] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    uncertain: int = 0  # cells left NA for a reason other than a placeholder
    missing_rows: int = 0  # rows of a present table whose label was not found


# ---------------------------------------------------------------------------------------
# value runs


def value_run(text: str, start: int, stop: int, explicit: bool) -> tuple[str, int]:
    """The run of value characters that follows a label, and where it begins.

    Skips what is left of a long label (``（区分处理的…）``) up to the first value
    character; stops at the first character that belongs to the next label or heading.
    """
    seg = text[start:stop]
    if explicit:
        line_end = seg.find("\n")
        if line_end > 0 and seg[:line_end].strip(" |"):
            seg = seg[:line_end]
        elif line_end == 0:
            nxt = seg.find("\n", 1)
            seg = seg[: nxt if nxt > 0 else len(seg)]
    # skip the label's remainder: characters up to the first digit (str.isdigit) or placeholder
    first = (_RUN_START_EXPLICIT if explicit else _RUN_START).search(seg)
    i = first.start() if first else len(seg)
    j = _VALUE_RUN.match(seg, i).end()
    run = _strip_year_tail(text, start + i, start + j)
    # a trailing "2." or "（" is the number of the next label
    run = _strip_label_number(run)
    return run, start + i


def row_chunks(text: str, start: int, stop: int, explicit: bool) -> list[str]:
    """``chunks_of(value_run(text, start, stop, explicit)[0], explicit)``: the cell texts
    of the row whose label ends at ``start``.  They depend only on ``text[start:stop]`` and
    the character after it, and the same rows recur from report to report (a row of
    zeros, in one layout): cached on that text."""
    return list(_segment_chunks(text[start:stop], text[stop:stop + 1], explicit))


@lru_cache(maxsize=4096)
def _segment_chunks(seg: str, after: str, explicit: bool) -> tuple[str, ...]:
    run, _ = value_run(seg + after, 0, len(seg), explicit)
    return tuple(chunks_of(run, explicit))


def _char_class(chars) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(set(chars))) + "]"


# every character for which str.isdigit() is true (wider than \d: ², ①); planes 2 and up
# hold ideographs, tags and private use, never a digit (a test checks the whole range)
_ISDIGIT = "".join(filter(str.isdigit, map(chr, range(0x20000))))
_RUN_START = re.compile(_char_class(_ISDIGIT + "/—-–\\"))
_RUN_START_EXPLICIT = re.compile(_char_class(_ISDIGIT + "/—-–\\|"))
_VALUE_RUN = re.compile("(?:" + _char_class(_VALUE_CHARS) + r"|\((?:其中|含|包括|包含)[^()|\n]{0,40}\))*")


def _strip_year_tail(text: str, i: int, j: int) -> str:
    """``text[i:j]`` without a trailing ``2025`` that is the year of the narrative that
    follows (``…0000002025年，我局…``)."""
    run = text[i:j]
    if text[j:j + 1] == "年":
        m = _YEAR_TAIL.search(run)
        if m:
            run = run[: m.start()]
    return run


_YEAR_TAIL = re.compile(r"(?:19|20)\d\d\s*\Z")  # \Z: "$" would match before a final newline


def _strip_label_number(run: str) -> str:
    body = run.rstrip()
    m = _LABEL_NUMBER_TAIL.search(body)
    if m:
        return body[: m.start()]
    return run


def chunks_of(run: str, explicit: bool) -> list[str]:
    """Cell texts of a value run.  In explicit mode blank pieces are blank cells."""
    if explicit:
        pieces = run.split("|")
        if pieces and not pieces[0].strip():
            pieces = pieces[1:]  # the remainder of the label's own cell
        pieces = [p.strip() for p in pieces]
        out: list[str] = []
        for p in pieces:
            out.extend(p.split() if p and " " in p and all(_is_number(x) for x in p.split()) else [p])
        return out
    return [c for c in _SEPARATORS.split(run) if c]


_SEPARATORS = re.compile(r"[\s|]+")


def _is_number(s: str) -> bool:
    return bool(_NUM.match(s))


def parse_cell(raw: str, *, allow_negative: bool = False,
               integer: bool = True) -> tuple[float | None, str | None, str | None]:
    return _parse_cell(raw, allow_negative, integer)  # most cells are "0": cached


@lru_cache(maxsize=8192)
def _parse_cell(raw: str, allow_negative: bool, integer: bool) -> tuple[float | None, str | None, str | None]:
    """Return (value, unit_found, problem).  Value is in the cell's own unit (not yet
    normalised to 万元); ``problem`` is None for a clean number, ``placeholder`` or a
    reason."""
    s = raw.strip().replace("，", ",")
    if s == "":
        return 0.0, None, None  # blank cell inside a present table
    if s in PLACEHOLDERS or set(s) <= set("/-—–\\"):
        return None, None, "placeholder"
    m = _NUM.match(s)
    if not m:
        return None, None, f"not a number: {raw!r}"
    sign, intpart, frac, unit = m.groups()
    digits = intpart.replace(",", "")
    if len(digits) > 1 and digits[0] == "0":
        if set(digits) == {"0"} and not frac:
            pass  # "00": a doubled zero
        else:
            return None, unit, f"leading zero in {raw!r}"
    if sign == "-" and not allow_negative:
        return None, unit, f"negative count {raw!r}"
    if unit in _COUNT_UNITS:
        unit = None
    if frac and integer and unit is None:
        return None, unit, f"fraction in a count cell: {raw!r}"
    value = float(f"{digits}.{frac}" if frac else digits)
    if sign == "-":
        value = -value
    return value, unit, None


# ---------------------------------------------------------------------------------------
# regions


_SEC3_WORDS = [f"{w}政府信息公开{t}" for w in ("本年新收", "本年度新收") for t in ("申请", "")]
_SEC3_ANCHOR = re.compile("|".join(map(fuzzy, _SEC3_WORDS)))
_SEC3_ANCHOR_OCR = re.compile("|".join(fuzzy(v) for w in _SEC3_WORDS for v in ocr_variants(w)))  # tried second
_SEC3_FOLLOW = re.compile("|".join(fuzzy(w) for w in ("上年结转", "上年度结转", "上一年度结转", "上一年结转")))
# a label quoted in a sentence: "…本年新收政府信息公开申请12件，上年结转…" (a number, maybe a
# unit, then sentence punctuation on the same line), or prose ending a sentence before any number
# (normalised text: "，" is ","; a "," followed by a digit is a thousands separator)
_NARRATIVE = re.compile(r"[^\n|\d(（]{0,12}?\d+(?:,\d{3})*(?:\.\d+)?\s*[件个条项]?\s*(?:[，。；;]|,(?!\d))|[^\n|\d(（]{0,30}[。；;]")
_BETWEEN_ROWS = re.compile(r"数量|[(（][^()（）\n]{0,30}[)）]|[一二两2][、.]|[\d\s|.,/\\\-—–件个]")
_SEC4_TABLE_HEADER = re.compile(r"维\s*持")
_SEC2_ANCHOR = re.compile(fuzzy("第二十条第(一)项") + "|" + fuzzy("第二十条第"))
_SEC2_HEADING = re.compile(fuzzy("主动公开政府信息情况"))
_SEC3_HEADING = re.compile(fuzzy("收到和处理政府信息公开申请情况") + "|" + fuzzy("申请人情况"))
_SEC4_HEADING = re.compile(fuzzy("行政复议") + "|" + fuzzy("行政诉讼"))
_SEC5_HEADING = re.compile(
    r"[四五六七]\s*[、.]\s*(?:政府信息公开工作)?\s*存在的?\s*主要问题|存在的?主要问题及|[五六]\s*[、.]\s*其他需要报告"
)
_CJK = re.compile(r"[\u4e00-\u9fff]")
_FORWARD = re.compile(fuzzy("结转下年度"))


@dataclass
class Regions:
    sec2: tuple[int, int] | None
    sec3: tuple[int, int] | None
    sec4: tuple[int, int] | None


def is_narrative(text: str, end: int) -> bool:
    """True when the label that ends at ``end`` is quoted inside a sentence of prose
    (the label is followed, on its line, by a number and sentence punctuation, or by
    words that end a sentence): narrative, not a table row."""
    return _NARRATIVE.match(text, end) is not None


def _sec3_anchor(text: str) -> re.Match | None:
    """The 本年新收 row label that starts the section-三 table, found as a reader finds it:
    not a label quoted in a sentence, and followed by the 上年结转 row.  Without a
    following 上年结转 the first label that is not narrative is taken."""
    for anchor in (_SEC3_ANCHOR, _SEC3_ANCHOR_OCR):
        loose = None
        for m in anchor.finditer(text):
            if is_narrative(text, m.end()):
                continue
            f = _SEC3_FOLLOW.search(text, m.end(), m.end() + 600)
            if f and len(_CJK.findall(_BETWEEN_ROWS.sub("", text[m.end():f.start()]))) <= 2:
                return m  # the next thing after the row's values is the 上年结转 row
            if loose is None:
                loose = m
        if loose is not None:
            return loose
    return None


def _sec4_alone(text: str, lo: int) -> re.Match | None:
    """A section-四 table with no section 三 before it: the first 行政复议/行政诉讼 that is
    followed by the table's header (结果维持 …) rather than prose."""
    for m in _SEC4_HEADING.finditer(text, lo):
        if is_narrative(text, m.end()):
            continue
        if _SEC4_TABLE_HEADER.search(text, m.end(), m.end() + 200):
            return m
    return None


def find_regions(text: str) -> Regions:
    n = len(text)
    m3 = _sec3_anchor(text)
    sec3_start = None
    if m3:
        # the table begins at its heading or header just before the first row
        sec3_start = m3.start()
        head = None
        for h in _SEC3_HEADING.finditer(text, max(0, m3.start() - 600), m3.start()):
            head = h
        if head:
            sec3_start = head.start()
    # section 二 table
    sec2 = None
    limit2 = sec3_start if sec3_start is not None else n
    m2 = None
    for m in _SEC2_ANCHOR.finditer(text, 0, limit2):
        m2 = m
        break
    if m2 is None:
        heads = list(_SEC2_HEADING.finditer(text, 0, limit2))
        if heads:
            m2 = heads[-1]
    if m2 is not None:
        sec2 = (m2.start(), limit2)
    # section 三 ends at the section-四 table
    sec3 = sec4 = None
    if m3:
        tail_from = m3.end()
        mfwd = _FORWARD.search(text, tail_from)
        search4 = mfwd.end() if mfwd else tail_from
        m4 = _SEC4_HEADING.search(text, search4)
        sec3_end = m4.start() if m4 else n
        # pull back to the heading "四、..." that introduces section 四
        if m4:
            back = text.rfind("四", max(search4, m4.start() - 40), m4.start())
            if back >= 0 and re.match(r"四\s*[、.]", text[back:back + 3]):
                sec3_end = back
        sec3 = (sec3_start, sec3_end)
        if m4:
            m5 = _SEC5_HEADING.search(text, m4.end())
            sec4 = (sec3_end, m5.start() if m5 else n)
    else:
        # no section 三 table: a section 四 table may still stand on its own
        m4 = _sec4_alone(text, sec2[0] if sec2 else 0)
        if m4:
            start = m4.start()
            back = text.rfind("四", max(0, start - 40), start)
            if back >= 0 and re.match(r"四\s*[、.]", text[back:back + 3]):
                start = back
            m5 = _SEC5_HEADING.search(text, m4.end())
            sec4 = (start, m5.start() if m5 else n)
            if sec2 and sec2[1] > start:
                sec2 = (sec2[0], start)
    return Regions(sec2, sec3, sec4)


def detect_template(text: str, regions: Regions) -> tuple[str | None, dict]:
    lo = min([r[0] for r in (regions.sec2, regions.sec3, regions.sec4) if r] or [0])
    hi = max([r[1] for r in (regions.sec2, regions.sec3, regions.sec4) if r] or [0])
    area = text[lo:hi]
    score = {}
    for tpl, marks in _TEMPLATE_MARKER_RES.items():
        score[tpl] = sum(1 for rx in marks if rx.search(area))
    if score["2019"] == score["2021"]:
        return None, score
    return ("2019" if score["2019"] > score["2021"] else "2021"), score


def is_flat(text: str, lo: int, hi: int) -> bool:
    """A table whose rows were flattened into one line (no cell separators survive)."""
    area = text[lo:hi].strip()
    return len(area) > 40 and "\n" not in area and "|" not in area


# ---------------------------------------------------------------------------------------
# the parser


def parse_tables(text: str, explicit: bool = False, normalized: bool = False) -> Tables:
    """Cells of sections 二, 三 and 四.  ``explicit``: the reader wrote grid rows (``a | b``,
    a blank piece is a blank cell).  Whether a section's table really is a grid is decided
    per section: a section without any ``|`` row is plain lines even in a document with
    grids (a PDF with one ruled and one unruled table), and Markdown pipe rows
    (``| a | b |``, as PDF-to-Markdown converters write) make a section a grid."""
    if not normalized:
        text = normalize(text)
    md_rows: list[int] = []
    if not explicit and "|" in text:  # (in a reader's grid a leading "|" is a blank first cell)
        text, md_rows = markdown_to_grid(text)
    out = Tables()
    regions = find_regions(text)
    template, _score = detect_template(text, regions)
    out.template = template

    def grid(region: tuple[int, int]) -> bool:
        lo, hi = region
        if explicit and "|" in text[lo:hi]:
            return True
        return bisect_left(md_rows, hi) - bisect_left(md_rows, lo) >= 2

    if regions.sec3:
        _parse_applications(text, regions.sec3, grid(regions.sec3), out)
    if regions.sec2:
        _parse_disclosure(text, regions.sec2, grid(regions.sec2), template, out)
    if regions.sec4:
        _parse_reviews(text, regions.sec4, grid(regions.sec4), out)
    return out


_MD_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_MD_ROW = re.compile(r"^\s*\|(.*[^\s|].*)\|\s*$")  # at least one cell with text
_MD_HEADING = re.compile(r"^\s*#{1,6}\s*")
_GENERIC_HEADER = re.compile(r"^(?:数据|列|栏|字段|Column|column|Col|col)\s*\d{1,2}$")


def markdown_to_grid(text: str) -> tuple[str, list[int]]:
    """Markdown pipe tables as grid rows: ``| a |  | b |`` -> ``a |  | b``; separator rows
    (``|---|:--:|``) and generic header rows (数据1 … 数据6) dropped; a heading that
    repeats a row label above a row of bare values (``### 一、本年新收…`` then ``| 41 | 6 |…``)
    joined with that row.  Returns the text and the start of every grid row made from a
    Markdown row (sorted).  Text without Markdown rows is returned as it is."""
    lines = text.split("\n")
    if not any(ln.lstrip().startswith("|") and _MD_ROW.match(ln) for ln in lines):
        return text, []
    kept: list[tuple[str, bool]] = []  # (line, is a Markdown row)
    for ln in lines:
        if "|" in ln and _MD_SEPARATOR.match(ln) and "-" in ln:
            continue
        m = _MD_ROW.match(ln)
        if m:
            cells = [c.strip() for c in m.group(1).split("|")]
            if any(cells) and all(c == "" or _GENERIC_HEADER.match(c) for c in cells):
                continue
            kept.append((m.group(1).strip(" "), True))
        else:
            kept.append((ln, False))
    out: list[str] = []
    starts: list[int] = []
    pos = 0
    i = 0
    while i < len(kept):
        ln, md = kept[i]
        if not md and _MD_HEADING.match(ln):
            ln = _MD_HEADING.sub("", ln)
            nxt = i + 1
            while nxt < len(kept) and not kept[nxt][0].strip():
                nxt += 1
            # the heading is the label of a row of bare values (no words of its own)
            one_row = (nxt < len(kept) and kept[nxt][1] and _DIGIT.search(kept[nxt][0])
                       and not _CJK.search(kept[nxt][0]))
            if one_row and ln.strip():
                ln, md, i = ln.strip() + " | " + kept[nxt][0], True, nxt
        if md:
            starts.append(pos)
        out.append(ln)
        pos += len(ln) + 1
        i += 1
    return "\n".join(out), starts


_APPLICANT_HEADER_RES = [(code, re.compile(fuzzy(word))) for code, word in _APPLICANT_HEADERS]
_TEMPLATE_MARKER_RES = {tpl: [re.compile(fuzzy(mk)) for mk in marks] for tpl, marks in TEMPLATE_MARKERS.items()}


def _columns(text: str, lo: int, first_row: int) -> list[str]:
    """Applicant columns in the order of the header (7, or 8 with a 小计 column)."""
    header = text[lo:first_row]
    pos = {}
    for code, rx in _APPLICANT_HEADER_RES:
        m = rx.search(header)
        if m:
            pos[code] = m.start()
    if "subtotal" in pos and "legal_service_org" in pos and pos["subtotal"] > pos["legal_service_org"]:
        return ["natural_person", "commercial_enterprise", "research_institution", "social_welfare_org",
                "legal_service_org", "other_org", "subtotal", "total"]
    return APPLICANTS


def _parse_applications(text: str, region: tuple[int, int], explicit: bool, out: Tables) -> None:
    lo, hi = region
    matches = find_labels(text, "applications", lo, hi)
    first = next((m for m in matches if m.code == "new" and not _NARRATIVE.match(text, m.end)), None)
    if first is None:
        return
    matches = _bare_row_labels([m for m in matches if m.start >= first.start], text, hi)
    cols = _columns(text, lo, first.start)
    k = len(cols)
    has_2021_other = any(m.code in OTHER_2021 for m in matches)
    flat = is_flat(text, first.start, hi)
    rows: dict[str, list[Cell]] = {}
    runs_of: dict[str, list[str]] = {}
    for i, m in enumerate(matches):
        if m.kind != "row" or _NARRATIVE.match(text, m.end):
            continue  # (a label quoted in a sentence is narrative, not a row)
        code = m.code
        if code == "other" and has_2021_other:
            continue  # （六）其他处理 is a group heading in the 2021 layout
        if code in rows or code in runs_of:
            out.checks.append(Check("duplicate_row", "applications", code, "", "", "",
                                    "row label found twice; the first occurrence is used"))
            continue
        stop = matches[i + 1].start if i + 1 < len(matches) else hi
        seg, after = text[m.end:stop], text[stop:stop + 1]
        cells = _clean_segment(seg, after, explicit, k)
        if cells is not None:  # k clean counts (most rows): what the path below gives them
            rows[code] = cells
            continue
        chunks = list(_segment_chunks(seg, after, explicit))  # row_chunks(text, m.end, stop, explicit)
        if flat and len(chunks) < k and all(c.isdigit() for c in chunks) and chunks:
            runs_of[code] = chunks
            continue
        rows[code] = _cells_from_chunks(chunks, cols, code, out, truncated=(i == len(matches) - 1 and stop == len(text)),
                                        explicit=explicit)
    # flattened rows: solve under the identities
    if runs_of:
        _solve_flat_rows(runs_of, cols, rows, out)
    template = "2021" if has_2021_other else "2019" if "other" in rows else out.template
    if template is None:  # neither the markers nor the rows tell: say so, never guess
        out.checks.append(Check("template_unknown", "applications", "", "", "", "",
                                "layout (2019/2021) could not be told: the 其他处理 rows are not checked"))
        expected = ["new", "carried_over", *OUTCOME_ROWS_COMMON, "handled_total", "carried_forward"]
    else:
        out.template = out.template or template
        expected = application_rows(template)
    for code in expected:
        if code not in rows:
            out.missing_rows += 1
            out.checks.append(Check("missing_row", "applications", code, "", "", "",
                                    "row label not found in the section-三 table"))
    records = out.applications
    subtotal = "subtotal" in cols
    for code in expected:
        if code in rows:
            if subtotal:
                records += [{"row": code, "applicant": col, "value": cell.value, "raw": cell.raw}
                            for col, cell in zip(cols, rows[code]) if col != "subtotal"]
            else:
                records += [{"row": code, "applicant": col, "value": cell.value, "raw": cell.raw}
                            for col, cell in zip(cols, rows[code])]
    # a blank 总计 cell is rare: the rows are looked at again only when there is one
    total = cols.index("total")
    expected_rows = set(expected)
    if any(len(cells) > total and not cells[total].raw.strip() for code, cells in rows.items() if code in expected_rows) \
            or any(not cell.raw.strip() for cell in rows.get("handled_total", ())):
        _blank_totals_applications(out, cols)


_ROW_END = re.compile(r"[\d/\\—–-][\s|]*\Z")
_BARE_WORDS = {"other_misc": (("other_no_fee",), re.compile(fuzzy("其他"))),
               "handled_total": (("other_misc", "other", "other_no_fee"), re.compile(fuzzy("总计")))}


def _bare_row_labels(matches: list[Match], text: str, hi: int) -> list[Match]:
    """Rows whose label without its number is a word that is also a column header:
    ``其他`` (3.其他) and ``总计`` ((七)总计).  Found by the sequence of rows, as a reader
    finds them: the bare word right after the row that comes before it in the layout
    (and before the next label)."""
    found = {m.code for m in matches}
    for code, (after, word) in _BARE_WORDS.items():
        if code in found:
            continue
        prev = max((i for i, m in enumerate(matches) if m.code in after), default=None)
        if prev is None:
            continue
        stop = matches[prev + 1].start if prev + 1 < len(matches) else hi
        w = word.search(text, matches[prev].end, stop)
        # right after the previous row's values: only separators between its last value and the word
        if w and _ROW_END.search(text, matches[prev].end, w.start()):
            matches = sorted([*matches, Match(code, "row", w.start(), w.end())], key=lambda m: m.start)
            found.add(code)
    return matches


def _cells_from_chunks(chunks: list[str], cols: list[str], code: str, out: Tables, truncated: bool,
                       explicit: bool = False) -> list[Cell]:
    k = len(cols)
    if len(chunks) == k:
        clean = _clean_row(tuple(chunks))
        if clean is not None:
            return list(clean)  # what the per-cell path below gives when no cell has a problem
    if len(chunks) > k and all(c == "" for c in chunks[k:]):
        chunks = chunks[:k]
    if len(chunks) != k and not explicit:  # in a grid a blank piece is a blank cell (0), never padding
        nonblank = [c for c in chunks if c != ""]
        if len(nonblank) == k:
            chunks = nonblank
    if len(chunks) != k:
        if truncated and len(chunks) < k:
            # the document stops inside this row: keep the cells before the cut
            cells = [_cell(c, code, col, out) for c, col in zip(chunks, cols)]
            cells += [Cell(None, "") for _ in range(k - len(chunks))]
            out.uncertain += k - len(chunks)
            out.checks.append(Check("cell_count", "applications", code, "", str(k), str(len(chunks)),
                                    "the text ends inside this row; later cells are missing"))
            return cells
        out.uncertain += k
        out.checks.append(Check("cell_count", "applications", code, "", str(k), str(len(chunks)),
                                f"expected {k} cells, found {len(chunks)} ({' '.join(chunks)[:60]}); "
                                "cells cannot be placed by position, all left NA"))
        return [Cell(None, " ".join(chunks)) for _ in cols]
    return [_cell(c, code, col, out) for c, col in zip(chunks, cols)]


def _cell(raw: str, row: str, col: str, out: Tables, section: str = "applications") -> Cell:
    cell = _clean_count(raw)
    if cell is not None:
        return cell
    value, unit, problem = parse_cell(raw)
    if problem is None and unit is not None:
        value, problem = count_in_unit(value, unit, raw)
        if problem:
            out.uncertain += 1
            out.checks.append(Check("unit", section, row, col, "", raw, problem))
            return Cell(None, raw)
    if problem == "placeholder":
        out.checks.append(Check("placeholder", section, row, col, "", raw, "placeholder instead of a number: NA"))
    elif problem:
        out.uncertain += 1
        out.checks.append(Check("unreadable_value", section, row, col, "", raw, problem))
    return Cell(value, raw)


def count_in_unit(value: float, unit: str, raw: str) -> tuple[float | None, str | None]:
    """A count written with a unit: ``1.2万`` is 12000, ``3亿`` 300000000; a money unit
    (元, 万元, 亿元) in a count cell, or a count that is not a whole number once converted,
    is not a count: (None, reason).  A unit is never dropped."""
    if unit in _MONEY_UNITS:
        return None, f"money unit {unit!r} in a count cell: {raw!r}"
    factor = _COUNT_FACTOR.get(unit)
    if factor is None:
        return None, f"unknown unit {unit!r} in {raw!r}"
    v = round(value * factor, 6)
    if not float(v).is_integer():
        return None, f"{raw!r} is not a whole number of items"
    return v, None


@lru_cache(maxsize=4096, typed=True)
def _int_cell(v: int) -> Cell:
    """``Cell(float(v), str(v))``: the cell of a number found by splitting flattened digits
    (a frozen dataclass costs ~1 us to build; the same small numbers recur)."""
    return Cell(float(v), str(v))


@lru_cache(maxsize=4096)
def _clean_segment(seg: str, after: str, explicit: bool, k: int) -> tuple[Cell, ...] | None:
    """The cells of a row of ``k`` clean counts whose label is followed by ``seg`` (and the
    character ``after`` it), else None: :func:`_segment_chunks` then :func:`_clean_row`
    in one cached step (rows of zeros recur)."""
    chunks = _segment_chunks(seg, after, explicit)
    return _clean_row(chunks) if len(chunks) == k else None


@lru_cache(maxsize=4096)
def _clean_row(chunks: tuple[str, ...]) -> tuple[Cell, ...] | None:
    """The cells of a row whose every text is a clean count (rows of zeros recur), else None."""
    cells = tuple(map(_clean_count, chunks))
    return None if any(cell is None for cell in cells) else cells


@lru_cache(maxsize=8192)
def _clean_count(raw: str) -> Cell | None:
    """The cell of a count cell text that :func:`parse_cell` reads without a problem
    (most cells are "0"), else None."""
    value, unit, problem = _parse_cell(raw, False, True)
    return None if problem or unit else Cell(value, raw)


def _solve_flat_rows(runs_of: dict[str, list[str]], cols: list[str], rows: dict[str, list[Cell]],
                     out: Tables) -> None:
    k = len(cols)
    total_idx = cols.index("total")
    cands: dict[str, list[tuple[int, ...]]] = {}
    for code, chunks in runs_of.items():
        if sum(len(c) for c in chunks) == k:
            # one digit per cell: the only split there is
            only = tuple(int(d) for c in chunks for d in c)
            cands[code] = [only]
            continue
        try:
            free = []
            if k == 7:
                summed = runs.row_splits(chunks, k)  # pruned search: only splits that add up
            else:
                free = runs.splits(chunks, k)
                summed = [s for s in free if sum(s[:6]) == s[total_idx] and sum(s[1:6]) == s[6]]
            if not summed and not free:
                free = runs.splits(chunks, k)
        except runs.TooMany:
            free, summed = [], []
            out.checks.append(Check("ambiguous_split", "applications", code, "", "", "".join(chunks),
                                    "too many possible splits of the flattened digits"))
        if summed:
            cands[code] = summed
        else:
            if free and len(free) > 1:
                out.checks.append(Check("ambiguous_split", "applications", code, "", "", " ".join(chunks),
                                        "no split of the flattened digits makes the row add up to its 总计"))
            cands[code] = free
    # column identities across rows narrow the candidates further
    ambiguous = [c for c in cands if len(cands[c]) > 1]
    fixed = {c: cands[c][0] for c in cands if len(cands[c]) == 1}
    if ambiguous:
        size = 1
        for c in ambiguous:
            size *= len(cands[c])
        if size <= 200000:
            ok_combos = []
            for combo in product(*(cands[c] for c in ambiguous)):
                assign = dict(fixed)
                assign.update(zip(ambiguous, combo))
                if _column_identities_hold(assign, rows, cols):
                    ok_combos.append(combo)
            if ok_combos:
                # per cell agreement across all consistent combinations
                cell_sets = {c: [{combo[i][j] for combo in ok_combos} for j in range(k)]
                             for i, c in enumerate(ambiguous)}
                for c in ambiguous:
                    rows[c] = _cells_from_sets(c, cell_sets[c], runs_of[c], cols, out)
                for c, v in fixed.items():
                    rows[c] = [_int_cell(x) for x in v]
                return
    for c, cs in cands.items():
        if not cs:
            out.uncertain += k
            out.checks.append(Check("ambiguous_split", "applications", c, "", "", " ".join(runs_of[c]),
                                    f"the digits cannot be split into {k} cells: all NA"))
            rows[c] = [Cell(None, " ".join(runs_of[c])) for _ in cols]
            continue
        sets = [set(col) for col in zip(*cs)]  # (every split has k numbers)
        rows[c] = _cells_from_sets(c, sets, runs_of[c], cols, out)


def _cells_from_sets(code: str, sets: list[set], chunks: list[str], cols: list[str], out: Tables) -> list[Cell]:
    cells = []
    for col, vals in zip(cols, sets):
        if len(vals) == 1:
            v = next(iter(vals))
            cells.append(_int_cell(v))
        else:
            out.uncertain += 1
            cells.append(Cell(None, "".join(chunks) if len(chunks) == 1 else " ".join(chunks)))
            out.checks.append(Check("ambiguous_split", "applications", code, col, "",
                                    "/".join(str(v) for v in sorted(vals)),
                                    f"flattened digits {' '.join(chunks)} split several ways that all satisfy "
                                    "the identities; this cell differs between them"))
    return cells


def _column_identities_hold(assign: dict[str, tuple[int, ...]], rows: dict[str, list[Cell]], cols: list[str]) -> bool:
    def col_values(code: str) -> list[float | None] | None:
        if code in assign:
            return [float(x) for x in assign[code]]
        if code in rows:
            return [c.value for c in rows[code]]
        return None

    tpl_other = OTHER_2021 if any(c in assign or c in rows for c in OTHER_2021) else OTHER_2019
    outcome = [*OUTCOME_ROWS_COMMON, *tpl_other]
    new, carried, handled, fwd = (col_values(c) for c in ("new", "carried_over", "handled_total", "carried_forward"))
    outs = [col_values(c) for c in outcome]
    for j, col in enumerate(cols):
        if handled is not None and all(o is not None for o in outs):
            vals = [o[j] for o in outs]
            if handled[j] is not None and all(v is not None for v in vals) and sum(vals) != handled[j]:
                return False
        if None not in (new, carried, handled, fwd):
            vals = [new[j], carried[j], handled[j], fwd[j]]
            if all(v is not None for v in vals) and vals[0] + vals[1] != vals[2] + vals[3]:
                return False
    return True


def _blank_totals_applications(out: Tables, cols: list[str]) -> None:
    """A blank 总计 beside non-zero parts cannot be 0: NA with a check."""
    by_row: dict[str, dict[str, dict]] = {}
    for rec in out.applications:
        by_row.setdefault(rec["row"], {})[rec["applicant"]] = rec
    for row, recs in by_row.items():
        tot = recs.get("total")
        if tot is None or tot["raw"].strip() != "":
            continue
        parts = [recs[a]["value"] for a in APPLICANTS[:-1] if a in recs]
        if any(v not in (None, 0.0) for v in parts):
            tot["value"] = None
            out.uncertain += 1
            out.checks.append(Check("blank_total", "applications", row, "total", str(int(sum(v or 0 for v in parts))),
                                    "", "总计 cell is blank although the applicant cells are not all zero: NA"))
    handled = by_row.get("handled_total", {})
    for col, rec in handled.items():
        if rec["raw"].strip() != "":
            continue
        parts = [by_row[r][col]["value"] for r in by_row if r in OUTCOME_ROWS_COMMON + OTHER_2019 + OTHER_2021
                 and col in by_row[r]]
        if any(v not in (None, 0.0) for v in parts):
            rec["value"] = None
            out.uncertain += 1
            out.checks.append(Check("blank_total", "applications", "handled_total", col, "", "",
                                    "（七）总计 cell is blank although outcome rows are not all zero: NA"))


# ---------------------------------------------------------------------------------------
# section 二


_UNIT_HEADER = re.compile(r"金额\s*[(（]?[^)）\n|]{0,6}?(亿元|万元|元)")
_UNIT_FACTOR = {"元": 1e-4, "万元": 1.0, "万": 1.0, "亿元": 1e4, "亿": 1e4}


def _parse_disclosure(text: str, region: tuple[int, int], explicit: bool, template: str | None, out: Tables) -> None:
    lo, hi = region
    if template is None:
        out.checks.append(Check("template_unknown", "disclosure", "", "", "", "",
                                "section 二 found but its layout (2019/2021) could not be recognised"))
        return
    layout = DISCLOSURE[template]
    matches = find_labels(text, "disclosure", lo, hi)
    flat = is_flat(text, lo, hi)
    done: set[str] = set()
    for i, m in enumerate(matches):
        if m.kind != "item" or m.code not in layout or m.code in done or _NARRATIVE.match(text, m.end):
            continue
        done.add(m.code)
        stop = matches[i + 1].start if i + 1 < len(matches) else hi
        measures = layout[m.code]
        k = len(measures)
        chunks = row_chunks(text, m.end, stop, explicit)
        if len(chunks) > k and all(c == "" for c in chunks[k:]):
            chunks = chunks[:k]
        header_unit = None
        if "amount" in measures:
            prev = matches[i - 1].start if i > 0 else lo
            hm = None
            for hm in _UNIT_HEADER.finditer(text, max(lo, prev - 20), m.start):
                pass
            header_unit = hm.group(1) if hm else None  # no unit written: unknown, never a guess
        cells = _disclosure_cells(chunks, measures, m.code, flat, out, explicit)
        for measure, (raw, certain) in zip(measures, cells):
            unit = "wan_yuan" if measure == "amount" else "count"
            if not certain:
                out.disclosure.append(_drec(m.code, measure, None, unit, raw))
                continue
            value, cell_unit, problem = parse_cell(
                raw, allow_negative=(measure == "change"), integer=(measure != "amount"))
            if problem:
                if problem == "placeholder":
                    out.checks.append(Check("placeholder", "disclosure", m.code, measure, "", raw,
                                            "placeholder instead of a number: NA"))
                else:
                    out.uncertain += 1
                    out.checks.append(Check("unreadable_value", "disclosure", m.code, measure, "", raw, problem))
                out.disclosure.append(_drec(m.code, measure, None, unit, raw))
                continue
            if measure != "amount" and cell_unit is not None:
                value, problem = count_in_unit(value, cell_unit, raw)
                if problem:
                    out.uncertain += 1
                    out.checks.append(Check("unit", "disclosure", m.code, measure, "", raw, problem))
            if measure == "amount":
                u = cell_unit or header_unit
                if value and u is None:
                    out.uncertain += 1
                    out.checks.append(Check("unit_unknown", "disclosure", m.code, measure, "", raw,
                                            "amount has no unit in the cell or the header: NA"))
                    value = None
                elif value:
                    value = round(value * _UNIT_FACTOR[u], 6)
            out.disclosure.append(_drec(m.code, measure, value, unit, raw))
    for code in layout:
        if code not in done and out.disclosure:
            out.missing_rows += 1
            out.checks.append(Check("missing_row", "disclosure", code, "", "", "",
                                    "item not found in the section-二 table"))


def _drec(item, measure, value, unit, raw):
    return {"item": item, "measure": measure, "value": value, "unit": unit, "raw": raw}


def _disclosure_cells(chunks: list[str], measures: list[str], item: str, flat: bool,
                      out: Tables, explicit: bool = False) -> list[tuple[str, bool]]:
    k = len(measures)
    if len(chunks) == k:
        return [(c, True) for c in chunks]
    nonblank = [c for c in chunks if c]
    if len(nonblank) == k and not explicit:
        return [(c, True) for c in nonblank]
    joined = " ".join(chunks)
    if flat and chunks and len(chunks) < k:
        # a unit word or a sign is a certain cell boundary: "1个246900元", "0+11"
        pieces = [p for c in chunks for p in re.split(r"(?<=[个笔件宗])|(?=[+-]\d)", c) if p]
        if len(pieces) == k:
            return [(p, True) for p in pieces]
        # digits run together: only the splits allowed by the leading-zero rule
        unit = ""
        last = chunks[-1]
        um = re.search(r"(亿元|万元|万|元)$", last)
        if um:
            unit = um.group(1)
            chunks = [*chunks[:-1], last[: um.start()]]
        simple = list(chunks)
        decimal_tail = None
        if "." in simple[-1]:
            head, frac = simple[-1].split(".", 1)
            decimal_tail = frac
            simple[-1] = head
        if all(c.isdigit() for c in simple):
            try:
                cands = runs.splits(simple, k)
            except runs.TooMany:
                cands = []
            if cands:
                result = []
                for j, measure in enumerate(measures):
                    vals = {c[j] for c in cands}
                    if len(vals) == 1:
                        v = str(next(iter(vals)))
                        if j == k - 1:
                            v = v + (f".{decimal_tail}" if decimal_tail is not None else "") + unit
                        result.append((v, True))
                    else:
                        out.uncertain += 1
                        out.checks.append(Check("ambiguous_split", "disclosure", item, measure, "",
                                                "/".join(str(v) for v in sorted(vals))[:200],
                                                f"flattened digits {joined} can be split several ways "
                                                "(section 二 has no identity to decide): NA"))
                        result.append((joined, False))
                return result
    out.uncertain += k
    out.checks.append(Check("cell_count", "disclosure", item, "", str(k), str(len(chunks)),
                            f"expected {k} cells, found {len(chunks)} ({joined[:60]}): all NA"))
    return [(joined, False) for _ in measures]


# ---------------------------------------------------------------------------------------
# section 四


_REVIEW_HEADER_TAILS = ("总计", "审结", "尚未", "起诉", "结果", "维持", "纠正", "其他", "合计")


def _explicit_review_row(text: str, lo: int, hi: int) -> list[str] | None:
    """Cells of the section-四 data row in a grid: the first line after the header lines
    that holds no label text.  Blank pieces are blank cells (0), the first one included."""
    lines = text[lo:hi].split("\n")
    seen_header = False
    blank_row = None  # an all-blank row is the data row only if no row with digits follows
    for line in lines:
        has_cjk = bool(_CJK.search(line))
        if has_cjk:
            if any(t in line for t in ("总计", "审结", "维持", "纠正")):
                seen_header = True
                # header words and values on one line: values follow the last word
                tail = line[[m.end() for m in _CJK.finditer(line)][-1]:]
                if re.search(r"\d", tail):
                    pieces = [p.strip() for p in tail.split("|")]
                    return _trim_review(pieces[1:] if pieces and pieces[0] == "" else pieces)
            elif seen_header:
                break  # text after the header: the table has ended
            continue
        if seen_header and re.search(r"\d", line):
            return _trim_review([p.strip() for p in line.split("|")])
        if seen_header and "|" in line and blank_row is None:
            blank_row = line
    if blank_row is not None:
        return _trim_review([p.strip() for p in blank_row.split("|")])
    return None


def _trim_review(pieces: list[str]) -> list[str]:
    while len(pieces) > 15 and pieces[-1] == "":
        pieces.pop()  # only padding beyond the 15 cells; blank cells inside are 0
    return pieces


def _parse_reviews(text: str, region: tuple[int, int], explicit: bool, out: Tables) -> None:
    lo, hi = region
    if explicit:
        chunks = _explicit_review_row(text, lo, hi)
        if chunks is None:
            return
    else:
        # the values are the first run of value characters that follows a header word
        # (…尚未审结 总计 0 0 0 …); a year in a sentence before the table is skipped
        pos = None
        for m in _DIGIT.finditer(text[lo:hi]):
            p = lo + m.start()
            before = _SEPARATORS.sub("", text[max(lo, p - 40):p])
            if before.endswith(_REVIEW_HEADER_TAILS):
                pos = p
                break
        if pos is None:
            return
        j = _VALUE_RUN.match(text, pos, hi).end()  # the first character after pos not in _VALUE_CHARS
        run = _strip_year_tail(text, pos, j)
        chunks = [c for c in _SEPARATORS.split(run) if c]
    chunks = [c for c in chunks if c not in (".", ",", "。")]
    if not chunks:
        return
    k = 15
    flat = is_flat(text, lo, hi)
    cells: list[Cell]
    if len(chunks) > k and all(c == "" for c in chunks[k:]):
        chunks = chunks[:k]
    if len(chunks) != k and len([c for c in chunks if c]) == k and not explicit:
        chunks = [c for c in chunks if c]
    if len(chunks) == k:
        cells = []
        for j, raw in enumerate(chunks):
            cells.append(_cell(raw, PROCEEDINGS[j // 5], OUTCOMES[j % 5], out, section="reviews"))
    elif flat and all(c.isdigit() for c in chunks) and len(chunks) < k:
        try:
            cands = runs.block_splits(chunks, 3, 5)
        except runs.TooMany:
            cands = []
        if not cands:
            try:
                cands_free = runs.splits(chunks, k)
            except runs.TooMany:
                cands_free = []
            if cands_free:
                out.checks.append(Check("ambiguous_split", "reviews", "", "", "", " ".join(chunks),
                                        "no split of the flattened digits makes each block add up to its 总计"))
            cands = cands_free
        cells = []
        for j in range(k):
            vals = {c[j] for c in cands}
            if len(vals) == 1:
                v = next(iter(vals))
                cells.append(_int_cell(v))
            else:
                out.uncertain += 1
                cells.append(Cell(None, " ".join(chunks)))
                if cands:
                    out.checks.append(Check("ambiguous_split", "reviews", PROCEEDINGS[j // 5], OUTCOMES[j % 5], "",
                                            "/".join(str(v) for v in sorted(vals))[:200],
                                            f"flattened digits {' '.join(chunks)} split several ways: NA"))
        if not cands:
            out.checks.append(Check("ambiguous_split", "reviews", "", "", "", " ".join(chunks),
                                    "the digits cannot be split into 15 cells: all NA"))
    else:
        truncated = hi == len(text) and len(chunks) < k
        if truncated:
            cells = [_cell(raw, PROCEEDINGS[j // 5], OUTCOMES[j % 5], out, section="reviews")
                     for j, raw in enumerate(chunks)]
            cells += [Cell(None, "") for _ in range(k - len(chunks))]
            msg = "the text ends inside the section-四 table; later cells are missing"
        else:
            cells = [Cell(None, " ".join(chunks)) for _ in range(k)]
            msg = f"expected 15 cells, found {len(chunks)}: cells cannot be placed by position, all NA"
        out.uncertain += k - (len(chunks) if truncated else 0)
        out.checks.append(Check("cell_count", "reviews", "", "", str(k), str(len(chunks)), msg))
    for j, cell in enumerate(cells):
        out.reviews.append({"proceeding": PROCEEDINGS[j // 5], "outcome": OUTCOMES[j % 5],
                            "value": cell.value, "raw": cell.raw})
    # blank 总计 beside non-zero parts
    base = len(out.reviews) - 15
    for b, proc in enumerate(PROCEEDINGS):
        block = out.reviews[base + b * 5: base + b * 5 + 5] if base >= 0 else []
        if len(block) == 5 and block[4]["raw"].strip() == "" and any(r["value"] not in (None, 0.0) for r in block[:4]):
            block[4]["value"] = None
            out.uncertain += 1
            out.checks.append(Check("blank_total", "reviews", proc, "total", "", "",
                                    "总计 cell is blank although the outcomes are not all zero: NA"))
