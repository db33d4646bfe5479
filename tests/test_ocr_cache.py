"""OCR page results kept under their content key: the same page is OCR'd once.

Counts come from the cache's public stats (:meth:`gxlib.readers.ocr_cache.PageCache.stats`),
never from the engine's internals."""
from __future__ import annotations

import io
import os
import shutil

import pytest

from gxlib.readers import ocr, ocr_cache, read


def needs_ocr():
    if not ocr.available():
        msg = "the ocr extra is not installed (pip install -e '.[ocr]', or `make install`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def _table_png(numbers: tuple[int, int, int]) -> bytes:
    """A small ruled table with Chinese labels and non-zero numbers, drawn with the CJK font."""
    from PIL import Image, ImageDraw, ImageFont

    from gxlib.plotting import font_path

    font = ImageFont.truetype(str(font_path()), 28)
    rows = [["信息内容", "本年处理决定数量"], ["行政许可", str(numbers[0])], ["行政处罚", str(numbers[1])],
            ["行政强制", str(numbers[2])]]
    xs, row_h = [20, 260, 560], 56
    img = Image.new("RGB", (580, 20 + row_h * len(rows) + 20), "white")
    d = ImageDraw.Draw(img)
    for k, row in enumerate(rows):
        for j, text in enumerate(row):
            d.text((xs[j] + 12, 20 + k * row_h + 12), text, font=font, fill="black")
    for k in range(len(rows) + 1):
        d.line([(xs[0], 20 + k * row_h), (xs[-1], 20 + k * row_h)], fill="black", width=2)
    for x in xs:
        d.line([(x, 20), (x, 20 + row_h * len(rows))], fill="black", width=2)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_a_page_is_ocrd_once_and_a_changed_page_again(tmp_path):
    needs_ocr()
    first = _table_png((1263, 418, 27))
    changed = _table_png((1263, 418, 72))
    expected = ["信息内容 | 本年处理决定数量", "行政许可 | 1263", "行政处罚 | 418", "行政强制 | 27"]
    with ocr_cache.page_cache(tmp_path / "ocr") as cache:
        doc = read("a.png", first)
        assert doc.text.splitlines() == expected
        after_first = cache.stats()
        assert after_first["misses"] == 1 and after_first["hits"] == 0 and after_first["engine_calls"] >= 1
        # the same page again (another file name): no engine call, the same text and shadow
        again = read("copy-of-a.png", first)
        assert again.text == doc.text
        assert again.postprocess.keywords == doc.postprocess.keywords
        assert cache.stats() == {**after_first, "hits": 1}
        # one number changed: a new page, read by the engine
        other = read("b.png", changed)
        assert other.text.splitlines() == expected[:3] + ["行政强制 | 72"]
        s = cache.stats()
        assert s["misses"] == 2 and s["engine_calls"] > after_first["engine_calls"]
    # kept on disk: another process (here a fresh cache on the same folder) reads no page
    with ocr_cache.page_cache(tmp_path / "ocr") as cache:
        assert read("c.png", changed).text == other.text
        assert cache.stats() == {"hits": 1, "misses": 0, "engine_calls": 0}
    # outside page_cache nothing is cached
    assert ocr_cache.current() is None


def test_a_damaged_cache_entry_is_read_again(tmp_path):
    needs_ocr()
    png = _table_png((5, 6, 11))
    with ocr_cache.page_cache(tmp_path / "ocr") as cache:
        text = read("a.png", png).text
    (entry,) = (tmp_path / "ocr").rglob("*.json.gz")
    entry.write_bytes(b"not gzip")
    with ocr_cache.page_cache(tmp_path / "ocr") as cache:
        assert read("a.png", png).text == text
        assert cache.stats()["misses"] == 1 and cache.stats()["engine_calls"] >= 1


def test_gx_parse_keeps_pages_in_the_output_folders_store(tmp_path):
    """The pipeline names OUT/.gx/ocr for its (local) workers; a copy of an image under
    another name adds no page, and both files give the same rows."""
    needs_ocr()
    from gxlib.pipeline import run

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.png").write_bytes(_table_png((31, 4, 9)))
    out = tmp_path / "out"
    run(raw, out, jobs=1, progress=False)
    pages = sorted(p.name for p in (out / ".gx" / "ocr").rglob("*.json.gz"))
    assert len(pages) == 1
    shutil.copy(raw / "a.png", raw / "b.png")
    run(raw, out, jobs=1, progress=False)
    assert sorted(p.name for p in (out / ".gx" / "ocr").rglob("*.json.gz")) == pages
    import pandas as pd

    reports = pd.read_csv(out / "reports.csv", dtype=str, keep_default_na=False).set_index("source_file")
    cols = [c for c in reports.columns if c not in ("report_id", "duplicate_of")]
    a, b = reports.loc["a.png", cols], reports.loc["b.png", cols]
    assert a.drop(["sha256"], errors="ignore").equals(b.drop(["sha256"], errors="ignore"))
    assert a["sha256"] == b["sha256"]
    # the same bytes twice: one report, the copy marked (metrics count it once)
    assert reports.loc["b.png", "duplicate_of"] == reports.loc["a.png", "report_id"]


def test_a_cell_read_again_on_its_own_is_kept_with_its_page(tmp_path):
    """A doubtful cell is recognised again on its crop (no detection): that result is kept
    in the page's record too, so the page read again calls the engine for nothing."""
    needs_ocr()
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from gxlib.plotting import font_path

    img = Image.new("L", (200, 80), 255)
    ImageDraw.Draw(img).text((70, 20), "17", font=ImageFont.truetype(str(font_path()), 32), fill=0)
    gray = np.asarray(img)
    with ocr_cache.page_cache(tmp_path / "ocr") as cache:
        crops: dict = {}
        got = ocr._reread(gray, 32.0, crops, 0, 0, 200, 80)
        assert got is not None and got[0] == "17" and cache.stats()["engine_calls"] == 1
        assert ocr._reread(gray, 32.0, crops, 0, 0, 200, 80) == got
        assert cache.stats()["engine_calls"] == 1
