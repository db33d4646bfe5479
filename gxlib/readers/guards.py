"""Limits every reader goes through: file size, ZIP packages, XML/HTML nesting and entities.

gxlib reads files straight from thousands of websites, so a file may be broken or built to
hurt (a ZIP bomb, a page nested 200,000 elements deep, "billion laughs" entities, a
password-protected package).  The checks here look at what a file *declares* before
anything is inflated or parsed, and fail with a :class:`~gxlib.readers.ReadError` that says
what the file is, with figures (``"word/document.xml inflates to 2.0 GB (limit 64 MB): not
read"``).  They are cheap: a few reads of headers, never the content.

What the readers use:

* :func:`read_file` -- a file's bytes, refused when the file is larger than
  :data:`MAX_FILE_BYTES`;
* :func:`open_zip` -- a :class:`zipfile.ZipFile` over a package whose central directory
  passed :func:`check_zip` (member count, each member's declared size, the total, the
  compression ratio, compression methods, encryption; a truncated package is named so)
  and whose members inflate to exactly what they declare (:func:`check_inflation`,
  streamed, nothing kept), so a package that passed can be handed to python-docx or any
  other ZIP-based library;
* :func:`read_member` -- one member's bytes, inflated in pieces with a hard cap;
* :func:`check_xml_prolog` / :func:`check_entities` -- DTD entity declarations that
  expand (billion laughs) are refused before a parser sees them;
* :func:`parser_limit_reason` -- the libxml2 resource-limit errors (too deep nesting,
  entity loops, huge text nodes) in words;
* :func:`encrypted_office` -- a password-protected Word/Excel file (an OLE2 container
  holding an ``EncryptedPackage`` stream).

The reasons name a limit only where one applies; the limits are module constants, the
same for every reader.
"""
from __future__ import annotations

import io
import os
import re
import zipfile
import zlib
from pathlib import Path

from . import ReadError

MiB = 1 << 20
GiB = 1 << 30

MAX_FILE_BYTES = 512 * MiB      # a raw file larger than this is not a report
MAX_ZIP_MEMBERS = 10_000        # entries in one package
MAX_XML_MEMBER = 64 * MiB       # an XML part (parsed into a tree: ~10x its size in memory)
MAX_MEMBER = 256 * MiB          # any other part (images, fonts: read as bytes)
MAX_ZIP_TOTAL = 512 * MiB       # all parts together (python-docx reads every part)
MAX_RATIO = 100                 # inflation ratio allowed for a part larger than RATIO_FLOOR
RATIO_FLOOR = 16 * MiB          # small parts may compress as well as they like
MAX_ENTITY_EXPANSION = 1 * MiB  # what DTD entities may expand to, all references together
HTML_MAX_DEPTH = 256            # libxml2's nesting limit (without XML_PARSE_HUGE)

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_XML_SUFFIXES = (".xml", ".rels", ".vml")
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}


def size_text(n: float) -> str:
    """``2.0 GB``, ``64 MB``, ``512 KB``: binary units, written the way people read them."""
    for unit, size in (("GB", GiB), ("MB", MiB), ("KB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 10 and unit == "GB" else f"{value:.0f} {unit}"
    return f"{int(n)} bytes"


# ---------------------------------------------------------------------------------------
# whole files

def read_file(path: str | Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``path``; a file larger than ``limit`` is refused before it is read."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise ReadError(f"file is {size_text(size)} (limit {size_text(limit)}): not read")
        data = fh.read(size)  # (read(n) allocates n bytes first: never more than the file)
        if fh.read(1):
            raise ReadError("file grew while it was being read: not read")
    return data


def encrypted_office(data: bytes) -> bool:
    """A password-protected OOXML file (.docx/.xlsx/.pptx): Office stores it as an OLE2
    compound file with an ``EncryptedPackage`` stream (MS-OFFCRYPTO), whatever its name."""
    if not data.startswith(_OLE):
        return False
    return "EncryptedPackage".encode("utf-16-le") in data[: 1 << 20] or \
        "EncryptionInfo".encode("utf-16-le") in data[: 1 << 20]


def check_encrypted(data: bytes) -> None:
    if encrypted_office(data):
        raise ReadError("password-protected (encrypted) Office document: not read")


# ---------------------------------------------------------------------------------------
# ZIP packages (.docx, .xlsx, .ofd, ...)

def check_zip(zf: zipfile.ZipFile, *, max_members: int = MAX_ZIP_MEMBERS, max_member: int = MAX_MEMBER,
              max_xml_member: int = MAX_XML_MEMBER, max_total: int = MAX_ZIP_TOTAL,
              max_ratio: float = MAX_RATIO, ratio_floor: int = RATIO_FLOOR) -> None:
    """Refuse a package from its central directory alone: too many members, a member
    that declares more than its limit or inflates more than ``max_ratio`` times, more than
    ``max_total`` together, an encrypted member, a compression method other than stored or
    deflate (bzip2 and LZMA inflate a whole block at once, with no cap)."""
    infos = zf.infolist()
    if len(infos) > max_members:
        raise ReadError(f"ZIP package has {len(infos)} members (limit {max_members}): not read")
    total = 0
    for info in infos:
        name = info.filename
        if info.flag_bits & 0x1:
            raise ReadError(f"password-protected (encrypted) ZIP package ({name}): not read")
        if info.compress_type not in _METHODS:
            raise ReadError(f"ZIP member {name} uses compression method {info.compress_type} "
                            "(only stored and deflate are read): not read")
        limit = max_xml_member if name.lower().endswith(_XML_SUFFIXES) else max_member
        size = info.file_size
        if size > limit:
            raise ReadError(f"{name} inflates to {size_text(size)} (limit {size_text(limit)}): not read")
        if size > ratio_floor and size > max_ratio * max(info.compress_size, 1):
            ratio = size / max(info.compress_size, 1)
            raise ReadError(f"{name} inflates {ratio:,.0f} times, to {size_text(size)} (limit {max_ratio:g} times "
                            f"for a member over {size_text(ratio_floor)}): a ZIP bomb, not read")
        total += size
    if total > max_total:
        raise ReadError(f"ZIP package inflates to {size_text(total)} (limit {size_text(max_total)}): not read")


def zip_truncated(data: bytes) -> bool:
    """A package that starts like a ZIP but has no end-of-central-directory record: the
    end of the file is missing (a download cut off)."""
    return data.startswith(b"PK\x03\x04") and data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557)) < 0


def open_zip(data: bytes, what: str = "ZIP package", **limits) -> zipfile.ZipFile:
    """A :class:`zipfile.ZipFile` over ``data`` that passed :func:`check_zip` (``limits``
    are its keyword arguments).  Raises :class:`ReadError` with the reason otherwise:
    truncated, damaged, a bomb, encrypted."""
    if zip_truncated(data):
        raise ReadError(f"truncated {what}: the end of the file (the ZIP directory) is missing, "
                        f"only {size_text(len(data))} arrived")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as err:
        raise ReadError(f"damaged {what}: {err}") from None
    except (EOFError, OSError, ValueError) as err:
        raise ReadError(f"damaged {what}: {type(err).__name__}") from None
    try:
        check_zip(zf, **limits)
        check_inflation(zf, data)
    except ReadError:
        zf.close()
        raise
    return zf


def check_inflation(zf: zipfile.ZipFile, data: bytes, chunk: int = 1 * MiB) -> None:
    """Inflate every deflated member of ``zf`` (whose bytes are ``data``) in pieces,
    keeping nothing, and refuse one that inflates to more than it declares (or less).

    Needed because :meth:`zipfile.ZipFile.read` inflates a whole member in one call and
    only then cuts it to the declared size: a member that declares 1 MB (and carries the
    CRC of its first 1 MB) but inflates to 2 GB would be 2 GB in memory."""
    view = memoryview(data)
    for info in zf.infolist():
        if info.compress_type != zipfile.ZIP_DEFLATED:
            continue
        head = bytes(view[info.header_offset:info.header_offset + 30])
        if len(head) < 30 or head[:4] != b"PK\x03\x04":
            raise ReadError(f"damaged ZIP package: no local header for {info.filename}")
        start = info.header_offset + 30 + int.from_bytes(head[26:28], "little") + int.from_bytes(head[28:30], "little")
        end = start + info.compress_size
        if end > len(data):
            raise ReadError(f"truncated ZIP package: {info.filename} is cut off")
        d = zlib.decompressobj(-15)
        n = 0
        try:
            for pos in range(start, end, 1 << 16):
                piece = view[pos:min(pos + (1 << 16), end)]
                while piece:
                    n += len(d.decompress(piece, chunk))
                    if n > info.file_size:
                        raise ReadError(f"{info.filename} inflates to more than the {size_text(info.file_size)} it "
                                        "declares: a ZIP bomb, not read")
                    piece = d.unconsumed_tail
                if d.eof:
                    break
            n += len(d.flush())
        except zlib.error as err:
            raise ReadError(f"damaged ZIP package: {info.filename} does not inflate ({err})") from None
        if n > info.file_size:
            raise ReadError(f"{info.filename} inflates to more than the {size_text(info.file_size)} it declares: "
                            "a ZIP bomb, not read")
        if n < info.file_size or not d.eof:
            raise ReadError(f"damaged ZIP package: {info.filename} is shorter than it declares")


def read_member(zf: zipfile.ZipFile, name: str, limit: int | None = None, chunk: int = 1 * MiB) -> bytes:
    """One member's bytes, inflated ``chunk`` bytes at a time and refused as soon as more
    than ``limit`` came out (default: the member limit of :func:`check_zip`), whatever the
    package declares.  A damaged or truncated member raises :class:`ReadError`."""
    if limit is None:
        limit = MAX_XML_MEMBER if name.lower().endswith(_XML_SUFFIXES) else MAX_MEMBER
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ReadError(f"ZIP package has no member {name}") from None
    if info.file_size > limit:
        raise ReadError(f"{name} inflates to {size_text(info.file_size)} (limit {size_text(limit)}): not read")
    out = io.BytesIO()
    try:
        with zf.open(info) as fh:
            while piece := fh.read(chunk):
                if out.tell() + len(piece) > limit:
                    raise ReadError(f"{name} inflates to more than {size_text(limit)} (limit): not read")
                out.write(piece)
    except zipfile.BadZipFile as err:  # CRC mismatch, bad local header
        raise ReadError(f"ZIP member {name} is damaged: {err}") from None
    except (EOFError, zlib.error) as err:
        raise ReadError(f"ZIP member {name} is truncated or damaged ({type(err).__name__})") from None
    return out.getvalue()


# ---------------------------------------------------------------------------------------
# XML / HTML

_DOCTYPE_SUBSET = re.compile(r"<!DOCTYPE[^\[>]*\[(.*?)\]\s*>", re.S | re.I)
_ENTITY_DECL = re.compile(r"""<!ENTITY\s+(%\s+)?([^\s"']+)\s+(?:"([^"]*)"|'([^']*)'|(SYSTEM|PUBLIC)\b[^>]*)\s*>""",
                          re.S | re.I)
_ENTITY_REF = re.compile(r"[&%]([A-Za-z_:][\w.:-]*);")


def check_entities(text: str, limit: int = MAX_ENTITY_EXPANSION) -> None:
    """Refuse a document whose DTD internal subset declares entities that expand beyond
    ``limit`` characters (billion laughs), refer to themselves, or load external files.
    ``text`` is the start of the document (the prolog is enough)."""
    m = _DOCTYPE_SUBSET.search(text)
    if m is None:
        return
    decls: dict[str, str | None] = {}
    for em in _ENTITY_DECL.finditer(m.group(1)):
        name = em.group(2)
        value = em.group(3) if em.group(3) is not None else em.group(4)
        decls.setdefault(name, value)  # the first declaration wins (XML 1.0, 4.2)
    if not decls:
        return
    external = [n for n, v in decls.items() if v is None]
    if external:
        raise ReadError(f"declares external XML entities ({', '.join(sorted(external)[:3])}) that would load "
                        "other files: not read")
    sizes: dict[str, int] = {}

    def size(name: str, stack: tuple[str, ...]) -> int:
        if name in sizes:
            return sizes[name]
        if name in stack:
            raise ReadError(f"XML entity &{name}; refers to itself (an entity loop): not read")
        value = decls[name] or ""
        n = len(_ENTITY_REF.sub("", value))
        for ref in _ENTITY_REF.findall(value):
            n += size(ref, stack + (name,)) if ref in decls else len(ref) + 2
            if n > 1 << 62:
                break
        sizes[name] = n
        return n

    body = text[m.end():]
    total = 0
    worst = ("", 0)
    for name in decls:
        n = size(name, ())
        if n > worst[1]:
            worst = (name, n)
    for ref in _ENTITY_REF.findall(body):
        if ref in decls:
            total += sizes[ref]
    if worst[1] > limit or total > limit:
        name, n = worst
        raise ReadError(f"XML entity expansion (\"billion laughs\"): &{name}; expands to {size_text(n)} "
                        f"(limit {size_text(limit)} for all entities): not read")


def check_xml_prolog(data: bytes, name: str, limit: int = MAX_ENTITY_EXPANSION) -> None:
    """:func:`check_entities` on an XML part (the DTD comes before the root element, so the
    first 64 KB hold it, or the whole subset is a sign in itself)."""
    head = data[: 1 << 16]
    if b"<!DOCTYPE" not in head and b"<!doctype" not in head:
        return
    if b"<!ENTITY" not in data[: 1 << 24]:
        return
    text = data[: 1 << 24].decode("utf-8", "replace")
    try:
        check_entities(text, limit)
    except ReadError as err:
        raise ReadError(f"{name}: {err}") from None


# libxml2's resource-limit errors (lxml's error log / XMLSyntaxError text) -> words
_LIMITS = (
    ("Excessive depth in document", "nested more than {depth} elements deep (the parser's limit): not read"),
    ("Detected an entity reference loop", "XML entity expansion (an entity reference loop): not read"),
    ("Maximum entity amplification factor exceeded", "XML entity expansion (\"billion laughs\"): not read"),
    ("entity amplification", "XML entity expansion (\"billion laughs\"): not read"),
    ("huge text node", "holds a text node larger than the parser's limit (10 MB): not read"),
    ("Huge input lookup", "holds markup larger than the parser's limit: not read"),
)
_DEPTH = re.compile(r"Excessive depth in document: (\d+)")


def parser_limit_reason(messages) -> str | None:
    """The reason for a libxml2 resource-limit error among ``messages`` (strings, or an
    lxml error log), or None when there is none."""
    for msg in messages:
        text = getattr(msg, "message", msg)
        if not isinstance(text, str):
            continue
        for needle, reason in _LIMITS:
            if needle in text:
                m = _DEPTH.search(text)
                return reason.format(depth=m.group(1) if m else HTML_MAX_DEPTH)
    return None
