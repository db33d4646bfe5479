"""Legacy Word (.doc / .wps): told apart by bytes, converted by LibreOffice, read as DOCX.

The .doc is made here by LibreOffice from a DOCX built in the tests (tests/legacy_formats.py,
real non-zero values); the .wps is that Word 97 binary under a .wps name, as Kingsoft WPS
writes it.  Tests that need LibreOffice skip with a message naming `make system-deps`; under
CI=true they fail instead, so CI always runs them.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from gxlib.parse import parse_rows
from gxlib.readers import ReadError, read, sniff
from gxlib.readers import word97

from legacy_formats import docx_bytes


def require_libreoffice():
    if word97.soffice() is None:
        msg = "LibreOffice (soffice) is not installed: run `make system-deps`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def docx_original() -> bytes:
    return docx_bytes()


@pytest.fixture(scope="module")
def word97_bytes(docx_original) -> bytes:
    """The DOCX saved as Word 97 binary by LibreOffice (its own private profile)."""
    require_libreoffice()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "report.docx"
        src.write_bytes(docx_original)
        subprocess.run([word97.soffice(), f"-env:UserInstallation={(Path(tmp) / 'profile').as_uri()}", "--headless",
                        "--norestore", "--convert-to", "doc:MS Word 97", "--outdir", tmp, str(src)],
                       check=True, capture_output=True, timeout=300, env={**os.environ, "HOME": tmp})
        return (Path(tmp) / "report.doc").read_bytes()


def _tables(result: dict) -> dict:
    return {k: result[k] for k in ("disclosure", "applications", "reviews")}


@pytest.mark.parametrize("name", ["report.doc", "report.wps", "report.bin"])
def test_word97_parses_to_the_cells_of_its_docx_original(word97_bytes, docx_original, name):
    assert word97.kind(word97_bytes) == "word97"
    original = parse_rows(docx_original, "report.docx")
    got = parse_rows(word97_bytes, name)
    assert got["report"]["status"] == "ok", got["report"]["error"]
    assert got["report"]["text_source"] == "libreoffice" and got["report"]["format"] == "doc"
    assert original["report"]["status"] == "ok"
    assert _tables(got) == _tables(original)
    assert len(got["applications"]) == 7 * 25
    new_total = next(r for r in got["applications"] if (r["row"], r["applicant"]) == ("new", "total"))
    assert new_total["value"] == 53
    assert (got["report"]["agency"], got["report"]["year"]) == (original["report"]["agency"], 2023)


def test_without_libreoffice_the_file_fails_with_the_reason(word97_bytes, monkeypatch):
    monkeypatch.setattr(word97, "soffice", lambda: None)
    res = parse_rows(word97_bytes, "old.doc")
    assert res["report"]["status"] == "failed"
    assert "needs LibreOffice (apt install libreoffice-writer-nogui" in res["report"]["error"]


def test_conversion_time_limit(word97_bytes):
    with pytest.raises(ReadError, match="did not convert the file within"):
        word97.to_docx(word97_bytes, ".doc", timeout=0.05)


# ---------------------------------------------------------------------------------------
# telling the kinds apart by their bytes (no LibreOffice needed)


def test_docx_under_a_doc_name_is_read_as_docx(docx_original):
    doc = read("report.doc", docx_original)
    assert doc.format == "docx" and doc.text_source == "docx"


def test_rtf_is_recognised_as_a_legacy_word_kind():
    assert word97.kind(b"{\\rtf1\\ansi hello}") == "rtf"
    assert sniff(b"{\\rtf1\\ansi hello}", ".doc") == "word97"


def test_word_html_under_a_doc_name_is_read_as_html():
    data = "<html><body><table><tr><td>（七）总计</td><td>21</td></tr></table></body></html>".encode("utf-8")
    doc = read("report.doc", data)
    assert doc.format == "html" and doc.text.splitlines() == ["（七）总计 | 21"]


def test_damaged_ole_fails_clearly():
    with pytest.raises(ReadError, match="legacy Word .doc"):
        read("x.wps", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)


def test_pdf_under_a_doc_name_is_read_as_pdf():
    assert sniff(b"%PDF-1.4\n...", ".doc") == "pdf"
