"""A report page without tables and the attachment that holds them are one report.

Government sites often publish the annual report as a short page (title, publication
date, "附件：….pdf") whose tables are in the linked file.  ``gx fetch`` saves both and
records the link in ``RAW_DIR/manifest.csv``: the attachment's ``parent`` is the page's
``url``.  Parsed file by file, the page is a report without tables and the attachment a
report whose title and date are often missing or poorer than the page's.

:func:`page_attachments` finds these pairs from the reports frame and the manifest;
:func:`merge_pages` applies them: the attachment gives the rows and takes the page's
title and publication date, the page points to the attachment (``duplicate_of``) and says
why it has no tables.  No network and no file is read here except the manifest.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

LINK_COLUMNS = ["page_report_id", "page_file", "report_id", "source_file", "title", "published"]
_RANK = {"ok": 0, "partial": 1}


def manifest_frame(manifest: pd.DataFrame | str | Path) -> pd.DataFrame:
    """The raw folder's manifest (a frame, the folder or the file) as text columns, with
    ``file``, ``url``, ``parent`` and ``status`` always present."""
    if isinstance(manifest, (str, Path)):
        path = Path(manifest)
        if path.is_dir():
            path = path / "manifest.csv"
        if not path.is_file():
            return pd.DataFrame(columns=["file", "url", "parent", "status"], dtype="str")
        manifest = pd.read_csv(path, dtype="str", keep_default_na=False, encoding="utf-8-sig")
    for col in ("file", "url", "parent", "status"):
        if col not in manifest.columns:
            manifest = manifest.assign(**{col: ""})
    return manifest.fillna("")


def _text(value) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def page_attachments(reports: pd.DataFrame, manifest: pd.DataFrame | str | Path,
                     with_tables: set[str] | None = None) -> pd.DataFrame:
    """For each fetched page that holds no tables but links an attachment that does: the
    attachment report that is the page's report, and the title and publication date it
    should carry (the page's where the page has them).

    ``reports``: rows of reports.csv (``report_id``, ``source_file``, ``status``,
    ``title``, ``published``).  ``manifest``: the raw folder's manifest (a frame, the
    folder or the file).  ``with_tables``: report_ids with rows in any of the three tables
    (default: status ``ok`` or ``partial``, i.e. at least one table found).

    When a page links several attachments with tables, the one kept is the first with
    status ``ok`` (else ``partial``) in manifest order; the others stay reports of their
    own (the duplicates rule decides between them).  Columns: :data:`LINK_COLUMNS`."""
    m = manifest_frame(manifest)
    m = m[(m["file"] != "") & (m["status"].isin(["ok", ""]))]
    if reports.empty or m.empty:
        return pd.DataFrame(columns=LINK_COLUMNS, dtype="str")
    files = [f.replace("\\", "/") for f in m["file"]]
    url_of_file = dict(zip(files, m["url"]))
    parent_of_file = dict(zip(files, m["parent"]))
    order = {f: i for i, f in enumerate(files)}
    basenames: dict[str, list[str]] = {}
    for f in files:
        basenames.setdefault(f.rsplit("/", 1)[-1], []).append(f)

    def manifest_file(source_file: str) -> str | None:
        source_file = source_file.replace("\\", "/")
        if source_file in url_of_file:
            return source_file
        same = basenames.get(source_file.rsplit("/", 1)[-1], [])
        return same[0] if len(same) == 1 else None  # a bare name that is unique in the manifest

    rows = reports.to_dict("records")
    if with_tables is None:
        with_tables = {_text(r["report_id"]) for r in rows if _text(r.get("status")) in _RANK}
    by_url: dict[str, dict] = {}
    children: dict[str, list[tuple[int, dict]]] = {}
    for r in rows:
        f = manifest_file(_text(r["source_file"]))
        if f is None:
            continue
        by_url[url_of_file[f]] = r
        parent = parent_of_file[f]
        if parent and _text(r["report_id"]) in with_tables:
            children.setdefault(parent, []).append((order[f], r))
    out = []
    for url, page in by_url.items():
        if _text(page["report_id"]) in with_tables or url not in children:
            continue
        kids = sorted(children[url], key=lambda c: (_RANK.get(_text(c[1].get("status")), 2), c[0]))
        att = kids[0][1]
        out.append({
            "page_report_id": _text(page["report_id"]), "page_file": _text(page["source_file"]),
            "report_id": _text(att["report_id"]), "source_file": _text(att["source_file"]),
            "title": _text(page.get("title")) or _text(att.get("title")),
            "published": _text(page.get("published")) or _text(att.get("published")),
        })
    return pd.DataFrame(out, columns=LINK_COLUMNS, dtype="str")


def merge_pages(reports: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    """``reports`` with the pairs of :func:`page_attachments` applied: the attachment's
    row takes the title and publication date, the page's row gets ``duplicate_of`` = the
    attachment's report_id (the column is added when missing) and an error that names the
    attachment.  Rows of the three tables are not touched: they already belong to the
    attachment.  The page keeps its status (it holds no tables) so that every raw file
    still has its row."""
    out = reports.copy()
    if "duplicate_of" not in out.columns:
        out["duplicate_of"] = ""
    if links.empty:
        return out
    pos = {rid: i for i, rid in enumerate(out["report_id"].astype(str))}
    for link in links.to_dict("records"):
        a, p = pos.get(link["report_id"]), pos.get(link["page_report_id"])
        if a is None or p is None:
            continue
        out.loc[out.index[a], "title"] = link["title"]
        out.loc[out.index[a], "published"] = link["published"]
        out.loc[out.index[p], "duplicate_of"] = link["report_id"]
        name = link["source_file"].rsplit("/", 1)[-1]
        out.loc[out.index[p], "error"] = f"no statistical tables on the page: the report is its attachment {name}"
    return out


IMAGE_COLUMNS = ["report_id", "source_file", "page_report_id", "page_file"]


def page_images(reports: pd.DataFrame, manifest: pd.DataFrame | str | Path | None = None) -> pd.DataFrame:
    """Image files that a page read as part of itself: their tables are the page's, so the
    image's own report is a copy of the page's (counted once, with the page).

    The HTML reader OCRs the ``<img>`` of a page from the copies saved beside it
    (:func:`gxlib.readers.ocr.with_page_images`); the same image files are inputs of their
    own and give reports with (some of) the same tables. An image belongs to a page when
    the manifest says so (its ``parent`` is the page's ``url``) or, without a manifest row,
    when it sits where a browser saves a page's images (``PAGE_files/`` or ``PAGE/`` beside
    ``PAGE.html``). Only a page whose text came from OCR (``text_source`` ``ocr``: it read
    images) claims them; a page that read none leaves them to :func:`page_attachments`.
    Columns: :data:`IMAGE_COLUMNS`."""
    from .readers import IMAGE_SUFFIXES

    lower = reports["source_file"].astype("str").str.replace("\\", "/").str.lower()
    is_page = (reports["text_source"].astype("str") == "ocr") & lower.str.endswith((".html", ".htm", ".shtml"))
    is_image = lower.str.endswith(tuple(IMAGE_SUFFIXES))
    if not is_page.any() or not is_image.any():  # (checked on columns: a folder has 10^5 reports or more)
        return pd.DataFrame(columns=IMAGE_COLUMNS, dtype="str")
    pages = {_text(r["source_file"]).replace("\\", "/"): r for r in reports[is_page].to_dict("records")}
    rows = reports[is_image].to_dict("records")
    m = manifest_frame(pd.DataFrame() if manifest is None else manifest)
    files = [f.replace("\\", "/") for f in m["file"]]
    page_by_url = {u: f for f, u in zip(files, m["url"]) if f in pages and u}
    parent_page = {f: page_by_url.get(p) for f, p in zip(files, m["parent"]) if p}
    out = []
    for r in rows:
        src = _text(r["source_file"]).replace("\\", "/")
        page = parent_page.get(src)
        if page is None and src not in parent_page:  # no manifest row: a browser's saved page
            base, _, sub = src.rpartition("/")[0].rpartition("/")
            stem = sub.removesuffix("_files")
            prefix = f"{base}/{stem}" if base else stem
            page = next((prefix + ext for ext in (".html", ".htm", ".shtml") if stem and prefix + ext in pages), None)
        if page is not None:
            out.append({"report_id": _text(r["report_id"]), "source_file": src,
                        "page_report_id": _text(pages[page]["report_id"]), "page_file": page})
    return pd.DataFrame(out, columns=IMAGE_COLUMNS, dtype="str")
