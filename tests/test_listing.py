"""Listing the raw folder: in-process, or in a forked child while `gx parse` imports."""
from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest

from gxlib import cli, listing, pipeline


@pytest.fixture
def folder(tmp_path):
    raw = tmp_path / "raw"
    (raw / "b" / "c").mkdir(parents=True)
    (raw / ".hidden").mkdir()
    for rel, data in [("a.txt", b"1"), ("b/x.html", b"22"), ("b/c/y.txt", b"333"), ("README.md", b"no"),
                      (".dot.txt", b"no"), (".hidden/z.txt", b"no"), ("manifest.csv", b"file\n")]:
        (raw / rel).write_bytes(data)
    return raw


def test_listing_sorted_without_dot_files_readme_or_manifest(folder):
    rels, st, listed_at = listing.listing(folder)
    assert rels == ["a.txt", "b/c/y.txt", "b/x.html"]
    st = np.frombuffer(st, dtype=np.int64).reshape(-1, 4)
    assert st[:, 0].tolist() == [1, 3, 2]
    assert st[:, 3].tolist() == [os.stat(folder / r).st_ino for r in rels]
    assert 0 < listed_at


def test_stat_of_a_file_gone_is_missing(folder):
    st = listing.stats(str(folder), ["a.txt", "gone.txt"])
    assert list(st[4:]) == list(listing.MISSING)
    assert st[0] == 1


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="no fork")
def test_child_lists_what_this_process_would(folder):
    child = listing.ListingChild(folder)
    assert child.pid is not None
    got = child.result()
    rels, st, _ = listing.listing(folder)
    assert got[0] == rels and got[1] == st
    assert child.pid is None and child.fd is None  # reaped


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="no fork")
def test_child_not_waited_for_is_reaped(folder):
    child = listing.ListingChild(folder)
    pid = child.pid
    child.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, 0)
    assert child.result() is None  # and the caller lists the folder itself


def test_run_with_a_failed_child_lists_the_folder_itself(folder, tmp_path):
    class Failed:
        def result(self):
            return None

    res = pipeline.run(folder, tmp_path / "out", jobs=1, listed=Failed())
    assert res.files == 3


def test_command_forks_only_without_other_threads(folder):
    child = cli._listing_child(folder)
    if hasattr(os, "fork") and sys.platform != "win32":
        assert child is not None and child.result()[0] == ["a.txt", "b/c/y.txt", "b/x.html"]
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert cli._listing_child(folder) is None
    finally:
        stop.set()
        t.join()
