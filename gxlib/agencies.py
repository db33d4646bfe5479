"""Agency identity: which reports come from the same body.

A report names its body (机关名称) as a string, and the same body writes its name in
several ways (洪泽区人民政府 / 淮安市洪泽区人民政府; 区政府办 / 区人民政府办公室), while
different bodies write the same generic string (市公共资源交易中心 in every prefecture).
The key of a body, :func:`agency_id`, is therefore

    ``<its own 6-digit division code>:<its name without the place, in its 规范 form>``

e.g. ``320813:人民政府`` for both 洪泽 names, ``320800:公共资源交易中心`` and
``321300:公共资源交易中心`` for two prefectures' 市公共资源交易中心.

Rules (each one tested in ``tests/test_agencies.py``):

* The division code is the report's ``division_code`` (from the name, the body text, the
  manifest or an alias), looked up year-aware in :mod:`gxlib.regions`.  When the name itself
  names a place *above* that code (淮安市人民政府 with the code of 洪泽区) the body is that
  place's: its code is used.
* Place unknown (no code, or a code that is no division in any year) -> NA.  Generic
  names of unknown place are never merged.
* A name that is only a number (a 6-digit code) is no agency -> NA.
* The place prefix is removed: every name of the division's chain in that year
  (省, 市, 区/县) and every alias of ``gxlib/data/region_aliases.csv`` for the code, then a
  leading level word (市/县/区/旗/省 …, not 市场/市政/区域/县域).  A name that is only a
  place (平潭综合实验区) is that place's 人民政府.
* The rest is mapped through ``gxlib/data/agency_names.csv`` (variant -> canonical, kind):
  人民政府办公室 / 政府办公室 / 政府办 -> 人民政府办公室, 发改委 -> 发展和改革委员会, ...
  A body renamed for real (国有资产管理局 -> 投资促进局) keeps two ids: the data file only
  lists spellings of one name.

Everything here works on plain pandas frames with the contract columns of ``reports``
(``agency``, ``year``, ``division_code``, ``level``), so the engine can call it on its
reports table whatever it is stored in.
"""
from __future__ import annotations

import csv
import itertools
import re
import unicodedata
from functools import lru_cache
from importlib.resources import files

import pandas as pd

from . import regions

KINDS = ("government", "government_office", "department", "township", "other")
AGENCY_COLUMNS = ["agency_id", "name", "names", "years", "division_code", "level", "kind", "n_reports"]

_CODE = re.compile(r"\d{6}")
# a leading level word left after the place, e.g. 市公共资源交易中心, 区政府办
# words that begin with a level character but are no level word (市场监督管理局, 市政公用局)
_LEVEL_WORD = re.compile(r"^(?:自治区|自治州|自治县|自治旗|省|市|州|盟|县|区|旗)(?!场|域|际|属|政(?!府))")
_TOWNSHIP = re.compile(r"(?:乡|镇|街道|苏木)(?:人民政府|政府|办事处|街道办事处)?$")
_DEPARTMENT = re.compile(r"(?:局|厅|委员会|委|办公室|办|署|中心|支队|大队|所|站|处|院|馆)$")


@lru_cache(maxsize=1)
def name_variants() -> dict[str, tuple[str, str]]:
    """``gxlib/data/agency_names.csv`` as {variant: (canonical, kind)}."""
    path = files("gxlib.data").joinpath("agency_names.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = {}
    for r in rows:
        variant, canonical, kind = r["variant"].strip(), r["canonical"].strip(), r["kind"].strip()
        if kind not in KINDS:
            raise ValueError(f"agency_names.csv: unknown kind {kind!r} for {variant!r}")
        out[variant] = (canonical, kind)
    return out


@lru_cache(maxsize=1)
def successions() -> dict[str, str]:
    """``gxlib/data/division_successions.csv`` as {old code: new code}: a division that
    became another under a new code as a whole (洪泽县 320829 -> 洪泽区 320813 in 2016), so
    its bodies are the same bodies.  Only one-to-one successions belong there; a division
    split or merged into several ends its bodies' ids."""
    path = files("gxlib.data").joinpath("division_successions.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        out = {r["old_code"].strip(): r["new_code"].strip() for r in csv.DictReader(fh)}
    for old, new in out.items():
        if not (len(old) == len(new) == 6 and old.isdigit() and new.isdigit()) or old == new:
            raise ValueError(f"division_successions.csv: bad row {old!r} -> {new!r}")
    return out


def latest_code(code: str) -> str:
    """``code`` followed through :func:`successions` to the code its division has now."""
    seen = {code}
    while code in successions():
        code = successions()[code]
        if code in seen:
            raise ValueError(f"division_successions.csv: a cycle through {code}")
        seen.add(code)
    return code


def _clean(name) -> str:
    if name is None or (not isinstance(name, str) and pd.isna(name)):
        return ""
    s = unicodedata.normalize("NFKC", str(name))
    return re.sub(r"\s+", "", s)


def _year(year) -> int:
    if year is None or (not isinstance(year, (int, str)) and pd.isna(year)) or str(year).strip() == "":
        return regions.LAST_YEAR
    return int(float(year))


def _division(code: str, year) -> regions.Division | None:
    """The division of ``code`` in ``year``, else in the latest year of the code data (a
    code that no longer existed in the report's year, e.g. from a manifest); None when
    neither knows it (no other years are searched: each costs a table build)."""
    y = _year(year)
    return regions.by_code(code, y) or regions.by_code(code, regions.LAST_YEAR)


def _chain(div: regions.Division, year) -> list[tuple[str, str]]:
    """(name, code) of the division and every division above it, in ``year``; plus the
    region aliases that map to one of these codes."""
    y = _year(year)
    codes = [div.code[:2] + "0000"]
    if div.rank >= 2:
        codes.append(div.code[:4] + "00")
    if div.rank >= 3:
        codes.append(div.code)
    out = []
    for c in dict.fromkeys(codes):
        d = _division(c, y)
        if d is not None:
            out.append(({1: d.province, 2: d.prefecture, 3: d.county}[d.rank], c))
    for alias, (code, _level) in regions._aliases().items():
        if code in codes:
            out.append((alias, code))
    return [(n, c) for n, c in out if n]


def split_name(name, division_code, year) -> tuple[str, str] | None:
    """(code of the body's own division, name without the place) or None when the place
    is unknown or the name is no agency.  The rest is not yet canonical."""
    return _split(_clean(name), _clean(division_code), _year(year))


@lru_cache(maxsize=65536)
def _split(name: str, code: str, year: int) -> tuple[str, str] | None:
    if not name or _CODE.fullmatch(name) or name.isdigit() or not _CODE.fullmatch(code):
        return None
    div = _division(code, year)
    if div is None:
        return None
    chain = sorted(_chain(div, year), key=lambda t: -len(t[0]))
    rest, named = name, []
    stripped = True
    while stripped and rest:
        stripped = False
        for place, pcode in chain:
            if rest.startswith(place):
                rest = rest[len(place):]
                named.append(pcode)
                stripped = True
                break
    own = code
    if named:
        # every place stripped lies on the code's chain; when the most specific one the
        # name gives is above the code (淮安市人民政府 with 洪泽区's code), the body is that
        # place's
        deepest = max(named, key=_rank)
        if _rank(deepest) < _rank(code):
            own = deepest
    rest = _LEVEL_WORD.sub("", rest, count=1) if len(rest) > 1 else rest
    return own, rest


def _rank(code: str) -> int:
    if code.endswith("0000"):
        return 1
    if code.endswith("00"):
        return 2
    return 3


def canonical(rest: str) -> tuple[str, str]:
    """(canonical form, kind) of a name without its place."""
    rest = rest.strip("()（）·-_")
    if not rest:
        return "人民政府", "government"
    table = name_variants()
    if rest in table:
        return table[rest]
    return rest, _kind(rest)


def _kind(rest: str) -> str:
    if _TOWNSHIP.search(rest) and not rest.endswith(("局", "委员会", "中心")):
        return "township"
    if rest.endswith(("人民政府", "管理委员会")):
        return "government"
    if rest.endswith(("办公室", "办公厅")) and ("政府" in rest or "管委会" in rest or "管理委员会" in rest):
        return "government_office"
    if _DEPARTMENT.search(rest):
        return "department"
    return "other"


def agency_id(name, division_code, year) -> str | None:
    """Stable key of the body that wrote a report, or None when its place is unknown.

    >>> agency_id("淮安市洪泽区人民政府", "320813", 2024) == agency_id("洪泽区人民政府", "320813", 2023)
    True
    >>> agency_id("市公共资源交易中心", "", 2024) is None
    True

    A division that became another as a whole keeps its bodies (``division_successions.csv``):
    洪泽县人民政府 (320829, 2015) is ``320813:人民政府``, as 洪泽区人民政府 is.
    """
    parts = split_name(name, division_code, year)
    if parts is None:
        return None
    code, rest = parts
    return f"{latest_code(code)}:{canonical(rest)[0]}"


def agency_kind(name, division_code="", year=None) -> str:
    """government / government_office / department / township / other, from the name
    (the place removed when the division is known, else any leading place-like words are
    left and only the ending decides)."""
    parts = split_name(name, division_code, year)
    if parts is None:
        name = _clean(name)
        if not name or name.isdigit():
            return "other"
        rest = _LEVEL_WORD.sub("", name, count=1) if len(name) > 1 else name
        for variant in sorted(name_variants(), key=len, reverse=True):
            if rest.endswith(variant):
                before = rest[:-len(variant)]
                # 某某区人民政府办公室 ends with 人民政府办公室; 某局办公室 does not end with a
                # government variant after a place
                if not before or before.endswith(("省", "市", "县", "区", "旗", "州", "盟", "自治区")):
                    return name_variants()[variant][1]
                break
        return _kind(rest)
    return canonical(parts[1])[1]


def assign(reports: pd.DataFrame) -> pd.Series:
    """``agency_id`` of every row of ``reports`` (columns agency, division_code, year),
    NA where the place is unknown.  Computed once per distinct (agency, code, year)."""
    keys = reports[["agency", "division_code", "year"]].astype(object)
    keys = keys.where(keys.notna(), None)
    cache: dict[tuple, str | None] = {}
    out = []
    for a, c, y in keys.itertuples(index=False, name=None):
        k = (a, c, y)
        if k not in cache:
            cache[k] = agency_id(a, c, y)
        out.append(cache[k])
    return pd.Series(pd.array(out, dtype="str"), index=reports.index, name="agency_id")


def agency_names(reports: pd.DataFrame) -> pd.DataFrame:
    """Long form: one row per (agency_id, name as written, year), with the reports behind it."""
    r = reports.copy()
    if "agency_id" not in r:
        r["agency_id"] = assign(r)
    r = r[r["agency_id"].notna() & (r["agency_id"].astype(str) != "")]
    r = r.assign(year=pd.to_numeric(r["year"], errors="coerce").astype("Int64"))
    out = (r.groupby(["agency_id", "agency", "year"], dropna=False, sort=True)
           .size().rename("n_reports").reset_index().rename(columns={"agency": "name"}))
    return out


def _years_text(years: list[int]) -> str:
    """2019, 2020, 2021, 2023 -> '2019–2021, 2023'."""
    ys = sorted(set(years))
    parts, start, prev = [], None, None
    for y in ys:
        if start is None:
            start = prev = y
        elif y == prev + 1:
            prev = y
        else:
            parts.append(f"{start}" if start == prev else f"{start}–{prev}")
            start = prev = y
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}–{prev}")
    return ", ".join(parts)


def agencies_table(reports: pd.DataFrame) -> pd.DataFrame:
    """The ``agencies.csv`` frame: one row per agency_id.

    Columns: agency_id; ``name`` (display name: the name of the latest report, followed by
    the place in brackets when that name does not say it, e.g. ``市公共资源交易中心（淮安市）``);
    ``names`` (every name seen with its years, ``洪泽区人民政府 (2023); 淮安市洪泽区人民政府
    (2024)``); ``years``; ``division_code`` (the body's own division); ``level`` (of the latest
    report); ``kind``; ``n_reports``.  Reports whose place is unknown have no agency_id and no
    row here (they stay in reports.csv with an empty agency_id)."""
    r = reports.copy()
    if "agency_id" not in r:
        r["agency_id"] = assign(r)
    r = r[r["agency_id"].notna() & (r["agency_id"].astype(str) != "")]
    if r.empty:
        return pd.DataFrame({c: pd.Series(dtype="Int64" if c == "n_reports" else "str") for c in AGENCY_COLUMNS})
    years = pd.to_numeric(r["year"], errors="coerce").astype("Int64")
    levels = r["level"] if "level" in r else pd.Series([None] * len(r), index=r.index)
    recs = sorted(zip(r["agency_id"].astype("str"), years.astype(object).where(years.notna(), None),
                      r["agency"].astype(object).where(r["agency"].notna(), None),
                      levels.astype(object).where(levels.notna(), None)),
                  key=lambda t: (t[0], t[1] is not None, t[1] or 0, t[2] is not None, t[2] or ""))
    rows = []  # one pass over the reports sorted by (agency_id, year, name): the last is the latest
    for aid, group in itertools.groupby(recs, key=lambda t: t[0]):
        g = list(group)
        code, (_, latest_year, latest_name, latest_level) = aid.split(":", 1)[0], g[-1]
        names: dict[str, list[int]] = {}
        for _, y, nm, _ in g:
            if nm is not None:
                names.setdefault(nm, []).extend([] if y is None else [int(y)])
        seen = [(min(ys) if ys else 0, f"{nm} ({_years_text(ys)})" if ys else str(nm)) for nm, ys in names.items()]
        display = "" if latest_name is None else str(latest_name)
        place = _place_name(code, latest_year)
        if place and place not in display:
            display = f"{display}（{place}）"
        rows.append({
            "agency_id": aid, "name": display, "names": "; ".join(t for _, t in sorted(seen)),
            "years": _years_text([int(y) for _, y, _, _ in g if y is not None]), "division_code": code,
            "level": "" if latest_level is None else str(latest_level), "kind": canonical(aid.split(":", 1)[1])[1],
            "n_reports": len(g),
        })
    out = pd.DataFrame(rows, columns=AGENCY_COLUMNS)
    for c in AGENCY_COLUMNS:
        out[c] = out[c].astype("Int64" if c == "n_reports" else "str")
    return out


def _place_name(code: str, year) -> str:
    div = _division(code, None if pd.isna(year) else int(year))
    if div is None:
        return ""
    return {1: div.province, 2: div.prefecture, 3: div.county}[div.rank]


def match_agency(agencies: pd.DataFrame, query: str) -> list[str]:
    """The agency_id(s) a user means by ``query`` (for ``select(agency=...)``).

    ``agencies``: the :func:`agencies_table` frame.  An agency_id matches itself; else a
    name as written (any year) or the display name matches.  A bare 6-digit code is a
    division, not an agency: ValueError naming the filters to use.  A name that belongs to
    several bodies (市公共资源交易中心 in two cities): ValueError listing their ids.  No match:
    LookupError with the closest names."""
    q = _clean(query)
    if not q:
        raise ValueError("no agency given")
    if _CODE.fullmatch(q):
        raise ValueError(f"{q} is a division code, not an agency: select by region "
                         "(province=/prefecture=/county=) or give an agency_id such as "
                         f"'{q}:人民政府'")
    ids = agencies["agency_id"].astype(str)
    if (ids == q).any():
        return [q]
    hits = []
    for aid, display, names in agencies[["agency_id", "name", "names"]].astype(str).itertuples(index=False):
        written = [re.sub(r"\s*\([^()]*\)$", "", part) for part in names.split("; ")]
        if q == display or q in written:
            hits.append(aid)
    if len(hits) > 1:
        raise ValueError(f"{q!r} is the name of {len(hits)} bodies in different places: "
                         + ", ".join(hits) + "; give one agency_id")
    if hits:
        return hits
    close = [n for n in agencies["name"].astype(str) if q in n or n in q][:10]
    raise LookupError(f"no agency {q!r}" + (f"; similar: {', '.join(close)}" if close else ""))


# --------------------------------------------------------------------------- scope
# Whose applications does a report's table count?  ``own``: the body's own (a department,
# a government office, the government 本级); ``area``: every body of the 县/区/市 (a
# government report that sums its departments and townships).  Regional totals that add
# both count the departments' work twice.

SCOPES = ("own", "area")
_VERB = re.compile(r"(?:受理|收到|接收|接到|新收|办理|登记)")
_AREA_SUBJECT = re.compile(
    r"(?:全(?:自治区|自治州|自治县|市|县|区|旗|州|盟|省)|各县(?:市)?区|[市县区]直各部门|各级行政机关|"
    r"各级政府|政府系统|各乡镇(?:街道)?|各部门)")
_OWN_SUBJECT = re.compile(
    r"(?:本机关|本单位|本局|本委|本办|本厅|本中心|本部门|本级|我局|我委|我办|我厅|我中心|我单位|我部门|我机关|"
    r"我院|我署|[省市县区旗]政府办(?:公室|公厅)?代表[省市县区旗](?:人民)?政府)")
_NUMBER = re.compile(r"(\d+)\s*(?:件|份|条)")
_CLAIM = re.compile(rf"(?P<subj>{_OWN_SUBJECT.pattern}|{_AREA_SUBJECT.pattern})"
                    r"(?P<mid>[^,，。;；\d]{0,8}?)" + _VERB.pattern)
_UNITS = re.compile(r"(?:部门|局|委|办|中心|乡|镇|街道|县区|区县|市直|区直|县直|单位)[^,，。;；]{0,8}?(\d+)\s*件")
_TOTAL_WORD = re.compile(r"(?:共|合计|总计|累计)[^,，。;；\d]{0,20}?(\d+)\s*件")


def _claims(text: str) -> list[tuple[str, int | None, str]]:
    """(scope, number of applications or None, sentence) of every sentence that says
    whose applications were received: ``全县共受理…21件`` (area), ``我局共收到…2件`` (own),
    ``我局未收到…申请`` (own, 0), and a sentence listing several units' figures
    (``共受理100件，其中区政府办30件，区公安局40件，乡镇30件``: area).  The subject must
    stand right before the verb (``全区各级行政机关共受理``) and the clause must give a
    number of applications (or say none were received): ``指导各部门…办理`` is no claim."""
    flat = text.replace("\n", "").replace("\r", "")
    out = []
    for sentence in re.split(r"[。;；!?！？]", flat):
        if "申请" not in sentence or len(sentence) > 400:
            continue
        found = None
        for m in _CLAIM.finditer(sentence):
            obj = re.split(r"[,，]", sentence[m.end():m.end() + 45], maxsplit=1)[0]
            if "申请" not in obj or re.search(r"复议|诉讼", obj):
                continue  # (未收到…行政复议: not about applications)
            cls = "own" if _OWN_SUBJECT.fullmatch(m.group("subj")) else "area"
            # the clause quoted: from the sentence's start or the last comma before the
            # subject (at most 30 characters back) to the end of the object
            head = sentence[max(0, m.start() - 30):m.start()]
            cut = max(head.rfind(","), head.rfind("，"))
            clause = (head[cut + 1:] if cut >= 0 or m.start() <= 30 else head) + sentence[m.start():m.end()] + obj
            if re.search(r"未|没有|无", m.group("mid")):
                found = (cls, 0, clause.strip())
                break
            n = _NUMBER.search(obj)
            if n and ("申请" in obj[:n.start()] or obj[n.end():].lstrip().startswith("申请")):
                found = (cls, int(n.group(1)), clause.strip())
                break
        if found is None and _VERB.search(sentence) and ("其中" in sentence or "分别" in sentence):
            if len(_UNITS.findall(sentence)) >= 2:
                total = _TOTAL_WORD.search(sentence)
                found = ("area", int(total.group(1)) if total else None, sentence.strip())
        if found:
            out.append(found)
    return out


def _quote(sentence: str, limit: int = 90) -> str:
    s = re.sub(r"\s+", "", sentence)
    return s if len(s) <= limit else s[:limit - 1] + "…"


def infer_scope(text: str, kind: str, new_total=None, carried_total=None) -> tuple[str, str]:
    """(scope, scope_source) of one report: ``own`` / ``area`` / ``""`` (not sure); see
    :func:`scope_and_claims`."""
    scope, source, _ = scope_and_claims(text, kind, new_total, carried_total)
    return scope, source


def scope_and_claims(text: str, kind: str, new_total=None, carried_total=None
                     ) -> tuple[str, str, tuple[str, int, str] | None]:
    """(scope, scope_source, disagreement) of one report: ``own`` / ``area`` / ``""`` (not sure).
    ``disagreement`` is the first claim sentence (scope, number, sentence) whose number is
    not the table's 新收 total (nor 新收 + 上年结转) when no claim agrees with the table:
    the text and the table say different numbers (parse.py makes it a ``claim_total``
    check); None otherwise.

    ``text``: the report's text; ``kind``: :func:`agency_kind` of its body; ``new_total`` and
    ``carried_total``: the table's 一、本年新收 and 二、上年结转 总计 (None when unknown).

    A sentence saying whose applications were received decides (``全县共受理…`` area,
    ``本机关/我局…`` own, a sentence listing several units' figures area), when the number
    it gives is the table's 新收 total (or 新收 + 上年结转), or gives no number, or the table
    total is unknown.  A sentence whose number differs from the table leaves the scope NA:
    the table may count something else than the sentence.  Sentences that disagree with
    each other leave it NA.  With no such sentence, a department's, a government office's
    or a township's report is ``own`` (rule), and a government's is NA."""
    def known(x):
        return x is not None and not pd.isna(x)

    claims = _claims(text)
    totals = set()
    if known(new_total):
        totals.add(int(new_total))
        if known(carried_total):
            totals.add(int(new_total) + int(carried_total))
    agree = [c for c in claims if c[1] is None or not totals or c[1] in totals]
    scopes = {c[0] for c in agree}
    if len(scopes) == 1:
        cls, n, sentence = agree[0]
        if n is not None and totals:
            note = f" (= the table's 新收 total {int(new_total)})" if n == int(new_total) \
                else f" (= the table's 新收 + 上年结转 {n})"
        elif n is not None:
            note = " (the table's 新收 total is unknown)"
        else:
            note = ""
        return cls, f"text: {_quote(sentence)}{note}", None
    if len(scopes) > 1:
        return "", "conflicting sentences: " + " / ".join(f"{c[0]}: {_quote(c[2], 50)}" for c in agree[:3]), None
    if claims:
        cls, n, sentence = claims[0]
        return "", (f"text says {cls} ({_quote(sentence, 70)}: {n}) but the table's 新收 total is "
                    f"{int(new_total)}: not sure which the table counts"), (cls, n, sentence)
    if kind in ("department", "government_office", "township"):
        return "own", f"rule: a {kind.replace('_', ' ')} report with no sentence on a wider area", None
    return "", "no sentence says whose applications the table counts", None


#: data-dictionary descriptions of the columns this module defines, for the engine's
#: generated data/processed/README.md (reports.csv and agencies.csv)
COLUMN_DESCRIPTIONS = {
    "reports": {
        "agency_id": "stable key of the body: its own division code + its name without the place, in its "
                     "规范 form (e.g. 320813:人民政府); empty when the place is unknown",
        "region_source": "where the division came from: name / body / manifest / alias; empty when unknown",
        "scope": "whose figures the tables count, every section alike: own (the body itself) / area (the whole "
                 "县/区/市); empty when the report does not say clearly",
        "scope_source": "the sentence (quoted) or the rule that decided scope, or why it is empty",
        "duplicate_of": "report_id of the copy that is kept, when the same agency-year was parsed twice "
                        "(see the duplicate_report check); metrics count a report once",
    },
    "agencies": {
        "agency_id": "see reports", "name": "display name: the latest name, with the place when it lacks it",
        "names": "every name seen, with its years", "years": "report years", "division_code":
        "6-digit division code of the body's own place", "level": "administrative level (latest report)",
        "kind": "government / government_office / department / township / other",
        "n_reports": "reports of the body",
    },
}
