"""`gx parse` into a folder that holds an earlier run's outputs: only new or changed files
are parsed, unchanged files are not even read, and the outputs are exactly a full run's."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from gxlib import cache as runcache
from gxlib import pipeline, store
from gxlib.listing import list_inputs
from gxlib.store import TableSink, csv_body

from conftest import RAW, ROOT

sys.path.insert(0, str(ROOT))
from benchmarks import generate as gen  # noqa: E402

TABLES = ("reports", "disclosure", "applications", "reviews", "checks")


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


def _files(out):
    return {n: (out / f"{n}.csv").read_bytes() for n in TABLES}


def assert_same_as_full_run(raw, out, tmp_path):
    fresh = tmp_path / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    pipeline.run(raw, fresh, jobs=1, cache=False)
    for n in TABLES:
        assert (out / f"{n}.csv").read_bytes() == (fresh / f"{n}.csv").read_bytes(), n
        assert _plain(out / f"{n}.parquet").equals(_plain(fresh / f"{n}.parquet")), n


def _plain(path):
    """A Parquet file's rows with codes as plain strings (dictionaries may differ)."""
    t = pq.read_table(path)
    return pa.table({c: t[c].cast(t[c].type.value_type) if pa.types.is_dictionary(t[c].type) else t[c]
                     for c in t.column_names}).combine_chunks()


def _stamps(out):
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.iterdir()}


def test_rerun_parses_nothing_and_changes_nothing(raw, tmp_path):
    out = tmp_path / "out"
    first = pipeline.run(raw, out, jobs=1)
    assert first.parsed == first.files
    before, stamps = _files(out), _stamps(out)
    again = pipeline.run(raw, out, jobs=1)
    assert again.parsed == 0
    assert _files(out) == before
    assert (again.counts, again.n_checks, again.files, again.bytes) == (first.counts, first.n_checks, first.files,
                                                                        first.bytes)
    # nothing new and nothing gone: not a file is written again (the files were written a
    # moment ago, so the cache already had them as "hash next time", and still has)
    assert _stamps(out) == stamps
    (out / "README.md").unlink()  # the data dictionary is put back
    pipeline.run(raw, out, jobs=1)
    assert (out / "README.md").read_text(encoding="utf-8") == store.data_dictionary()
    assert (out / "README.md").stat().st_mode & 0o777 == (out / "reports.csv").stat().st_mode & 0o777
    assert sorted(p.name for p in out.iterdir()) == sorted(stamps)  # no temporary file left


def test_data_dictionary_is_replaced_whole_or_not_at_all(raw, tmp_path, monkeypatch):
    """A re-run that puts back an outdated README.md stages it and moves it over: when the
    write fails, the old text is still there and no temporary file is left."""
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1)
    names = sorted(p.name for p in out.iterdir())
    (out / "README.md").write_text("an older data dictionary\n", encoding="utf-8")

    real = Path.write_text

    def fail(self, text, *a, **k):  # half the text written, then the disk is full
        real(self, text[:len(text) // 2], *a, **k)
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", fail)
    with pytest.raises(OSError, match="disk full"):
        pipeline.run(raw, out, jobs=1)
    monkeypatch.undo()
    assert (out / "README.md").read_text(encoding="utf-8") == "an older data dictionary\n"
    assert sorted(p.name for p in out.iterdir()) == names
    pipeline.run(raw, out, jobs=1)
    assert (out / "README.md").read_text(encoding="utf-8") == store.data_dictionary()


def test_file_touched_but_not_changed_updates_only_the_cache(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(runcache, "RACY_NS", 0)
    pipeline.run(raw, out, jobs=1)
    stamps = _stamps(out)
    mode = (out / runcache.CACHE_NAME).stat().st_mode
    path = _gen_path(raw, 4)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns - 10**10))  # an older mtime
    hashed = []
    real = pipeline._hash
    monkeypatch.setattr(pipeline, "_hash", lambda p: hashed.append(p) or real(p))
    assert pipeline.run(raw, out, jobs=1).parsed == 0
    assert hashed == [str(path)]
    now = _stamps(out)
    assert now.pop(runcache.CACHE_NAME) != stamps.pop(runcache.CACHE_NAME)
    assert now == stamps  # the outputs stay as they were
    assert (out / runcache.CACHE_NAME).stat().st_mode == mode  # written as a run writes it
    cached = runcache.read(out, pipeline.parser_fingerprint()).table.to_pandas().set_index("source_file")
    assert cached.loc[path.relative_to(raw).as_posix(), "mtime_ns"] == path.stat().st_mtime_ns
    pipeline.run(raw, out, jobs=1)
    assert hashed == [str(path)]  # the new stat is trusted: not read again
    assert_same_as_full_run(raw, out, tmp_path)


def test_changed_added_removed_renamed_and_manifest(raw, tmp_path):
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1)
    gen.write_report(raw / "gen", 7, 3, variant=1)  # new numbers in an existing file
    gen.write_report(raw / "gen", 7, 40)  # a new file
    os.remove(_gen_path(raw, 5))  # a file gone
    moved = _gen_path(raw, 6)
    moved.rename(moved.with_name("moved" + moved.suffix))  # same bytes, new name
    (raw / "empty.txt").write_bytes(b"")  # a failed report among the kept ones
    first_seed = sorted(p.name for p in RAW.iterdir() if p.suffix == ".txt")[0]
    (raw / "manifest.csv").write_text(f"file,agency\n{first_seed},某某县人民政府\n", encoding="utf-8")
    result = pipeline.run(raw, out, jobs=1)
    assert 0 < result.parsed < result.files
    assert_same_as_full_run(raw, out, tmp_path)


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_merge_across_many_row_groups(raw, tmp_path, monkeypatch, batch):
    """Small batches, row groups and report buckets: the previous output's rows come from
    many row groups (and batches with dictionaries of their own); a merged group takes
    rows from several of them and from the new reports, and is still exactly the full
    run's."""
    monkeypatch.setattr(pipeline, "BATCH", batch)
    monkeypatch.setattr(pipeline, "FLUSH_EVERY", 3 * batch)
    monkeypatch.setattr(pipeline, "SMALL_DICTIONARY", 0)  # the test's dictionaries are all small
    monkeypatch.setattr(pipeline, "REPORT_BUCKET", 2 * batch + 1)  # reports: kept, new and both per bucket
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=2)
    assert pq.ParquetFile(out / "applications.parquet").num_row_groups >= 3
    for idx in (0, 3, 4, 17, 39):
        gen.write_report(raw / "gen", 7, idx, variant=1)
    gen.write_report(raw / "gen", 7, 41)
    os.remove(_gen_path(raw, 20))
    result = pipeline.run(raw, out, jobs=2)
    assert 0 < result.parsed < 10
    assert_same_as_full_run(raw, out, tmp_path)
    # each row group stores only its own reports' ids: replaced reports' and the
    # neighbouring group's would be read back and written again by every later run
    f = pq.ParquetFile(out / "applications.parquet", read_dictionary=["report_id"])
    for g in range(f.num_row_groups):
        ids = f.read_row_group(g, columns=["report_id"]).column(0).combine_chunks()
        assert len(ids.dictionary) == len(pc.unique(ids.indices))


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise on this system")
def test_previous_csv_cache_dropped_as_it_is_copied(raw, tmp_path, monkeypatch):
    """An incremental run writes the previous CSVs back to disk and lets the kernel drop
    their cached pages behind the copy: every byte of each file once, in ascending
    ranges, only on the previous files, and the outputs are still the full run's."""
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1)
    sizes = {(out / f"{n}.csv").stat().st_ino: (out / f"{n}.csv").stat().st_size for n in pipeline.LONG}
    changed = [gen.write_report(raw / "gen", 7, idx, variant=1)[0] for idx in (2, 9, 30)]
    drops: dict[int, list[tuple[int, int, int]]] = {}
    prefetched = set()  # (the changed raw files are asked for before they are read)
    real = os.posix_fadvise

    def record(fd, offset, length, advice):
        if advice == os.POSIX_FADV_WILLNEED:
            prefetched.add(os.fstat(fd).st_ino)
        else:
            drops.setdefault(os.fstat(fd).st_ino, []).append((offset, length, advice))
        return real(fd, offset, length, advice)

    synced = []
    real_sync = getattr(os, "fdatasync", None)

    def sync(fd):  # written back first: only clean pages can be dropped
        assert os.fstat(fd).st_ino not in drops
        synced.append(os.fstat(fd).st_ino)
        return real_sync(fd)

    monkeypatch.setattr(os, "posix_fadvise", record)
    if real_sync is not None:
        monkeypatch.setattr(os, "fdatasync", sync)
    monkeypatch.setattr(pipeline, "DROP_EVERY", 4096)
    assert 0 < pipeline.run(raw, out, jobs=1).parsed < 10
    monkeypatch.undo()
    assert set(drops) == set(sizes)  # the previous CSVs of the long tables, nothing else
    # the raw files hashed (those changed among them) or parsed were asked for, no output
    assert {(raw / "gen" / name).stat().st_ino for name in changed} <= prefetched
    assert prefetched <= {os.stat(path).st_ino for _, path in list_inputs(raw)}
    if real_sync is not None:
        assert sorted(synced) == sorted(sizes)
    for ino, calls in drops.items():
        assert {advice for _, _, advice in calls} == {os.POSIX_FADV_DONTNEED}
        assert len(calls) > 2
        assert calls[0][0] == 0
        assert all(o + n == o2 for (o, n, _), (o2, _, _) in zip(calls, calls[1:]))
        assert calls[-1][0] + calls[-1][1] == sizes[ino]
    assert_same_as_full_run(raw, out, tmp_path)


def test_each_batch_of_files_is_asked_for_before_it_is_read(raw, tmp_path, monkeypatch):
    """The files to hash, and then to parse, are handed to the kernel a batch at a time
    (``POSIX_FADV_WILLNEED``) before the first of them is read, so that a corpus on disk is
    read in parallel, not a file at a time by each worker."""
    events = []
    real_fadvise, real_hash, real_work = os.posix_fadvise, pipeline._hash, pipeline._work

    def advise(fd, offset, length, advice):
        assert advice == os.POSIX_FADV_WILLNEED and offset == 0
        events.append(("ask", os.fstat(fd).st_ino))
        return real_fadvise(fd, offset, length, advice)

    def hashed(path):
        events.append(("hash", os.stat(path).st_ino))
        return real_hash(path)

    def parsed(task):
        events.append(("parse", os.stat(task[0]).st_ino))
        return real_work(task)

    monkeypatch.setattr(os, "posix_fadvise", advise)
    monkeypatch.setattr(pipeline, "_hash", hashed)
    monkeypatch.setattr(pipeline, "_work", parsed)
    monkeypatch.setattr(pipeline, "BATCH", 16)
    result = pipeline.run(raw, tmp_path / "out", jobs=1, cache=False)
    monkeypatch.undo()
    files = {os.stat(path).st_ino for _, path in list_inputs(raw)}
    for step in ("hash", "parse"):
        read = [ino for kind, ino in events if kind == step]
        assert sorted(read) == sorted(files) and result.parsed == len(files)
    # runs of asks, each followed by the reads of exactly the files it asked for
    runs, kind_before = [], None
    for kind, ino in events:
        if kind != kind_before:
            runs.append((kind, []))
            kind_before = kind
        runs[-1][1].append(ino)
    assert len(runs) > 4  # (several batches to parse)
    for (ask, asked), (step, read) in zip(runs[::2], runs[1::2]):
        assert ask == "ask" and step in ("hash", "parse") and asked == read


def test_asking_for_files_never_fails(tmp_path, monkeypatch):
    """A file gone since it was listed is reported where it is read, not here; without
    ``posix_fadvise`` (not Linux) nothing is asked."""
    there = tmp_path / "a.txt"
    there.write_text("x")
    store.prefetch([str(tmp_path / "gone.txt"), str(there), str(tmp_path)])
    monkeypatch.delattr(os, "posix_fadvise")
    store.prefetch([str(there)])


def test_a_failed_merge_leaves_the_previous_outputs(raw, tmp_path, monkeypatch):
    """The merge runs in threads while the reports are written: its error still stops
    the run, and the previous outputs stay as they were."""
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    gen.write_report(raw / "gen", 7, 3, variant=1)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline, "_gather", boom)
    with pytest.raises(OSError, match="disk full"):
        pipeline.run(raw, out, jobs=2)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_used_entries_keeps_values_and_nulls(monkeypatch):
    d = pa.DictionaryArray.from_arrays(pa.array([3, None, 1, 3], pa.int32()), pa.array(["a", "b", "c", "d"]))
    t = pipeline._used_entries(pa.table({"x": d, "n": [1, 2, 3, 4]}))
    assert t["x"].chunk(0).dictionary.to_pylist() == ["a", "b", "c", "d"]  # a small dictionary stays
    monkeypatch.setattr(pipeline, "SMALL_DICTIONARY", 3)
    t = pipeline._used_entries(pa.table({"x": d, "n": [1, 2, 3, 4]}))
    x = t["x"].chunk(0)
    assert x.dictionary.to_pylist() == ["b", "d"] and x.indices.to_pylist() == [1, None, 0, 1]
    assert t["x"].to_pylist() == ["d", None, "b", "d"] and t.schema == pa.table({"x": d, "n": [1, 2, 3, 4]}).schema


def test_unchanged_files_are_not_read_again(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(runcache, "RACY_NS", 0)  # the files were written a moment ago
    pipeline.run(raw, out, jobs=1)
    hashed = []
    real = pipeline._hash
    monkeypatch.setattr(pipeline, "_hash", lambda path: hashed.append(path) or real(path))
    pipeline.run(raw, out, jobs=1)
    assert hashed == []
    path = _gen_path(raw, 2)
    gen.write_report(raw / "gen", 7, 2, variant=1)
    pipeline.run(raw, out, jobs=1)
    assert hashed == [str(path)]
    assert_same_as_full_run(raw, out, tmp_path)


def test_same_size_same_mtime_edit_is_seen(raw, tmp_path):
    """A file rewritten within the timestamp granularity of the listing (git's "racy"
    case), even with its mtime put back, is read again."""
    out = tmp_path / "out"
    path = _gen_path(raw, 1)
    data = path.read_bytes()
    pipeline.run(raw, out, jobs=1)
    st = path.stat()
    i = data.index(b"0")
    path.write_bytes(data[:i] + b"1" + data[i + 1:])  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert pipeline.run(raw, out, jobs=1).parsed == 1
    assert_same_as_full_run(raw, out, tmp_path)


def test_outputs_touched_by_someone_else_mean_a_full_run(raw, tmp_path):
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1)
    with open(out / "applications.csv", "ab") as fh:  # e.g. saved from Excel
        fh.write(b"\n")
    result = pipeline.run(raw, out, jobs=1)
    assert result.parsed == result.files
    assert_same_as_full_run(raw, out, tmp_path)


def test_cache_of_other_parser_code_is_ignored(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1)
    (out / ".gxcache.json").write_text("{}", encoding="utf-8")  # an earlier version's cache
    monkeypatch.setattr(pipeline, "parser_fingerprint", lambda: "other")
    result = pipeline.run(raw, out, jobs=1)
    assert result.parsed == result.files
    assert not (out / ".gxcache.json").exists()


def test_leading_empty_batch_writes_no_garbage():
    """pyarrow 26 writes uninitialised memory for an empty first batch without header."""
    col = pa.chunked_array([pa.array([], pa.large_string()), pa.array(["ab", "c\"d"], pa.large_string())])
    assert csv_body(pa.table({"a": col})).to_pybytes() == b'"ab"\n"c""d"\n'


def test_line_break_inside_a_field_turns_byte_counts_off(tmp_path):
    schema = pa.schema([("report_id", pa.string()), ("raw", pa.string())])
    sink = TableSink(tmp_path / "t.parquet", tmp_path / "t.csv", schema, record_runs=True)
    sink.write(pa.table({"report_id": ["a", "a", "b"], "raw": ["1", "2", "3"]}, schema=schema))
    ids, rows, nbytes = sink.runs()
    assert list(ids) == ["a", "b"] and list(rows) == [2, 1] and list(nbytes) == [16, 8]
    sink.write(pa.table({"report_id": ["c"], "raw": ["4\n5"]}, schema=schema))
    assert sink.runs() is None  # the run cache is then not written: the next run is a full one
    sink.close()


def test_cli_no_cache_parses_everything(raw, tmp_path, capsys):
    from gxlib.cli import main

    out = tmp_path / "out"
    assert main(["parse", str(raw), "--out", str(out), "--no-progress"]) == 0
    assert main(["parse", str(raw), "--out", str(out), "--no-progress"]) == 0
    said = capsys.readouterr().out
    assert "unchanged taken from the cache" in said and "are up to date (left as they were)" in said
    assert main(["parse", str(raw), "--out", str(out), "--no-progress", "--no-cache"]) == 0
    said = capsys.readouterr().out
    assert "unchanged taken from the cache" not in said and f"wrote {out}/" in said


def test_reports_put_in_order_a_few_files_at_a_time(raw, tmp_path, monkeypatch):
    """The reports table goes from parse order to file order through buckets of listing
    positions on disk: tiny buckets give the outputs of one bucket, full and incremental."""
    out = tmp_path / "out"
    with monkeypatch.context() as m:
        m.setattr(pipeline, "REPORT_BUCKET", 7)
        pipeline.run(raw, out, jobs=1, cache=False)
        assert_same_as_full_run(raw, out, tmp_path)  # (the fresh run: buckets of 7 as well)
    fresh = tmp_path / "one_bucket"
    pipeline.run(raw, fresh, jobs=1, cache=False)
    assert _files(out) == _files(fresh)
    gen.write_report(raw / "gen", 7, 3, variant=1)
    gen.write_report(raw / "gen", 7, 41)
    os.remove(_gen_path(raw, 8))
    with monkeypatch.context() as m:
        m.setattr(pipeline, "REPORT_BUCKET", 5)
        assert 0 < pipeline.run(raw, out, jobs=1).parsed < 5
    assert_same_as_full_run(raw, out, tmp_path)


def test_report_spill_orders_by_position_and_misses_nothing(tmp_path):
    schema = pipeline._schema("reports")

    def reports(names):
        return pa.table({c: pa.array(list(names) if c == "source_file" else
                                     [None] * len(names) if c == "year" else [""] * len(names),
                                     pa.int64() if c == "year" else pa.string()) for c in schema.names})

    spill = pipeline._ReportSpill(5, tmp_path, bucket=2)
    spill.add(reports(["d", "a"]), [3, 0])
    spill.flush()
    spill.add(reports(["e", "b", "c"]), [4, 1, 2])
    got = [(t.column("source_file").to_pylist(), lo, hi) for t, lo, hi in spill.buckets()]
    assert got == [(["a", "b"], 0, 2), (["c", "d"], 2, 4), (["e"], 4, 5)]
    spill.close()
    spill = pipeline._ReportSpill(3, tmp_path, bucket=2)
    spill.add(reports(["a", "c"]), [0, 2])  # no report for file 1
    with pytest.raises(RuntimeError, match="not one per file"):
        list(spill.buckets())
    spill.close()
    with pytest.raises(ValueError, match="2 reports for 1 files"):
        pipeline._ReportSpill(2, tmp_path).add(reports(["a", "b"]), [0])


def test_table_spill_gives_back_every_table_in_order(tmp_path):
    """The carry-over rows and the parse's checks wait on disk during the parse; each
    worker batch brings its own dictionaries, and a merge thread may add rows too."""
    schema = pipeline._CARRIED_SCHEMA

    def rows(ids, row, applicant, values):
        return pipeline._compact(pa.table({"report_id": pa.array(ids).dictionary_encode(),
                                           "row": pa.array(row).dictionary_encode(),
                                           "applicant": pa.array(applicant).dictionary_encode(),
                                           "value": pa.array(values, pa.float64())}), schema)

    spill = pipeline._TableSpill(schema, tmp_path)
    assert spill.read().equals(schema.empty_table())
    first = rows(["r1", "r1"], ["carried_over", "carried_forward"], ["natural", "total"], [1.0, None])
    second = rows(["r9"], ["carried_forward"], ["legal"], [26.5])
    spill.add(first)
    spill.add(schema.empty_table())
    spill.add(second)
    got = spill.read()
    assert got.schema == schema
    assert got.to_pydict() == pa.concat_tables([first, second]).to_pydict()
    assert got.column("row").num_chunks == 2  # each batch keeps its own dictionary
    assert spill.read().num_rows == 0  # read once: the file is emptied
    spill.close()


def test_compact_cuts_a_large_dictionary_to_the_values_present():
    schema = pa.schema([("code", pa.dictionary(pa.int8(), pa.string()))])
    big = pa.DictionaryArray.from_arrays(pa.array([3, 200, 3], pa.int32()), pa.array([f"c{i}" for i in range(300)]))
    small = pa.DictionaryArray.from_arrays(pa.array([1, 0], pa.int32()), pa.array(["a", "b"]))
    for arr, want in ((big, ["c3", "c200", "c3"]), (small, ["b", "a"])):
        out = pipeline._compact(pa.table({"code": arr}), schema)
        assert out.schema == schema
        assert out.column("code").cast(pa.string()).to_pylist() == want


def test_file_changed_between_hashing_and_parsing(raw, tmp_path, monkeypatch):
    """The parse order is chosen by the ids of the files as hashed: a file whose bytes
    changed before it was parsed has another id, and its rows would break the long tables'
    order (and the next run's byte ranges). Its report is failed with the reason, its rows
    are withheld, and the next run parses it."""
    out = tmp_path / "out"
    path = _gen_path(raw, 4)
    rel = path.relative_to(raw).as_posix()
    real = pipeline._hash
    monkeypatch.setattr(runcache, "RACY_NS", 0)
    monkeypatch.setattr(pipeline, "_hash", lambda p: ("0" * 64, 1) if p == str(path) else real(p))
    pipeline.run(raw, out, jobs=1)
    monkeypatch.setattr(pipeline, "_hash", real)
    sha = real(str(path))[0]
    rid = pipeline.report_id(rel, sha)
    reports = pd.read_csv(out / "reports.csv", dtype=str, keep_default_na=False).set_index("source_file")
    assert reports.loc[rel, ["report_id", "sha256", "status", "error"]].tolist() == [
        rid, sha, "failed", pipeline.CHANGED_WHILE_READ]
    fresh = tmp_path / "full"
    pipeline.run(raw, fresh, jobs=1, cache=False)
    for n in ("disclosure", "applications", "reviews"):  # the rows of the others, in order
        lines = (fresh / f"{n}.csv").read_bytes().splitlines(keepends=True)
        assert (out / f"{n}.csv").read_bytes() == b"".join(x for x in lines if not x.startswith(f'"{rid}"'.encode()))
    cached = runcache.read(out, pipeline.parser_fingerprint()).table.to_pandas().set_index("source_file")
    assert cached.loc[rel, ["report_id", "sha256", "key", "size"]].tolist() == [rid, sha, "", -1]
    hashed = []
    monkeypatch.setattr(pipeline, "_hash", lambda p: hashed.append(p) or real(p))
    assert pipeline.run(raw, out, jobs=1).parsed == 1
    assert hashed == [str(path)]
    assert_same_as_full_run(raw, out, tmp_path)


def test_kept_reports_handed_out_by_position(tmp_path):
    """The previous output's kept reports, a bucket of positions at a time; a file that
    holds fewer or more of them than the run cache says is an error, not a wrong table."""
    path = tmp_path / "reports.parquet"
    pq.write_table(pa.table({"report_id": [f"r{i}" for i in range(10)], "n": list(range(10))}), path,
                   row_group_size=3)
    keep = pa.array([f"r{i}" for i in (1, 2, 5, 8, 9)])
    kept = pipeline._KeptReports(path, keep, np.array([0, 3, 4, 7, 11]))
    t, at = kept.upto(4)
    assert t["n"].to_pylist() == [1, 2] and at.tolist() == [0, 3]
    assert kept.upto(4)[0] is None
    t, at = kept.upto(12)
    assert t["n"].to_pylist() == [5, 8, 9] and at.tolist() == [4, 7, 11]
    kept.finish()
    short = pipeline._KeptReports(path, keep, np.array([0, 1, 2, 3, 4, 5]))
    with pytest.raises(RuntimeError, match="run again with --no-cache"):
        short.upto(6)
    extra = pipeline._KeptReports(path, keep, np.array([0, 1, 2, 3]))
    extra.upto(4)
    with pytest.raises(RuntimeError, match="run again with --no-cache"):
        extra.finish()


def _agency_year(raw, name: str, idx: int, agency: str, year: int, variant: int = 0) -> None:
    """A generated report (numbers of ``gen.spec(7, idx, variant)``) made ``agency``'s
    report for ``year``: consecutive years of one agency get carry-over warnings, since
    their numbers are drawn independently."""
    s = dict(gen.spec(7, idx, variant), agency=agency, year=year, damage=None, shape="lines", encoding="utf-8",
             title=f"{agency}{year}年政府信息公开工作年度报告", published=f"{year + 1}-02-10", zero_applications=False)
    (raw / "series").mkdir(exist_ok=True)
    (raw / "series" / name).write_bytes(gen.render(s))


def _carry_over_rows(out) -> pd.DataFrame:
    checks, reports = pd.read_csv(out / "checks.csv"), pd.read_csv(out / "reports.csv")
    co = checks[checks["rule"] == "carry_over"].merge(reports[["report_id", "agency", "year"]], on="report_id")
    return co


def test_carry_over_checked_again_only_where_an_agency_changed(raw, tmp_path):
    # three agencies over consecutive years; an incremental run changes one report of the
    # first, removes one of the second, leaves the third alone: the warnings must be a
    # full run's, those of the third agency taken from the previous checks
    idx = iter(i for i in range(100, 400) if not gen.spec(7, i)["zero_applications"])
    for agency, years in (("某某县甲局", range(2019, 2023)), ("某某县乙局", range(2019, 2022)),
                          ("某某县丙局", range(2020, 2023))):
        for year in years:
            _agency_year(raw, f"{agency}{year}.txt", next(idx), agency, year)
    out = tmp_path / "out"
    pipeline.run(raw, out, jobs=1)
    before = _carry_over_rows(out)
    assert set(before["agency"]) == {"某某县甲局", "某某县乙局", "某某县丙局"}, "the fixture raises no warning"

    _agency_year(raw, "某某县甲局2020.txt", next(idx), "某某县甲局", 2020)  # new numbers
    os.remove(raw / "series" / "某某县乙局2020.txt")  # 2019 and 2021 are no longer consecutive
    result = pipeline.run(raw, out, jobs=1)
    assert result.parsed == 1
    assert_same_as_full_run(raw, out, tmp_path)
    after = _carry_over_rows(out)
    assert "某某县乙局" not in set(after["agency"])
    kept = before[before["agency"] == "某某县丙局"].reset_index(drop=True)
    assert after[after["agency"] == "某某县丙局"].reset_index(drop=True).equals(kept)


def test_ahead_keeps_order_and_hands_over_the_error():
    assert list(pipeline._ahead(iter(range(50)))) == list(range(50))

    def broken():
        yield 1
        raise ValueError("bad group")

    items = pipeline._ahead(broken())
    assert next(items) == 1
    with pytest.raises(ValueError, match="bad group"):
        next(items)


def test_ahead_consumer_stopping_early_stops_the_producer():
    made = []

    def items():
        for i in range(1000):
            made.append(i)
            yield i

    for x in pipeline._ahead(items()):
        if x == 3:
            break
    assert len(made) <= 6  # at most a couple ahead, and nothing after the stop
