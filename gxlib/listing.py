"""The input files of a raw folder and their stat (the standard library only: ``gx parse``
lists a folder before it imports anything heavy)."""
from __future__ import annotations

import hashlib
import os
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


def stat(path: str) -> tuple[int, int, int, int]:
    """size, mtime_ns, ctime_ns and inode of a file (:data:`MISSING` when it cannot be stat'ed)."""
    try:
        st = os.stat(path)
    except OSError:
        return MISSING
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def sha256_of(path) -> str:
    """sha256 of a file's bytes, read 1 MB at a time; empty when it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()
