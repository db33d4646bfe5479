"""Report metadata from the text: title, agency, report year (and how it was found),
publication date.  Template detection lives in :mod:`gxlib.tables` (it is structural)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .tables import normalize

_TITLE = re.compile(
    r"(?P<agency>[^\n|]{0,60}?)\s*(?P<year>(?:19|20)\d\d)\s*年\s*度?\s*"
    r"(?:的)?\s*(?:政府信息公开|政务公开|政府信息与政务公开|信息公开)\s*(?:工作)?\s*(?:年度)?\s*报告"
)
# year first: "2019年上海市人民政府办公厅政府信息公开工作年度报告"
_TITLE_YEAR_FIRST = re.compile(
    r"(?P<year>(?:19|20)\d\d)\s*年\s*度?\s*(?P<agency>[^\n|\d]{2,40}?)\s*"
    r"(?:政府信息公开|政务公开|政府信息与政务公开)\s*(?:工作)?\s*(?:年度)?\s*报告"
)
# year after the title, in brackets: "某县人民政府政府信息公开工作年度报告（2021年度）"
_TITLE_YEAR_AFTER = re.compile(
    r"(?P<agency>[^\n|\d]{2,40}?)\s*(?:政府信息公开|政务公开|政府信息与政务公开)\s*(?:工作)?\s*(?:年度)?\s*报告"
    r"\s*[(（]\s*(?P<year>(?:19|20)\d\d)\s*年?\s*度?\s*[)）]"
)
# words that stand for "this body" in a sentence, never its name
_DEICTIC = re.compile(r"^(?:现将|兹将|特将|将|现)?(?:本|我|该)(?:机关|单位|局|委|办|院|部门|府|中心|厅|署|会|所|站|处|室|镇|乡|街道|区|县|市)?$")
_HEADER_TITLE = re.compile(r"^\s*(?:标题|题名|名称)\s*[:：]\s*(.+?)\s*$", re.M)
_DATE = re.compile(
    r"(?:发布时间|发布日期|生成日期|成文日期|公开日期|发文日期|印发日期|日期)\s*[:：]?\s*"
    r"((?:19|20)\d\d)\s*[-/年.]\s*(\d{1,2})\s*[-/月.]\s*(\d{1,2})"
)
_PERIOD = re.compile(
    r"统计(?:期限|时限|时间|区间|周期|范围)[^。]{0,12}?((?:19|20)\d\d)\s*年\s*1\s*月\s*1\s*日"
    r"[^。]{0,8}?(?:至|到|-|—)[^。]{0,4}?((?:19|20)\d\d)\s*年?\s*12\s*月\s*31\s*日"
)
_PERIOD_LOOSE = re.compile(r"统计(?:期限|时限|时间|区间|周期)[^。]{0,12}?((?:19|20)\d\d)\s*年\s*1\s*月\s*1\s*日")
_SENTENCE_YEAR = re.compile(r"(?:^|[\n。；;]|[一二三四五六七]、[^\n。]{0,10}?)\s*((?:19|20)\d\d)\s*年\s*[,，]")
_PLAN = re.compile(r"((?:19|20)\d\d)\s*年\s*[,，]?\s*(?:我|本|全|中心|局|委|办)[^。\n]{0,12}?将")
_SOURCE = re.compile(r"(?:信息来源|来源|发布机构|发布单位)\s*[:：]\s*\n?\s*([^\s\n:：|]{2,40})")


_FIELD_AFTER = re.compile(r"(?:浏览次数|浏览量|访问量|阅读量|阅读数|点击数|点击率|点击量|发布时间|发布日期|"
                          r"时间|日期|作者|字号|字体|编辑|责任编辑|分享|打印|来源)")


@dataclass
class Meta:
    title: str = ""
    agency: str = ""
    year: int | None = None
    year_source: str = ""
    published: str = ""


def _clean_agency(s: str) -> str:
    s = re.sub(r"\s+", "", s)
    s = s.lstrip("#")  # a Markdown heading
    s = s.split("《")[-1]  # 关于印发《某县人民政府2020年…》的通知: the name is inside the quotes
    s = re.sub(r"^(?:关于|印发|转发)+", "", s)
    s = s.strip("《》<>“”\"'：:，,。·-—|")
    # "…管理局关于报送2020年度…报告": the agency ends before 关于
    s = re.sub(r"关于(?:报送|印发|公布|发布|公开)?(?:的)?$", "", s)
    # a leading header word left over ("标题平潭…")
    if _DEICTIC.match(s):
        return ""  # 本机关2020年政府信息公开年度报告如下: no name is given
    return s


def _title_candidates(text: str, hint: str | None):
    """The reader's title, header fields (标题：…), then the non-blank lines of the start
    of the text, in that order; made one at a time (the title is mostly the first)."""
    if hint:
        yield normalize(hint)
    head = text[:3000]
    if "标题" in head or "题名" in head or "名称" in head:  # the header words of _HEADER_TITLE
        for m in _HEADER_TITLE.finditer(head):
            yield m.group(1)
    for ln in text[:6000].split("\n"):
        ln = ln.strip()
        if ln:
            yield ln


def find_title(text: str, hint: str | None = None) -> tuple[str, re.Match | None]:
    for c in _title_candidates(text, hint):
        # both title patterns end with 报告; a long line is no title (tested first: the
        # patterns cost ~60 steps per character of a long paragraph)
        if "报告" not in c or len(c) > 120:
            continue
        c = c.lstrip("# ") if c.startswith("#") else c
        m = _TITLE.search(c)
        if m is None or not m.group("agency").strip():
            m = _TITLE_YEAR_FIRST.search(c) or _TITLE_YEAR_AFTER.search(c) or m
        if m:
            start = min(m.start("agency") if m.group("agency") else m.start("year"), m.start("year"))
            quote = c.rfind("《", start, m.start("year"))
            if quote >= 0:
                start = quote + 1  # 关于印发《…报告》的通知: the title is inside the quotes
            return c[start:m.end()].strip(), m
    return "", None


def extract(text: str, title_hint: str | None = None, published_hint: str | None = None,
            normalized: bool = False) -> Meta:
    if not normalized:
        text = normalize(text)
    meta = Meta()
    title, m = find_title(text, title_hint)
    if m:
        meta.title = title
        meta.agency = _clean_agency(m.group("agency"))
        meta.year = int(m.group("year"))
        meta.year_source = "title"
    # publication date
    if published_hint:
        meta.published = published_hint
    else:
        d = _DATE.search(text[:4000]) or _DATE.search(text)
        if d:
            y, mo, da = (int(x) for x in d.groups())
            if 1 <= mo <= 12 and 1 <= da <= 31:
                meta.published = f"{y:04d}-{mo:02d}-{da:02d}"
    if not meta.agency:
        s = _SOURCE.search(text[:3000])
        if s:
            # page furniture glued on when the spaces between fields were lost
            agency = _FIELD_AFTER.split(s.group(1), maxsplit=1)[0]
            meta.agency = _clean_agency(agency)
    if meta.year is None:
        meta.year, meta.year_source = body_year(text)
    if meta.year is None and meta.published:
        meta.year = int(meta.published[:4]) - 1
        meta.year_source = "publication"
    return meta


def body_year(text: str) -> tuple[int | None, str]:
    """Year from the body: the statistical period; else sentences opening with
    ``2020年，``; else a plan for the next year (``2022年，我局将…``) minus one."""
    p = _PERIOD.search(text)
    if p and p.group(1) == p.group(2):
        return int(p.group(1)), "period"
    p = _PERIOD_LOOSE.search(text)
    if p:
        return int(p.group(1)), "period"
    plans = {m.start(1) for m in _PLAN.finditer(text)}
    years = [int(m.group(1)) for m in _SENTENCE_YEAR.finditer(text) if m.start(1) not in plans]
    if years:
        # the year most sentences open with; ties go to the earliest mention
        best = max(set(years), key=lambda y: (years.count(y), -years.index(y)))
        return best, "body"
    plan_years = [int(m.group(1)) for m in _PLAN.finditer(text)]
    if plan_years:
        return min(plan_years) - 1, "body"
    return None, ""
