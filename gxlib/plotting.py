"""Charts and display helpers for the notebooks.

* :func:`setup` registers the Noto Sans CJK font shipped by the ``noto-cjk-sans-otc`` pip
  package (no system fonts needed) and sets a seaborn theme that uses it.
* Labels come from the codebook (``gxlib.label``) in ``zh`` or ``en``; metric and column
  names are codebook variables ``metric`` and ``field``.
* Plot functions take the long frames of :mod:`gxlib.metrics` and draw every group,
  including small ones (hollow markers, ``n=`` annotations) and empty ones (a "no data"
  note instead of an error), so a notebook always runs to its end.
* Anything taken from data that goes into Markdown/HTML passes through ``html.escape``
  (:func:`md`); DataFrames are displayed through pandas' HTML, which escapes cells.
"""
from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FONT_FAMILY = "Noto Sans CJK SC"
#: marker that starts the line a notebook prints with its key figures (see record_figures)
FIGURES_MARKER = "GXLIB-KEY-FIGURES "

_COLUMN_VARIABLES = {"row": "row", "applicant": "applicant", "item": "item",
                     "measure": "measure", "unit": "unit", "proceeding": "proceeding",
                     "outcome": "outcome", "template": "template", "status": "status",
                     "level": "level", "year_source": "year_source", "rule": "rule",
                     "section": "section", "metric": "metric"}


# --------------------------------------------------------------------------- fonts
def font_path() -> Path:
    """The .ttc/.otc file shipped by the ``noto-cjk-sans-otc`` package."""
    import noto_cjk_sans_otc

    path = Path(str(noto_cjk_sans_otc.FONT_PATH)) if hasattr(noto_cjk_sans_otc, "FONT_PATH") \
        else None
    if path is None or not path.is_file():
        folder = Path(noto_cjk_sans_otc.__file__).parent
        found = sorted(folder.glob("*.tt[cf]")) + sorted(folder.glob("*.ot[cf]"))
        if not found:
            raise FileNotFoundError(f"no font file in {folder}")
        path = found[0]
    return path


def register_cjk_font() -> str:
    """Register the CJK font with matplotlib (idempotent) and return its family name."""
    from matplotlib import font_manager

    path = str(font_path())
    if not any(f.fname == path for f in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(path)
    return FONT_FAMILY


def setup(style: str = "whitegrid") -> None:
    """Font + seaborn theme for readable Chinese labels; call once per notebook."""
    import matplotlib
    import seaborn as sns

    family = register_cjk_font()
    sns.set_theme(style=style, font=family, rc={
        "font.sans-serif": [family, "DejaVu Sans"], "axes.unicode_minus": False,
        "figure.figsize": (8, 4.2), "figure.dpi": 100, "savefig.bbox": "tight"})
    matplotlib.rcParams["font.family"] = "sans-serif"


# --------------------------------------------------------------------------- labels
def t(zh: str, en: str, lang: str = "zh") -> str:
    """Pick the Chinese or English variant of a sentence."""
    return zh if lang == "zh" else en


def label(variable: str, code: Any, lang: str = "zh") -> str:
    """Codebook label; "未知"/"unknown" for NA or empty codes; the code itself if unknown."""
    from gxlib import label as _label

    if code is None or (not isinstance(code, str) and pd.isna(code)) or str(code) == "":
        return t("未知", "unknown", lang)
    if variable == "year":
        return str(int(code))
    if variable in ("province", "prefecture", "county", "agency", "division_code"):
        return str(code)
    return _label(variable, str(code), lang)


def field(name: str, lang: str = "zh") -> str:
    """Label of a column / dimension name (codebook variable ``field``, else ``metric``)."""
    out = label("field", name, lang)
    return label("metric", name, lang) if out == name else out


def relabel(df: pd.DataFrame, lang: str = "zh", *, columns: bool = True) -> pd.DataFrame:
    """Copy of ``df`` with codes turned into labels and column names translated."""
    out = df.copy()
    for col in out.columns:
        var = _COLUMN_VARIABLES.get(col)
        if var is not None:
            out[col] = [label(var, v, lang) for v in out[col]]
        elif col in ("province", "prefecture", "county", "agency"):
            out[col] = [label(col, v, lang) for v in out[col]]
    if columns:
        out = out.rename(columns={c: field(c, lang) for c in out.columns})
    return out


def _group_names(df: pd.DataFrame, keys: Sequence[str], lang: str) -> list[str]:
    if not keys:
        return [t("全部", "all", lang)] * len(df)
    parts = [[label(k, v, lang) for v in df[k]] for k in keys]
    return [" · ".join(p) for p in zip(*parts)]


# --------------------------------------------------------------------------- notebook setup
def resolve_data_dir(data_dir: str | Path = "../data/processed") -> Path:
    """The tidy-table folder a notebook should read.

    ``data_dir`` as given when it exists (relative to the working directory, which is
    ``notebooks/`` in JupyterLab and under ``gx render``); otherwise the same relative path
    from the repository root; otherwise ``<repo>/data/processed`` for an empty value.
    """
    repo = Path(__file__).resolve().parents[1]
    given = Path(data_dir) if str(data_dir).strip() else repo / "data" / "processed"
    candidates = [given] if given.is_absolute() else [
        Path.cwd() / given, repo / given, repo / "notebooks" / given]
    for cand in candidates:
        if cand.is_dir():
            return cand.resolve()
    raise FileNotFoundError(f"data_dir {str(data_dir)!r} not found (looked in "
                            f"{', '.join(str(c) for c in candidates)}); run `gx parse RAW_DIR` "
                            "first or set the data_dir parameter")


def describe_selection(filters: Mapping[str, Any], cov: Mapping[str, Any],
                       lang: str = "zh") -> str:
    """One Markdown sentence: the filters in force and what they select (values escaped)."""
    shown = []
    for key, value in filters.items():
        if value in (None, "", 0):
            continue
        shown.append(f"{field(key, lang)} = {html.escape(str(value))}")
    what = "；".join(shown) if lang == "zh" else "; ".join(shown)
    if not shown:
        what = t("全部数据", "all data", lang)
    years = (f"{cov['year_min']}–{cov['year_max']}" if cov.get("year_min") is not None
             else t("无", "none", lang))
    return t(f"**选择：** {what}。共 {cov['n_reports']} 份报告，{cov['n_agencies']} 个机关，"
             f"报告年度 {years}。",
             f"**Selection:** {what}. {cov['n_reports']} reports from {cov['n_agencies']} "
             f"agencies, report years {years}.", lang)


# --------------------------------------------------------------------------- display
def md(template: str, **values: Any) -> None:
    """Display Markdown; every value is HTML-escaped (values usually come from data)."""
    from IPython.display import Markdown, display

    safe = {k: html.escape(str(v)) for k, v in values.items()}
    display(Markdown(template.format(**safe) if values else template))


def show(df: pd.DataFrame, lang: str = "zh", *, max_rows: int = 60, pct: Sequence[str] = (
        "value", "ci_low", "ci_high"), total: int | None = None) -> None:
    """Display a metrics frame with labels; proportions as percentages.

    Uses pandas' HTML output, which escapes every cell.  ``total``: how many rows there are
    in all when ``df`` holds only the first ones (e.g. ``missing_values(..., limit=)``).
    """
    from IPython.display import display

    if df.empty:
        md(t("*（无数据）*", "*(no data)*", lang))
        return
    out = df.head(max_rows).copy()
    is_ratio = out["metric"].astype("str").eq("dispute_conversion_rate") if "metric" in out \
        else pd.Series(False, index=out.index)
    for col in pct:
        if col in out:
            vals = out[col].astype("Float64")
            out[col] = [("" if pd.isna(v) else (f"{v:.2f}" if r else f"{v:.1%}"))
                        for v, r in zip(vals, is_ratio)]
    for col in ("numerator", "denominator", "total", "mean", "median"):
        if col in out:
            out[col] = [("" if pd.isna(v) else f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}")
                        for v in out[col].astype("Float64")]
    if "small" in out:
        out["small"] = [t("是", "yes", lang) if s else "" for s in out["small"]]
    display(relabel(out, lang))
    total = len(df) if total is None else total
    if total > min(max_rows, len(df)):
        shown = min(max_rows, len(df))
        md(t(f"（仅显示前 {shown} 行，共 {total} 行）", f"(first {shown} of {total} rows)", lang))


def has_row_labels(df: pd.DataFrame) -> bool:
    """Whether a frame's index says something: named, several levels, or not integers.
    An unnamed integer index (0, 1, 2, … or what is left of it after a filter) does not."""
    idx = df.index
    if idx.nlevels > 1 or any(n is not None for n in idx.names):
        return True
    return not pd.api.types.is_integer_dtype(idx.dtype)


def _html_table(df: pd.DataFrame) -> str:
    return df.to_html(notebook=True, index=has_row_labels(df),
                      max_rows=pd.get_option("display.max_rows"),
                      max_cols=pd.get_option("display.max_columns"),
                      show_dimensions=pd.get_option("display.show_dimensions") is True)


def tables_without_row_index() -> None:
    """In this IPython kernel, show DataFrames as HTML without pandas' row index when it
    is the meaningless 0, 1, 2, … (``gx render`` calls this in every kernel it starts, so
    report tables read like tables; a named index such as ``year`` is kept)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, _html_table)


def record_figures(**figures: Any) -> dict:
    """Print the notebook's key figures as one JSON line (read back by tests and the
    render index: :func:`gxlib.render.read_figures`)."""
    def plain(v):
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (np.floating,)):
            return None if np.isnan(v) else float(v)
        if v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            return None
        return v
    clean = {k: plain(v) for k, v in figures.items()}
    print(FIGURES_MARKER + json.dumps(clean, ensure_ascii=False, default=str))
    return clean


def sufficiency_note(cov: Mapping[str, Any], lang: str = "zh", *, min_reports: int = 10) -> str:
    """A sentence on whether the selection can show a trend (Markdown, already escaped)."""
    n, agencies, years = cov["n_reports"], cov["n_agencies"], cov["n_years"]
    multi = cov["n_agencies_multi_year"]
    if n == 0:
        return t("**所选范围内没有报告。** 以下各图为空；请放宽年份、地区或层级参数。",
                 "**No report matches the selection.** The charts below are empty; widen the "
                 "year, region or level parameters.", lang)
    problems = []
    if n < min_reports:
        problems.append(t(f"只有 {n} 份报告", f"only {n} reports", lang))
    if years < 2:
        problems.append(t("只覆盖一个年份", "a single year", lang))
    if multi == 0:
        problems.append(t("没有任何机关有两个以上年份的报告", "no agency has reports for two or "
                          "more years", lang))
    if not problems:
        return t(f"共 {n} 份报告、{agencies} 个机关、{years} 个年份；其中 {multi} 个机关有多年数据。",
                 f"{n} reports from {agencies} agencies over {years} years; {multi} agencies "
                 "have several years.", lang)
    return t("**数据太少，不足以判断趋势**（" + "；".join(problems) + "）。以下图表仅作描述，"
             "空心标记与宽区间表示样本过少。",
             "**Too little data to read a trend** (" + "; ".join(problems) + "). The charts "
             "below only describe the selection; hollow markers and wide intervals mark small "
             "groups.", lang)


def scope_note(counts: Mapping[str, int], scope: str = "own", lang: str = "zh") -> str:
    """Which scope the volumes and application rates use, and what stays beside them
    (``counts``: :func:`gxlib.metrics.scope_counts`); Markdown."""
    names = {"own": t("本机关（own：各机关自己的申请和案件）", "own (each body's own applications and cases)", lang),
             "area": t("全地区（area：政府报告统计的全县/全区/全市申请）",
                       "whole area (area: a government report counting its whole county/district/city)", lang),
             "unknown": t("范围不明（报告文字无法判断）", "unknown scope (the text does not settle it)", lang),
             "any": t("不分范围（仅用于不会重叠的分组，如一个机关的各年）",
                      "any scope (only for groups that cannot overlap, such as one agency's years)", lang)}
    others = [k for k in ("own", "area", "unknown") if k != scope]
    beside = "；".join(f"{names[k]} {counts.get(k, 0)} 份" for k in others) if lang == "zh" else \
        "; ".join(f"{names[k]}: {counts.get(k, 0)}" for k in others)
    dup = counts.get("duplicates", 0)
    return t(f"**统计范围：{names[scope]}**，{counts.get(scope, 0)} 份报告。各部分的数量（申请、复议诉讼、采购和收费）"
             f"和比例（零申请率这种按报告计算的比例除外）只加总这一范围的报告，"
             f"其他范围的报告单独列出、从不加进来（{beside}），以免同一批申请或案件被算两次。"
             + (f"另有 {dup} 份重复报告（同一机关同一年度的另一份副本）只计一次。" if dup else ""),
             f"**Scope: {names[scope]}**, {counts.get(scope, 0)} reports. The volumes of every section (applications, "
             f"reviews and lawsuits, procurement and fees) and the rates (except rates over reports such as "
             f"zero-application) add the reports of this scope only; the other reports are shown apart and never "
             f"added in ({beside}), so no application or case is counted twice."
             + (f" {dup} duplicate reports (another copy of the same agency and year) are counted once." if dup
                else ""), lang)


# --------------------------------------------------------------------------- charts
def _axes(ax):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    return ax


def no_data(ax=None, lang: str = "zh", title: str | None = None):
    """An empty chart that says there is nothing to draw."""
    ax = _axes(ax)
    ax.text(0.5, 0.5, t("无数据", "no data", lang), ha="center", va="center", fontsize=16,
            color="0.5", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def footnote(ax, text: str) -> None:
    """A small note under the chart (e.g. which layout a metric exists in)."""
    ax.annotate(text, xy=(0, 0), xycoords="axes fraction", xytext=(0, -38),
                textcoords="offset points", fontsize=8, color="0.35", ha="left", va="top")


def _x_positions(df: pd.DataFrame, x: str, lang: str) -> tuple[list[str], np.ndarray]:
    keys = df[x]
    if isinstance(keys.dtype, pd.CategoricalDtype):
        order = [c for c in keys.cat.categories if (keys == c).any()]
        if keys.isna().any():
            order.append(None)
    else:
        order = sorted(keys.dropna().unique().tolist())
        if keys.isna().any():
            order.append(None)
    pos = {("__na__" if o is None else o): i for i, o in enumerate(order)}
    idx = np.array([pos["__na__" if pd.isna(v) else v] for v in keys], dtype=float)
    return [label(x, o, lang) for o in order], idx


def rate_plot(df: pd.DataFrame, x: str = "year", hue: str | None = None, *, lang: str = "zh",
              ax=None, title: str | None = None, annotate: bool = True):
    """Point-and-interval chart of one rate from :func:`gxlib.metrics.rates` (or shares).

    Filled markers: enough data; hollow: ``small`` group; no marker: nothing to measure
    (value NA).  ``n=`` under each point is the denominator (reports or applications).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    ax = _axes(ax)
    if df.empty or df["value"].isna().all():
        return no_data(ax, lang, title)
    ticks, xpos = _x_positions(df, x, lang)
    groups = [(None, df.index)] if hue is None else list(
        df.groupby(hue, observed=True, dropna=False, sort=True).groups.items())
    width = 0.6
    step = width / max(len(groups), 1)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ratio = df.get("metric", pd.Series(dtype="str")).astype("str").eq(
        "dispute_conversion_rate").any()
    top = 1.0
    for gi, (key, index) in enumerate(groups):
        sub = df.loc[index]
        sel = np.isin(df.index, index)
        offs = xpos[sel] + (gi - (len(groups) - 1) / 2) * step
        color = palette[gi % len(palette)]
        name = None if hue is None else label(hue, key, lang)
        val = sub["value"].astype("Float64").to_numpy(float, na_value=np.nan)
        lo = sub["ci_low"].astype("Float64").to_numpy(float, na_value=np.nan)
        hi = sub["ci_high"].astype("Float64").to_numpy(float, na_value=np.nan)
        small = sub["small"].to_numpy(bool)
        err = np.vstack([np.where(np.isnan(lo), 0, val - lo), np.where(np.isnan(hi), 0, hi - val)])
        ax.errorbar(offs, val, yerr=np.nan_to_num(err), fmt="none", ecolor=color, capsize=3,
                    alpha=0.8)
        ax.scatter(offs[~small], val[~small], color=color, zorder=3,
                   label=None if small.all() else name)
        ax.scatter(offs[small], val[small], facecolors="white", edgecolors=color, zorder=3,
                   label=name if small.all() else None)
        if annotate:
            for xo, v, d in zip(offs, val, sub["denominator"].astype("Float64")):
                if not np.isnan(v):
                    ax.annotate(f"n={int(d) if not pd.isna(d) else 0}", (xo, v),
                                textcoords="offset points", xytext=(0, -13), ha="center",
                                fontsize=7, color="0.3")
        top = max(top, np.nanmax(np.concatenate([val, hi, [0]])) * 1.08)
    ax.set_xticks(range(len(ticks)))
    ax.set_xticklabels(ticks, rotation=30 if max(map(len, ticks)) > 6 else 0, ha="right"
                       if max(map(len, ticks)) > 6 else "center")
    ax.set_xlim(-0.6, len(ticks) - 0.4)
    if ratio:
        ax.set_ylim(0, top)
    else:
        ax.set_ylim(-0.03, 1.05)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(field(x, lang))
    if title:
        ax.set_title(title)
    if hue is not None:
        ax.legend(title=field(hue, lang), fontsize=8, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    footnote(ax, t("竖线：95% Wilson 区间；空心点：样本过少；n：分母", "bars: 95% Wilson interval; "
                   "hollow: small group; n: denominator", lang))
    return ax


def volume_plot(df: pd.DataFrame, x: str = "year", hue: str | None = None, *,
                stat: str = "total", lang: str = "zh", ax=None, title: str | None = None):
    """Bars of a volume from :func:`gxlib.metrics.volumes`: ``stat`` total or mean (with
    its 95 % t interval).  Hatched bars are small groups; ``n=`` counts reports."""
    import matplotlib.pyplot as plt

    ax = _axes(ax)
    if df.empty or df[stat].isna().all():
        return no_data(ax, lang, title)
    ticks, xpos = _x_positions(df, x, lang)
    groups = [(None, df.index)] if hue is None else list(
        df.groupby(hue, observed=True, dropna=False, sort=True).groups.items())
    width = 0.8 / max(len(groups), 1)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for gi, (key, index) in enumerate(groups):
        sub = df.loc[index]
        sel = np.isin(df.index, index)
        offs = xpos[sel] + (gi - (len(groups) - 1) / 2) * width
        val = sub[stat].astype("Float64").to_numpy(float, na_value=np.nan)
        small = sub["small"].to_numpy(bool)
        color = palette[gi % len(palette)]
        bars = ax.bar(offs, np.nan_to_num(val), width=width * 0.9, color=color,
                      label=None if hue is None else label(hue, key, lang))
        for bar, s in zip(bars, small):
            if s:
                bar.set_hatch("//")
                bar.set_alpha(0.6)
        if stat == "mean":
            lo = sub["ci_low"].astype("Float64").to_numpy(float, na_value=np.nan)
            hi = sub["ci_high"].astype("Float64").to_numpy(float, na_value=np.nan)
            ok = ~np.isnan(lo)
            ax.errorbar(offs[ok], val[ok], yerr=[val[ok] - lo[ok], hi[ok] - val[ok]],
                        fmt="none", ecolor="0.2", capsize=3)
        for xo, v, n in zip(offs, val, sub["n_reports"]):
            ax.annotate(f"n={int(n)}" if not np.isnan(v) else t("无", "none", lang),
                        (xo, 0 if np.isnan(v) else v), textcoords="offset points",
                        xytext=(0, 2), ha="center", va="bottom", fontsize=7, color="0.3")
    ax.set_xticks(range(len(ticks)))
    ax.set_xticklabels(ticks, rotation=30 if max(map(len, ticks)) > 6 else 0)
    ax.set_xlabel(field(x, lang))
    ax.set_ylabel(field(stat, lang))
    if title:
        ax.set_title(title)
    if hue is not None:
        ax.legend(title=field(hue, lang), fontsize=8, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    footnote(ax, t("n：报告数；斜线：样本过少", "n: reports; hatched: small group", lang)
             + (t("；竖线：95% t 区间", "; bars: 95% t interval", lang) if stat == "mean" else ""))
    return ax


def share_plot(df: pd.DataFrame, category: str, *, lang: str = "zh", ax=None,
               title: str | None = None, drop_empty: bool = True):
    """Horizontal bars of shares (``reason_shares`` / ``applicant_mix`` output, no group
    keys) with 95 % Wilson intervals; categories with no base are listed as "n/a"."""
    ax = _axes(ax)
    if df.empty or df["value"].isna().all():
        return no_data(ax, lang, title)
    sub = df.copy()
    if drop_empty:
        sub = sub[sub["n_reports"] > 0]
    names = [label(category, c, lang) for c in sub[category]]
    val = sub["value"].astype("Float64").to_numpy(float, na_value=np.nan)
    lo = sub["ci_low"].astype("Float64").to_numpy(float, na_value=np.nan)
    hi = sub["ci_high"].astype("Float64").to_numpy(float, na_value=np.nan)
    y = np.arange(len(sub))[::-1]
    ax.barh(y, np.nan_to_num(val), color="C0", alpha=0.8)
    ok = ~np.isnan(lo)
    ax.errorbar(val[ok], y[ok], xerr=[val[ok] - lo[ok], hi[ok] - val[ok]], fmt="none",
                ecolor="0.2", capsize=2)
    for yy, v in zip(y, val):
        ax.annotate("n/a" if np.isnan(v) else f"{v:.1%}", (0 if np.isnan(v) else v, yy),
                    textcoords="offset points", xytext=(3, 0), va="center", fontsize=7)
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=8)
    from matplotlib.ticker import PercentFormatter
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlim(0, max(1.0, np.nanmax(np.concatenate([hi[ok], [0]])) if ok.any() else 1.0))
    if title:
        ax.set_title(title)
    return ax


def heatmap(df: pd.DataFrame, x: str, y: str, *, lang: str = "zh", ax=None,
            title: str | None = None):
    """Heat map of a rate over two group keys (e.g. province × year); cells show the rate
    and the denominator, blank cells have no data."""
    import seaborn as sns

    ax = _axes(ax)
    if df.empty or df["value"].isna().all():
        return no_data(ax, lang, title)
    xticks, xpos = _x_positions(df, x, lang)
    yticks, ypos = _x_positions(df, y, lang)
    val = np.full((len(yticks), len(xticks)), np.nan)
    den = np.full((len(yticks), len(xticks)), np.nan)
    v_all = df["value"].astype("Float64").to_numpy(float, na_value=np.nan)
    d_all = df["denominator"].astype("Float64").to_numpy(float, na_value=np.nan)
    for i, j, v, n in zip(ypos.astype(int), xpos.astype(int), v_all, d_all):
        val[i, j], den[i, j] = v, n
    val = pd.DataFrame(val, index=yticks, columns=xticks)
    den = pd.DataFrame(den, index=yticks, columns=xticks)
    annot = np.where(np.isnan(val.to_numpy()), "",
                     [[f"{v:.0%}\nn={0 if np.isnan(n) else int(n)}" for v, n in zip(rv, rn)]
                      for rv, rn in zip(val.to_numpy(), den.to_numpy(dtype=float))])
    sns.heatmap(val, annot=annot, fmt="", vmin=0, vmax=1, cmap="viridis", ax=ax,
                annot_kws={"fontsize": 7}, linewidths=0.5, linecolor="white")
    ax.grid(False)
    ax.set_xlabel(field(x, lang))
    ax.set_ylabel(field(y, lang))
    if title:
        ax.set_title(title)
    return ax


def bar_counts(df: pd.DataFrame, x: str, y: str, hue: str | None = None, *, lang: str = "zh",
               ax=None, title: str | None = None, horizontal: bool = False):
    """Plain bars of counts (parse status per year, problems per rule, ...), labelled."""
    import seaborn as sns

    ax = _axes(ax)
    if df.empty or df[y].fillna(0).sum() == 0:
        return no_data(ax, lang, title)
    d = df.assign(**{x: [label(x, v, lang) for v in df[x]]})
    if hue is not None:
        d[hue] = [label(hue, v, lang) for v in df[hue]]
    if horizontal:
        sns.barplot(d, y=x, x=y, hue=hue, ax=ax, orient="h", errorbar=None)
        ax.set_ylabel(field(x, lang))
        ax.set_xlabel(field(y, lang))
    else:
        sns.barplot(d, x=x, y=y, hue=hue, ax=ax, errorbar=None)
        ax.set_xlabel(field(x, lang))
        ax.set_ylabel(field(y, lang))
    from matplotlib.ticker import MaxNLocator
    (ax.xaxis if horizontal else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
    if hue is not None and ax.get_legend() is not None:
        ax.get_legend().set_title(field(hue, lang))
    if title:
        ax.set_title(title)
    return ax
