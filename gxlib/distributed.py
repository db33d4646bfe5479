"""``gx parse --scheduler ADDRESS``: the per-file work on a Dask distributed cluster.

A national run OCRs more pages than one machine reads in a day.  With ``--scheduler`` the
parent still lists, hashes, stores and exports (one writer, as always); only the per-file
work — read the file, parse it, turn it into the five tables' rows, the function the local
pool runs (:func:`gxlib.pipeline.parse_one`) — goes to the cluster, one file a task, and
the results are taken as they complete.  The outputs are the same as a local run's: every
row carries its file's content key and the exports are sorted by DuckDB, so the order in
which files come back does not matter.

**How a worker gets the file.**  If every worker sees the input paths (a shared file system
mounted at the same place: checked at the start on the first and last file, by size), the
workers read the files themselves: the bytes never pass through the parent or the
scheduler, which is what lets a large run scale.  Otherwise the parent sends each file's
bytes with its task (and the worker parses them from a temporary file under the same
relative name): slower, the parent's network link carries every byte, but it works with
any cluster.  Which one was used is printed.  In-flight tasks are limited, so the parent
never holds more than a few files per worker thread.

**OCR page cache.**  Workers that see the output folder's page cache (``OUT/.gx/ocr``)
use it; a worker that does not, OCRs without it (printed: pages on it may be OCR'd again).

**Failures.**  A file whose task fails is a ``failed`` report with the reason; the batch
goes on.  When a worker dies (Dask retries the tasks it held, then gives up on them:
``distributed.scheduler.allowed-failures``), every file it held is read again at the end,
alone, so only the file that kills its worker is failed.
Workers running another gxlib or parser (their fingerprint differs) stop the run before
anything is parsed: their results would not match a local run's.

Not here: the per-file time and memory limits of the local pool (a Dask worker has its own
memory limit, set when the cluster is started: ``dask worker --memory-limit``).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

IN_FLIGHT_PER_THREAD = 4  # tasks submitted ahead per worker thread


class SchedulerError(RuntimeError):
    """The cluster cannot be used (unreachable, no workers, another gxlib on the workers)."""


def _needs_dask():
    try:
        import distributed
    except ImportError:
        raise SchedulerError("--scheduler needs the dask extra (pip install 'gxlib[dask]')") from None
    return distributed


def _worker_facts(probe_paths: list[tuple[str, int]], ocr_folder: str | None) -> dict:
    """Run on every worker: its gxlib fingerprint and which of the parent's paths it sees."""
    from gxlib.pipeline import parser_fingerprint

    seen = all(os.path.isfile(p) and os.path.getsize(p) == size for p, size in probe_paths)
    return {"fingerprint": parser_fingerprint(), "sees_inputs": seen,
            "sees_ocr_cache": bool(ocr_folder) and os.path.isdir(ocr_folder)}


def work(task, data: bytes | None, ocr_folder: str | None) -> tuple:
    """One file (a :class:`gxlib.workers.FileTask`) on a worker: :func:`gxlib.pipeline.parse_one`
    of it, read from its path (``data`` None) or from the bytes sent with it."""
    import tempfile

    from gxlib.pipeline import parse_one
    from gxlib.readers import ocr_cache
    from gxlib.workers import FileTask

    if ocr_folder and os.path.isdir(ocr_folder):
        os.environ[ocr_cache.ENV] = ocr_folder  # (the same value for every task of the run)
    if data is None:
        return parse_one(task)
    with tempfile.TemporaryDirectory(prefix="gx-dask-") as tmp:
        path = Path(tmp) / Path(task.source_file).name
        path.write_bytes(data)
        return parse_one(FileTask(str(path), task.source_file, task.manifest_row))


def failed(task, reason: str) -> tuple:
    """The result of a file whose task failed: one ``failed`` report row with ``reason``
    (the report id and sha256 a parse would give), no table rows, in the form
    :func:`gxlib.pipeline.parse_one` gives."""
    from gxlib.pipeline import compact
    from gxlib.workers import failed_result

    return compact(failed_result(task, reason))


def parse_files(tasks: list[tuple], address: str, say=None, func=None):
    """Parse ``tasks`` (:class:`gxlib.workers.FileTask`, as the local pool gets them) on the
    cluster at ``address``; yield ``(task, result)`` per file, ``result`` as
    :func:`gxlib.pipeline.parse_one` gives it, in completion order.  ``func(task, data, ocr_folder)`` replaces :func:`work` (tests)."""
    distributed = _needs_dask()
    from gxlib.pipeline import parser_fingerprint
    from gxlib.readers import ocr_cache

    say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if not tasks:
        return
    try:
        client = distributed.Client(address, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise SchedulerError(f"cannot reach the Dask scheduler at {address}: {err}") from None
    try:
        client.wait_for_workers(1, timeout=60)
        ocr_folder = os.environ.get(ocr_cache.ENV)
        probe = [(os.path.abspath(t.path), _size(t.path)) for t in (tasks[0], tasks[-1])]
        facts = client.run(_worker_facts, probe, ocr_folder)
        mine = parser_fingerprint()
        other = sorted(w for w, f in facts.items() if f["fingerprint"] != mine)
        if other:
            raise SchedulerError(f"Dask workers {', '.join(other)} run another gxlib or parser (fingerprint "
                                 f"{facts[other[0]]['fingerprint']}, here {mine}): install the same gxlib there")
        shared = all(f["sees_inputs"] for f in facts.values())
        threads = sum(client.nthreads().values()) or 1
        say(f"Dask cluster {address}: {len(facts)} workers, {threads} threads; "
            + ("the workers read the files from the shared paths" if shared
               else "the workers do not all see the input paths: the files' bytes are sent with the tasks"))
        if ocr_folder and not all(f["sees_ocr_cache"] for f in facts.values()):
            say(f"some workers do not see the OCR page cache {ocr_folder}: pages they read are not kept")
        yield from _gather(client, distributed, func or work, tasks, shared, ocr_folder,
                           threads * IN_FLIGHT_PER_THREAD)
    finally:
        client.close()


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def _gather(client, distributed, func, tasks, shared: bool, ocr_folder, window: int):
    import itertools

    todo, number = iter(tasks), itertools.count()
    running = {}
    done = distributed.as_completed(loop=client.loop)

    def submit() -> bool:
        task = next(todo, None)
        if task is None:
            return False
        data = _data(task, shared)
        # pure=False: a file is parsed once per run, never taken from another task's result
        fut = client.submit(func, task, data, ocr_folder, pure=False, key=f"gx-parse-{next(number)}-{os.getpid()}")
        running[fut.key] = task
        done.add(fut)
        return True

    for _ in range(window):
        if not submit():
            break
    suspects = []  # files whose worker died: perhaps because of another file it held
    for fut in done:
        task = running.pop(fut.key)
        try:
            res = fut.result()
        except Exception as err:  # noqa: BLE001 - one file's failure is that file's row
            if type(err).__name__ == "KilledWorker":
                suspects.append(task)
                res = None
            else:
                res = failed(task, f"failed on the Dask worker: {type(err).__name__}: {err}")
        fut.release()
        if res is not None:
            yield task, res
        submit()
    # A worker that dies takes every task it held with it (Dask counts them all), so each
    # such file is read again on its own, nothing else in flight: only the file that kills
    # its worker then fails.
    for task in suspects:
        fut = client.submit(func, task, _data(task, shared), ocr_folder, pure=False,
                            key=f"gx-parse-alone-{next(number)}-{os.getpid()}")
        try:
            res = fut.result()
        except Exception as err:  # noqa: BLE001
            kind = type(err).__name__
            res = failed(task, f"the Dask worker died while reading this file ({kind}), also when it was read alone"
                         if kind == "KilledWorker" else f"failed on the Dask worker: {kind}: {err}")
        fut.release()
        yield task, res


def _data(task: tuple, shared: bool) -> bytes | None:
    if shared:
        return None
    try:
        return Path(task.path).read_bytes()
    except OSError:
        return None  # the worker meets the same error and reports it with the file
