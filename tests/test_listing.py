"""The listing of a raw folder: what counts as an input."""
from __future__ import annotations

import os

from gxlib import listing


def test_listing_sorted_without_dot_files_readme_or_manifest(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for rel in ("b/2.txt", "a.txt", "manifest.csv", "README.md", ".x.txt", ".hidden/y.txt", "b/1.pdf"):
        (tmp_path / rel).write_text("x", encoding="utf-8")
    assert [rel for rel, _ in listing.list_inputs(tmp_path)] == ["a.txt", "b/1.pdf", "b/2.txt"]
    os.symlink(tmp_path, tmp_path / "b" / "loop")  # a symlink loop is listed once
    assert [rel for rel, _ in listing.list_inputs(tmp_path)] == ["a.txt", "b/1.pdf", "b/2.txt"]


def test_stat_of_a_file_gone_is_missing(tmp_path):
    assert listing.stat(str(tmp_path / "gone.txt")) == listing.MISSING
    (tmp_path / "here.txt").write_bytes(b"abc")
    assert listing.stat(str(tmp_path / "here.txt"))[0] == 3
