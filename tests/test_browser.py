"""The rendered reports in a real browser: headless Chromium (Debian's ``chromium``, installed
by ``make system-deps``) driven by Playwright's Python client opens ``index.html`` and two
reports rendered here from a small data folder, and checks what a reader would notice: no
console error, every image loaded, the filter box narrows the list, Chinese text, links
that lead somewhere.

Without Chromium the test skips and says to run ``make system-deps``; under ``CI=true`` it
fails instead, so CI always runs it.  Playwright never downloads a browser here.

``GXLIB_SCREENSHOTS=docs`` also saves the screenshots shown in the README.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

import gxlib
from gxlib import plotting, render
from gxlib.store import write

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("GXLIB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _need_chromium() -> None:
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return
    message = f"{CHROMIUM} not found: run `make system-deps` (installs Debian's chromium) for the browser test"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Reports rendered from the seeds plus the 平潭 2019–2025 reports of the shipped
    corpus (non-zero applications; 福建省 gets maps), three notebooks and one per province."""
    _need_chromium()
    raw = tmp_path_factory.mktemp("raw")
    for path in sorted((REPO / "data" / "raw").glob("0*.txt")):
        shutil.copy(path, raw / path.name)
    for path in sorted((REPO / "data" / "raw" / "corpus").glob("pingtan_20*.txt")):
        shutil.copy(path, raw / path.name)
    data = tmp_path_factory.mktemp("processed")
    write(gxlib.parse_dir(raw, jobs=1, progress=False), data)
    nbs = REPO / "notebooks"
    grid = tmp_path_factory.mktemp("grid") / "grid.yml"
    grid.write_text(f"""defaults: {{lang: zh, min_n: 10}}
reports:
  - notebook: {(nbs / '00_start_here.ipynb').as_posix()}
    title: 从这里开始 / Start here
  - notebook: {(nbs / '01_zero_applications.ipynb').as_posix()}
    title: 零申请率 / Zero-application rates
  - notebook: {(nbs / '03_applications.ipynb').as_posix()}
    title: 依申请公开 / Applications
    for_each: province
""", encoding="utf-8")
    out = tmp_path_factory.mktemp("reports")
    results = render.render_grid(grid, data, out, jobs=2, log=lambda *_: None)
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    return out


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    # the CJK font shipped by the noto-cjk-sans-otc package, for the screenshots (the page
    # text is Chinese whatever fonts the machine has)
    conf = site / "fonts.conf"
    conf.write_text(f"""<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><include ignore_missing="yes">/etc/fonts/fonts.conf</include>
<dir>{plotting.font_path().parent}</dir><cachedir>{site / 'fontcache'}</cachedir></fontconfig>
""", encoding="utf-8")
    env = {**os.environ, "FONTCONFIG_FILE": str(conf)}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, env=env)
        yield b
        b.close()


def _open(browser, url: str):
    """A page at ``url`` and the errors it raised (console errors, uncaught exceptions,
    failed requests)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(url, wait_until="load")
    return page, errors


def _images_loaded(page) -> list[dict]:
    return page.eval_on_selector_all(
        "img", "els => els.map(i => ({src: i.src.slice(0, 80), done: i.complete, "
               "w: i.naturalWidth, h: i.naturalHeight}))")


def _local_links(page, base: Path) -> list[Path]:
    """Files the page's relative links point to (anchors and other sites left out)."""
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
    out = []
    for href in hrefs:
        u = urlparse(href)
        if u.scheme == "file":
            out.append(Path(unquote(u.path)))
    return out


def _screenshot(page, name: str) -> None:
    folder = os.environ.get("GXLIB_SCREENSHOTS")
    if folder:
        target = (REPO / folder) if not Path(folder).is_absolute() else Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / name))


def test_index_in_a_browser(site, browser):
    page, errors = _open(browser, (site / "index.html").as_uri())
    page.wait_for_load_state("networkidle")
    images = _images_loaded(page)
    assert images and all(i["done"] and i["w"] > 0 and i["h"] > 0 for i in images), images
    text = page.inner_text("body")
    assert "报告索引" in text and "零申请率" in text and "福建省" in text
    import json

    total = page.locator("li.card").count()
    runs = json.loads((site / "index.json").read_text(encoding="utf-8"))
    assert total == len(runs) == 2 + 4                  # 00, 01, 03 × four provinces
    assert page.inner_text("#gx-count") == f"{total} / {total}"
    links = _local_links(page, site)
    assert links and all(p.is_file() for p in links), [p for p in links if not p.is_file()]
    _screenshot(page, "index.png")
    # the filter box narrows the list, by text and by province; clearing it restores all
    page.fill("#gx-q", "福建")
    visible = page.locator("li.card:visible")
    assert 0 < visible.count() < total
    assert all("福建" in visible.nth(i).get_attribute("data-text") for i in range(visible.count()))
    page.fill("#gx-q", "no such text 不存在")
    assert page.locator("li.card:visible").count() == 0 and page.inner_text("#gx-count") == f"0 / {total}"
    page.fill("#gx-q", "")
    page.select_option("#gx-province", "福建省")
    assert page.locator("li.card:visible").count() == 1
    page.select_option("#gx-province", "")
    assert page.locator("li.card:visible").count() == total
    assert not errors, errors
    page.close()


@pytest.mark.parametrize("stem", ["00_start_here", "03_applications__province-福建省"])
def test_report_in_a_browser(site, browser, stem):
    html = next(p for p in (site / "html").glob("*.html") if p.stem.startswith(stem))
    page, errors = _open(browser, html.as_uri())
    page.wait_for_load_state("networkidle")
    images = _images_loaded(page)
    assert images and all(i["done"] and i["w"] > 0 and i["h"] > 0 for i in images), images
    text = page.inner_text("body")
    assert "报告索引" in text                                   # the link back
    assert ("予以公开率" in text) if "03_" in stem else ("从这里开始" in text)
    # tables without pandas' 0, 1, 2 … row index (the start page keeps a named one: year)
    first_cells = page.eval_on_selector_all(
        "table.dataframe tbody tr", "rows => rows.map(r => r.firstElementChild.tagName)")
    assert first_cells
    if "03_" in stem:
        assert set(first_cells) == {"TD"}
    links = _local_links(page, html.parent)
    assert links and all(p.is_file() for p in links), [p for p in links if not p.is_file()]
    if "福建省" in stem:
        assert "平潭综合实验区" in text and "350128" in text          # listed under the map
        page.locator("img").last.scroll_into_view_if_needed()       # the map of 福建省
        _screenshot(page, "report.png")
    assert not errors, errors
    page.close()
