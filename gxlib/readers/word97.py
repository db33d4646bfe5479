"""Legacy Word: ``.doc`` / ``.wps`` (Word 97 binary, Works, RTF, Word 2003 XML) via LibreOffice.

A file's kind is told from its bytes, never from its suffix (Kingsoft WPS writes Word 97
binary under ``.wps``, Works wrote its own format under the same name, and many sites serve
RTF or Word-exported HTML as ``.doc``):

* an OLE2 compound file with a ``WordDocument`` stream is Word 97-2003 binary (``word97``);
  with a Works ``CONTENTS`` stream it is Microsoft Works (``works``); ``Workbook`` / ``Book``
  is an Excel sheet and anything else is some other OLE document;
* ``{\\rtf`` is RTF, ``<w:wordDocument`` is Word 2003 XML.

Word 97, Works, RTF and Word 2003 XML are converted to DOCX by LibreOffice headless
(``soffice --headless --convert-to docx``) in a temporary user profile, so that parallel
conversions never share one, with a time limit; the DOCX is then read by the DOCX reader.
``Document.text_source`` is ``libreoffice``.  Without LibreOffice the file fails with
"needs LibreOffice (apt install libreoffice-writer-nogui)"; ``make system-deps`` installs it.
"""
from __future__ import annotations

import io
import os
import shutil
import signal
import struct
import subprocess
import tempfile
from pathlib import Path

from . import OLE_MAGIC, Document, ReadError

TIMEOUT = float(os.environ.get("GXLIB_SOFFICE_TIMEOUT", "120"))  # seconds per file
NEEDS_LIBREOFFICE = "needs LibreOffice (apt install libreoffice-writer-nogui, or `make system-deps`)"
_SOFFICE_PATHS = ("/usr/lib/libreoffice/program/soffice", "/opt/libreoffice/program/soffice",
                  "/Applications/LibreOffice.app/Contents/MacOS/soffice")
_KIND_NAMES = {"word97": "legacy Word .doc (Word 97-2003 binary)", "works": "Microsoft Works document",
               "rtf": "RTF document", "wordxml": "Word 2003 XML document"}


def kind(data: bytes) -> str:
    """``word97``, ``works``, ``rtf``, ``wordxml``, ``excel``, ``encrypted`` or ``ole`` (another
    OLE document); raises :class:`ReadError` for a damaged OLE container."""
    if data.lstrip()[:5] == b"{\\rtf":
        return "rtf"
    if not data.startswith(OLE_MAGIC[:4]):
        return "wordxml" if b"<w:worddocument" in data[:4096].lower() else "unknown"
    try:
        import olefile
    except ImportError:  # pragma: no cover - a core dependency
        raise ReadError("legacy Word .doc (OLE) support is not installed (olefile)") from None
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception as err:
        raise ReadError(f"legacy Word .doc (OLE) file that cannot be opened: damaged ({type(err).__name__})") from None
    with ole:
        streams = {"/".join(s) for s in ole.listdir(streams=True, storages=False)}
        top = {s.split("/")[0] for s in streams}
        if "EncryptionInfo" in top or "EncryptedPackage" in top:
            return "encrypted"
        if "WordDocument" in top:
            head = ole.openstream("WordDocument").read(12)
            if len(head) >= 12 and struct.unpack_from("<H", head, 10)[0] & 0x0100:  # FIB fEncrypted
                return "encrypted"
            return "word97"
        if "CONTENTS" in top:
            if ole.openstream("CONTENTS").read(16).find(b"CHNKWKS") >= 0:
                return "works"
        if "Workbook" in top or "Book" in top:
            return "excel"
    return "ole"


def soffice() -> str | None:
    """The LibreOffice program, or None."""
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in _SOFFICE_PATHS if os.access(p, os.X_OK)), None)


def to_docx(data: bytes, suffix: str = ".doc", timeout: float | None = None) -> bytes:
    """Convert a document LibreOffice can open to DOCX bytes (headless, private profile)."""
    program = soffice()
    if program is None:
        raise ReadError(NEEDS_LIBREOFFICE)
    timeout = TIMEOUT if timeout is None else timeout
    with tempfile.TemporaryDirectory(prefix="gxlib-soffice-") as tmp:
        tmp = Path(tmp)
        src = tmp / f"input{suffix}"
        src.write_bytes(data)
        out = tmp / "out"
        cmd = [program, f"-env:UserInstallation={(tmp / 'profile').as_uri()}", "--headless", "--invisible",
               "--nologo", "--norestore", "--nolockcheck", "--nodefault",
               "--convert-to", "docx:MS Word 2007 XML", "--outdir", str(out), str(src)]
        env = {**os.environ, "HOME": str(tmp)}  # LibreOffice writes caches under $HOME
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, start_new_session=True)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise ReadError(f"LibreOffice did not convert the file within {timeout:g} s") from None
        finally:
            if proc.poll() is None:
                _kill(proc)
        result = out / "input.docx"
        if not result.is_file():
            reason = (err or b"").decode("utf-8", "replace").strip().splitlines()
            raise ReadError("LibreOffice could not convert the file"
                            + (f": {reason[-1][:120]}" if reason else f" (exit status {proc.returncode})"))
        return result.read_bytes()


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # soffice starts soffice.bin in its session
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def read(data: bytes, path: Path | None = None) -> Document:
    k = kind(data)
    if k == "unknown":
        head = data[:4096].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<body" in head or b"<table" in head:
            from . import html  # Word "web page" saved under .doc

            doc = html.read(data, path)
            doc.notes.insert(0, "file named .doc/.wps is HTML (Word-exported web page?)")
            return doc
        raise ReadError("not a Word document (no Word 97, RTF or Word XML signature)")
    if k == "encrypted":
        raise ReadError("encrypted legacy Word .doc (password required)")
    if k == "excel":
        raise ReadError("spreadsheet files are not report documents (Excel sheet under a Word name?)")
    if k == "ole":
        raise ReadError("an OLE document that is not a legacy Word .doc (no WordDocument stream)")
    suffix = {"rtf": ".rtf", "wordxml": ".xml", "works": ".wps"}.get(k, ".doc")
    try:
        converted = to_docx(data, suffix)
    except ReadError as err:
        raise ReadError(f"{_KIND_NAMES[k]} {err}" if str(err) == NEEDS_LIBREOFFICE else f"{_KIND_NAMES[k]}: {err}") \
            from None
    from . import docx

    doc = docx.read(converted, path)
    doc.format = "doc" if k == "word97" else k
    doc.text_source = "libreoffice"
    doc.notes.insert(0, f"{_KIND_NAMES[k]} converted to DOCX by LibreOffice")
    return doc
