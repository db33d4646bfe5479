"""`gx parse` end to end: every file reported, bad files do not stop the batch, manifest
overrides, atomic writes, typed load, and the committed outputs are up to date."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

import gxlib
from gxlib import store
from gxlib.cli import main

from conftest import PROCESSED, RAW


@pytest.fixture
def raw(tmp_path):
    d = tmp_path / "raw"
    (d / "sub").mkdir(parents=True)
    shutil.copy(RAW / "000_d041f4bcca68913a.txt", d / "a.txt")
    # the same report in GBK, in a sub-folder
    (d / "sub" / "gbk.txt").write_bytes((RAW / "004_384974d2e2d35c17.txt").read_text(encoding="utf-8").encode("gb18030"))
    (d / "empty.txt").write_bytes(b"")
    (d / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (d / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    (d / "notes.txt").write_text("会议纪要：本周讨论了食堂菜单。", encoding="utf-8")
    (d / "manifest.csv").write_text("file,agency,year,division_code,url\nsub/gbk.txt,驻马店市公共资源交易中心,,411700,"
                                    "https://example.invalid/r.html\n", encoding="utf-8")
    return d


def test_parse_dir_reports_every_file(raw, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["parse", str(raw), "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "6 files: 2 ok, 0 partial, 4 failed" in summary
    r = pd.read_csv(out / "reports.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig").set_index("source_file")
    assert sorted(r.index) == ["a.txt", "binary.txt", "empty.txt", "notes.txt", "old.doc", "sub/gbk.txt"]
    assert r.loc["empty.txt", "error"] == "empty file (no text)"
    assert r.loc["binary.txt", "error"] == "binary file, not a text report"
    assert "legacy Word .doc" in r.loc["old.doc", "error"]
    assert r.loc["notes.txt", "error"].startswith("not a government information-disclosure annual report")
    g = r.loc["sub/gbk.txt"]
    assert (g["agency"], g["division_code"], g["prefecture"], g["url"]) == (
        "驻马店市公共资源交易中心", "411700", "驻马店市", "https://example.invalid/r.html")
    assert g["status"] == "ok" and g["year"] == "2024"
    # UTF-8 with BOM for Excel
    assert (out / "reports.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    # readable by others as the umask allows, not 0600 as the staging temp files are made
    mask = os.umask(0o022)
    os.umask(mask)
    assert all((p.stat().st_mode & 0o777) == 0o666 & ~mask for p in out.iterdir() if not p.name.startswith("."))


def test_load_types(raw, tmp_path):
    out = tmp_path / "out"
    main(["parse", str(raw), "--out", str(out), "--no-progress"])
    t = gxlib.load(out)
    assert isinstance(t.applications["row"].dtype, pd.CategoricalDtype) and t.applications["row"].cat.ordered
    assert list(t.applications["row"].cat.categories[:2]) == ["new", "carried_over"]
    assert str(t.applications["value"].dtype) == "Float64"
    assert str(t.reports["year"].dtype) == "Int64"
    assert gxlib.label("row", "granted", "en") == "granted" and gxlib.label("row", "granted") == "（一）予以公开"
    # CSV and Parquet agree
    csv = pd.read_csv(out / "applications.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert len(csv) == len(t.applications)


def test_a_failed_run_keeps_previous_outputs(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    main(["parse", str(raw), "--out", str(out)])
    before = {f: (out / f).read_bytes() for f in store.EXPORTS}

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "_write_csv", boom)
    (raw / "a.txt").unlink()
    with pytest.raises(RuntimeError):
        main(["parse", str(raw), "--out", str(out)])
    assert {f: (out / f).read_bytes() for f in store.EXPORTS} == before


def test_default_out_never_overwrites_the_committed_tables(raw, tmp_path, monkeypatch, capsys):
    """`gx parse FOLDER` without --out writes build/processed (data/raw: data/processed)."""
    from gxlib.cli import default_out

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "raw").mkdir(parents=True)
    assert default_out(tmp_path / "data" / "raw") == Path("data/processed")
    assert default_out(Path("data/raw/")) == Path("data/processed")
    assert main(["parse", str(raw), "--no-progress"]) == 0
    assert "writing to build/processed" in capsys.readouterr().err
    assert (tmp_path / "build" / "processed" / "reports.csv").is_file()
    assert not (tmp_path / "data" / "processed").exists()


def test_same_ids_every_run(raw, tmp_path):
    a = gxlib.parse_dir(raw, progress=False)
    b = gxlib.parse_dir(raw, jobs=1, progress=False)
    assert a.reports["report_id"].tolist() == b.reports["report_id"].tolist()
    pd.testing.assert_frame_equal(a.applications, b.applications)


def test_committed_outputs_are_up_to_date(tmp_path):
    """`gx parse data/raw --out new/folder` reproduces the committed CSVs byte for byte."""
    out = tmp_path / "fresh"
    assert main(["parse", str(RAW), "--out", str(out), "--no-progress"]) == 0
    for name in store.TABLES:
        fresh = (out / f"{name}.csv").read_bytes()
        committed = (PROCESSED / f"{name}.csv").read_bytes()
        assert fresh == committed, f"data/processed/{name}.csv is out of date: run `make data`"
    assert (out / "README.md").read_text(encoding="utf-8") == (PROCESSED / "README.md").read_text(encoding="utf-8")


def test_codebook_labels_and_codes():
    from gxlib import store

    assert store.label("applicant", "natural_person") == "自然人"
    assert store.label("applicant", "natural_person", "en") == "natural person"
    assert store.label("applicant", "no_such_code") == "no_such_code"  # unknown: the code itself
    assert store.label("no_such_variable", 7) == "7"
    cb = store.codebook()
    for variable in cb["variable"].unique():
        assert store.codes(variable) == cb.loc[cb["variable"] == variable, "code"].tolist()
    got = store.codes("applicant")
    got.append("x")  # a caller's list: the next call is not changed by it
    assert "x" not in store.codes("applicant")
    assert store.codes("no_such_variable") == []
