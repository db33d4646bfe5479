"""bytes -> str for text-like formats: UTF-8 (with or without BOM), UTF-16 with BOM,
GB18030/GBK.  Detection is strict: a decoding that needs replacement characters is never
taken silently; when nothing decodes cleanly a :class:`ReadError` says so."""
from __future__ import annotations

import re

from . import ReadError

_CJK = re.compile(r"[\u4e00-\u9fff]")
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))  # not found in text


def looks_binary(data: bytes) -> bool:
    sample = data[:4096]
    if not sample:
        return False
    if b"\x00" in sample and not sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    ctrl = len(sample) - len(sample.translate(None, _CONTROL))
    return ctrl / len(sample) > 0.05


def decode(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Return ``(text, encoding)``.

    Order: BOMs; a declared charset (HTML meta) when it decodes cleanly; strict UTF-8;
    strict GB18030 (a superset of GBK and GB2312).  A file whose tail is cut inside a
    multi-byte character is decoded without that last partial character.  Anything else
    raises :class:`ReadError`.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return _strict(data[3:], "utf-8", tail_ok=True), "utf-8-sig"
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        try:
            return data.decode("utf-32"), "utf-32"
        except UnicodeDecodeError as err:
            raise ReadError(f"declares UTF-32 but does not decode: {err.reason}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as err:
            raise ReadError(f"declares UTF-16 but does not decode: {err.reason}") from None
    if looks_binary(data):
        if _utf16_without_bom(data):
            raise ReadError("UTF-16 text without a byte-order mark (BOM): not supported; save it as UTF-8")
        raise ReadError("binary file, not a text report")
    candidates = []
    if declared:
        enc = declared.strip().lower()
        if enc in ("gb2312", "gbk", "gb_2312-80", "x-gbk", "cp936"):
            enc = "gb18030"
        candidates.append(enc)
    for enc in ("utf-8", "gb18030"):
        if enc not in candidates:
            candidates.append(enc)
    for enc in candidates:
        try:
            return _strict(data, enc, tail_ok=True), enc
        except (UnicodeDecodeError, LookupError):
            continue
    # last resort: charset-normalizer, accepted only if it yields Chinese text cleanly
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
    except Exception:  # pragma: no cover - library failure is not the user's problem
        best = None
    if best is not None:
        text = str(best)
        if "\ufffd" not in text and _CJK.search(text):
            return text, best.encoding
    if declared and not _known(declared):
        raise ReadError(f"declares the encoding {declared!r}, which is not supported, and is neither UTF-8 "
                        "nor GB18030/GBK")
    raise ReadError("text encoding not recognised (neither UTF-8 nor GB18030/GBK)")


def _known(encoding: str) -> bool:
    import codecs

    try:
        codecs.lookup(encoding.strip())
    except LookupError:
        return False
    return True


def _utf16_without_bom(data: bytes) -> bool:
    """Text in UTF-16 with no BOM: a strict decoding of the start as UTF-16 (either byte
    order) gives text without control characters (random bytes meet a lone surrogate or
    a control character within a few hundred pairs)."""
    sample = data[:4096]
    sample = sample[: len(sample) // 2 * 2]
    if len(sample) < 16:
        return False
    for enc in ("utf-16-le", "utf-16-be"):
        try:
            text = sample.decode(enc)
        except UnicodeDecodeError as err:
            if err.start < len(sample) - 4:
                continue
            text = sample[: err.start].decode(enc)
        if not _CTRL_TEXT.search(text[:-1]):
            return True
    return False


_CTRL_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffe\uffff]")


def _strict(data: bytes, enc: str, tail_ok: bool) -> str:
    try:
        return data.decode(enc)
    except UnicodeDecodeError as err:
        # a file cut off inside the last multi-byte character: drop that fragment only
        if tail_ok and err.start >= len(data) - 3 and err.reason in ("unexpected end of data", "incomplete multibyte sequence"):
            return data[: err.start].decode(enc)
        raise
