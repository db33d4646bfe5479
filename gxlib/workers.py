"""A process pool for per-file work that one hostile file cannot take down.

:func:`run` calls ``func(task)`` for every task in worker processes and yields
``(task, outcome)``: ``outcome`` is what ``func`` returned, or a :class:`Failure` whose
``reason`` says in words why there is no result.  Every task gets an outcome; the batch
always goes on:

* **time**: a task that runs longer than ``timeout`` seconds is stopped (its worker is
  killed and replaced): ``"took longer than 120 s (limit): not read"``;
* **memory**: each worker's address space is capped (``RLIMIT_AS``) at what it held when it
  started (after ``initializer``: import heavy libraries there, NumPy's OpenBLAS reserves
  ~1 GB of address space on import) plus ``max_memory``; a task whose allocation fails there is
  ``"needed more than 2.0 GB of memory (limit): not read"`` and its worker is replaced
  (a process that ran out of memory is not trusted with the next file);
* **death**: a worker that dies (the kernel's out-of-memory killer, a segfault in a C
  library, ``kill -9``) costs the task it held and nothing else: that task is
  ``"the parser process died while reading this file: killed by signal 9 (SIGKILL)"``,
  the tasks sent to it ahead are given to other workers, and a new worker takes its place;
* **exceptions** ``func`` lets through are a failure with the exception's text.

Results come in the order they finish (``ordered=False``, the default: a slow file holds
back nothing), or in the order of ``tasks`` (``ordered=True``; the pool then runs at most
a bounded window of tasks ahead of the oldest unfinished one, so memory stays flat).
``tasks`` may be any iterable (a generator over a million files): it is consumed as
workers become free.

Child processes (LibreOffice, OCR) started by a reader in a worker go through
:func:`run_child`: the same memory cap and time limit, their own process group, killed as
a whole on a timeout and when the worker dies.

:func:`parse_files` shows how the pipeline uses the pool: read a file, parse it with
:func:`gxlib.parse.parse_bytes`, and turn every failure into a ``failed`` report row with
its reason.
"""
from __future__ import annotations

import collections
import multiprocessing
import multiprocessing.connection
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .listing import sha256_of

GiB = 1 << 30
DEFAULT_MAX_MEMORY = 2 * GiB   # per file, on top of what a worker holds when it starts
DEFAULT_TIMEOUT = 120.0        # seconds per file

_OK, _ERROR, _MEMORY, _INIT_FAILED = "ok", "error", "memory", "init-failed"


@dataclass(frozen=True)
class Failure:
    """No result for a task: ``kind`` is ``timeout``, ``memory``, ``died`` or ``error``;
    ``reason`` is the sentence for ``reports.csv``."""

    kind: str
    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Limits:
    """The limits of one task: bytes of memory (None: no cap) and seconds (None: no limit)."""

    max_memory: int | None = DEFAULT_MAX_MEMORY
    timeout: float | None = DEFAULT_TIMEOUT


_limits: Limits | None = None  # set in a worker process: what run_child uses by default


def current_limits() -> Limits:
    """The limits of the worker this runs in (the defaults outside a worker)."""
    return _limits or Limits()


def memory_bytes(text: str | float) -> int | None:
    """A ``--max-file-memory`` value in bytes: ``2`` or ``2G`` (GiB), ``1500M`` (MiB),
    ``0`` or ``none`` for no cap (None)."""
    t = str(text).strip().lower().removesuffix("b").removesuffix("i")
    if t in ("0", "none", "off", ""):
        return None
    scale = GiB
    if t[-1:] in ("g", "m", "k"):
        scale = {"g": GiB, "m": 1 << 20, "k": 1 << 10}[t[-1]]
        t = t[:-1]
    value = float(t)
    if value < 0:
        raise ValueError(f"memory cap {text!r} is negative")
    return int(value * scale) or None


def memory_text(n: int) -> str:
    return f"{n / GiB:.1f} GB" if n >= GiB else f"{n / (1 << 20):.0f} MB"


def memory_reason(max_memory: int | None) -> str:
    if not max_memory:
        return "ran out of memory: not read"
    return f"needed more than {memory_text(max_memory)} of memory (limit): not read"


def timeout_reason(timeout: float) -> str:
    return f"took longer than {timeout:g} s (limit): not read"


def death_reason(exitcode: int | None) -> str:
    return f"the parser process died while reading this file: {_exit_text(exitcode)}"


def _exit_text(exitcode: int | None) -> str:
    if exitcode is None:
        return "no exit status"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        hint = ": the out-of-memory killer, or killed by hand" if -exitcode == signal.SIGKILL else ""
        return f"killed by signal {-exitcode} ({name}{hint})"
    return f"exit code {exitcode}"


# ---------------------------------------------------------------------------------------
# the worker side

def _vm_size() -> int:
    """This process's address space in bytes (VmSize), 0 where /proc is not there."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cap_memory(max_memory: int | None) -> None:
    """Cap this process's address space at its present size plus ``max_memory``."""
    if not max_memory:
        return
    try:
        import resource
    except ImportError:  # pragma: no cover - not a POSIX system
        return
    base = _vm_size()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = base + max_memory
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _die_with_parent() -> None:
    """Linux: this process gets SIGKILL when the process that started it dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_main(conn, func, initializer, initargs, limits: Limits) -> None:
    global _limits
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
    try:
        os.setpgrp()  # one process group: a kill takes the worker's own children with it
    except OSError:
        pass
    _die_with_parent()
    _limits = limits
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException as err:  # noqa: BLE001 - reported to the parent, which stops
            conn.send((None, _INIT_FAILED, f"{type(err).__name__}: {err}"))
            return
    _cap_memory(limits.max_memory)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        seq, task = msg
        try:
            reply = (seq, _OK, func(task))
        except MemoryError:
            reply = (seq, _MEMORY, None)
        except RecursionError:
            reply = (seq, _ERROR, "nested too deeply for the parser (recursion limit): not read")
        except Exception as err:  # noqa: BLE001 - a failure of this task only
            reply = (seq, _ERROR, f"could not read the file ({type(err).__name__}: {err})")
        try:
            conn.send(reply)
        except MemoryError:
            reply = (seq, _MEMORY, None)
            conn.send(reply)
        except Exception as err:  # noqa: BLE001 - a result that cannot be pickled
            conn.send((seq, _ERROR, f"the result could not be passed back ({type(err).__name__}: {err})"))
        if reply[1] == _MEMORY:
            return  # a fresh process for the next file


# ---------------------------------------------------------------------------------------
# the parent side

class _Worker:
    def __init__(self, ctx, func, initializer, initargs, limits: Limits):
        parent_end, child_end = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child_end, func, initializer, initargs, limits),
                                daemon=True, name="gxlib-worker")
        self.proc.start()
        child_end.close()
        self.conn = parent_end
        self.inflight: collections.deque = collections.deque()  # (seq, task), the first one running
        self.started = 0.0  # when the first task in flight began

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    def send(self, seq: int, task: Any) -> None:
        if not self.inflight:
            self.started = time.monotonic()
        self.inflight.append((seq, task))
        self.conn.send((seq, task))

    def kill(self) -> None:
        pid = self.proc.pid
        if pid is not None and self.proc.exitcode is None:
            for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    kill()
                except (ProcessLookupError, PermissionError):
                    pass
        self.proc.join(5)
        self.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(2)
        if self.proc.exitcode is None:
            self.kill()
        self.close()

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass


class WorkerStartError(RuntimeError):
    """A worker's initializer failed: no task can run."""


def run(func: Callable[[Any], Any], tasks: Iterable[Any], *, jobs: int | None = None,
        max_memory: int | None = DEFAULT_MAX_MEMORY, timeout: float | None = DEFAULT_TIMEOUT,
        initializer: Callable | None = None, initargs: tuple = (), ordered: bool = False,
        prefetch: int = 2, start_method: str | None = None) -> Iterator[tuple[Any, Any]]:
    """``(task, func(task) or Failure)`` for every task, computed in ``jobs`` worker
    processes (default: every core) under the limits described in the module docstring
    (``max_memory`` or ``timeout`` None or 0: no such limit).

    ``prefetch`` tasks are sent to a worker at a time (the next one is ready when the
    first ends).  ``start_method`` is a :mod:`multiprocessing` start method (default
    ``fork`` where there is one: ``func`` need not be importable); with ``forkserver`` or
    ``spawn`` ``func``, ``initializer`` and the tasks must be picklable.  Stopping the
    iteration early (``break``, an exception, Ctrl-C) stops the workers."""
    jobs = max(1, jobs or os.cpu_count() or 1)
    prefetch = max(1, prefetch)
    timeout = timeout if timeout and timeout > 0 else None  # 0: no limit
    max_memory = max_memory if max_memory and max_memory > 0 else None
    if start_method is None:
        start_method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    ctx = multiprocessing.get_context(start_method)
    limits = Limits(max_memory, timeout)
    source = iter(tasks)
    exhausted = False
    requeue: collections.deque = collections.deque()  # (seq, task) given back by a replaced worker
    window = jobs * prefetch * 8  # ordered: tasks in flight or done ahead of the oldest unfinished one
    done: dict[int, tuple[Any, Any]] = {}  # ordered: finished, waiting for their turn
    next_out = 0
    ready_out: collections.deque = collections.deque()  # unordered: finished, to yield
    workers: list[_Worker] = []

    def spawn() -> _Worker:
        return _Worker(ctx, func, initializer, initargs, limits)

    def finish(seq: int, task: Any, outcome: Any) -> None:
        if ordered:
            done[seq] = (task, outcome)
        else:
            ready_out.append((task, outcome))

    def retire(w: _Worker, outcome_of_first: Any | None, killed: bool) -> None:
        """Replace worker ``w``: its first task in flight gets ``outcome_of_first`` (when
        given), the others go back to the queue."""
        if w.inflight and outcome_of_first is not None:
            seq, task = w.inflight.popleft()
            finish(seq, task, outcome_of_first)
        requeue.extendleft(reversed(w.inflight))
        w.inflight.clear()
        if killed:
            w.kill()
        else:
            w.stop()
        workers[workers.index(w)] = spawn()

    issued = 0  # sequence numbers given out

    def next_task() -> tuple[int, Any] | None:
        nonlocal exhausted, issued
        if requeue:
            return requeue.popleft()
        if exhausted or (ordered and issued - next_out >= window):
            return None
        try:
            task = next(source)
        except StopIteration:
            exhausted = True
            return None
        issued += 1
        return issued - 1, task

    try:
        workers.extend(spawn() for _ in range(jobs))
        while True:
            # hand out work
            for w in list(workers):
                if not w.inflight and not w.proc.is_alive():  # died idle: no file to blame
                    retire(w, None, killed=True)
                    continue  # its replacement gets work on the next round
                while len(w.inflight) < prefetch:
                    item = next_task()
                    if item is None:
                        break
                    try:
                        w.send(*item)
                    except (OSError, ValueError):  # the worker is gone: the task goes to another
                        w.inflight.pop()
                        requeue.appendleft(item)
                        w.proc.join(1)  # (a task sent before was running when it died)
                        retire(w, Failure("died", death_reason(w.proc.exitcode)) if w.inflight else None,
                               killed=True)
                        break
            # results ready to give
            if ordered:
                while next_out in done:
                    yield done.pop(next_out)
                    next_out += 1
            else:
                while ready_out:
                    yield ready_out.popleft()
            busy = [w for w in workers if w.inflight]
            if not busy:
                if exhausted and not requeue:
                    break
                continue  # a worker was replaced before it took its tasks: hand them out again
            now = time.monotonic()
            wait_for = None
            if timeout is not None:
                wait_for = max(0.0, min(w.started + timeout for w in busy) - now)
            handles = {}
            for w in busy:
                handles[w.conn] = w
                handles[w.proc.sentinel] = w
            ready = multiprocessing.connection.wait(list(handles), wait_for)
            seen = set()
            for handle in ready:
                w = handles[handle]
                if id(w) in seen or w not in workers:
                    continue
                seen.add(id(w))
                _collect(w, timeout, max_memory, finish, retire)
            if timeout is not None:
                now = time.monotonic()
                for w in list(workers):
                    if w.inflight and now - w.started >= timeout:
                        retire(w, Failure("timeout", timeout_reason(timeout)), killed=True)
    finally:
        for w in workers:
            if w.inflight:
                w.kill()
            else:
                w.stop()


def _collect(w: _Worker, timeout, max_memory, finish, retire) -> None:
    """Take every message worker ``w`` has sent; handle its death."""
    while True:
        try:
            if not w.conn.poll():
                break
            msg = w.conn.recv()
        except (EOFError, OSError):
            break  # the pipe is closed: the worker is gone (below)
        seq, kind, value = msg
        if kind == _INIT_FAILED:
            raise WorkerStartError(f"a worker could not start: {value}")
        if not w.inflight or w.inflight[0][0] != seq:  # pragma: no cover - protocol error
            raise RuntimeError("worker answered out of turn")
        _, task = w.inflight.popleft()
        w.started = time.monotonic()
        if kind == _OK:
            finish(seq, task, value)
        elif kind == _MEMORY:
            finish(seq, task, Failure("memory", memory_reason(max_memory)))
            retire(w, None, killed=False)
            return
        else:
            finish(seq, task, Failure("error", value))
    if not w.proc.is_alive():
        w.proc.join()
        retire(w, Failure("died", death_reason(w.proc.exitcode)), killed=True)


# ---------------------------------------------------------------------------------------
# child processes of a worker (LibreOffice, OCR)

class ChildFailed(Exception):
    """A child process failed; ``str(err)`` is the reason (a ReadError in the readers)."""


def run_child(cmd: list[str], *, timeout: float | None = None, max_memory: int | None = None,
              input: bytes | None = None, cwd: str | Path | None = None, env: dict | None = None,
              what: str | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` (a list, no shell) under the file's limits and return its completed
    process (stdout and stderr as bytes).  ``timeout`` and ``max_memory`` default to the
    limits of the worker this runs in (:func:`current_limits`); the child's address space
    is capped at ``max_memory``.  The child gets its own process group, killed as a whole
    when the time is up, and dies with the worker.  Raises :class:`gxlib.readers.ReadError`
    (timeout, a signal) with the reason; a non-zero exit is left to the caller
    (``returncode``)."""
    from .readers import ReadError

    limits = current_limits()
    timeout = limits.timeout if timeout is None else timeout
    max_memory = limits.max_memory if max_memory is None else max_memory
    what = what or Path(cmd[0]).name

    def limit_child() -> None:  # in the child, between fork and exec
        if max_memory:
            import resource

            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            cap = max_memory if hard == resource.RLIM_INFINITY else min(max_memory, hard)
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        _die_with_parent()

    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
                            preexec_fn=limit_child, start_new_session=True)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ReadError(f"{what} {timeout_reason(timeout)}") from None
    except BaseException:
        _kill_group(proc)
        raise
    if proc.returncode < 0:
        raise ReadError(f"{what} died: {_exit_text(proc.returncode)}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.communicate()


# ---------------------------------------------------------------------------------------
# the pipeline's use: files -> report records

@dataclass(frozen=True)
class FileTask:
    """One raw file: its path, its ``source_file`` (path relative to the raw folder) and
    its manifest row."""

    path: str
    source_file: str
    manifest_row: dict | None = None


def parse_file(task: FileTask) -> dict:
    """Read one file (at most :data:`gxlib.readers.guards.MAX_FILE_BYTES`) and parse it:
    the records of :func:`gxlib.parse.parse_bytes`.  Runs in a worker.  A reader that
    ran out of memory and reported it as a read error is re-raised as ``MemoryError``,
    so the pool gives the true reason and a fresh worker."""
    from .parse import parse_bytes
    from .readers import ReadError, guards

    try:
        data = guards.read_file(task.path)
    except ReadError as err:
        return failed_result(task, str(err))
    except OSError as err:
        return failed_result(task, f"cannot open the file: {err.strerror or err}")
    result = parse_bytes(data, task.source_file, task.manifest_row)
    if result["report"]["status"] == "failed" and "MemoryError" in (result["report"].get("error") or ""):
        raise MemoryError
    return result


def warm_worker() -> None:
    """A parse worker's start (before any file's clock runs and before its memory cap):
    import the parser and NumPy/Arrow, and build the division tables of the national
    templates' years, which every parse uses.  NumPy's OpenBLAS reserves ~1 GB of
    address space as it is imported: imported under the cap, it would count against the
    first file (and under a small cap it exits the process)."""
    import contextlib

    import numpy  # noqa: F401
    import pyarrow  # noqa: F401

    from . import parse, regions  # noqa: F401 - imported once, here

    with contextlib.suppress(Exception):  # a failure shows where a parse meets it, with its file
        regions.warm(range(2019, regions.LAST_YEAR + 1))


def failed_result(task: FileTask, reason: str) -> dict:
    """The records of a file that could not be parsed: one ``failed`` report row with
    ``reason``, with the ``report_id`` and ``sha256`` a parse would give (the file is
    hashed here, in pieces), the manifest's fields, no table rows."""
    from .parse import REPORT_COLUMNS, _apply_manifest, report_id

    sha = sha256_of(task.path)
    report = {c: "" for c in REPORT_COLUMNS}
    report.update(report_id=report_id(task.source_file, sha), source_file=task.source_file, sha256=sha,
                  year=None, level="unknown", status="failed", error=reason,
                  format=Path(task.source_file).suffix.lstrip(".").lower())
    try:
        _apply_manifest(report, task.manifest_row, "")
    except Exception:  # noqa: BLE001 - a manifest row that does not resolve changes nothing here
        pass
    return {"report": report, "disclosure": [], "applications": [], "reviews": [], "checks": []}


def parse_files(tasks: Iterable[FileTask], *, jobs: int | None = None,
                max_memory: int | None = DEFAULT_MAX_MEMORY, timeout: float | None = DEFAULT_TIMEOUT,
                ordered: bool = False, initializer: Callable | None = warm_worker,
                func: Callable[[FileTask], dict] = parse_file) -> Iterator[dict]:
    """The records of every file (:func:`parse_file` in the pool): a file that hit a
    limit or whose worker died is a ``failed`` report row with the reason.  Exactly one
    result per task."""
    for task, outcome in run(func, tasks, jobs=jobs, max_memory=max_memory, timeout=timeout,
                             ordered=ordered, initializer=initializer):
        if isinstance(outcome, Failure):
            yield failed_result(task, outcome.reason)
        else:
            yield outcome
