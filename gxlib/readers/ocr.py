"""OCR: table images, scanned PDF pages and images beside an HTML page -> text and cells.

The engine is rapidocr (>= 3.10), whose wheel carries its ONNX models: nothing is fetched
at run time.  It is an optional extra (``pip install 'gxlib[ocr]'``, installed by ``make``);
without it an OCR input fails with "needs the ocr extra", everything else still parses.

Per page image:

1. **text boxes** from rapidocr, with a confidence per word (the detector draws turned
   boxes around turned text, and the recogniser reads them straight);
2. **deskew**: the page's skew is the median angle of the wide boxes; the boxes' positions
   and the image in which rules are looked for are turned back by it;
3. **ruling lines** with OpenCV morphology (horizontal and vertical strokes much longer than
   a character), then the table **cells** from the rules (:func:`grid_cells`, the rule
   intersections that close a rectangle, as pdfplumber does for PDFs);
4. each box (or, where a box crosses a rule, each word) goes to the cell holding its centre;
   a table row is written ``cell | cell | cell`` with the grid rules shared by the HTML, PDF
   and DOCX readers (:func:`gxlib.readers.html.grid_lines`), text outside tables as lines
   in reading order.  Pages follow each other, so a table continued over several images or
   pages continues on the next lines, as in the PDF reader.

**Trust.**  Nothing OCR'd is taken silently.  Beside the text the reader writes a *shadow*
text, the same lines in which every digit the engine read in a value cell is replaced by a
flag digit, different from the digit read: ``1``/``4`` where the engine was unsure of it
(word score below :data:`MIN_SCORE`), ``2``/``3`` where it was sure.  :func:`hold` (the
Document's ``postprocess``) runs the same label-based core on the shadow text, so every coded
cell finds its own flags by the same rows and columns, then

* a cell with an unsure digit is NA with an ``ocr_uncertain`` check naming it;
* every identity of the templates (row sums, outcome sums, the balance, section-四 sums) is
  evaluated on the OCR'd cells.  One that fails is the document's own error only if every
  term is a number read twice alike: by the page-wide pass and again, alone, on the tight
  crop of its own cell in the deskewed page (another crop, scale and preprocessing), the
  same text both times with scores of at least :data:`CONFIRM_SCORE`.  Then the printed
  cells stand, as on a text layer, with an ``ocr_identity_as_printed`` check naming the
  identity's row (or column) and cells, beside the identity's own check (``review_sum`` …)
  that the parser records.  Otherwise (a term read otherwise, less surely, blank, or not
  in a ruled cell) the OCR'd terms are NA, blank ones too when the whole document is
  OCR'd, with an ``ocr_uncertain`` check naming the identity's cells and why, beside the
  identity's own check.  So every OCR'd number that stands either keeps every identity it
  is in or is named by a check.

The second reads are made only for the terms of failing identities: the reader keeps each
numbered cell's crop (``Layout.cells``) and the cell numbers in a third text,
``Layout.refs``, which the same core maps to the coded cells.
"""
from __future__ import annotations

import functools
import io
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from . import Document, ReadError, ocr_cache
from .html import clean_cell, grid_lines, is_value_text
from .pdf import _PAGE_NUMBER

NEEDS_OCR = "needs the ocr extra (pip install 'gxlib[ocr]')"
MIN_SCORE = 0.90  # a word read with a lower confidence is not taken
# both reads of every term of a failing identity at least this sure, and alike: the failure is the
# document's.  On the damaged rasters (150 and 100 dpi, 5 seeds, 3,500 cells read right both times)
# 3% (150 dpi) and 10% (100 dpi) of the right cells score lower; the one misread seen read alike
# twice ("451" for 454 at 100 dpi) scored 0.976 and 0.965: under this, with a margin
CONFIRM_SCORE = 0.98
MAX_SIDE = 2400  # longer image sides are scaled down to this (≈ 200 dpi for A4)
MIN_SIDE = 48  # smaller images (icons, spacers) are not read
MAX_PIXELS = 60_000_000  # larger images are refused (decompression bombs)
MAX_PAGES = 200
REC_MIN_WIDTH = 240
_THREADS = int(os.environ.get("GXLIB_OCR_THREADS", "1"))  # per process: workers give the parallelism


class NeedsOCR(ReadError):
    """The ocr extra is not installed."""


# ---------------------------------------------------------------------------------------
# engine


@functools.lru_cache(maxsize=1)
def engine():
    """The rapidocr engine of this process (models from the wheel; no angle classifier:
    pages are deskewed here and table text is upright)."""
    try:
        import cv2  # noqa: F401
        from rapidocr import RapidOCR
    except ImportError:
        raise NeedsOCR(NEEDS_OCR) from None
    return RapidOCR(params={
        "Global.use_cls": False,
        "Global.log_level": "error",
        "Det.limit_type": "max",
        "Det.limit_side_len": 1280,
        # the recogniser pads every box to at least this width (48 px high): table cells are
        # short ("0", "12"), and rapidocr's default of 320 spends most of its time on padding
        "Rec.rec_img_shape": [3, 48, REC_MIN_WIDTH],
        "EngineConfig.onnxruntime.intra_op_num_threads": _THREADS,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    })


def available() -> bool:
    try:
        engine()
    except NeedsOCR:
        return False
    return True


# ---------------------------------------------------------------------------------------
# layout: positioned text pieces + ruling segments -> lines (shared with the OFD reader)


@dataclass
class Piece:
    """A piece of text at a position (page units), with the confidence of each character
    (1.0 for text that is not OCR'd)."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    scores: list[float] | None = None  # per character of text; None: all certain
    words: list["Piece"] = field(default_factory=list)  # finer pieces, to split a box crossing rules
    quad: list | None = None  # the four corners as detected (a turned box), when known

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def _merge_segments(segs: list[tuple[float, float, float]], tol: float) -> list[tuple[float, float, float]]:
    """Collinear segments (pos, a, b) within ``tol`` of each other -> one position each;
    overlapping or nearly touching intervals on one position are joined."""
    out = []
    segs = sorted(segs)
    clusters: list[list[tuple[float, float, float]]] = []
    for s in segs:
        if clusters and s[0] - clusters[-1][-1][0] <= tol:
            clusters[-1].append(s)
        else:
            clusters.append([s])
    for cl in clusters:
        pos = sum(s[0] for s in cl) / len(cl)
        spans = sorted((min(a, b), max(a, b)) for _, a, b in cl)
        cur = list(spans[0])
        for a, b in spans[1:]:
            if a <= cur[1] + tol:
                cur[1] = max(cur[1], b)
            else:
                out.append((pos, cur[0], cur[1]))
                cur = [a, b]
        out.append((pos, cur[0], cur[1]))
    return out


def grid_cells(horizontal, vertical, tol: float) -> list[tuple[float, float, float, float]]:
    """Table cells ``(x0, y0, x1, y1)`` closed by ruling segments.

    ``horizontal``: ``(y, x0, x1)``; ``vertical``: ``(x, y0, y1)``.  A cell is the smallest
    rectangle whose four corners are rule intersections and whose four edges are drawn."""
    h = _merge_segments(list(horizontal), tol)
    v = _merge_segments(list(vertical), tol)
    if len(h) < 1 or len(v) < 2:
        return []
    h = _merge_segments(h + _open_edges(h, v, tol), tol)
    h_at: dict[float, list[tuple[float, float]]] = defaultdict(list)
    v_at: dict[float, list[tuple[float, float]]] = defaultdict(list)
    for y, a, b in h:
        h_at[y].append((a, b))
    for x, a, b in v:
        v_at[x].append((a, b))
    points = set()
    for y, a, b in h:
        for x, c, d in v:
            if a - tol <= x <= b + tol and c - tol <= y <= d + tol:
                points.add((x, y))
    xs_at_y: dict[float, list[float]] = defaultdict(list)
    ys_at_x: dict[float, list[float]] = defaultdict(list)
    for x, y in points:
        xs_at_y[y].append(x)
        ys_at_x[x].append(y)
    for lst in (*xs_at_y.values(), *ys_at_x.values()):
        lst.sort()

    def h_drawn(y, xa, xb):
        return any(a - tol <= xa and b + tol >= xb for a, b in h_at[y])

    def v_drawn(x, ya, yb):
        return any(a - tol <= ya and b + tol >= yb for a, b in v_at[x])

    cells = []
    for x, y in points:
        done = False
        for y2 in ys_at_x[x]:
            if y2 <= y:
                continue
            if not v_drawn(x, y, y2):
                break
            for x2 in xs_at_y[y]:
                if x2 <= x:
                    continue
                if not h_drawn(y, x, x2):
                    break
                if (x2, y2) in points and v_drawn(x2, y, y2) and h_drawn(y2, x, x2):
                    cells.append((x, y, x2, y2))
                    done = True
                    break
            if done:
                break
    return cells


def _open_edges(h, v, tol) -> list[tuple[float, float, float]]:
    """Rules a table cut by a page break lacks: where two or more vertical rules end (or
    begin) together beyond every horizontal rule, a horizontal edge closes the table there."""
    out = []
    for end in (1, 2):  # top ends, bottom ends
        groups = _cluster([seg[end] for seg in v], tol)
        for y in groups:
            at = [seg for seg in v if abs(seg[end] - y) <= tol]
            if len(at) < 2:
                continue
            x0, x1 = min(seg[0] for seg in at), max(seg[0] for seg in at)
            if any(abs(hy - y) <= 2 * tol and a <= x0 + tol and b >= x1 - tol for hy, a, b in h):
                continue  # closed already
            out.append((y, x0, x1))
    return out


def _tables_of(cells, tol):
    """Cells -> tables (groups of cells that touch)."""
    parent = list(range(len(cells)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = sorted(range(len(cells)), key=lambda i: cells[i][1])
    for n, i in enumerate(order):
        a = cells[i]
        for j in order[n + 1:]:
            b = cells[j]
            if b[1] > a[3] + tol:
                break
            if a[0] <= b[2] + tol and b[0] <= a[2] + tol:
                parent[find(i)] = find(j)
    groups: dict[int, list] = defaultdict(list)
    for i, c in enumerate(cells):
        groups[find(i)].append(c)
    return list(groups.values())


def _reread_cells(table, read: dict, tops: list[float], reread, tol: float) -> set:
    """Read again, one by one, the doubtful cells of the data rows of a table: blank or a
    short non-number, right of the row's first number (see :func:`layout`); returns the
    cells whose text now comes from that second read."""
    done = set()
    by_row: dict[int, list] = defaultdict(list)
    for c in table:
        by_row[_index(tops, c[1])].append(c)
    for cells in by_row.values():
        values = [c for c in cells if read[c][0] and is_value_text(read[c][0])]
        if len(values) < 2:
            continue
        first = min(c[0] for c in values)
        for c in cells:
            text = read[c][0]
            if c[0] < first - tol or (text and (is_value_text(text) or len(text) > 2)):
                continue
            got = reread(*c)
            if got is not None:
                read[c] = got
                done.add(c)
    return done


def _cluster(values: list[float], tol: float) -> list[float]:
    """Sorted representatives of values closer than ``tol``."""
    out: list[list[float]] = []
    for v in sorted(values):
        if out and v - out[-1][-1] <= tol:
            out[-1].append(v)
        else:
            out.append([v])
    return [sum(c) / len(c) for c in out]


def _index(reps: list[float], v: float) -> int:
    return min(range(len(reps)), key=lambda i: abs(reps[i] - v))


def _flag_digits(text: str, scores: list[float] | None, ocr: bool) -> str:
    """``text`` with every digit replaced by its confidence flag (see the module docstring);
    text that is not OCR'd is returned as it is."""
    if not ocr:
        return text
    out = []
    for i, ch in enumerate(text):
        if "0" <= ch <= "9":
            sure = scores is None or scores[i] >= MIN_SCORE
            flag = ("2" if ch != "2" else "3") if sure else ("1" if ch != "1" else "4")
            out.append(flag)
        else:
            out.append(ch)
    return "".join(out)


def _join(pieces: list[Piece], line_tol: float) -> tuple[str, list[float]]:
    """Text of the pieces of one cell or line (reading order) and a score per character."""
    pieces = sorted(pieces, key=lambda p: p.cy)
    lines: list[list[Piece]] = []
    for p in pieces:
        if lines and abs(p.cy - lines[-1][-1].cy) <= line_tol:
            lines[-1].append(p)
        else:
            lines.append([p])
    text, scores = "", []
    for ln in lines:
        ln.sort(key=lambda p: p.x0)
        for k, p in enumerate(ln):
            gap = k and (p.x0 - ln[k - 1].x1) > 0.25 * max(p.height, 1e-6)
            sep = " " if (text and (gap or k == 0)) else ""
            text += sep
            scores += [1.0] * len(sep)
            text += p.text
            scores += p.scores if p.scores is not None else [1.0] * len(p.text)
    # clean_cell drops spaces (between CJK) and control characters: keep scores aligned
    return _clean_with_scores(text, scores)


def _clean_with_scores(text: str, scores: list[float]) -> tuple[str, list[float]]:
    cleaned = clean_cell(text)
    if cleaned == text:
        return text, scores
    # clean_cell only removes characters and turns whitespace runs into one space
    out, j = [], 0
    for ch in cleaned:
        while j < len(text) and text[j] != ch and not (ch == " " and text[j].isspace()) \
                and not (ch == "｜" and text[j] == "|"):
            j += 1
        out.append(scores[j] if j < len(scores) else 1.0)
        j += 1
    return cleaned, out


@dataclass
class Layout:
    lines: list[str]
    shadow: list[str]
    tables: int = 0
    sure_text: bool = True  # a letter or digit was read with confidence (OCR'd pages)
    refs: list[str] = field(default_factory=list)  # the lines with each numbered value cell's text replaced by its number
    cells: dict[int, "CellRead"] = field(default_factory=dict)  # number -> how the cell was read


@dataclass
class CellRead:
    """How a table cell holding a number was read (see :func:`hold`): its text and lowest
    character score from the first read, whether that read was the page-wide pass, and
    ``again()`` -> ``(text, scores) | None``, the cell recognised on its own crop."""

    text: str
    score: float
    page_read: bool
    again: object = field(default=None, compare=False)  # (a cell is its reads, not how to read it again)


def layout(pieces: list[Piece], horizontal, vertical, *, ocr: bool, tol: float | None = None,
           reread=None, later=None, first_ref: int = 1) -> Layout:
    """Positioned pieces and ruling segments of one page -> lines (tables as
    ``cell | cell`` rows) and their shadow lines (see the module docstring).

    ``reread(x0, y0, x1, y1) -> (text, scores) | None`` reads one cell again on its own
    (OCR): used for the cells of a data row that came out blank or as a short text that is
    not a number (a lone "1" is easily read as "一" or missed in a page-wide pass).
    ``later(x0, y0, x1, y1)`` -> the same reading, to be done if :func:`hold` asks: kept as
    the ``again`` of the other cells holding a number (OCR'd cells are numbered from
    ``first_ref`` in ``Layout.refs`` and ``Layout.cells``)."""
    heights = sorted(p.height for p in pieces if p.height > 0)
    char = heights[len(heights) // 2] if heights else 10.0
    tol = tol if tol is not None else max(2.0, 0.35 * char)
    cells = grid_cells(horizontal, vertical, tol)
    tables = [t for t in _tables_of(cells, tol) if len(t) >= 4]
    all_cells = [c for t in tables for c in t]
    content: dict[tuple, list[Piece]] = defaultdict(list)
    free: list[Piece] = []

    def cell_of(x, y):
        best = None
        for c in all_cells:
            if c[0] <= x <= c[2] and c[1] <= y <= c[3]:
                if best is None or (c[2] - c[0]) * (c[3] - c[1]) < (best[2] - best[0]) * (best[3] - best[1]):
                    best = c
        return best

    for p in pieces:
        home = cell_of(p.cx, p.cy)
        if home is not None and p.words and (p.x0 < home[0] - tol or p.x1 > home[2] + tol):
            for w in p.words:  # the box crosses a rule: place its words one by one
                c = cell_of(w.cx, w.cy)
                (content[c] if c is not None else free).append(w)
            continue
        (content[home] if home is not None else free).append(p)

    items: list[tuple[float, int, list[str], list[str], list[str]]] = []
    cells: dict[int, CellRead] = {}
    for n, table in enumerate(tables):
        tops = _cluster([c[1] for c in table], tol)
        lefts = _cluster([c[0] for c in table], tol)
        rows: dict[int, list[tuple[int, str]]] = defaultdict(list)
        shadow_rows: dict[int, list[tuple[int, str]]] = defaultdict(list)
        ref_rows: dict[int, list[tuple[int, str]]] = defaultdict(list)
        read: dict[tuple, tuple[str, list[float]]] = {c: _join(content.get(c, []), 0.5 * char) for c in table}
        again = _reread_cells(table, read, tops, reread, tol) if reread is not None else set()
        for c in table:
            text, scores = read[c]
            r, col = _index(tops, c[1]), _index(lefts, c[0])
            rows[r].append((col, text))
            value = is_value_text(text)
            shadow_rows[r].append((col, _flag_digits(text, scores, ocr) if value else text))
            if ocr and value and re.search(r"\d", text):
                ref = first_ref + len(cells)
                cells[ref] = CellRead(text, min(scores, default=1.0), c not in again,
                                      later(*c) if later is not None and c not in again else None)
                text = str(ref)
            ref_rows[r].append((col, text))
        keys = sorted(rows)
        lines = grid_lines([sorted(rows[k]) for k in keys])
        shadow = grid_lines([sorted(shadow_rows[k]) for k in keys])
        refs = grid_lines([sorted(ref_rows[k]) for k in keys])
        if len(lines) != len(shadow):  # cannot happen (flags keep every value a value)
            shadow = [""] * len(lines)
        if len(lines) != len(refs):  # cannot happen either (numbers stay numbers)
            refs = [""] * len(lines)
        items.append((min(c[1] for c in table), n, lines, shadow, refs))

    items += _text_lines(free, char)
    items.sort(key=lambda it: (it[0], it[1]))
    out = Layout([], [], len(tables), refs=[], cells=cells)
    for _, _, lines, shadow, refs in items:
        out.lines.extend(lines)
        out.shadow.extend(shadow)
        out.refs.extend(refs)
    return out


_LABEL_NUMBER = re.compile(r"\d+(?=\s*[.、．)）])|(?<=[(（第])\d+|\d+(?=\s*[年月日号条项页])")


def _text_lines(pieces: list[Piece], char: float) -> list[tuple[float, int, list[str], list[str], list[str]]]:
    """Pieces outside tables -> lines by y; pieces far apart on a line (a borderless
    table) are written as ``a | b``; digits of numbers (not of label numbers, years or
    dates) are flagged in the shadow, and are 0 in the numbered lines (these numbers have
    no cell to be read again in; numbered cells are never 0)."""
    pieces = sorted(pieces, key=lambda p: p.cy)
    rows: list[list[Piece]] = []
    for p in pieces:
        if rows and abs(p.cy - sum(q.cy for q in rows[-1]) / len(rows[-1])) <= 0.5 * char:
            rows[-1].append(p)
        else:
            rows.append([p])
    out = []
    for row in rows:
        row.sort(key=lambda p: p.x0)
        parts: list[list[Piece]] = [[row[0]]]
        for p in row[1:]:
            if p.x0 - parts[-1][-1].x1 > 1.5 * char:
                parts.append([p])
            else:
                parts[-1].append(p)
        texts, shadows, refs = [], [], []
        for part in parts:
            text, scores = _join(part, 0.5 * char)
            if not text:
                continue
            texts.append(text)
            ocr = any(p.scores is not None for p in part)
            keep = set() if is_value_text(text) else \
                {i for m in _LABEL_NUMBER.finditer(text) for i in range(m.start(), m.end())}
            flagged = _flag_digits(text, scores, ocr)
            shadows.append("".join(text[i] if i in keep else flagged[i] for i in range(len(text))))
            refs.append("".join("0" if ch.isdigit() and i not in keep else ch for i, ch in enumerate(text)))
        if texts and not (len(texts) == 1 and _PAGE_NUMBER.match(texts[0].replace(" ", ""))):
            out.append((min(p.y0 for p in row), -1, [" | ".join(texts)], [" | ".join(shadows)], [" | ".join(refs)]))
    return out


# ---------------------------------------------------------------------------------------
# images


def decode_images(data: bytes, what: str = "image") -> list:
    """Image bytes -> BGR arrays (every frame of a multi-page TIFF), scaled to at most
    :data:`MAX_SIDE` pixels a side."""
    try:
        import numpy as np
        from PIL import Image, ImageSequence
    except ImportError:
        raise NeedsOCR(NEEDS_OCR) from None
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        im = Image.open(io.BytesIO(data))
        frames = []
        for n, frame in enumerate(ImageSequence.Iterator(im)):
            if n >= MAX_PAGES:
                break
            frames.append(_bgr(frame.convert("RGB"), np))
    except Image.DecompressionBombError:
        raise ReadError(f"{what} is too large (more than {MAX_PIXELS:,} pixels)") from None
    except Exception as err:
        raise ReadError(f"{what} could not be decoded ({type(err).__name__})") from None
    return frames


def _bgr(rgb_image, np):
    arr = np.asarray(rgb_image)[:, :, ::-1]
    return _scaled(np.ascontiguousarray(arr))


def _scaled(img):
    import cv2

    h, w = img.shape[:2]
    if max(h, w) > MAX_SIDE:
        f = MAX_SIDE / max(h, w)
        img = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return img


def _binary(gray):
    import cv2

    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15)


def skew_angle(boxes) -> float:
    """Skew of a page in degrees, from the text boxes the detector drew (rotated
    rectangles): the median angle of the top edges of boxes at least twice as wide as
    high; 0 when there are none."""
    import numpy as np

    angles, weights = [], []
    for b in boxes:
        (x0, y0), (x1, y1) = b[0], b[1]
        width = float(np.hypot(x1 - x0, y1 - y0))
        height = float(np.hypot(b[3][0] - x0, b[3][1] - y0))
        if width >= 2 * height and x1 > x0:
            a = float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))
            if abs(a) <= 10:
                angles.append(a)
                weights.append(width)
    if len(angles) < 3:
        return 0.0
    order = np.argsort(angles)
    cum = np.cumsum(np.asarray(weights)[order])
    return float(np.asarray(angles)[order][np.searchsorted(cum, cum[-1] / 2)])  # weighted median


def _rotation(shape, angle: float):
    import cv2

    h, w = shape[:2]
    return cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)


def _turn(piece: Piece, m) -> Piece:
    """The piece's box in the deskewed page (axis-aligned box of its turned corners)."""
    pts = [(piece.x0, piece.y0), (piece.x1, piece.y0), (piece.x1, piece.y1), (piece.x0, piece.y1)]
    if piece.quad is not None:
        pts = piece.quad
    xs = [m[0][0] * x + m[0][1] * y + m[0][2] for x, y in pts]
    ys = [m[1][0] * x + m[1][1] * y + m[1][2] for x, y in pts]
    words = [_turn(w, m) for w in piece.words]
    return Piece(min(xs), min(ys), max(xs), max(ys), piece.text, piece.scores, words)


def rulings(gray, char: float):
    """Horizontal ``(y, x0, x1)`` and vertical ``(x, y0, y1)`` rule segments: strokes
    much longer than a character (morphological opening), small breaks closed."""
    import cv2

    binary = _binary(gray)
    h_len = max(15, int(2.5 * char))
    v_len = max(10, int(1.3 * char))
    horiz = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (h_len, 1)))
    horiz = cv2.morphologyEx(horiz, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, int(char // 2)), 3)))
    vert = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, v_len)))
    vert = cv2.morphologyEx(vert, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (3, max(3, int(char // 2)))))
    hs, vs = [], []
    n, _, stats, _ = cv2.connectedComponentsWithStats(horiz, connectivity=8)
    for x, y, w, h, _area in stats[1:n]:
        if w >= h_len and h <= max(8, char * 0.6):
            hs.append((y + h / 2, float(x), float(x + w)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(vert, connectivity=8)
    for x, y, w, h, _area in stats[1:n]:
        if h >= v_len and w <= max(8, char * 0.6):
            vs.append((x + w / 2, float(y), float(y + h)))
    return hs, vs


def _pieces(result) -> list[Piece]:
    """rapidocr's boxes -> pieces; each character scored by its word (else by its box),
    and the words kept to split a box that crosses a rule."""
    out = []
    words_of = result.word_results or [()] * len(result.txts or ())
    for box, text, score, words in zip(result.boxes, result.txts, result.scores, words_of):
        xs, ys = box[:, 0], box[:, 1]
        wps = []
        for wtext, wscore, wbox in words or ():
            wx = [p[0] for p in wbox]
            wy = [p[1] for p in wbox]
            wps.append(Piece(min(wx), min(wy), max(wx), max(wy), wtext, [float(wscore)] * len(wtext),
                             quad=[tuple(map(float, p)) for p in wbox]))
        wchars = [(c, w.scores[0]) for w in wps for c in w.text if not c.isspace()]
        if wchars and [c for c, _ in wchars] == [c for c in text if not c.isspace()]:
            it = iter(wchars)
            scores = [1.0 if ch.isspace() else next(it)[1] for ch in text]
        else:
            scores = [float(score)] * len(text)
            wps = []
        out.append(Piece(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()), text, scores, wps,
                         quad=[tuple(map(float, p)) for p in box]))
    return out


def read_image(img, first_ref: int = 1) -> Layout:
    """One page image (BGR array) -> its layout.  The text is read as it lies; the page's
    skew (from the detected boxes) is then taken out of the boxes' positions and of the
    image in which the ruling lines are looked for."""
    h, w = img.shape[:2]
    if min(h, w) < MIN_SIDE:
        return Layout([], [])
    cache = ocr_cache.current()
    key = ocr_cache.image_key(img) if cache is not None else None
    record = (cache.get(key) if cache is not None else None) or {"page": None, "crops": {}}
    known = len(record["crops"]) + (record["page"] is not None)
    save = functools.partial(cache.put, key, record) if cache is not None else None
    try:
        return _read_image(img, record, save, first_ref)
    finally:
        if cache is not None and len(record["crops"]) + (record["page"] is not None) > known:
            cache.put(key, record)


def _ocr(img, **flags) -> dict:
    """One engine call -> its result as plain data (what the page cache keeps); every flag
    given on every call: rapidocr keeps the last call's flags."""
    cache = ocr_cache.current()
    if cache is not None:
        cache.engine_calls += 1
    res = engine()(img, use_cls=False, use_rec=True, **flags)
    words = getattr(res, "word_results", None) if flags.get("return_word_box") else None
    boxes = getattr(res, "boxes", None)  # (recognition alone, use_det=False, returns no boxes)
    return {"boxes": [[[float(x), float(y)] for x, y in box] for box in (boxes if boxes is not None else ())],
            "txts": list(res.txts or ()), "scores": [float(s) for s in (res.scores or ())],
            "words": [[[t, float(sc), [[float(x), float(y)] for x, y in wb]] for t, sc, wb in ws or ()]
                      for ws in words] if words and res.txts else None}  # (a blank page: (('', 1.0, None),))


def _result(plain: dict):
    """Plain data (see :func:`_ocr`) -> the engine's result shape read by :func:`_pieces`."""
    import numpy as np
    from types import SimpleNamespace

    return SimpleNamespace(boxes=[np.asarray(b, dtype=np.float64) for b in plain["boxes"]], txts=plain["txts"],
                           scores=plain["scores"], word_results=plain["words"])


def _read_image(img, record: dict, save, first_ref: int) -> Layout:
    import cv2

    h, w = img.shape[:2]
    if record["page"] is None:
        record["page"] = _ocr(img, use_det=True, return_word_box=True)
    result = _result(record["page"])
    pieces = _pieces(result) if result.txts else []
    if not pieces:
        return Layout([], [])
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    angle = skew_angle(result.boxes)
    if abs(angle) >= 0.1:
        m = _rotation(gray.shape, angle)
        gray = cv2.warpAffine(gray, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=255)
        pieces = [_turn(p, m.tolist()) for p in pieces]
    heights = sorted(p.height for p in pieces)
    char = heights[len(heights) // 2]
    hs, vs = rulings(gray, char)
    out = layout(pieces, hs, vs, ocr=True, reread=functools.partial(_reread, gray, char, record["crops"]),
                 later=functools.partial(_reread_later, gray, char, record["crops"], save), first_ref=first_ref)
    out.sure_text = any(ch.isalnum() and sc >= MIN_SCORE for p in pieces for ch, sc in zip(p.text, p.scores or ()))
    return out


def _cell_crop(gray, char: float, x0: float, y0: float, x1: float, y1: float, tight: bool = False):
    """The inside of a table cell, clear of the rules (BGR); None when there is no ink in
    its middle (a blank cell).  ``tight``: only the bounding box of the ink anywhere in the
    cell, with a margin of a quarter of a character (a lone "0" in a wide cell is else
    read as "。"); None when there is no ink."""
    import cv2

    h, w = gray.shape
    pad = max(3, int(0.15 * char))
    a, b = max(0, int(x0) + pad), min(w, int(x1) - pad)
    c, d = max(0, int(y0) + pad), min(h, int(y1) - pad)
    if b - a < 4 or d - c < 4:
        return None
    crop = gray[c:d, a:b]
    ink = _binary(crop)
    mx, my = (0, 0) if tight else ((b - a) // 6, (d - c) // 6)
    if int(ink[my:(d - c) - my, mx:(b - a) - mx].sum()) // 255 < max(6, int(char)):
        return None  # nothing written in the middle: a blank cell
    if tight:
        ys, xs = ink.nonzero()
        m = max(2, int(0.25 * char))
        crop = crop[max(0, ys.min() - m):ys.max() + m + 1, max(0, xs.min() - m):xs.max() + m + 1]
    return cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)


def _recognise(crop, crops: dict):
    """Recognition alone (no detection) of a cell's crop -> ``(text, scores) | None``; the
    page's record (``crops``) keeps the result under the crop's pixels."""
    if crop is None:
        return None
    key = ocr_cache.image_key(crop)
    if key not in crops:
        crops[key] = _ocr(crop, use_det=False, return_word_box=False)
    res = crops[key]
    if not res["txts"] or not res["txts"][0].strip():
        return None
    text = clean_cell(res["txts"][0])
    return text, [float(res["scores"][0])] * len(text)


def _reread(gray, char: float, crops: dict, x0: float, y0: float, x1: float, y1: float):
    """Recognise one table cell on its own (no detection): its inside, clear of the rules.
    A cell without ink in its middle is blank (None: left as it is)."""
    return _recognise(_cell_crop(gray, char, x0, y0, x1, y1), crops)


def _reread_later(gray, char: float, crops: dict, save, x0: float, y0: float, x1: float, y1: float):
    """The same reading of one cell, done only if it is called (see :func:`hold`): the
    cell's crop is kept (PNG, a few hundred bytes), not the page."""
    import cv2

    crop = _cell_crop(gray, char, x0, y0, x1, y1, tight=True)
    png = None if crop is None else cv2.imencode(".png", crop)[1].tobytes()
    return functools.partial(_read_png, png, crops, save)


def _read_png(png, crops: dict, save):
    import cv2
    import numpy as np

    if png is None:
        return None
    n = len(crops)
    got = _recognise(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), crops)
    if len(crops) > n and save is not None:
        save()  # the page's record, with this cell's result, back into the page cache
    return got


def read_pages(images) -> tuple[list[Layout], int]:
    out = []
    for img in images:
        out.append(read_image(img, _next_ref(out)))
    return out, sum(lay.tables for lay in out)


def _next_ref(layouts: list[Layout]) -> int:
    """The first cell number free after these pages (cells are numbered across pages)."""
    return 1 + sum(len(lay.cells) for lay in layouts)


def _held(shadow: list[str], refs: list[str], layouts: list[Layout], explicit: bool, all_ocr: bool):
    """The Document's ``postprocess`` for these OCR'd pages (see :func:`hold`)."""
    cells = {n: c for lay in layouts for n, c in lay.cells.items()}
    return functools.partial(hold, shadow="\n".join(shadow) + "\n", explicit=explicit, all_ocr=all_ocr,
                             refs="\n".join(refs) + "\n", cells=cells)


def _has_text(lay: Layout) -> bool:
    """Letters or digits were read with confidence (a checkered mark read as "1■" with a
    score of 0.7 is not text)."""
    return lay.sure_text and any(ch.isalnum() for line in lay.lines for ch in line)


def document(layouts: list[Layout], fmt: str, notes: list[str], text_source: str = "ocr",
             extra_lines: list[str] | None = None) -> Document:
    lines = [ln for lay in layouts for ln in lay.lines]
    shadow = [ln for lay in layouts for ln in lay.shadow]
    refs = [ln for lay in layouts for ln in lay.refs]
    if extra_lines:
        lines = extra_lines + lines
        shadow = list(extra_lines) + shadow
        refs = list(extra_lines) + refs
    text = "\n".join(lines) + "\n"
    explicit = any(lay.tables for lay in layouts)
    return Document(text=text, explicit_cells=explicit, format=fmt, notes=notes, text_source=text_source,
                    postprocess=_held(shadow, refs, layouts, explicit, all_ocr=not extra_lines))


def read(data: bytes, path: Path | None = None) -> Document:
    """An image file (PNG, JPEG, TIFF, BMP, WebP, GIF) -> Document by OCR."""
    engine()  # fail early and clearly without the extra
    images = decode_images(data)
    layouts, ntables = read_pages(images)
    if not any(_has_text(lay) for lay in layouts):
        raise ReadError("image without readable text (OCR found none)")
    notes = [f"OCR of {len(images)} image page(s), {ntables} ruled table(s)"]
    return document(layouts, "image", notes)


# ---------------------------------------------------------------------------------------
# PDF pages without a text layer (called by the PDF reader)


def pdf_page_images(data: bytes, numbers: list[int], dpi: int = 200):
    """Render the given pages (1-based) of a PDF to BGR arrays.  (Rendering a 150-dpi scan
    at its own resolution instead saves about 0.2 CPU-s a page, but on the benchmark left 2
    more cells unsure: kept at 200.)"""
    try:
        import numpy as np
        import pypdfium2 as pdfium
    except ImportError:
        raise NeedsOCR(NEEDS_OCR) from None
    pdf = pdfium.PdfDocument(data)
    try:
        for n in numbers:
            page = pdf[n - 1]
            w, h = page.get_size()
            scale = min(dpi / 72, MAX_SIDE / max(w, h, 1))
            bitmap = page.render(scale=scale, grayscale=False)
            arr = np.ascontiguousarray(bitmap.to_numpy()[:, :, :3])  # BGR(x)
            page.close()
            yield arr
    finally:
        pdf.close()


def complete_pdf(data: bytes, lines: list[str], ocr_at: list[tuple[int, int]], **doc) -> Document:
    """The PDF reader's result, with the pages that had no text layer OCR'd in place.

    ``lines``: the text-layer lines; ``ocr_at``: (page number, index in ``lines`` where the
    page belongs); ``doc``: the other fields of the Document."""
    numbers = [n for n, _ in ocr_at]
    notes = doc.pop("notes")
    try:
        engine()
    except NeedsOCR:
        if not any(ln.strip() for ln in lines):
            raise ReadError(f"no text layer (scanned PDF): {NEEDS_OCR}") from None
        notes.append(f"pages without a text layer (images?): {numbers}; not read: {NEEDS_OCR}")
        return Document(text="\n".join(lines) + "\n", notes=notes, **doc)
    layouts = []
    for img in pdf_page_images(data, numbers):
        layouts.append(read_image(img, _next_ref(layouts)))
    if not any(_has_text(lay) for lay in layouts):
        if not any(ln.strip() for ln in lines):
            raise ReadError("no text layer (scanned PDF)")
        notes.append(f"pages without a text layer (images?): {numbers}; OCR found no text on them")
        return Document(text="\n".join(lines) + "\n", notes=notes, **doc)
    text_lines, shadow, refs = [], [], []
    k = 0
    for (_n, at), lay in zip(ocr_at, layouts):
        for out, page in ((text_lines, lay.lines), (shadow, lay.shadow), (refs, lay.refs)):
            out += lines[k:at]
            out += page
        k = at
    for out in (text_lines, shadow, refs):
        out += lines[k:]
    ntables = sum(lay.tables for lay in layouts)
    notes.append(f"pages without a text layer (images?): {numbers}; read by OCR ({ntables} ruled table(s))")
    explicit = doc.pop("explicit_cells") or ntables > 0
    all_ocr = not any(ln.strip() for ln in lines)
    return Document(text="\n".join(text_lines) + "\n", explicit_cells=explicit, notes=notes, text_source="ocr",
                    postprocess=_held(shadow, refs, layouts, explicit, all_ocr), **doc)


# ---------------------------------------------------------------------------------------
# trust: hold every OCR'd cell to its score and to the template's identities

_KEYS = {"applications": ("row", "applicant"), "reviews": ("proceeding", "outcome"), "disclosure": ("item", "measure")}


def _is_na(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def hold(tables, shadow: str, explicit: bool, all_ocr: bool = True, refs: str | None = None,
         cells: dict[int, CellRead] | None = None):
    """The table core's result for an OCR'd text, with every OCR'd cell held to its
    score and its identities (see the module docstring).  ``shadow``: the flag text."""
    from .. import checks as rules
    from ..tables import Check, normalize, parse_tables

    flags = parse_tables(normalize(shadow), explicit, normalized=True)
    origin: dict[tuple, str] = {}  # key -> "sure" | "unsure" | "text"
    for section, (a, b) in _KEYS.items():
        shadow_raw = {(r[a], r[b]): (r["raw"], r["value"]) for r in getattr(flags, section)}
        for r in getattr(tables, section):
            key = (section, r[a], r[b])
            if _is_na(r["value"]):
                continue
            got = shadow_raw.get((r[a], r[b]))
            if got is None or _is_na(got[1]):
                origin[key] = "unsure" if all_ocr or not got else "text"
            elif got[0] == r["raw"]:
                origin[key] = "unsure" if all_ocr and re.search(r"\d", r["raw"]) else "text"
            else:
                origin[key] = "unsure" if re.search(r"[14]", got[0]) else "sure"

    def set_na(section, rec):
        rec["value"] = None
        tables.uncertain += 1

    # 1. cells the engine was unsure of
    for section, (a, b) in _KEYS.items():
        recs = getattr(tables, section)
        for i, r in enumerate(recs):
            if origin.get((section, r[a], r[b])) == "unsure":
                recs[i] = r = dict(r)
                set_na(section, r)
                tables.checks.append(Check("ocr_uncertain", section, r[a], r[b], "", r["raw"],
                                           "OCR is not sure of this cell (a character read with a confidence "
                                           f"below {MIN_SCORE:g}, or not placed in the table's grid): NA"))

    # 2. identities, on the OCR'd cells that stand
    rows = {r["row"] for r in tables.applications}
    failing = rules.application_checks(tables.applications) + rules.review_checks(tables.reviews)
    index = {(s, r[a], r[b]): (s, i) for s, (a, b) in _KEYS.items() for i, r in enumerate(getattr(tables, s))}
    terms = {id(c): [t for t in identity_terms(c, rows) if t in origin] for c in failing}
    # the terms made NA when the identity is not as printed: the OCR'd ones; in a document
    # read wholly by OCR also the blank ones (a blank cell may be a digit the OCR missed)
    ocrd = {id(c): [t for t in terms[id(c)] if origin[t] == "sure" or (all_ocr and origin[t] == "text")]
            for c in failing}
    failing = [c for c in failing if any(origin[t] == "sure" for t in terms[id(c)])]
    # (nothing OCR'd in it: the parser records the identity as usual)
    if not failing:
        return tables
    ref_of = _refs(refs, explicit) if refs and cells else {}
    seen: dict[tuple, str | None] = {}

    def doubt(t) -> str | None:
        """Why the term ``t`` may have been misread (None: not OCR'd, or read twice alike)."""
        if t not in seen:
            s, i = index[t]
            raw = getattr(tables, s)[i]["raw"]
            if origin[t] == "sure":
                seen[t] = _second_read(raw, cells.get(ref_of.get(t)) if cells else None)
            else:  # a number of a text layer, or a blank cell (on an OCR'd page, or not)
                seen[t] = None if raw.strip() else "was read blank (a digit may have been missed)"
        return seen[t]

    # the printed values stand only where every term of the identity is an OCR'd number read
    # twice alike (the failure is the document's, not the OCR's); the OCR'd terms of any other
    # failing identity are NA, and so are those of an identity sharing a term with one
    kept = {id(c) for c in failing if all(doubt(t) is None for t in terms[id(c)])}
    while True:
        na = {t for c in failing if id(c) not in kept for t in ocrd[id(c)]}
        lost = {id(c) for c in failing if id(c) in kept and na & set(ocrd[id(c)])}
        if not lost:
            break
        kept -= lost
    for check in failing:
        cells_of = ocrd[id(check)]
        row = check.row if check.rule in ("row_sum", "review_sum") else ""
        col = check.column if check.rule in ("outcome_sum", "balance") else ""
        if id(check) in kept:  # the parser records the identity itself: its terms stand
            tables.checks.append(Check(
                "ocr_identity_as_printed", check.section, row, col, check.expected, check.observed,
                f"the printed cells fail the identity {check.rule} ({check.message}); every OCR'd term read "
                f"twice alike (the page and the cell's own crop, scores >= {CONFIRM_SCORE:g}): kept as printed: "
                + ", ".join(f"{t[1]}/{t[2]}={getattr(tables, index[t][0])[index[t][1]]['raw']}" for t in cells_of)))
            continue
        tables.checks.append(check)
        names, why = [], []
        for t in cells_of:
            s, i = index[t]
            recs = getattr(tables, s)
            if _is_na(recs[i]["value"]):
                continue
            recs[i] = dict(recs[i])
            set_na(s, recs[i])
            names.append(f"{t[1]}/{t[2]}={recs[i]['raw']}")
            if doubt(t) is not None:
                why.append(f"{t[1]}/{t[2]} {doubt(t)}")
        if names:
            tables.checks.append(Check(
                "ocr_uncertain", check.section, row, col, check.expected, check.observed,
                f"OCR'd cells fail the identity {check.rule} ({check.message}); its terms are NA: " + ", ".join(names)
                + (f" (not read twice alike: {'; '.join(why)})" if why else "")))
    return tables


def _refs(refs: str, explicit: bool) -> dict[tuple, int]:
    """The number of the OCR'd table cell each coded cell comes from (the core run on the
    numbered lines, as on the shadow lines)."""
    from ..tables import normalize, parse_tables

    numbered = parse_tables(normalize(refs), explicit, normalized=True)
    out = {}
    for section, (a, b) in _KEYS.items():
        for r in getattr(numbered, section):
            v = r["value"]
            if not _is_na(v) and v >= 1 and float(v).is_integer() and r["raw"].strip() == _fmt_ref(v):
                out[(section, r[a], r[b])] = int(v)
    return out


def _fmt_ref(v: float) -> str:
    return str(int(v))


def _second_read(raw: str, cell: CellRead | None) -> str | None:
    """None when the cell ``raw`` was read twice alike with high scores: by the page-wide
    pass and again on its own crop; else why not."""
    from ..tables import normalize

    if cell is None or normalize(cell.text).strip() != raw.strip():
        return "has no OCR'd table cell of its own to be read again in"
    if not cell.page_read or cell.again is None:
        return "was read twice already, differently (blank or not a number on the page)"
    if cell.score < CONFIRM_SCORE:
        return f"was read with a score of {cell.score:.3f}"
    got = cell.again()
    if got is None:
        return "reads blank on its own crop"
    text, scores = got
    if normalize(text).strip() != raw.strip():
        return f"reads {text!r} on its own crop"
    if min(scores, default=0.0) < CONFIRM_SCORE:
        return f"reads alike on its own crop with a score of {min(scores):.3f}"
    return None


def identity_terms(check, rows: set[str]) -> list[tuple[str, str, str]]:
    """The cells ``(section, row, column)`` of the identity a failing check names
    (``rows``: the application rows present, to tell the 2019 from the 2021 layout)."""
    from ..tables import APPLICANTS, OTHER_2021, OUTCOMES, outcome_rows

    if check.rule == "row_sum":
        return [("applications", check.row, c) for c in APPLICANTS]
    if check.rule == "outcome_sum":
        template = "2021" if rows & set(OTHER_2021) else "2019"
        return [("applications", r, check.column) for r in [*outcome_rows(template), "handled_total"]]
    if check.rule == "balance":
        return [("applications", r, check.column) for r in ("new", "carried_over", "handled_total", "carried_forward")]
    if check.rule == "review_sum":
        return [("reviews", check.row, o) for o in OUTCOMES]
    return []


# ---------------------------------------------------------------------------------------
# images of an HTML page, saved beside it (called by the HTML reader)

MIN_TABLE_IMAGE = (200, 80)  # smaller images (icons, logos, spacers) are not tables: not read


def _beside(page: Path, src: str) -> Path | None:
    """The local copy of an ``<img src>`` saved beside the page: the relative path as
    written, else the file name in ``PAGE_files/``, ``PAGE/`` or the page's folder."""
    from urllib.parse import unquote, urlsplit

    src = (src or "").strip()
    if not src or src.startswith("data:"):
        return None
    parts = urlsplit(src)
    rel = unquote(parts.path or "")
    name = Path(rel).name
    folder = page.parent
    candidates = []
    if not parts.scheme and not parts.netloc and rel:
        candidates.append(folder / rel.lstrip("/"))
    if name:
        candidates += [folder / f"{page.stem}_files" / name, folder / page.stem / name, folder / name]
    root = folder.resolve()
    for c in candidates:
        try:
            r = c.resolve()
        except OSError:
            continue
        if r.is_file() and r != page.resolve() and (r == root or root in r.parents):
            return r
    return None


def with_page_images(doc: Document, lines: list[str], path: Path | None, marker: str) -> Document:
    """The HTML reader's document with each ``<img>`` line (``marker`` + src) replaced by
    the OCR'd lines of the image saved beside the page; an image inside a table cell
    leaves ``[图]`` there (the cell is not blank: the table core leaves it NA)."""
    strip = re.compile(re.escape(marker) + r"\S*")
    out: list[str] = []
    shadow: list[str] = []
    refs: list[str] = []
    layouts: list[Layout] = []
    found, missing, read_n, small = 0, 0, 0, 0
    problem = None
    for line in lines:
        if marker not in line:
            out.append(line)
            shadow.append(line)
            refs.append(line)
            continue
        if not line.startswith(marker):  # inside a table cell or a text line
            line = strip.sub("[图]" if " | " in line or line.endswith(" |") else "", line).strip()
            if line:
                out.append(line)
                shadow.append(line)
                refs.append(line)
            continue
        src = line[len(marker):]
        local = _beside(path, src) if path is not None else None
        if local is None:
            missing += 1
            continue
        found += 1
        if problem:
            continue
        try:
            images = decode_images(local.read_bytes(), f"image {local.name}")
            for img in images:
                h, w = img.shape[:2]
                if w < MIN_TABLE_IMAGE[0] or h < MIN_TABLE_IMAGE[1]:
                    small += 1
                    continue
                lay = read_image(img, _next_ref(layouts))
                layouts.append(lay)
                read_n += 1
                out += lay.lines
                shadow += lay.shadow
                refs += lay.refs
        except NeedsOCR:
            problem = NEEDS_OCR
        except ReadError as err:
            doc.notes.append(f"{local.name}: {err}")
    notes = doc.notes
    if found or missing:
        notes.append(f"images in the page: {found} saved beside it, {missing} not found"
                     + (f"; {read_n} read by OCR" if read_n else "") + (f", {small} too small to be tables" if small else ""))
    if problem:
        notes.append(f"images not read: {problem}")
    text = "\n".join(out) + "\n"
    if not read_n:
        return Document(text=text, explicit_cells=doc.explicit_cells, format=doc.format, title=doc.title,
                        published=doc.published, notes=notes)
    return Document(text=text, explicit_cells=True, format=doc.format, title=doc.title, published=doc.published,
                    notes=notes, text_source="ocr",
                    postprocess=_held(shadow, refs, layouts, True, all_ocr=False))
