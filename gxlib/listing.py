"""The input files of a raw folder and their stat.

Light on purpose (the standard library only): ``gx parse`` lists the folder in a forked
child (:class:`ListingChild`) while it imports NumPy, Arrow and pandas itself. At 10^5
files the listing and the stat take ~0.3 s and the imports ~0.35 s; done one after the
other they were 15 % of a run that re-parses 1 % of the files.
"""
from __future__ import annotations

import functools
import os
import pickle
import sys
import time
from array import array
from pathlib import Path

from .readers import IGNORED_NAMES

MISSING = (-1, -1, -1, -1)


def list_inputs(raw_dir: Path) -> list[tuple[str, str]]:
    """``(path relative to raw_dir in POSIX form, full path)`` of every input file under
    ``raw_dir``, sorted by the relative path; dot-files and dot-folders are skipped, and so
    are the files that are never reports (manifest, README)."""
    out: list[tuple[str, str]] = []
    stack = [(str(raw_dir), "")]
    seen = set()  # real paths of the folders listed: a symlink loop is listed once
    while stack:
        folder, prefix = stack.pop()
        real = os.path.realpath(folder)
        if real in seen:
            continue
        seen.add(real)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            try:
                if e.is_dir():
                    stack.append((e.path, f"{prefix}{e.name}/"))
                elif e.is_file() and e.name not in IGNORED_NAMES:
                    out.append((prefix + e.name, e.path))
            except OSError:
                continue
    out.sort()
    return out


def stats(root: str, rels: list[str]) -> array:
    """size, mtime_ns, ctime_ns and inode of each file, four int64 a file in one flat
    array (:data:`MISSING` when it cannot be stat'ed), relative to an open ``root`` where
    the system allows (the kernel then does not walk the root's path 10^5 times)."""
    out = array("q")
    fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if os.stat in os.supports_dir_fd else None
    stat = functools.partial(os.stat, dir_fd=fd) if fd is not None else (lambda rel: os.stat(os.path.join(root, rel)))
    try:
        for rel in rels:
            try:
                st = stat(rel)
            except OSError:
                out.extend(MISSING)
                continue
            out.extend((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    finally:
        if fd is not None:
            os.close(fd)
    return out


def listing(raw_dir: Path) -> tuple[list[str], array, int]:
    """The files under ``raw_dir`` (relative paths, sorted), their stat, and the time
    (ns) the listing started: a file changed after it is not vouched for by its stat."""
    listed_at = time.time_ns()
    rels = [rel for rel, _ in list_inputs(raw_dir)]
    return rels, stats(str(raw_dir), rels), listed_at


class ListingChild:
    """:func:`listing` of ``raw_dir``, made by a forked child process while this one goes
    on (imports, mostly). :meth:`result` waits for it; ``None`` where the child could not
    be made or did not finish, and the caller lists the folder itself. Start it before
    any thread exists (a fork copies only the calling thread)."""

    def __init__(self, raw_dir: Path):
        self.raw_dir = Path(raw_dir)
        self.pid = self.fd = None
        if not hasattr(os, "fork") or sys.platform == "win32":
            return
        try:
            rfd, wfd = os.pipe()
        except OSError:
            return
        try:
            pid = os.fork()
        except OSError:
            os.close(rfd)
            os.close(wfd)
            return
        if pid == 0:  # the child: list, send, leave without running the parent's exit handlers
            code = 1
            try:
                os.close(rfd)
                rels, st, listed_at = listing(self.raw_dir)
                data = pickle.dumps((rels, st.tobytes(), listed_at), protocol=pickle.HIGHEST_PROTOCOL)
                view = memoryview(data)
                while view:
                    view = view[os.write(wfd, view):]
                code = 0
            except BaseException:  # noqa: BLE001 - the parent lists the folder itself
                code = 1
            finally:
                os._exit(code)
        os.close(wfd)
        self.pid, self.fd = pid, rfd

    def result(self) -> tuple[list[str], array, int] | None:
        if self.fd is None:
            return None
        chunks = []
        try:
            while chunk := os.read(self.fd, 1 << 20):
                chunks.append(chunk)
        except OSError:
            chunks = []
        finally:
            self.close()
        if not chunks:
            return None
        try:
            rels, flat, listed_at = pickle.loads(b"".join(chunks))
        except Exception:  # noqa: BLE001 - a child that died half-way: list again
            return None
        st = array("q")
        st.frombytes(flat)
        if len(st) != 4 * len(rels):
            return None
        return rels, st, listed_at

    def close(self) -> None:
        """Stop waiting for the child (closing the pipe ends a child still writing) and
        reap it."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.pid is not None:
            try:
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = None
