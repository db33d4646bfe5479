"""Batch rendering: a grid of notebooks × parameter sets -> executed notebooks, HTML
reports with code hidden, and an index page (``gx render``).

The grid lives in a YAML file (default ``notebooks/render.yml``)::

    defaults:            # parameters given to every notebook
      lang: zh
    reports:
      - notebook: 01_zero_applications.ipynb     # relative to the YAML file
        title: 零申请率 / Zero-application rates
      - notebook: 01_zero_applications.ipynb
        title: 零申请率 / Zero-application rates
        for_each: province    # one run per distinct non-empty value of reports.<column>
        parameters: {}        # extra parameters for this entry (override defaults)

``for_each`` names a column of ``reports`` (agency, province, prefecture, level, year,
...); the value is passed as the parameter of the same name (``parameter:`` renames it).
``limit: N`` keeps the N values with the most reports (ties by value); the index says how
many were left out and how to render one of them (``--only NAME`` matches any value, limit
or not; ``-p agency=NAME`` makes a ``for_each: agency`` entry render just that value).
``for_each: agency_id`` (the agency profiles) iterates over agency identities, not names: the
two names of one body are one run, and one generic name written by bodies of several cities
(市公共资源交易中心) is several; titles and file names show the display name from the
``agencies`` table (copies, ``duplicate_of``, are not counted for ``limit``).
Every run also gets ``data_dir`` (absolute).

Runs execute in parallel in a process pool; each worker keeps one Jupyter kernel (``python3``)
and reuses it from notebook to notebook, with the user namespace reset (``%reset -f``),
figures closed and the working directory set before each run, so the imports and the
per-report panel (``gxlib.panel``, cached in ``<out>/cache`` once per run) are paid once per
worker rather than once per notebook.  Kernels keep no output cache (``Out``, ``_1``) and no
input history, so nothing of one notebook stays alive in the next and IPython's history
database prints nothing into the reports.  ``fresh_kernels=True`` (``--fresh-kernels``)
starts a new kernel for every notebook instead; a kernel is always restarted after a
failed run.
Parameters are injected as papermill does (an ``injected-parameters`` cell).  A failing run
is recorded as failed with its error and does not stop the others.  Outputs::

    <out>/executed/<name>.ipynb   executed notebooks (the papermill record of parameters)
    <out>/html/<name>.html        HTML with input cells hidden
    <out>/thumbs/<name>.png       a small copy of each report's first figure
    <out>/index.html              every run grouped by notebook, failures first: title,
                                  parameters, key figures (as people read them), thumbnail,
                                  and a filter box (province, agency, any text)
    <out>/index.json              the same, machine-readable

The HTML reports are self-contained (figures embedded, no script or font loaded from the
network), show tables without the pandas row index (a default 0, 1, 2, … index is left
out; a meaningful one is kept) and link back to the index.
    <out>/cache/                  per-report panel of the data folder (gxlib.panel)
    <out>/executed/kernel-*.log   kernel stderr

Every value that comes from data (agency names, file names, errors) is HTML-escaped in
the index; notebooks escape what they put into Markdown (``gxlib.plotting.md``).
"""
from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import re
import shlex
import shutil
import sys
import time
import traceback
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = Path("notebooks/render.yml")
FIGURES_MARKER = "GXLIB-KEY-FIGURES "  # same as gxlib.plotting.FIGURES_MARKER


@dataclass
class Job:
    """One notebook run of the grid."""

    notebook: str            # absolute path of the source notebook
    name: str                # output stem (safe file name)
    title: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class Omitted:
    """A ``for_each`` entry whose values were cut by ``limit``."""

    title: str
    notebook: str
    column: str
    parameter: str
    shown: int
    total: int


@dataclass
class Result:
    job: Job
    status: str = "ok"       # ok | failed
    error: str = ""
    seconds: float = 0.0
    executed: str = ""       # path relative to the output folder ('' if none)
    html: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    thumb: str = ""          # small PNG of the report's first figure ('' if it has none)


# --------------------------------------------------------------------------- grid
def slug(value: Any, limit: int = 40, key: Any = None) -> str:
    """A file-name-safe, collision-resistant rendering of ``value`` (keeps CJK letters);
    the digest is of ``key`` when given (a display name shown for an id)."""
    text = str(value)
    safe = re.sub(r"[^\w\-]+", "_", text, flags=re.UNICODE).strip("_")[:limit] or "x"
    digest = hashlib.sha1(str(text if key is None else key).encode("utf-8")).hexdigest()[:8]
    return f"{safe}-{digest}"


def _distinct(data_dir: Path, column: str, limit: int | None = None) -> tuple[list[Any], int]:
    """Distinct non-empty values of one reports column (reads only that column) and how
    many there are.  With ``limit``, the values with the most reports (ties by value)."""
    import pandas as pd

    pq, csv = data_dir / "reports.parquet", data_dir / "reports.csv"
    if pq.is_file():   # a batch at a time: the parent of a national render holds counts only
        import pyarrow.parquet as pap

        parts = (b.column(0).to_pandas() for b in pap.ParquetFile(pq).iter_batches(
            columns=[column], batch_size=1 << 16))
    elif csv.is_file():
        parts = iter([pd.read_csv(csv, usecols=[column], dtype=str, keep_default_na=False,
                                  encoding="utf-8-sig")[column]])
    else:
        raise FileNotFoundError(f"{data_dir}: reports.parquet / reports.csv not found; "
                                "run `gx parse RAW_DIR` first")
    counts = pd.Series(dtype="int64")
    for values in parts:
        values = values.dropna()
        values = values[values.astype(str).str.strip() != ""]
        values = values.astype(int) if column == "year" else values.astype(str)
        counts = counts.add(values.value_counts(), fill_value=0).astype("int64")
    keys = sorted(counts.index.tolist())
    if limit is not None and len(keys) > limit:
        order = sorted(keys, key=lambda k: -int(counts[k]))   # stable: ties stay by value
        keys = sorted(order[:limit])
    return keys, int(len(counts))


def _agency_values(data_dir: Path, limit: int | None = None) -> tuple[list[str], int, dict[str, str]]:
    """``for_each: agency_id``: the agency_ids with the most reports (copies counted once,
    reports of unknown place have no id), how many there are, and each id's display name
    (``agencies.name``) for titles and file names."""
    from .panel import connect

    con = connect(data_dir, cache_dir="")
    try:
        counts = con.execute("SELECT agency_id, count(*) AS n FROM report_keys WHERE agency_id IS NOT NULL AND "
                             "duplicate_of IS NULL GROUP BY agency_id ORDER BY n DESC, agency_id").fetchall()
        names = dict(con.execute("SELECT agency_id, name FROM agencies").fetchall())
    finally:
        con.close()
    keys = [k for k, _ in counts]
    if limit is not None:
        keys = keys[:limit]
    return sorted(keys), len(counts), {k: str(names.get(k) or k) for k in keys}


def _grid_file(config: str | Path) -> Path:
    config = Path(config)
    if not config.is_file() and not config.is_absolute() and (REPO_ROOT / config).is_file():
        config = REPO_ROOT / config          # the default grid, when run outside the repo
    if not config.is_file():
        raise FileNotFoundError(f"{config}: grid file not found (see notebooks/render.yml)")
    return config.resolve()


def expand_grid(config: str | Path, data_dir: str | Path,
                overrides: Mapping[str, Any] | None = None,
                only: str | None = None) -> tuple[list[Job], list[Omitted]]:
    """The jobs of the grid and the ``for_each`` entries cut by their ``limit``.

    ``only`` keeps the jobs whose output name or title contains it; it is applied before
    ``limit``, so any single value can be asked for.  An override naming the parameter of
    a ``for_each`` entry makes that entry a single run for the given value.
    """
    import yaml

    config = _grid_file(config)
    data_dir = Path(data_dir).resolve()
    spec = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    defaults = dict(spec.get("defaults") or {})
    overrides = dict(overrides or {})
    jobs: list[Job] = []
    omitted: list[Omitted] = []

    def keep(job: Job) -> bool:
        return not only or only in job.name or only in job.title

    for i, entry in enumerate(spec.get("reports") or []):
        if "notebook" not in entry:
            raise ValueError(f"{config}: reports[{i}] has no 'notebook'")
        notebook = (config.parent / entry["notebook"]).resolve()
        stem = entry.get("name") or notebook.stem
        title = entry.get("title") or stem
        params = {**defaults, **(entry.get("parameters") or {}), "data_dir": str(data_dir)}
        params.update(overrides)
        column = entry.get("for_each")
        if not column:
            job = Job(str(notebook), stem, title, params)
            jobs += [job] if keep(job) else []
            continue
        param = entry.get("parameter") or column
        limit = entry.get("limit")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ValueError(f"{config}: reports[{i}]: limit must be a whole number >= 0")
        names: dict[str, str] = {}
        if param in overrides:
            values, total = [overrides[param]], 1
        elif column == "agency_id":
            values, total, names = _agency_values(data_dir, None if only else limit)
        else:
            values, total = _distinct(data_dir, column, None if only else limit)
        expanded = [Job(str(notebook), f"{stem}__{column}-{slug(names.get(value, value), key=value)}",
                        f"{title} · {names.get(value, value)}", {**params, param: value}) for value in values]
        jobs += [j for j in expanded if keep(j)]
        if not only and len(values) < total:
            omitted.append(Omitted(title, notebook.name, column, param, len(values), total))
    names = [j.name for j in jobs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{config}: several runs would write the same output {dup}; give "
                         "the entries distinct 'name:' values")
    return jobs, omitted


def load_grid(config: str | Path, data_dir: str | Path,
              overrides: Mapping[str, Any] | None = None,
              only: str | None = None) -> list[Job]:
    """Expand the YAML grid into jobs (``for_each`` entries read the reports table)."""
    return expand_grid(config, data_dir, overrides, only)[0]


# --------------------------------------------------------------------------- one run
def read_figures(executed: Any) -> dict[str, Any]:
    """Key figures a notebook printed with ``gxlib.plotting.record_figures`` (merged);
    ``executed`` is a path or a notebook node."""
    import nbformat

    nb = executed if isinstance(executed, dict) else nbformat.read(str(executed), as_version=4)
    figures: dict[str, Any] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                for line in out.get("text", "").splitlines():
                    if line.startswith(FIGURES_MARKER):
                        figures.update(json.loads(line[len(FIGURES_MARKER):]))
    return figures


# the report page: nbconvert's lab template without the scripts it loads from a CDN
# (require.js, MathJax: the reports use neither, and offline they are console errors),
# with a link back to the index and the tables styled for reading
_REPORT_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{% block extra_css %}<style type="text/css">
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif}
nav.gx-back{margin:.6em 1em;font-size:.9em}
.jp-RenderedHTMLCommon table{font-size:12px}
.jp-RenderedHTMLCommon td,.jp-RenderedHTMLCommon th{font-variant-numeric:tabular-nums}
</style>{% endblock extra_css %}
{%- block body_header -%}
{{ super() }}
<nav class="gx-back"><a href="../index.html">&larr; 报告索引 / report index</a></nav>
{%- endblock body_header -%}
"""


@lru_cache(maxsize=1)
def _exporter():
    """One HTML exporter per process (templates are loaded once, not per notebook)."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    c = Config()
    c.HTMLExporter.exclude_input = True
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    c.HTMLExporter.template_file = "gxlib_report.html.j2"
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = {"remove_cell"}
    return HTMLExporter(config=c, extra_loaders=[DictLoader({"gxlib_report.html.j2": _REPORT_TEMPLATE})])


def to_html(executed: Any, target: str | Path, title: str) -> None:
    """Executed notebook (path or node) -> HTML without input cells (and without cells
    tagged ``remove_cell``)."""
    import copy

    import nbformat

    nb = (copy.deepcopy(executed) if isinstance(executed, dict)
          else nbformat.read(str(executed), as_version=4))
    nb.metadata["title"] = title
    body, _ = _exporter().from_notebook_node(nb, resources={"metadata": {"name": title}})
    Path(target).write_text(body, encoding="utf-8")


THUMB_SIZE = (240, 160)


def thumbnail(executed: Any, target: str | Path, size: tuple[int, int] = THUMB_SIZE) -> bool:
    """Write a small PNG of the first figure (image/png output) of an executed notebook
    (path or node) to ``target``; False when the notebook has no figure."""
    import base64
    import io

    import nbformat
    from PIL import Image

    nb = executed if isinstance(executed, dict) else nbformat.read(str(executed), as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("image/png")
            if data:
                image = Image.open(io.BytesIO(base64.b64decode(data)))
                image.thumbnail(size)
                target = Path(target)
                target.parent.mkdir(parents=True, exist_ok=True)
                image.convert("RGB").save(target, "PNG", optimize=True)
                return True
    return False


def _error_text(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)
    if ename:  # papermill.PapermillExecutionError
        return f"{ename}: {getattr(exc, 'evalue', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def _stderr_to(path: Path, mode: str = "wb"):
    """Send this process's (and its kernels') stderr to ``path`` for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, mode) as fh:
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


# imported once when a kernel starts, so every notebook after the first finds them loaded
_WARM_UP = ("import numpy, pandas, pyarrow.dataset, matplotlib.pyplot, seaborn\n"
            "import gxlib, gxlib.metrics, gxlib.panel, gxlib.plotting\n"
            # tables in the reports without pandas' default 0, 1, 2, … row index
            "gxlib.plotting.tables_without_row_index()\n"
            # the libraries' own objects, there for the kernel's life, out of the collector's
            # sight: a full collection (one per notebook, below, and pandas' allocations
            # trigger more) then walks the notebook's objects, not ~10^6 of theirs
            "import gc; gc.collect(); gc.freeze(); del gc")
# the kernel's command line:
# - no output cache (Out, _N): a batch run reads no earlier result, the cache would keep
#   every displayed frame alive until the next notebook, and %reset flushes it with a
#   full collection of its own before it clears the namespace;
# - no input history: each notebook restarts the execution count at 1, which the history
#   database refused ("ERROR! Session/line number was not unique in database. History
#   logging moved to new session"), printed into 74 of the 119 rendered pages at 100k; a
#   batch run has no use for a history in the user's ~/.ipython either
_KERNEL_ARGS = ["--InteractiveShell.cache_size=0", "--HistoryManager.enabled=False"]
# before each notebook: a clean user namespace, no open figures, the notebook's folder
# and the previous notebook's freed memory handed back to the system (malloc_trim, with
# the C library's allocator that gx render gives the kernels): the kernel's size between
# notebooks is then what it holds, not the largest notebook's
_RESET = ("get_ipython().run_line_magic('reset', '-f')\n"
          "import gc as _gx_gc, os as _gx_os, matplotlib.pyplot as _gx_plt, pyarrow as _gx_pa\n"
          "_gx_plt.close('all'); _gx_os.chdir({cwd!r})\n"
          "_gx_gc.collect(); _gx_pa.default_memory_pool().release_unused()\n"
          "get_ipython().execution_count = 1\n"
          "del _gx_gc, _gx_os, _gx_plt, _gx_pa")


class _Kernel:
    """One Jupyter kernel of a worker, reused from notebook to notebook."""

    def __init__(self, name: str = "python3"):
        self.name = name
        self.km = self.kc = None

    def alive(self) -> bool:
        return self.km is not None and self.km.is_alive()

    def start(self, cwd: str, log: Path) -> None:
        from jupyter_client.manager import KernelManager

        self.km = KernelManager(kernel_name=self.name)
        with _stderr_to(log, "ab"):        # the kernel inherits this stderr for its life
            self.km.start_kernel(cwd=cwd, extra_arguments=_KERNEL_ARGS)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)
        self.run(_WARM_UP, timeout=300)

    def run(self, code: str, timeout: float = 60) -> bool:
        reply = self.kc.execute_interactive(code, store_history=False, timeout=timeout,
                                            output_hook=lambda msg: None)
        return reply["content"].get("status") == "ok"

    def stop(self) -> None:
        try:
            if self.kc is not None:
                self.kc.stop_channels()
            if self.km is not None and self.km.has_kernel:
                self.km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
        self.km = self.kc = None


_KERNEL: _Kernel | None = None


def _shutdown_kernel() -> None:
    global _KERNEL
    if _KERNEL is not None:
        _KERNEL.stop()
        _KERNEL = None


def _kernel_for(kernel: str, cwd: str, out: Path, fresh: bool) -> _Kernel:
    """This process's kernel, (re)started when needed, reset for the next notebook."""
    global _KERNEL
    if _KERNEL is not None and (fresh or _KERNEL.name != kernel or not _KERNEL.alive()):
        _shutdown_kernel()
    if _KERNEL is None:
        from multiprocessing import util

        _KERNEL = _Kernel(kernel)
        # ProcessPoolExecutor workers leave through os._exit: atexit would not run
        util.Finalize(_KERNEL, _shutdown_kernel, exitpriority=10)
        _KERNEL.start(cwd, out / "executed" / f"kernel-{os.getpid()}.log")
    if not _KERNEL.run(_RESET.format(cwd=cwd)):
        _shutdown_kernel()
        return _kernel_for(kernel, cwd, out, fresh)
    return _KERNEL


def _execute(job: Job, executed: Path, kernel: str, timeout: int | None, out: Path,
             fresh: bool, keep: list) -> None:
    """Parameterise (papermill's injected cell) and run the notebook in the worker's kernel;
    the executed notebook is written even when a cell fails."""
    import atexit

    import nbformat
    from nbclient import NotebookClient
    from papermill.parameterize import parameterize_notebook

    cwd = str(Path(job.notebook).parent)
    nb = nbformat.read(job.notebook, as_version=4)
    nb.metadata["papermill"] = nbformat.from_dict({})
    for cell in nb.cells:          # as papermill's loader does: every cell has tags
        cell.metadata.setdefault("tags", [])
    nb = parameterize_notebook(nb, job.parameters, kernel_name=kernel)
    k = _kernel_for(kernel, cwd, out, fresh)
    client = NotebookClient(nb, km=k.km, timeout=timeout, kernel_name=kernel,
                            resources={"metadata": {"path": cwd}})
    client.kc = k.kc
    try:
        client.execute()
    except BaseException:
        _shutdown_kernel()           # a failed run may leave the kernel in any state
        raise
    finally:
        atexit.unregister(client._cleanup_kernel)
        nbformat.write(nb, str(executed))
        keep.append(nb)


def run_job(job: Job, out_dir: str, kernel: str = "python3", timeout: int | None = 600,
            fresh_kernels: bool = False) -> Result:
    """Execute one notebook and convert it; never raises (errors go into the Result)."""
    out = Path(out_dir)
    executed = out / "executed" / f"{job.name}.ipynb"
    target = out / "html" / f"{job.name}.html"
    res = Result(job)
    start = time.monotonic()
    executed.unlink(missing_ok=True)
    done: list = []          # the executed notebook node (saves reading it back twice)
    try:
        _execute(job, executed, kernel, timeout, out, fresh_kernels, done)
    except BaseException as exc:  # noqa: BLE001 - a failed run is data, not a crash
        res.status, res.error = "failed", _error_text(exc)
    if executed.is_file():
        res.executed = executed.relative_to(out).as_posix()
        node = done[0] if done else executed
        try:
            res.figures = read_figures(node)
        except Exception:  # noqa: BLE001
            pass
        try:
            to_html(node, target, job.title)
            res.html = target.relative_to(out).as_posix()
        except Exception as exc:  # noqa: BLE001
            res.status = "failed"
            res.error = (res.error + "\n" if res.error else "") + "HTML export: " + _error_text(exc)
        try:
            thumb = out / "thumbs" / f"{job.name}.png"
            if thumbnail(node, thumb):
                res.thumb = thumb.relative_to(out).as_posix()
        except Exception:  # noqa: BLE001 - the index shows no thumbnail then
            pass
    res.seconds = round(time.monotonic() - start, 1)
    return res


def _build_panel(data_dir: str, cache: str) -> None:
    """Write the panel cache file (nothing is returned or kept: it is written a window of
    reports at a time)."""
    _system_allocator()
    from . import panel

    panel.prepare(data_dir, cache)


def prepare_panel(data_dir: Path, out: Path, log=print) -> None:
    """Compute the per-report panel of ``data_dir`` once for the whole run (gxlib.panel) and
    point the kernels at it through ``$GXLIB_PANEL_CACHE``."""
    from . import panel

    cache = Path(os.environ.get(panel.CACHE_ENV) or out / "cache")
    os.environ[panel.CACHE_ENV] = str(cache)
    try:
        start = time.monotonic()
        current = panel.cache_path(data_dir, cache)
        if not current.is_file():
            # in a process of its own, which ends with it: building takes ~2.5 KB a report
            # (this process kept ~180 MB of the 380 at 100k reports while the kernels ran)
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as ex:
                ex.submit(_build_panel, str(data_dir), str(cache)).result()
            log(f"per-report panel of {data_dir} in {time.monotonic() - start:.1f}s -> {current}")
        for old in cache.glob("panel-*.parquet"):
            if old != current:
                old.unlink(missing_ok=True)
    except Exception as exc:  # noqa: BLE001 - the notebooks will report the problem
        log(f"per-report panel not prepared ({_error_text(exc)}); each notebook computes it")


# --------------------------------------------------------------------------- the grid
def render_grid(config: str | Path = DEFAULT_CONFIG, data_dir: str | Path = "data/processed",
                out_dir: str | Path = "reports", jobs: int | None = None, *,
                only: str | None = None, overrides: Mapping[str, Any] | None = None,
                kernel: str = "python3", timeout: int | None = 600, clean: bool = False,
                fresh_kernels: bool = False, log=print) -> list[Result]:
    """Run every job of the grid on ``jobs`` processes and write the index.

    Returns the results in grid order.  ``only`` keeps the jobs whose name or title
    contains it (see :func:`expand_grid`).
    """
    out = Path(out_dir).resolve()
    data = Path(data_dir).resolve()
    if not data.is_dir():
        raise FileNotFoundError(f"{data}: no such folder; run `gx parse RAW_DIR --out {data}` first")
    grid, omitted = expand_grid(config, data, overrides, only)
    if clean:
        for sub in ("executed", "html", "cache"):
            shutil.rmtree(out / sub, ignore_errors=True)
    (out / "executed").mkdir(parents=True, exist_ok=True)
    (out / "html").mkdir(parents=True, exist_ok=True)
    # kernels must import this gxlib even when it is not installed (a plain checkout)
    pkg_parent = str(Path(__file__).resolve().parents[1])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if pkg_parent not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([pkg_parent, *paths])
    for o in omitted:
        log(f"{o.title}: {o.shown} of {o.total} {o.column} values (limit); the index says "
            "how to render the others")
    saved_cache = os.environ.get(_panel_env())
    if grid:
        prepare_panel(data, out, log)
    try:
        results = _run_all(grid, out, workers_for(jobs, grid), kernel, timeout, fresh_kernels,
                           log)
    finally:             # the cache folder is this run's: do not leak it to the caller
        if saved_cache is None:
            os.environ.pop(_panel_env(), None)
        else:
            os.environ[_panel_env()] = saved_cache
    ordered = [results[i] for i in range(len(grid))]
    write_index(ordered, out, config=_grid_file(config), data_dir=data, omitted=omitted)
    failed = sum(r.status != "ok" for r in ordered)
    log(f"{len(ordered) - failed} ok, {failed} failed; index: {out / 'index.html'}")
    return ordered


def _panel_env() -> str:
    from .panel import CACHE_ENV

    return CACHE_ENV


def workers_for(jobs: int | None, grid: list[Job]) -> int:
    return max(1, min(jobs or os.cpu_count() or 1, len(grid) or 1))


def _run_all(grid: list[Job], out: Path, workers: int, kernel: str, timeout: int | None,
             fresh_kernels: bool, log) -> dict[int, Result]:
    log(f"rendering {len(grid)} notebook run(s) on {workers} process(es) -> {out}")
    results: dict[int, Result] = {}
    if workers == 1:
        try:
            for i, job in enumerate(grid):
                results[i] = run_job(job, str(out), kernel, timeout, fresh_kernels)
                _log_result(results[i], log)
        finally:
            _shutdown_kernel()
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(run_job, job, str(out), kernel, timeout, fresh_kernels): i
                       for i, job in enumerate(grid)}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except BaseException as exc:  # noqa: BLE001 - a dead worker fails one run
                    results[i] = Result(grid[i], "failed", _error_text(exc))
                _log_result(results[i], log)
    return results


def _log_result(res: Result, log) -> None:
    msg = f"  [{res.status}] {res.job.name} ({res.seconds:.0f}s)"
    if res.error:
        msg += " " + res.error.splitlines()[0][:200]
    log(msg)


# --------------------------------------------------------------------------- index
_CSS = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif;margin:1.5em 2em;
color:#222;max-width:1400px}h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .5em;
border-bottom:1px solid #ddd;padding-bottom:.2em}h2 small{font-weight:normal;color:#666;font-size:.8em}
.meta{color:#555;font-size:.9em}.filters{position:sticky;top:0;background:#fff;padding:.6em 0;
z-index:1;display:flex;gap:.6em;flex-wrap:wrap;align-items:center;border-bottom:1px solid #eee}
.filters input{flex:1 1 22em;font-size:1em;padding:.35em .5em}.filters select{font-size:.95em;
padding:.3em;max-width:18em}#gx-count{color:#555;font-size:.9em}
ul.cards{list-style:none;padding:0;margin:0;display:grid;grid-template-columns:repeat(auto-fill,
minmax(330px,1fr));gap:.8em}li.card{border:1px solid #ddd;border-radius:6px;padding:.6em;display:flex;
gap:.6em;background:#fff}li.card[hidden]{display:none}li.card.is-failed{border-color:#b00020;
background:#fff6f7}.thumb{flex:0 0 120px}.thumb img{width:120px;height:auto;border:1px solid #eee}
.nothumb{width:120px;height:80px;background:#f4f4f4;color:#999;font-size:.8em;display:flex;
align-items:center;justify-content:center}.body{flex:1;min-width:0}.title{font-weight:bold}
.params{color:#555;font-size:.85em;margin:.15em 0}dl.figs{display:grid;grid-template-columns:auto auto;
gap:0 .6em;margin:.3em 0;font-size:.85em}dl.figs dt{color:#555}dl.figs dd{margin:0;text-align:right;
font-variant-numeric:tabular-nums}.foot{font-size:.8em;color:#777}
.ok{color:#176f2c;font-weight:bold}.failed{color:#b00020;font-weight:bold}
pre{white-space:pre-wrap;margin:.3em 0;font-size:.8em;max-height:8em;overflow:auto}code{font-size:.85em}
"""

_FILTER_JS = """
(function(){
  var q=document.getElementById('gx-q'), p=document.getElementById('gx-province'),
      a=document.getElementById('gx-agency'), out=document.getElementById('gx-count');
  var cards=Array.prototype.slice.call(document.querySelectorAll('li.card'));
  function apply(){
    var t=q.value.trim().toLowerCase(), n=0;
    cards.forEach(function(c){
      var ok=(!t||c.getAttribute('data-text').indexOf(t)>=0)
        &&(!p.value||c.getAttribute('data-province')===p.value)
        &&(!a.value||c.getAttribute('data-agency')===a.value);
      c.hidden=!ok; if(ok){n++;}
    });
    Array.prototype.forEach.call(document.querySelectorAll('section.group'),function(s){
      s.hidden=!s.querySelector('li.card:not([hidden])');
    });
    out.textContent=n+' / '+cards.length;
  }
  q.addEventListener('input',apply); p.addEventListener('change',apply);
  a.addEventListener('change',apply); apply();
})();
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# key figures of the notebooks that are not codebook metrics or fields
_FIGURE_LABELS = {
    "n_selected": "所选报告数", "granted_rate_last_year": "予以公开率所属年份",
    "duckdb_reports": "报告数（DuckDB）", "duckdb_new_applications": "本年新收申请数（DuckDB）",
    "years": "年份", "n_years": "年份数", "n_ok": "成功解析", "n_partial": "部分解析",
    "n_failed": "解析失败", "n_na_cells": "缺失单元格数", "n_without_section3": "无第三部分表格的报告",
    "n_reports_2019_layout": "2019年格式报告数", "n_procurement_reports": "有采购数据的报告",
    "n_fee_reports": "有收费数据的报告", "n_reports_with_section3": "有第三部分表格的报告",
    "n_reports_with_section4": "有第四部分表格的报告",
}


def figure_label(key: str) -> str:
    """A key figure's name as people read it: the codebook's Chinese label where the key
    names a metric or field (``zero_application_rate`` -> 零申请率), else the key."""
    from .store import codebook

    if key in _FIGURE_LABELS:
        return _FIGURE_LABELS[key]
    cb = codebook()
    labels = {(v, c): zh for v, c, zh in zip(cb["variable"], cb["code"], cb["zh"])}
    suffix = ""
    base = key
    for end, text in (("_ci_low", "（95%下限）"), ("_ci_high", "（95%上限）"),
                      ("_numerator", "（分子）"), ("_denominator", "（分母）")):
        if base.endswith(end):
            base, suffix = base[: -len(end)], text
            break
    for cand, extra in ((base, ""), (base.removesuffix("_rate"), ""), (base + "_rate", ""),
                        (base.removesuffix("_total"), "（合计）")):
        for variable in ("metric", "field"):
            if (variable, cand) in labels:
                return labels[(variable, cand)] + extra + suffix
    return key.replace("_", " ")


def figure_value(key: str, value: Any) -> str:
    """A key figure as people read it: rates as percentages (38.4%), counts with thousands
    separators, amounts to 4 significant digits, lists joined; nothing (None) as "—"."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value) if key.endswith("year") else f"{value:,}"
    if isinstance(value, float):
        is_rate = ("rate" in key or key.endswith(("_ci_low", "_ci_high"))) and "conversion" not in key
        if is_rate and 0.0 <= value <= 1.0:
            return f"{value:.1%}"
        if value.is_integer():
            return f"{int(value):,}"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "、".join(figure_value("year" if key.endswith("years") else key, v) for v in value) or "—"
    return str(value)


def _omitted_html(omitted: list[Omitted], out: Path, config: Path | None,
                  data_dir: Path | None) -> str:
    """What ``limit`` left out, and the command that renders one of the omitted values."""
    if not omitted:
        return ""
    e = html.escape
    base = "gx render"
    if config is not None:
        base += f" --config {shlex.quote(str(config))}"
    if data_dir is not None:
        base += f" --data {shlex.quote(str(data_dir))}"
    items = []
    for o in omitted:
        left = o.total - o.shown
        # another --out: the index of a run lists that run's reports only
        cmd = f"{base} --out {shlex.quote(f'{out}-{o.column}')}"
        items.append(
            f"<li>{e(o.title)} (<code>{e(o.notebook)}</code>): {o.shown} / {o.total} "
            f"<code>{e(o.column)}</code> 个取值已渲染（报告最多者），{left} 个未渲染 / "
            f"{o.shown} of {o.total} values rendered (those with the most reports), {left} "
            f"left out. 渲染其中一个 / render one: <code>{e(cmd)} --only "
            f"'&lt;{e(o.column)}&gt;'</code> "
            f"(或 / or <code>--only __{e(o.column)} -p {e(o.parameter)}='&lt;…&gt;'</code>)</li>")
    return ("<h2>未全部渲染 / not rendered for every value</h2><ul>" + "".join(items)
            + "</ul>")


def _card(r: Result) -> str:
    e = html.escape
    params = {k: v for k, v in r.job.parameters.items() if k != "data_dir"}
    shown = " · ".join(f"{e(k)} = {e(_fmt(v))}" for k, v in params.items()
                       if v not in ("", 0, None) and k not in ("lang", "min_n"))
    link = (f'<a class="title" href="{e(quote(r.html))}">{e(r.job.title)}</a>' if r.html
            else f'<span class="title">{e(r.job.title)}</span>')
    thumb = (f'<a href="{e(quote(r.html))}" tabindex="-1"><img src="{e(quote(r.thumb))}" alt="" '
             f'decoding="async"></a>' if r.thumb and r.html
             else '<div class="nothumb">无图 / no figure</div>')
    figs = "".join(f"<dt>{e(figure_label(k))}</dt><dd>{e(figure_value(k, v))}</dd>"
                   for k, v in r.figures.items())
    figs = f'<dl class="figs">{figs}</dl>' if figs else ""
    error = f"<pre>{e(r.error)}</pre>" if r.error else ""
    nb_link = (f' · <a href="{e(quote(r.executed))}">{e(Path(r.executed).name)}</a>'
               if r.executed else "")
    province, agency = str(params.get("province", "") or ""), str(params.get("agency", "") or "")
    text = " ".join([r.job.title, Path(r.job.notebook).stem, r.status, r.error,
                     *(str(v) for v in params.values()),
                     *(f"{figure_label(k)} {figure_value(k, v)}" for k, v in r.figures.items())])
    cls = "card is-failed" if r.status != "ok" else "card"
    return (f'<li class="{cls}" data-province="{e(province)}" data-agency="{e(agency)}" '
            f'data-text="{e(text.lower())}"><div class="thumb">{thumb}</div><div class="body">'
            f'{link}<div class="params">{shown or "全部数据 / all data"}</div>{figs}{error}'
            f'<div class="foot"><span class="{e(r.status)}">{e(r.status)}</span> · '
            f'{r.seconds:.0f} s{nb_link}</div></div></li>')


def _options(values: Iterable[str], everything: str) -> str:
    e = html.escape
    items = [f'<option value="">{e(everything)}</option>']
    items += [f'<option value="{e(v)}">{e(v)}</option>' for v in sorted(set(values)) if v]
    return "".join(items)


def write_index(results: Iterable[Result], out_dir: str | Path, *, config: Path | None = None,
                data_dir: Path | None = None, omitted: Iterable[Omitted] = ()) -> Path:
    """Write ``index.html`` and ``index.json`` for the results (all values escaped):
    failures first, then one section per notebook (in grid order) with a card per run
    (thumbnail, title, parameters, key figures); a filter box narrows the cards by
    province, agency or any text."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = list(results)
    omitted = list(omitted)
    e = html.escape
    failed = [r for r in results if r.status != "ok"]
    groups: dict[str, list[Result]] = {}
    for r in results:
        if r.status == "ok":
            groups.setdefault(Path(r.job.notebook).stem, []).append(r)
    sections = []
    if failed:
        sections.append(f'<section class="group" id="failed"><h2 class="failed">失败 / failed '
                        f'({len(failed)})</h2><ul class="cards">'
                        + "".join(_card(r) for r in failed) + "</ul></section>")
    for stem, rs in groups.items():
        title = rs[0].job.title.split(" · ")[0]
        sections.append(f'<section class="group" id="{e(stem)}"><h2>{e(title)} <small>'
                        f'{e(stem)}.ipynb · {len(rs)} 份 / runs</small></h2><ul class="cards">'
                        + "".join(_card(r) for r in rs) + "</ul></section>")
    provinces = [str(r.job.parameters.get("province", "") or "") for r in results]
    agencies = [str(r.job.parameters.get("agency", "") or "") for r in results]
    meta = []
    if data_dir is not None:
        meta.append(f"数据 / data: <code>{e(str(data_dir))}</code>")
    if config is not None:
        meta.append(f"网格 / grid: <code>{e(str(config))}</code>")
    meta.append(f"生成时间 / generated: {e(time.strftime('%Y-%m-%d %H:%M:%S'))}")
    meta.append(f"{len(results) - len(failed)} 成功 / ok, {len(failed)} 失败 / failed")
    page = f"""<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gxlib 报告索引 / report index</title>
<style>{_CSS}</style></head><body>
<h1>政府信息公开工作年度报告分析 · 报告索引 / report index</h1>
<p class="meta">{' · '.join(meta)}</p>
<div class="filters">
<input id="gx-q" type="search" placeholder="筛选：省份、机关或任何文字 / filter: province, agency or any text" aria-label="filter">
<select id="gx-province" aria-label="province">{_options(provinces, "全部省份 / all provinces")}</select>
<select id="gx-agency" aria-label="agency">{_options(agencies, "全部机关 / all agencies")}</select>
<span id="gx-count"></span></div>
{_omitted_html(omitted, out.resolve(), config, data_dir)}
{chr(10).join(sections)}
<script>{_FILTER_JS}</script>
</body></html>
"""
    (out / "index.html").write_text(page, encoding="utf-8")
    records = [{**asdict(r), "job": asdict(r.job)} for r in results]
    if omitted:   # a list stays a list (readers index it); the cut entries go beside it
        (out / "index-omitted.json").write_text(json.dumps(
            [asdict(o) for o in omitted], ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        (out / "index-omitted.json").unlink(missing_ok=True)
    (out / "index.json").write_text(json.dumps(records, ensure_ascii=False, indent=1,
                                               default=str), encoding="utf-8")
    return out / "index.html"


# --------------------------------------------------------------------------- CLI
def _parameter(text: str) -> tuple[str, Any]:
    import yaml

    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value) if value.strip() else ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``gx render``."""
    parser.add_argument("--config", default=str(DEFAULT_CONFIG),
                        help="grid of notebooks x parameters (default: notebooks/render.yml)")
    parser.add_argument("--data", default="data/processed",
                        help="folder with the tidy tables (default: data/processed)")
    parser.add_argument("--out", default="reports",
                        help="output folder for executed/, html/ and index.html "
                             "(default: reports)")
    parser.add_argument("--jobs", "-j", type=int, default=None,
                        help="notebooks run at once (default: all cores)")
    parser.add_argument("--only", default=None, metavar="TEXT",
                        help="run only the grid entries whose output name or title contains "
                             "TEXT (before any for_each limit: e.g. one agency's profile)")
    parser.add_argument("-p", "--parameter", action="append", type=_parameter, default=[],
                        metavar="NAME=VALUE",
                        help="override a notebook parameter in every run (repeatable), "
                             "e.g. -p lang=en")
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds a single cell may run (default: 600)")
    parser.add_argument("--clean", action="store_true",
                        help="delete old executed/, html/ and cache/ outputs first")
    parser.add_argument("--fresh-kernels", action="store_true",
                        help="start a new kernel for every notebook (slower; by default each "
                             "worker reuses its kernel with the namespace reset)")
    parser.add_argument("--allow-failures", action="store_true",
                        help="exit 0 even when some notebooks failed")


def _system_allocator() -> None:
    """Arrow on the C library's malloc in this process and (through the environment) in
    the workers and kernels, unless the user chose otherwise: mimalloc, Arrow's default,
    kept freed batch memory; at 100k reports the largest kernel went 655 -> 575 MB and
    this process 538 -> 433 MB (with the windowed panel build), at the same speed."""
    import pyarrow as pa

    if os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system") == "system":
        pa.set_memory_pool(pa.system_memory_pool())


def run(args: argparse.Namespace) -> int:
    """``gx render``: 0 when every run succeeded, 1 when some failed, 2 on bad input."""
    _system_allocator()
    try:
        results = render_grid(args.config, args.data, args.out, args.jobs, only=args.only,
                              overrides=dict(args.parameter), timeout=args.timeout,
                              clean=args.clean, fresh_kernels=args.fresh_kernels)
    except (FileNotFoundError, ValueError) as exc:
        print(f"gx render: {exc}", file=sys.stderr)
        return 2
    if not results:
        print("gx render: the grid is empty (check --config / --only)", file=sys.stderr)
        return 2
    failed = [r for r in results if r.status != "ok"]
    return 0 if (not failed or args.allow_failures) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gxlib.render", description=__doc__.split(
        "\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # pragma: no cover
        traceback.print_exc()
        sys.exit(130)
