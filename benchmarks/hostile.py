"""Hostile files beside the seeds: does one downloaded file take the batch or the machine down?

    .venv/bin/python -m benchmarks.hostile --workdir /tmp/gxhostile [--jobs 2] [--before]

builds a folder ``WORKDIR/raw``: the seed reports of ``data/raw`` and one of each hostile
file of :func:`build` (a .docx whose ``word/document.xml`` inflates to 2 GiB, one that lies
about its size, a truncated one, a password-protected one, one with an entity bomb; HTML
nested 200,000 deep and with "billion laughs"; an encrypted PDF; UTF-16 without a BOM; a
page in an unknown charset).  Then it runs ``gx parse`` over the folder (``--jobs``,
``--max-file-memory``, ``--file-timeout``, a fresh ``--out``) and prints, for every file, its
status and reason, and the peak memory of the whole process tree (the summed RSS of the
process and its workers sampled every 0.1 s, and the kernel's max RSS of the largest
process; see :func:`benchmarks.run.measure`).

``--before SRC`` also runs ``gx parse`` of the gxlib source tree ``SRC`` (e.g. main,
exported with ``git archive``) over the same folder, each of its processes capped at
``--before-cap`` GiB of address space (default 6) so that the bomb cannot take the machine,
and prints the same figures.  Figures are printed, never asserted.

The builders are also used by ``tests/test_hostile.py`` (with small sizes).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import struct
import sys
import time
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20
GiB = 1 << 30

# ---------------------------------------------------------------------------------------
# a small ZIP writer: members given as raw deflate streams (so a bomb is never inflated here)

_DOC_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p>'
             b'<w:r><w:t>')
_DOC_TAIL = b"</w:t></w:r></w:p></w:body></w:document>"


def deflate_repeated(head: bytes, unit: bytes, count: int, tail: bytes) -> tuple[bytes, int, int]:
    """``(raw deflate stream, CRC-32, size)`` of ``head + unit * count + tail``, built from
    one compressed ``unit`` repeated (each ends in a full flush, so the copies are
    identical): a 2 GiB member in a second or two, and never in memory."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(unit) + c.flush(zlib.Z_FULL_FLUSH)
    last = c.compress(tail) + c.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head)
    for _ in range(count):
        crc = zlib.crc32(unit, crc)
    crc = zlib.crc32(tail, crc)
    return first + block * count + last, crc, len(head) + len(unit) * count + len(tail)


def write_zip(members: list[tuple[str, bytes, int, int]], declared: dict[str, int] | None = None) -> bytes:
    """A ZIP package of ``(name, raw deflate stream, crc, size)`` members; ``declared``
    overrides the size a member declares (a package that lies)."""
    declared = declared or {}
    out = io.BytesIO()
    central = []
    for name, stream, crc, size in members:
        size = declared.get(name, size)
        offset = out.tell()
        fname = name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(stream), size, len(fname), 0))
        out.write(fname)
        out.write(stream)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(stream), size,
                                   len(fname), 0, 0, 0, 0, 0, offset) + fname)
    start = out.tell()
    for entry in central:
        out.write(entry)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - start, start, 0))
    return out.getvalue()


def _deflated(data: bytes) -> tuple[bytes, int, int]:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(), zlib.crc32(data), len(data)


def _docx_members(document_xml: tuple[bytes, int, int] | None = None) -> list[tuple[str, bytes, int, int]]:
    """The parts of a minimal Word document (python-docx opens it), ``document_xml``
    given as a deflate stream."""
    types = (b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
             b'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
             b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/'
             b'document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.'
             b'main+xml"/></Types>')
    rels = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            b'relationships/officeDocument" Target="word/document.xml"/></Relationships>')
    if document_xml is None:
        document_xml = _deflated(_DOC_HEAD + "政府信息公开工作年度报告".encode() + _DOC_TAIL)
    return [("[Content_Types].xml", *_deflated(types)), ("_rels/.rels", *_deflated(rels)),
            ("word/document.xml", *document_xml)]


def docx_bomb(inflated: int = 2 * GiB) -> bytes:
    """A .docx whose ``word/document.xml`` honestly declares and inflates to ``inflated``
    bytes (spaces inside one text run): ~1 KB per MiB."""
    return write_zip(_docx_members(deflate_repeated(_DOC_HEAD, b" " * MiB, inflated // MiB, _DOC_TAIL)))


def docx_lying_bomb(inflated: int = 2 * GiB, declared: int = 4096) -> bytes:
    """A .docx whose ``word/document.xml`` declares ``declared`` bytes but inflates to
    ``inflated``."""
    return write_zip(_docx_members(deflate_repeated(_DOC_HEAD, b" " * MiB, inflated // MiB, _DOC_TAIL)),
                     declared={"word/document.xml": declared})


def docx_truncated() -> bytes:
    """A real .docx cut off half way (a download that stopped)."""
    data = write_zip(_docx_members(_deflated(_DOC_HEAD + "政府信息公开".encode() * 3000 + _DOC_TAIL)))
    return data[: len(data) // 2]


def docx_entity_bomb(levels: int = 10) -> bytes:
    """A .docx whose ``word/document.xml`` declares "billion laughs" entities."""
    dtd = b'<!DOCTYPE w:document [<!ENTITY lol0 "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, levels)) + b"]>"
    xml = _DOC_HEAD.replace(b"?>\n", b"?>\n" + dtd + b"\n", 1) + b"&lol%d;" % (levels - 1) + _DOC_TAIL
    return write_zip(_docx_members(_deflated(xml)))


def html_deep(depth: int = 200_000) -> bytes:
    """An HTML page nested ``depth`` elements deep, the report text at the bottom."""
    return (b"<html><body>" + b"<div>" * depth + "某县2023年政府信息公开工作年度报告".encode()
            + b"</div>" * depth + b"</body></html>")


def html_laughs(levels: int = 10) -> bytes:
    """An HTML page (XHTML with a DTD) declaring "billion laughs" entities."""
    dtd = '<!DOCTYPE html [<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)) + "]>"
    return (f'<?xml version="1.0" encoding="utf-8"?>{dtd}<html><head><title>某县2023年政府信息公开工作年度报告</title>'
            f"</head><body><p>&lol{levels - 1};</p></body></html>").encode()


def html_unknown_charset() -> bytes:
    """A page that declares a charset Python does not know, and is neither UTF-8 nor GB18030."""
    return (b'<html><head><meta charset="x-mac-klingon"></head><body><p>'
            + bytes(range(0x80, 0x100)) * 4 + b"</p></body></html>")


def text_utf16_no_bom() -> bytes:
    return ("某县2023年政府信息公开工作年度报告\n一、总体情况\n" * 40).encode("utf-16-le")


def pdf_encrypted() -> bytes:
    """A one-page PDF with a user password (pypdf, RC4-128: no extra library)."""
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(width=595, height=842)
    w.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def office_encrypted() -> bytes:
    """A password-protected Word file as Office writes it (MS-OFFCRYPTO): an OLE2
    compound file (CFB v3) with the streams ``EncryptionInfo`` and ``EncryptedPackage``
    (their contents here are random: no reader gets that far)."""
    sector = 512
    end, free, fatsect, nostream = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
    streams = [("EncryptionInfo", os.urandom(4096)), ("EncryptedPackage", os.urandom(8192))]
    fat = [fatsect, end]  # sector 0: the FAT, sector 1: the directory
    starts = []
    for _, data in streams:
        n = len(data) // sector
        first = len(fat)
        starts.append(first)
        fat.extend(list(range(first + 1, first + n)) + [end])
    fat.extend([free] * (sector // 4 - len(fat)))
    header = struct.pack("<8s16sHHHHHH6sIIIIIIIII", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\0" * 16, 0x3E, 3,
                         0xFFFE, 9, 6, 0, b"\0" * 6, 0, 1, 1, 0, 4096, end, 0, end, 0)
    header += struct.pack("<109I", 0, *([free] * 108))

    def entry(name: str, kind: int, left: int, right: int, child: int, start: int, size: int) -> bytes:
        raw = (name + "\0").encode("utf-16-le") if name else b""
        return struct.pack("<64sHBBIII16sIQQIII", raw, len(raw), kind, 1, left, right, child, b"\0" * 16, 0, 0, 0,
                           start, size, 0)

    directory = (entry("Root Entry", 5, nostream, nostream, 2, end, 0)
                 + entry("EncryptionInfo", 2, nostream, nostream, nostream, starts[0], len(streams[0][1]))
                 + entry("EncryptedPackage", 2, 1, nostream, nostream, starts[1], len(streams[1][1]))
                 + entry("", 0, nostream, nostream, nostream, 0, 0))
    return header + struct.pack(f"<{sector // 4}I", *fat) + directory + b"".join(d for _, d in streams)


# file name -> (builder, what its reason must say)
HOSTILE = {
    "bomb_2gib.docx": (lambda: docx_bomb(2 * GiB), "word/document.xml inflates to 2.0 GB (limit 64 MB): not read"),
    "bomb_lying.docx": (lambda: docx_lying_bomb(1 * GiB, declared=1 * MiB),
                        "word/document.xml inflates to more than the 1 MB it declares: a ZIP bomb, not read"),
    "truncated.docx": (docx_truncated, "truncated Word package"),
    "encrypted.docx": (office_encrypted, "password-protected (encrypted) Office document"),
    "laughs.docx": (docx_entity_bomb, "XML entity expansion"),
    "deep.html": (html_deep, "nested more than 256 elements deep"),
    "laughs.html": (html_laughs, "XML entity expansion"),
    "klingon.html": (html_unknown_charset, "declares the encoding 'x-mac-klingon', which is not supported"),
    "utf16_no_bom.txt": (text_utf16_no_bom, "UTF-16 text without a byte-order mark"),
    "encrypted.pdf": (pdf_encrypted, "encrypted PDF"),
}


def build(folder: Path, names=None, seeds: Path = ROOT / "data" / "raw") -> dict[str, str]:
    """Write the seeds and the hostile files into ``folder``; return {file name: what its
    reason must contain} for the hostile ones."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed in sorted(seeds.glob("*.txt")):
        shutil.copyfile(seed, folder / seed.name)
    expect = {}
    for name in names or HOSTILE:
        builder, reason = HOSTILE[name]
        path = folder / name
        if not path.exists():
            path.write_bytes(builder())
        expect[name] = reason
    return expect


def _reports(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8-sig") as fh:
        return {r["source_file"]: r for r in csv.DictReader(fh)}


def _mb(n) -> str:
    return "n/a" if n is None else f"{n / MiB:,.0f} MB"


def _print_run(label: str, m: dict, reports: dict[str, dict], expect: dict[str, str]) -> None:
    print(f"\n{label}: {m['cmd']}")
    print(f"  exit {m['rc']}, {m['wall']:.1f} s; peak RSS of the process tree {_mb(m['peak_tree_rss'])}, "
          f"largest single process {_mb(m['max_single_rss'])}")
    if not reports:
        print("  no reports.csv written")
        tail = (m.get("stderr") or "").strip().splitlines()[-3:]
        for line in tail:
            print(f"  | {line}")
        return
    for name in sorted(reports):
        r = reports[name]
        want = expect.get(name)
        mark = "" if want is None else ("  [true reason]" if want in (r["error"] or "") else "  [UNEXPECTED]")
        print(f"  {name:22s} {r['status']:8s} {r['error'][:110]}{mark}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default="/tmp/gxhostile", type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--max-file-memory", type=float, default=2.0, help="GiB per file (pool)")
    ap.add_argument("--file-timeout", type=float, default=120.0, help="seconds per file (pool)")
    ap.add_argument("--before", type=Path, default=None,
                    help="also run `gx parse` of this gxlib source tree (a checkout of main) over the folder")
    ap.add_argument("--before-cap", type=float, default=6.0, help="GiB of address space per process of --before")
    args = ap.parse_args(argv)
    from .run import measure

    work = args.workdir
    raw = work / "raw"
    t0 = time.perf_counter()
    expect = build(raw)
    size = sum(p.stat().st_size for p in raw.iterdir())
    print(f"batch {raw}: {len(list(raw.iterdir()))} files, {size / MiB:.1f} MB on disk "
          f"({len(expect)} hostile beside the seeds), built in {time.perf_counter() - t0:.1f} s")
    results = {}
    if args.before is not None:
        out = work / "before"
        shutil.rmtree(out, ignore_errors=True)
        cap = int(args.before_cap * GiB)
        launcher = ("import os, resource, sys; resource.setrlimit(resource.RLIMIT_AS, (%d, %d)); "
                    "os.environ['PYTHONPATH'] = sys.argv[1]; os.chdir(sys.argv[1]); os.execv(sys.executable, [sys.executable, '-m', "
                    "'gxlib.cli', 'parse', sys.argv[2], '--out', sys.argv[3], '--jobs', sys.argv[4], "
                    "'--no-progress', '--no-cache'])") % (cap, cap)
        # (in the source tree: ``-m`` puts the working folder first on sys.path)
        m = measure([sys.executable, "-c", launcher, str(args.before.resolve()), str(raw.resolve()),
                     str(out.resolve()), str(args.jobs)],
                    work / "logs" / "before")
        reports = _reports(out / "reports.csv")
        _print_run(f"before: gx parse of {args.before} (each process capped at {args.before_cap:g} GiB)", m,
                   reports, expect)
        results["before"] = {k: m[k] for k in ("cmd", "rc", "wall", "peak_tree_rss", "max_single_rss")}
    out = work / "after"
    shutil.rmtree(out, ignore_errors=True)
    m = measure([sys.executable, "-m", "gxlib.cli", "parse", str(raw), "--out", str(out), "--jobs", str(args.jobs),
                 "--max-file-memory", f"{args.max_file_memory:g}G", "--file-timeout", f"{args.file_timeout:g}",
                 "--no-progress", "--no-cache"], work / "logs" / "after")
    _print_run(f"after: gx parse (jobs {args.jobs}, {args.max_file_memory:g} GiB and "
               f"{args.file_timeout:g} s per file)", m, _reports(out / "reports.csv"), expect)
    results["after"] = {k: m[k] for k in ("cmd", "rc", "wall", "peak_tree_rss", "max_single_rss")}
    (work / "hostile_results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
