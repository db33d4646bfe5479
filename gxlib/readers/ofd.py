"""OFD (GB/T 33190-2016, the national fixed-layout format): positioned text -> cells.

An OFD file is a ZIP package of XML parts::

    OFD.xml                     DocBody: DocInfo (Title ...), DocRoot -> Doc_0/Document.xml
    Doc_0/Document.xml          CommonData (PageArea, TemplatePage ...), Pages: Page BaseLoc=...
    Doc_0/Pages/Page_0/Content.xml
                                Content / Layer / TextObject (Boundary="x y w h", Size, CTM)
                                  / TextCode (X, Y = baseline, DeltaX) text
                                PathObject (Boundary, CTM) / AbbreviatedData "M x y L x y ..."

Every TextCode becomes a positioned piece (its characters placed by ``DeltaX``); the
straight horizontal and vertical strokes of the PathObjects are the table's rules.  Pieces
and rules go through the same layout as OCR'd pages (:func:`gxlib.readers.ocr.layout`):
cells closed by rules, one ``cell | cell`` line per table row (explicit cells), other text
as lines in reading order.  Template pages referenced by a page are read with it.

The package is read with bounded sizes (members, declared and actual bytes).
"""
from __future__ import annotations

import io
import posixpath
import re
import zipfile
from pathlib import Path

from . import Document, ReadError

MAX_MEMBERS = 20_000
MAX_MEMBER_BYTES = 64 << 20  # one XML part
MAX_TOTAL_BYTES = 512 << 20  # all parts read
MAX_PAGES = 500
_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(el, name: str):
    return [c for c in el if _local(c.tag) == name]


def _first(el, name: str):
    for c in el.iter():
        if _local(c.tag) == name:
            return c
    return None


def _floats(text: str | None) -> list[float]:
    return [float(x) for x in _NUM.findall(text or "")]


def _deltas(text: str | None) -> list[float]:
    """``DeltaX``/``DeltaY``: numbers, where ``g N v`` stands for N times v."""
    out: list[float] = []
    tokens = (text or "").split()
    i = 0
    while i < len(tokens):
        if tokens[i] == "g" and i + 2 < len(tokens):
            try:
                out += [float(tokens[i + 2])] * min(int(float(tokens[i + 1])), 10_000)
            except ValueError:
                pass
            i += 3
            continue
        try:
            out.append(float(tokens[i]))
        except ValueError:
            pass
        i += 1
    return out


class _Package:
    """The ZIP package, every part read within the limits."""

    def __init__(self, data: bytes):
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, ValueError, OSError) as err:
            raise ReadError(f"not a readable OFD package ({type(err).__name__})") from None
        if len(infos) > MAX_MEMBERS:
            raise ReadError(f"OFD package with {len(infos)} parts; more than {MAX_MEMBERS} is not a report")
        self.names = {i.filename.lstrip("/"): i for i in infos}
        self.lower = {n.lower(): n for n in self.names}
        self.read_bytes = 0

    def xml(self, name: str):
        from lxml import etree

        key = self.names.get(name.lstrip("/")) or self.names.get(self.lower.get(name.lstrip("/").lower(), ""))
        if key is None:
            raise ReadError(f"OFD part {name!r} is missing")
        if key.file_size > MAX_MEMBER_BYTES or self.read_bytes + key.file_size > MAX_TOTAL_BYTES:
            raise ReadError(f"OFD part {name!r} is too large ({key.file_size:,} bytes declared)")
        with self.zip.open(key) as fh:
            raw = fh.read(MAX_MEMBER_BYTES + 1)
        if len(raw) > MAX_MEMBER_BYTES:
            raise ReadError(f"OFD part {name!r} is larger than declared")
        self.read_bytes += len(raw)
        try:
            parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
            return etree.fromstring(raw, parser)
        except etree.XMLSyntaxError as err:
            raise ReadError(f"OFD part {name!r} is not well-formed XML ({str(err)[:60]})") from None


def _resolve(base_dir: str, loc: str) -> str:
    loc = (loc or "").strip().replace("\\", "/")
    if loc.startswith("/"):
        return posixpath.normpath(loc.lstrip("/"))
    return posixpath.normpath(posixpath.join(base_dir, loc))


def _transform(ctm: list[float], x: float, y: float) -> tuple[float, float]:
    if len(ctm) == 6:
        a, b, c, d, e, f = ctm
        return a * x + c * y + e, b * x + d * y + f
    return x, y


def _page_objects(root, pieces: list, horizontal: list, vertical: list) -> None:
    """Text pieces and rules of one page part (objects in PageBlocks included)."""
    from .ocr import Piece

    for obj in root.iter():
        name = _local(obj.tag)
        if name == "TextObject":
            box = _floats(obj.get("Boundary"))
            if len(box) != 4:
                continue
            ox, oy = box[0], box[1]
            size = (_floats(obj.get("Size")) or [3.5])[0]
            ctm = _floats(obj.get("CTM"))
            scale = abs(ctm[3]) if len(ctm) == 6 and ctm[3] else 1.0
            size *= scale
            x = y = 0.0
            for code in _children(obj, "TextCode"):
                text = code.text or ""
                if code.get("X") is not None:
                    x = (_floats(code.get("X")) or [x])[0]
                if code.get("Y") is not None:
                    y = (_floats(code.get("Y")) or [y])[0]
                if not text.strip():
                    continue
                dx = _deltas(code.get("DeltaX"))
                dy = _deltas(code.get("DeltaY"))
                chars = []
                cx, cy = x, y
                for k, ch in enumerate(text):
                    px, py = _transform(ctm, cx, cy)
                    wide = ord(ch) > 0x2E7F
                    w = size if wide else size * 0.5
                    chars.append(Piece(ox + px, oy + py - 0.8 * size, ox + px + w, oy + py + 0.2 * size, ch))
                    cx += dx[k] if k < len(dx) else w / scale
                    cy += dy[k] if k < len(dy) else 0.0
                words = [c for c in chars if c.text.strip()]
                if not words:
                    continue
                pieces.append(Piece(min(c.x0 for c in words), min(c.y0 for c in words),
                                    max(c.x1 for c in words), max(c.y1 for c in words), text.strip(), None,
                                    _runs(words)))
                x, y = cx, cy
        elif name == "PathObject":
            box = _floats(obj.get("Boundary"))
            if len(box) != 4:
                continue
            ctm = _floats(obj.get("CTM"))
            data = _first(obj, "AbbreviatedData")
            if data is None or not data.text:
                # a thin filled rectangle drawn as a rule
                x0, y0, w, h = box
                if h <= 0.6 and w > 1:
                    horizontal.append((y0 + h / 2, x0, x0 + w))
                elif w <= 0.6 and h > 1:
                    vertical.append((x0 + w / 2, y0, y0 + h))
                continue
            _path_rules(data.text, box[0], box[1], ctm, horizontal, vertical)


def _runs(chars: list) -> list:
    """Characters -> word pieces (runs of characters without a gap), so that a text run
    crossing a rule can be split at the rule."""
    from .ocr import Piece

    out = []
    cur = [chars[0]]
    for c in chars[1:]:
        if c.x0 - cur[-1].x1 > 0.3 * (c.y1 - c.y0) or abs(c.y0 - cur[-1].y0) > 0.5 * (c.y1 - c.y0):
            out.append(cur)
            cur = [c]
        else:
            cur.append(c)
    out.append(cur)
    return [Piece(min(c.x0 for c in r), min(c.y0 for c in r), max(c.x1 for c in r), max(c.y1 for c in r),
                  "".join(c.text for c in r)) for r in out]


def _path_rules(abbreviated: str, ox: float, oy: float, ctm: list[float], horizontal: list, vertical: list) -> None:
    """Straight horizontal / vertical strokes of an ``AbbreviatedData`` path."""
    tokens = abbreviated.split()
    i = 0
    start = cur = None
    n_args = {"M": 2, "L": 2, "S": 2, "Q": 4, "B": 6, "A": 7, "C": 0}
    while i < len(tokens):
        op = tokens[i]
        if op not in n_args:
            i += 1
            continue
        args = tokens[i + 1:i + 1 + n_args[op]]
        i += 1 + n_args[op]
        try:
            nums = [float(a) for a in args]
        except ValueError:
            continue
        if op in ("M", "S"):
            cur = start = _transform(ctm, nums[0], nums[1])
            continue
        if op == "C":
            end = start
        elif op == "L":
            end = _transform(ctm, nums[0], nums[1])
        elif len(nums) >= 2:
            cur = _transform(ctm, nums[-2], nums[-1])  # curves are not rules
            continue
        else:
            continue
        if cur is not None and end is not None:
            (x0, y0), (x1, y1) = cur, end
            if abs(y1 - y0) <= 0.3 and abs(x1 - x0) > 1:
                horizontal.append((oy + (y0 + y1) / 2, ox + min(x0, x1), ox + max(x0, x1)))
            elif abs(x1 - x0) <= 0.3 and abs(y1 - y0) > 1:
                vertical.append((ox + (x0 + x1) / 2, oy + min(y0, y1), oy + max(y0, y1)))
        cur = end


def read(data: bytes, path: Path | None = None) -> Document:
    from .ocr import layout

    pkg = _Package(data)
    try:
        root = pkg.xml("OFD.xml")
    except ReadError as err:
        raise ReadError(f"not an OFD document: {err}") from None
    body = _first(root, "DocBody")
    doc_root = _first(body, "DocRoot") if body is not None else None
    if doc_root is None or not (doc_root.text or "").strip():
        raise ReadError("OFD.xml names no document (DocRoot)")
    doc_path = _resolve("", doc_root.text)
    doc_dir = posixpath.dirname(doc_path)
    title_el = _first(body, "Title")
    title = (title_el.text or "").strip() if title_el is not None else ""
    document = pkg.xml(doc_path)
    templates = {}
    for tpl in (e for e in document.iter() if _local(e.tag) == "TemplatePage"):
        if tpl.get("ID") and tpl.get("BaseLoc"):
            templates[tpl.get("ID")] = _resolve(doc_dir, tpl.get("BaseLoc"))
    pages = [e for e in document.iter() if _local(e.tag) == "Page" and e.get("BaseLoc")]
    if not pages:
        raise ReadError("OFD document without pages")
    if len(pages) > MAX_PAGES:
        raise ReadError(f"OFD has {len(pages)} pages; more than {MAX_PAGES} is not a report")
    lines: list[str] = []
    ntables = 0
    for page in pages:
        part = _resolve(doc_dir, page.get("BaseLoc"))
        content = pkg.xml(part)
        pieces: list = []
        horizontal: list = []
        vertical: list = []
        for tpl in (e for e in content.iter() if _local(e.tag) == "Template"):
            loc = templates.get(tpl.get("TemplateID") or "")
            if loc:
                _page_objects(pkg.xml(loc), pieces, horizontal, vertical)
        _page_objects(content, pieces, horizontal, vertical)
        lay = layout(pieces, horizontal, vertical, ocr=False, tol=0.6)  # page units: mm
        lines += lay.lines
        ntables += lay.tables
    if not any(ln.strip() for ln in lines):
        raise ReadError("OFD without text objects (scanned images?)")
    return Document(
        text="\n".join(lines) + "\n",
        explicit_cells=ntables > 0,
        format="ofd",
        title=title if "报告" in title else None,
        notes=[f"OFD, {len(pages)} page(s), {ntables} ruled table(s)"],
        text_source="ofd",
    )
