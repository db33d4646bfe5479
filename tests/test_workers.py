"""gxlib.workers: every task gets an outcome; a slow, greedy or dying task costs only itself.

Limits are small here (1 s, a few hundred MB) so the suite stays quick."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from gxlib import workers
from gxlib.readers import ReadError
from gxlib.workers import Failure

from hostile_batch import kill_when_written

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process limits are Linux here")

MiB = 1 << 20


def work(task):
    """The test's per-file work: ``("ok", n)`` -> n * n; other kinds misbehave."""
    kind, arg = task
    if kind == "ok":
        return arg * arg
    if kind == "sleep":
        time.sleep(arg)
        return "woke up"
    if kind == "alloc":  # more than the cap, in one piece
        block = bytearray(arg)
        return len(block)
    if kind == "raise":
        raise ValueError(arg)
    if kind == "segfault":
        import ctypes
        import faulthandler

        faulthandler.disable()  # (pytest's traceback on stderr is noise here)

        ctypes.string_at(0)
    if kind == "hold":  # tell the test our pid, then wait to be killed
        Path(arg).write_text(str(os.getpid()))
        time.sleep(60)
        return "not killed"
    if kind == "exit":
        os._exit(arg)
    raise AssertionError(kind)


def outcomes(tasks, **kw):
    kw.setdefault("jobs", 2)
    kw.setdefault("timeout", 1.0)
    kw.setdefault("max_memory", 256 * MiB)
    return list(workers.run(work, tasks, **kw))


def test_results_and_failures_one_per_task():
    tasks = [("ok", i) for i in range(1, 30)] + [("raise", "broken table"), ("ok", 100)]
    got = outcomes(tasks)
    assert sorted(map(repr, (t for t, _ in got))) == sorted(map(repr, tasks))
    by = {t: o for t, o in got}
    for i in range(1, 30):
        assert by[("ok", i)] == i * i
    assert by[("ok", 100)] == 10000
    assert by[("raise", "broken table")] == Failure("error", "could not read the file (ValueError: broken table)")


def test_ordered_results_follow_the_tasks():
    tasks = [("sleep", 0.3)] + [("ok", i) for i in range(2, 40)] + [("raise", "x"), ("ok", 7)]
    got = outcomes(tasks, ordered=True)
    assert [t for t, _ in got] == tasks
    assert got[0][1] == "woke up" and got[1][1] == 4


def test_a_slow_task_is_stopped_and_the_batch_goes_on():
    tasks = [("ok", 2), ("sleep", 30), ("ok", 3), ("ok", 4), ("ok", 5)]
    t0 = time.monotonic()
    by = dict(outcomes(tasks, timeout=1.0))
    assert time.monotonic() - t0 < 10
    assert by[("sleep", 30)] == Failure("timeout", "took longer than 1 s (limit): not read")
    assert [by[("ok", i)] for i in (2, 3, 4, 5)] == [4, 9, 16, 25]


def test_a_task_over_the_memory_cap_fails_with_that_reason():
    tasks = [("ok", 2), ("alloc", 1024 * MiB), ("ok", 3), ("alloc", 16 * MiB), ("ok", 4)]
    by = dict(outcomes(tasks, max_memory=256 * MiB))
    assert by[("alloc", 1024 * MiB)] == Failure("memory", "needed more than 256 MB of memory (limit): not read")
    assert by[("alloc", 16 * MiB)] == 16 * MiB  # under the cap
    assert [by[("ok", i)] for i in (2, 3, 4)] == [4, 9, 16]


def test_dead_workers_cost_only_their_task():
    tasks = [("ok", i) for i in range(1, 8)] + [("segfault", None), ("exit", 3)] + [("ok", i) for i in range(8, 20)]
    by = dict(outcomes(tasks, jobs=2))
    assert by[("segfault", None)] == Failure(
        "died", "the parser process died while reading this file: killed by signal 11 (SIGSEGV)")
    assert by[("exit", 3)] == Failure("died", "the parser process died while reading this file: exit code 3")
    assert all(by[("ok", i)] == i * i for i in range(1, 20))


def test_a_worker_killed_mid_batch_loses_only_the_file_it_held(tmp_path):
    """kill -9 of the worker process while it holds a file, as the OOM killer would."""
    pidfile = tmp_path / "pid"
    tasks = [("ok", i) for i in range(1, 6)] + [("hold", str(pidfile))] + [("ok", i) for i in range(6, 40)]
    th, killed = kill_when_written(pidfile, 20)
    got = outcomes(tasks, jobs=2, timeout=30)
    th.join()
    assert killed
    by = dict(got)
    assert len(got) == len(tasks)
    assert by[("hold", str(pidfile))] == Failure(
        "died", "the parser process died while reading this file: killed by signal 9 "
                "(SIGKILL: the out-of-memory killer, or killed by hand)")
    assert all(by[("ok", i)] == i * i for i in range(1, 40))


def test_tasks_are_taken_lazily_and_early_stop_ends_the_workers():
    taken = []

    def gen():
        for i in range(1, 1_000_000):
            taken.append(i)
            yield ("ok", i)

    it = workers.run(work, gen(), jobs=2, timeout=5)
    first = [next(it) for _ in range(5)]
    assert len(first) == 5 and len(taken) < 50
    it.close()  # the caller stops: the workers go
    import multiprocessing

    assert not [p for p in multiprocessing.active_children() if p.name == "gxlib-worker"]


def test_initializer_failure_is_an_error_not_a_hang():
    def bad_init():
        raise RuntimeError("no fonts")

    with pytest.raises(workers.WorkerStartError, match="no fonts"):
        list(workers.run(work, [("ok", 1)], jobs=1, initializer=bad_init))


def test_run_child_has_the_same_limits(tmp_path):
    py = sys.executable
    done = workers.run_child([py, "-c", "print('hello')"], timeout=10, max_memory=512 * MiB)
    assert done.returncode == 0 and done.stdout.strip() == b"hello"
    # the time limit stops the child and its own children
    marker = tmp_path / "grandchild"
    grandchild = tmp_path / "grandchild.py"
    grandchild.write_text("import os, sys, time\nopen(sys.argv[1], 'w').write(str(os.getpid()))\ntime.sleep(60)\n")
    script = ("import subprocess, sys, time; subprocess.Popen([sys.executable] + sys.argv[1:]); time.sleep(60)")
    t0 = time.monotonic()
    with pytest.raises(ReadError, match=r"took longer than 1 s \(limit\): not read"):
        workers.run_child([py, "-c", script, str(grandchild), str(marker)], timeout=1, max_memory=512 * MiB,
                          what="converter")
    assert time.monotonic() - t0 < 10
    time.sleep(0.2)
    pid = int(marker.read_text())  # the grandchild had started
    assert not _alive(pid), "the child's own child outlived the timeout"
    # the memory cap applies to the child
    done = workers.run_child([py, "-c", "b = bytearray(600 * 2**20)"], timeout=20, max_memory=300 * MiB)
    assert done.returncode != 0 and b"MemoryError" in done.stderr


def test_run_child_in_a_worker_takes_the_workers_limits():
    got = list(workers.run(_limits_here, ["x"], jobs=1, timeout=1.5, max_memory=256 * MiB))
    assert got == [("x", workers.Limits(max_memory=256 * MiB, timeout=1.5))]
    assert workers.current_limits() == workers.Limits()  # outside a worker: the defaults


def _limits_here(task):
    return workers.current_limits()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_memory_option_values():
    assert workers.memory_bytes("2") == 2 << 30
    assert workers.memory_bytes("1.5G") == 3 << 29
    assert workers.memory_bytes("1500M") == 1500 << 20
    assert workers.memory_bytes("512MiB") == 512 << 20
    assert workers.memory_bytes("0") is None and workers.memory_bytes("none") is None
    with pytest.raises(ValueError):
        workers.memory_bytes("lots")
