"""Hostile files (benchmarks/hostile.py builds them): each fails with what it is, cheaply,
and a batch of them beside the seeds through the worker pool gives every file its true
reason while the seeds stay ok."""
from __future__ import annotations

import io
import os
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from gxlib import workers
from gxlib.readers import ReadError, guards, read

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repo, not an installed package
    sys.path.insert(0, str(ROOT))
from benchmarks import hostile  # noqa: E402
from hostile_batch import HELD, SLOW, build_batch, hooked, kill_when_written  # noqa: E402

MiB = 1 << 20
GiB = 1 << 30


def reason(name: str, data: bytes) -> str:
    with pytest.raises(ReadError) as err:
        read(name, data)
    return str(err.value)


# ---------------------------------------------------------------------------------------
# ZIP packages

def test_a_docx_that_inflates_to_gigabytes_is_refused_from_its_directory():
    data = hostile.docx_bomb(300 * MiB)  # honest headers, 300 KB on disk
    assert len(data) < 1 * MiB
    assert reason("r.docx", data) == "word/document.xml inflates to 300 MB (limit 64 MB): not read"


def test_a_declared_size_of_2_gib_is_refused_without_reading():
    members = hostile._docx_members()
    data = hostile.write_zip(members, declared={"word/document.xml": 2 * GiB})
    assert reason("r.docx", data) == "word/document.xml inflates to 2.0 GB (limit 64 MB): not read"


def test_compression_ratio_and_total_limits():
    stream = hostile.deflate_repeated(b"", b"\0" * MiB, 20, b"")
    data = hostile.write_zip([("media/image1.png", *stream)])
    with pytest.raises(ReadError, match=r"media/image1.png inflates [\d,]+ times, to 20 MB \(limit 100 times for a "
                                        r"member over 16 MB\): a ZIP bomb, not read"):
        guards.open_zip(data)
    many = hostile.write_zip([(f"media/{i}.bin", *hostile._deflated(os.urandom(1024))) for i in range(12)])
    with pytest.raises(ReadError, match=r"ZIP package has 12 members \(limit 10\): not read"):
        guards.open_zip(many, max_members=10)
    with pytest.raises(ReadError, match=r"ZIP package inflates to 12 KB \(limit 10 KB\): not read"):
        guards.open_zip(many, max_total=10 * 1024)


def test_a_package_that_lies_about_its_size_is_damaged_and_never_inflated():
    data = hostile.docx_lying_bomb(inflated=200 * MiB, declared=1 * MiB)
    assert reason("r.docx", data) == \
        "word/document.xml inflates to more than the 1 MB it declares: a ZIP bomb, not read"
    # its CRC may even be that of the first 1 MB: zipfile.read() would still inflate it all
    members = hostile._docx_members(hostile.deflate_repeated(b"", b" " * MiB, 200, b""))
    name, stream, _, _ = members[-1]
    members[-1] = (name, stream, zlib.crc32(b" " * MiB), 200 * MiB)
    crafted = hostile.write_zip(members, declared={name: 1 * MiB})
    assert reason("r.docx", crafted) == \
        "word/document.xml inflates to more than the 1 MB it declares: a ZIP bomb, not read"
    short = hostile.write_zip(members, declared={name: 300 * MiB})
    with pytest.raises(ReadError, match="shorter than it declares"):
        guards.open_zip(short, max_member=1 * GiB, max_xml_member=1 * GiB, max_total=1 * GiB, max_ratio=10 ** 6)
    # read_member stops at its cap whatever the package declares
    zf = zipfile.ZipFile(io.BytesIO(hostile.write_zip(hostile._docx_members(
        hostile.deflate_repeated(b"", b" " * MiB, 8, b"")))))
    with pytest.raises(ReadError, match=r"word/document.xml inflates to 8 MB \(limit 1 MB\): not read"):
        guards.read_member(zf, "word/document.xml", limit=1 * MiB)
    assert len(guards.read_member(zf, "word/document.xml", limit=9 * MiB)) == 8 * MiB


def test_truncated_encrypted_and_method_reasons():
    assert reason("r.docx", hostile.docx_truncated()).startswith(
        "truncated Word package (.docx): the end of the file (the ZIP directory) is missing, only ")
    assert reason("r.docx", hostile.office_encrypted()) == "password-protected (encrypted) Office document: not read"
    # the same file under another name or none says the same
    assert reason("report.doc", hostile.office_encrypted()) == "password-protected (encrypted) Office document: not read"
    assert reason("report", hostile.office_encrypted()) == "password-protected (encrypted) Office document: not read"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_BZIP2) as zf:
        zf.writestr("word/document.xml", "<w:document/>")
    with pytest.raises(ReadError, match="uses compression method 12 \\(only stored and deflate are read\\)"):
        guards.open_zip(buf.getvalue())


def test_a_real_docx_still_reads():
    data = hostile.write_zip(hostile._docx_members())
    doc = read("r.docx", data)
    assert "政府信息公开工作年度报告" in doc.text


# ---------------------------------------------------------------------------------------
# nesting and entities

def test_html_nested_200000_deep_says_so():
    assert reason("r.html", hostile.html_deep(200_000)) == \
        "HTML page nested more than 256 elements deep (the parser's limit): not read"


def test_html_nested_within_the_limit_reads():
    doc = read("r.html", hostile.html_deep(200))
    assert "政府信息公开工作年度报告" in doc.text


def test_billion_laughs_in_html_and_docx():
    assert reason("r.html", hostile.html_laughs()) == (
        'XML entity expansion ("billion laughs"): &lol9; expands to 2.8 GB (limit 1 MB for all entities): not read')
    assert reason("r.docx", hostile.docx_entity_bomb()) == (
        'word/document.xml: XML entity expansion ("billion laughs"): &lol9; expands to 2.8 GB '
        "(limit 1 MB for all entities): not read")


def test_entity_loops_and_external_entities_and_harmless_ones():
    loop = '<!DOCTYPE html [<!ENTITY a "&b;"><!ENTITY b "&a;">]><html><body><p>&a;</p></body></html>'
    assert reason("r.html", loop.encode()) == "XML entity &a; refers to itself (an entity loop): not read"
    ext = '<!DOCTYPE html [<!ENTITY x SYSTEM "file:///etc/passwd">]><html><body><p>&x;</p></body></html>'
    assert reason("r.html", ext.encode()) == "declares external XML entities (x) that would load other files: not read"
    ok = ('<!DOCTYPE html [<!ENTITY org "某县人民政府">]><html><body><p>某县2023年政府信息公开工作年度报告</p>'
          "</body></html>")
    assert "政府信息公开工作年度报告" in read("r.html", ok.encode()).text


# ---------------------------------------------------------------------------------------
# encodings, encryption, size

def test_encoding_reasons():
    assert reason("r.txt", hostile.text_utf16_no_bom()) == \
        "UTF-16 text without a byte-order mark (BOM): not supported; save it as UTF-8"
    assert reason("r.html", hostile.html_unknown_charset()) == (
        "declares the encoding 'x-mac-klingon', which is not supported, and is neither UTF-8 nor GB18030/GBK")
    text = "某县2023年政府信息公开工作年度报告\n"
    assert read("r.txt", text.encode("utf-32")).text == text  # UTF-32 with its BOM is read


def test_encrypted_pdf():
    assert reason("r.pdf", hostile.pdf_encrypted()) == "encrypted PDF (password required): not read"


def test_a_file_over_the_size_limit_is_not_read(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 3000)
    with pytest.raises(ReadError, match=r"file is 3 KB \(limit 2 KB\): not read"):
        guards.read_file(path, limit=2048)


# ---------------------------------------------------------------------------------------
# the batch: seeds + hostile files through the worker pool

def test_a_hostile_batch_gives_every_file_its_true_reason(tmp_path):
    raw = tmp_path / "raw"
    expect, seeds = build_batch(raw)
    th, _ = kill_when_written(raw / (HELD + ".pid"), 30)
    tasks = [workers.FileTask(str(p), p.name) for p in sorted(raw.iterdir())]
    rows = list(workers.parse_files(tasks, jobs=2, timeout=3, max_memory=512 * MiB, func=hooked(workers.parse_file)))
    th.join()
    reports = {r["report"]["source_file"]: r["report"] for r in rows}
    assert sorted(reports) == sorted(t.source_file for t in tasks)  # every file, once
    assert len(rows) == len(tasks)
    for name in seeds:
        assert reports[name]["status"] == "ok", (name, reports[name]["error"])
    for name, want in expect.items():
        assert reports[name]["status"] == "failed", name
        assert want in reports[name]["error"], (name, reports[name]["error"])
    # a failed file keeps the id a parse would give it (path and bytes)
    from gxlib.parse import parse_bytes

    slow = reports[SLOW]
    assert slow["report_id"] == parse_bytes((raw / SLOW).read_bytes(), SLOW)["report"]["report_id"]
