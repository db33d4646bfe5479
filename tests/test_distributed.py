"""``gx parse --scheduler``: the per-file work on a Dask cluster gives the outputs of a
local run, byte for byte; a file whose task fails is a failed row, not a failed batch."""
from __future__ import annotations

import os
import shutil

import pytest

from conftest import CORPUS, RAW

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed (pip install -e '.[dask]')")

from gxlib import distributed as gxd  # noqa: E402
from gxlib.pipeline import parse_one, run  # noqa: E402
from gxlib.workers import FileTask  # noqa: E402

TABLES = ("reports", "disclosure", "applications", "reviews", "checks")
CORPUS_FILES = ("shanghai_1.html", "kirogov_2.pdf", "pingtan_2021.txt", "pingtan_depts")


def _raw(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw, ignore=shutil.ignore_patterns("corpus", "README.md"))
    for name in CORPUS_FILES:
        src = CORPUS / name
        if src.is_dir():
            shutil.copytree(src, raw / "corpus" / name)
        elif src.is_file():
            (raw / "corpus").mkdir(exist_ok=True)
            shutil.copy(src, raw / "corpus" / name)
    (raw / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    return raw


@pytest.fixture(scope="module")
def cluster():
    import dask

    dask.config.set({"distributed.scheduler.allowed-failures": 1})  # a file that kills its worker: retried once
    cl = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  memory_limit="3GiB")
    try:
        yield cl
    finally:
        cl.close()


def test_cluster_outputs_equal_a_local_run(tmp_path, cluster):
    raw = _raw(tmp_path)
    local = run(raw, tmp_path / "local", jobs=1, progress=False)
    said = []
    dask = run(raw, tmp_path / "dask", progress=False, scheduler=cluster.scheduler_address, say=said.append)
    assert dask.parsed == local.parsed == dask.files and dask.counts == local.counts
    assert dask.counts.get("failed", 0) >= 1  # broken.pdf
    for name in TABLES:
        assert (tmp_path / "dask" / f"{name}.csv").read_bytes() == (tmp_path / "local" / f"{name}.csv").read_bytes(), name
    if (CORPUS / "shanghai_1.html").is_file():
        assert local.counts.get("ok", 0) >= 6


def test_bytes_sent_with_the_task_parse_as_the_path_does(tmp_path):
    """When the workers do not see the inputs, the parent sends the bytes: same tables."""
    src = sorted(p for p in RAW.glob("*.txt"))[1]
    task = FileTask(str(src), src.name, None)
    by_path = gxd.work(task, None, None)
    by_bytes = gxd.work(task, src.read_bytes(), None)
    assert by_bytes == by_path


def test_a_failed_task_is_a_failed_row_of_its_file(tmp_path):
    src = sorted(RAW.glob("*.txt"))[0]
    task = FileTask(str(src), "x/" + src.name, {"agency": "某某局"})
    ok_report, ok_rows = parse_one(task)
    row, rows = gxd.failed(task, "the Dask worker died while reading this file (KilledWorker)")
    assert set(rows) == set(ok_rows) and not any(rows.values())
    assert row["status"] == "failed" and row["error"].startswith("the Dask worker died")
    assert row["report_id"] == ok_report["report_id"] and row["sha256"] == ok_report["sha256"]
    assert row["source_file"] == "x/" + src.name


def test_a_worker_dying_on_a_file_fails_only_that_file(tmp_path, cluster):
    """Through the cluster: the work of one file kills its worker process (on every
    retry) -> that file's failed row with the reason; the other files are parsed."""
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw, ignore=shutil.ignore_patterns("corpus", "README.md"))
    tasks = [FileTask(str(p), p.name, None) for p in sorted(raw.glob("*.txt"))]
    victim = tasks[2].source_file

    def dies_on_victim(task, data, ocr_folder):  # (a nested function: sent to the workers by value)
        if task.source_file == victim:
            os._exit(3)
        return gxd.work(task, data, ocr_folder)

    results = list(gxd.parse_files(tasks, cluster.scheduler_address, say=lambda m: None, func=dies_on_victim))
    rows = {report["source_file"]: report for _task, (report, _rows) in results}
    assert sorted(rows) == sorted(t.source_file for t in tasks)
    assert rows[victim]["status"] == "failed" and "Dask worker died" in rows[victim]["error"] and "read alone" in rows[victim]["error"]
    assert all(row["status"] != "failed" for name, row in rows.items() if name != victim)
