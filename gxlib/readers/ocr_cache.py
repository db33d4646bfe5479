"""OCR results of page images kept under their content key, so no page is OCR'd twice.

A page's key is the sha256 of the page image as the engine receives it (its pixels, shape
and type: the decoded image file or the rendered PDF page) and of :func:`fingerprint`
(the rapidocr and onnxruntime versions, whose wheel carries the models, and the source of
the OCR reader, which sets the engine's parameters and prepares its input).  The value is
what the engine returned for the page (boxes, texts, scores, word boxes) and for the cells
recognised again on their own crops: the reader's layout is computed from it every time,
so a cached page gives exactly the cells an engine call gives.

Where: one small gzipped JSON file per page, ``FOLDER/<k[:2]>/<k>.json.gz``, written to a
temporary name and renamed (atomic), because many worker processes (local or on a Dask
cluster) write pages at the same time and the result store's DuckDB file has one writer,
the pipeline's parent.  ``gx parse`` uses ``OUT/.gx/ocr`` (beside ``OUT/.gx/store.duckdb``;
``--no-cache`` removes both).  Nothing here is ever pruned: a page no longer in any input
stays until ``--no-cache`` (pages are a few kB).

The interface: :func:`page_cache` (a context manager) names the folder for this process
*and* for the worker processes started inside it (through the environment variable
``GXLIB_OCR_CACHE``); the OCR reader asks :func:`current`.  Without a folder nothing is
cached.  Each process's :class:`PageCache` counts its hits, misses and engine calls
(:meth:`PageCache.stats`).  Standard library only: ``gx parse`` imports it before it knows
whether anything needs parsing.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

ENV = "GXLIB_OCR_CACHE"


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """The OCR engine and model versions and the OCR reader's code."""
    from importlib.metadata import PackageNotFoundError, version

    h = hashlib.sha256((Path(__file__).parent / "ocr.py").read_bytes())
    for name in ("rapidocr", "onnxruntime"):
        try:
            h.update(f"{name}={version(name)}".encode())
        except PackageNotFoundError:
            h.update(f"{name}=-".encode())
    return h.hexdigest()[:16]


def image_key(img) -> str:
    """The content key of an image array (pixels, shape, type) under :func:`fingerprint`."""
    h = hashlib.sha256(f"{fingerprint()}\n{img.shape}\n{img.dtype}\n".encode())
    h.update(memoryview(img if img.flags.c_contiguous else img.copy()).cast("B"))
    return h.hexdigest()[:40]


class PageCache:
    """One folder of page results (see the module doc), with this process's counts."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.hits = 0  # pages found
        self.misses = 0  # pages not found (read by the engine)
        self.engine_calls = 0  # calls of the OCR engine (whole pages and single cells)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json.gz"

    def get(self, key: str) -> dict | None:
        try:
            record = json.loads(gzip.decompress(self._path(key).read_bytes()))
        except (OSError, ValueError, EOFError):  # absent, or damaged: read again
            self.misses += 1
            return None
        self.hits += 1
        return record

    def put(self, key: str, record: dict) -> None:
        """Store a page's record; a cache that cannot be written costs a re-read, never a page."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(gzip.compress(json.dumps(record, ensure_ascii=False).encode(), 6))
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)

    def stats(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "engine_calls": self.engine_calls}


_caches: dict[str, PageCache] = {}


def current() -> PageCache | None:
    """The cache named by ``GXLIB_OCR_CACHE`` in this process (None: no cache)."""
    folder = os.environ.get(ENV)
    if not folder:
        return None
    if folder not in _caches:
        _caches[folder] = PageCache(folder)
    return _caches[folder]


@contextlib.contextmanager
def page_cache(folder: str | Path | None):
    """Use ``folder`` for OCR page results in this process and the processes it starts
    meanwhile; yields this process's :class:`PageCache` (None when ``folder`` is None)."""
    before = os.environ.get(ENV)
    if folder is None:
        os.environ.pop(ENV, None)
    else:
        folder = str(Path(folder).resolve())
        _caches[folder] = PageCache(folder)  # fresh counts for this use
        os.environ[ENV] = folder
    try:
        yield current()
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
