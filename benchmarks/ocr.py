"""OCR benchmark: corpus PDF pages rasterized with scan-like damage -> pages/s and accuracy.

    .venv/bin/python -m benchmarks.ocr [--corpus ../shared/corpus] [--dpi 150] [--files a.pdf,b.pdf]

For every PDF of the corpus that has a golden file (tests/golden/*.json), each page is
rendered to an image (pypdfium2) at ``--dpi``, damaged like a scan (a 1-2° turn, blur,
JPEG at quality 55-70, a little noise; the seed makes it repeatable), and the pages are put
into an image-only PDF.  That PDF is parsed by ``gxlib.parse_report`` (so the OCR path of
the PDF reader, the table core and the trust step all run) and every cell is compared with
the golden file.  Printed per file: pages, CPU seconds per page, cells right / NA with a
check naming it (and how many of those belong to an identity the document itself breaks)
/ wrong without such a check, and the broken identities whose printed cells were kept
(every term read twice alike: ``ocr_identity_as_printed``); then the totals and OCR pages
per second.

The helpers :func:`damage`, :func:`page_images` and :func:`image_pdf` are also used by the
tests (tests/test_readers_ocr.py) to build their inputs.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"


def page_images(pdf_path: Path, dpi: int = 150, pages: list[int] | None = None):
    """Pages (1-based numbers; all when None) of a PDF as RGB PIL images."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        numbers = pages or list(range(1, len(pdf) + 1))
        for n in numbers:
            page = pdf[n - 1]
            yield page.render(scale=dpi / 72).to_pil().convert("RGB")
            page.close()
    finally:
        pdf.close()


def damage(image, seed: int, angle: float | None = None):
    """A scan-like copy of an RGB image: turned by 1-2° (either way), blurred, a little
    noise, JPEG-compressed (quality 55-70).  Returns a PIL image."""
    import numpy as np
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    if angle is None:
        angle = float(rng.uniform(1.0, 2.0) * rng.choice([-1, 1]))
    out = image.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=(255, 255, 255))
    out = out.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.5, 0.9))))
    arr = np.asarray(out).astype(np.int16)
    arr = np.clip(arr + rng.normal(0, 6, arr.shape[:2])[:, :, None], 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=int(rng.integers(55, 71)))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def image_pdf(images, dpi: int = 150) -> bytes:
    """An image-only PDF (no text layer) of the images, one page each."""
    buf = io.BytesIO()
    images = list(images)
    images[0].save(buf, "PDF", resolution=float(dpi), save_all=True, append_images=images[1:])
    return buf.getvalue()


def golden_cells(name: str) -> dict[tuple[str, str, str], float | None]:
    g = json.loads((GOLDEN / Path(name).with_suffix(".json").name).read_text("utf-8"))
    cells = {}
    for section in ("applications", "reviews"):
        for row, vals in g[section]["rows"].items():
            for col, v in zip(g[section]["columns"], vals):
                cells[(section, row, col)] = v
    for r in g["disclosure"]:
        cells[("disclosure", r["item"], r["measure"])] = r["value"]
    return cells


def _na(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def score(result, name: str) -> dict:
    """Cells of a parse result against the golden file: right, NA with a check naming the
    cell (or its row/section), wrong but named by a check, wrong silently, extra."""
    want = golden_cells(name)
    checks = result.checks.to_dict("records") if len(result.checks) else []

    def named(section, row, col):
        return any(c.get("section") in (section, "", None) and str(c.get("row") or "") in ("", row)
                   and str(c.get("column") or "") in ("", col) for c in checks)

    got = {}
    for section, frame, (a, b) in (("applications", result.applications, ("row", "applicant")),
                                   ("reviews", result.reviews, ("proceeding", "outcome")),
                                   ("disclosure", result.disclosure, ("item", "measure"))):
        for rec in frame.to_dict("records"):
            got[(section, rec[a], rec[b])] = rec["value"]
    broken = document_broken(name)
    out = {"cells": len(want), "right": 0, "na_named": 0, "na_silent": 0, "wrong_named": 0, "wrong_silent": 0,
           "na_document": 0, "wrong": []}
    for key, w in want.items():
        v = got.get(key)
        if _na(v):
            if w is None:
                out["right"] += 1
            elif named(*key):
                out["na_named"] += 1
                out["na_document"] += key in broken
            else:
                out["na_silent"] += 1
                out["wrong"].append(f"{'/'.join(key)}: NA without a check (golden {w})")
        elif w is not None and math.isclose(float(v), float(w), abs_tol=1e-9):
            out["right"] += 1
        elif named(*key):
            out["wrong_named"] += 1
        else:
            out["wrong_silent"] += 1
            out["wrong"].append(f"{'/'.join(key)}: got {v}, golden {w}")
    return out


def document_broken(name: str) -> set[tuple[str, str, str]]:
    """Cells that are terms of an identity the document itself breaks (golden values): the
    trust step keeps them only where every term was read twice alike, else they are NA."""
    from gxlib import checks as rules
    from gxlib.readers.ocr import identity_terms

    g = json.loads((GOLDEN / Path(name).with_suffix(".json").name).read_text("utf-8"))
    apps = [{"row": r, "applicant": c, "value": v} for r, vals in g["applications"]["rows"].items()
            for c, v in zip(g["applications"]["columns"], vals)]
    revs = [{"proceeding": r, "outcome": c, "value": v} for r, vals in g["reviews"]["rows"].items()
            for c, v in zip(g["reviews"]["columns"], vals)]
    rows = {r["row"] for r in apps}
    return {t for c in rules.application_checks(apps) + rules.review_checks(revs) for t in identity_terms(c, rows)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    ap.add_argument("--dpi", type=int, default=150)
    ap.add_argument("--files", default="", help="comma-separated PDF names (default: every PDF with a golden)")
    ap.add_argument("--clean", action="store_true", help="no damage (rendered pages as they are)")
    ap.add_argument("--seed", type=int, default=25)
    args = ap.parse_args(argv)

    import gxlib
    from gxlib.readers import ocr

    corpus = Path(args.corpus)
    names = [n for n in args.files.split(",") if n] or sorted(
        p.with_suffix(".pdf").name for p in GOLDEN.glob("*.json") if (corpus / p.with_suffix(".pdf").name).is_file())
    if not names:
        print(f"no corpus PDFs with golden files under {corpus}")
        return 1
    ocr.engine()  # model loading is not part of the per-page figure
    totals = {"pages": 0, "cpu": 0.0, "wall": 0.0, "cells": 0, "right": 0, "na_named": 0, "na_silent": 0,
              "wrong_named": 0, "wrong_silent": 0, "na_document": 0, "as_printed": 0}
    print(f"{'file':22} {'pages':>5} {'cpu s/page':>10} {'cells':>6} {'right':>6} {'NA+check':>8} "
          f"{'(doc)':>5} {'wrong+check':>11} {'silent':>6} {'as printed':>10}")
    for name in names:
        images = [im if args.clean else damage(im, seed=args.seed * 1000 + k)
                  for k, im in enumerate(page_images(corpus / name, args.dpi))]
        data = image_pdf(images, args.dpi)
        tmp = Path("/tmp") / f"gxlib-ocr-bench-{name}"
        tmp.write_bytes(data)
        c0, w0 = time.process_time(), time.perf_counter()
        res = gxlib.parse_report(tmp)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        tmp.unlink()
        s = score(res, name)
        silent = s["wrong_silent"] + s["na_silent"]
        s["as_printed"] = int((res.checks["rule"] == "ocr_identity_as_printed").sum()) if len(res.checks) else 0
        print(f"{name:22} {len(images):5d} {cpu / len(images):10.2f} {s['cells']:6d} {s['right']:6d} "
              f"{s['na_named']:8d} {s['na_document']:5d} {s['wrong_named']:11d} {silent:6d} {s['as_printed']:10d}"
              f"   text_source={res.report.get('text_source')}")
        for line in s["wrong"]:
            print("    ", line)
        totals["pages"] += len(images)
        totals["cpu"] += cpu
        totals["wall"] += wall
        for k in ("cells", "right", "na_named", "na_silent", "wrong_named", "wrong_silent", "na_document", "as_printed"):
            totals[k] += s[k]
    t = totals
    print(f"total: {t['pages']} pages, {t['cpu'] / t['pages']:.2f} CPU s/page, "
          f"{t['pages'] / t['cpu']:.3f} OCR pages/s per core ({t['pages'] / t['wall']:.3f} pages/s wall); "
          f"cells right {t['right']}/{t['cells']} = {100 * t['right'] / t['cells']:.2f}%, "
          f"NA with a check {t['na_named']} (of which {t['na_document']} in identities the document itself breaks; "
          f"right of the rest {100 * t['right'] / max(1, t['cells'] - t['na_document']):.2f}%), "
          f"wrong but flagged {t['wrong_named']}, "
          f"wrong or NA without a check {t['wrong_silent'] + t['na_silent']}; "
          f"broken identities kept as printed (ocr_identity_as_printed) {t['as_printed']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
