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
Every run also gets ``data_dir`` (absolute).  Runs execute in parallel in a process pool
(papermill, kernel ``python3``); a failing run is recorded as failed with its error and
does not stop the others.  Outputs::

    <out>/executed/<name>.ipynb   executed notebooks (the papermill record of parameters)
    <out>/html/<name>.html        HTML with input cells hidden
    <out>/index.html              every run: title, parameters, status, error, key figures
    <out>/index.json              the same, machine-readable

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
import shutil
import sys
import time
import traceback
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
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
class Result:
    job: Job
    status: str = "ok"       # ok | failed
    error: str = ""
    seconds: float = 0.0
    executed: str = ""       # path relative to the output folder ('' if none)
    html: str = ""
    figures: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- grid
def slug(value: Any, limit: int = 40) -> str:
    """A file-name-safe, collision-resistant rendering of ``value`` (keeps CJK letters)."""
    text = str(value)
    safe = re.sub(r"[^\w\-]+", "_", text, flags=re.UNICODE).strip("_")[:limit] or "x"
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{safe}-{digest}"


def _distinct(data_dir: Path, column: str) -> list[Any]:
    """Distinct non-empty values of one reports column (reads only that column)."""
    import pandas as pd

    pq, csv = data_dir / "reports.parquet", data_dir / "reports.csv"
    if pq.is_file():
        values = pd.read_parquet(pq, columns=[column])[column]
    elif csv.is_file():
        values = pd.read_csv(csv, usecols=[column], dtype=str, keep_default_na=False,
                             encoding="utf-8-sig")[column]
    else:
        raise FileNotFoundError(f"{data_dir}: reports.parquet / reports.csv not found; "
                                "run `gx parse RAW_DIR` first")
    values = values.dropna()
    values = values[values.astype(str).str.strip() != ""]
    if column == "year":
        return sorted({int(v) for v in values.tolist()})
    return sorted({str(v) for v in values.tolist()})


def load_grid(config: str | Path, data_dir: str | Path,
              overrides: Mapping[str, Any] | None = None) -> list[Job]:
    """Expand the YAML grid into jobs (``for_each`` entries read the reports table)."""
    import yaml

    config = Path(config)
    if not config.is_file() and not config.is_absolute() and (REPO_ROOT / config).is_file():
        config = REPO_ROOT / config          # the default grid, when run outside the repo
    if not config.is_file():
        raise FileNotFoundError(f"{config}: grid file not found (see notebooks/render.yml)")
    config = config.resolve()
    data_dir = Path(data_dir).resolve()
    spec = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    defaults = dict(spec.get("defaults") or {})
    jobs: list[Job] = []
    for i, entry in enumerate(spec.get("reports") or []):
        if "notebook" not in entry:
            raise ValueError(f"{config}: reports[{i}] has no 'notebook'")
        notebook = (config.parent / entry["notebook"]).resolve()
        stem = entry.get("name") or notebook.stem
        title = entry.get("title") or stem
        params = {**defaults, **(entry.get("parameters") or {}), "data_dir": str(data_dir)}
        params.update(overrides or {})
        column = entry.get("for_each")
        if not column:
            jobs.append(Job(str(notebook), stem, title, params))
            continue
        param = entry.get("parameter") or column
        for value in _distinct(data_dir, column):
            jobs.append(Job(str(notebook), f"{stem}__{column}-{slug(value)}",
                            f"{title} · {value}", {**params, param: value}))
    names = [j.name for j in jobs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{config}: several runs would write the same output {dup}; give "
                         "the entries distinct 'name:' values")
    return jobs


# --------------------------------------------------------------------------- one run
def read_figures(executed: str | Path) -> dict[str, Any]:
    """Key figures a notebook printed with ``gxlib.plotting.record_figures`` (merged)."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    figures: dict[str, Any] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                for line in out.get("text", "").splitlines():
                    if line.startswith(FIGURES_MARKER):
                        figures.update(json.loads(line[len(FIGURES_MARKER):]))
    return figures


def to_html(executed: str | Path, target: str | Path, title: str) -> None:
    """Executed notebook -> HTML without input cells (and without cells tagged
    ``remove_cell``)."""
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    c = Config()
    c.HTMLExporter.exclude_input = True
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = {"remove_cell"}
    nb = nbformat.read(str(executed), as_version=4)
    nb.metadata["title"] = title
    body, _ = HTMLExporter(config=c).from_notebook_node(nb, resources={"metadata": {"name": title}})
    Path(target).write_text(body, encoding="utf-8")


def _error_text(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)
    if ename:  # papermill.PapermillExecutionError
        return f"{ename}: {getattr(exc, 'evalue', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def _stderr_to(path: Path):
    """Send this process's (and its kernels') stderr to ``path`` for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "wb") as fh:
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def run_job(job: Job, out_dir: str, kernel: str = "python3", timeout: int | None = 600) -> Result:
    """Execute one notebook and convert it; never raises (errors go into the Result).

    Kernel chatter on stderr goes to ``executed/<name>.log``.
    """
    out = Path(out_dir)
    executed = out / "executed" / f"{job.name}.ipynb"
    target = out / "html" / f"{job.name}.html"
    res = Result(job)
    start = time.monotonic()
    try:
        import papermill as pm

        with _stderr_to(executed.with_suffix(".log")):
            pm.execute_notebook(job.notebook, str(executed), parameters=job.parameters,
                                kernel_name=kernel, cwd=str(Path(job.notebook).parent),
                                progress_bar=False, log_output=False,
                                execution_timeout=timeout)
    except BaseException as exc:  # noqa: BLE001 - a failed run is data, not a crash
        res.status, res.error = "failed", _error_text(exc)
    if executed.is_file():
        res.executed = executed.relative_to(out).as_posix()
        try:
            res.figures = read_figures(executed)
        except Exception:  # noqa: BLE001
            pass
        try:
            to_html(executed, target, job.title)
            res.html = target.relative_to(out).as_posix()
        except Exception as exc:  # noqa: BLE001
            res.status = "failed"
            res.error = (res.error + "\n" if res.error else "") + "HTML export: " + _error_text(exc)
    res.seconds = round(time.monotonic() - start, 1)
    return res


# --------------------------------------------------------------------------- the grid
def render_grid(config: str | Path = DEFAULT_CONFIG, data_dir: str | Path = "data/processed",
                out_dir: str | Path = "reports", jobs: int | None = None, *,
                only: str | None = None, overrides: Mapping[str, Any] | None = None,
                kernel: str = "python3", timeout: int | None = 600, clean: bool = False,
                log=print) -> list[Result]:
    """Run every job of the grid on ``jobs`` processes and write the index.

    Returns the results in grid order.  ``only`` keeps the jobs whose name contains it.
    """
    out = Path(out_dir).resolve()
    data = Path(data_dir).resolve()
    if not data.is_dir():
        raise FileNotFoundError(f"{data}: no such folder; run `gx parse RAW_DIR --out {data}` first")
    grid = load_grid(config, data, overrides)
    if only:
        grid = [j for j in grid if only in j.name]
    if clean:
        for sub in ("executed", "html"):
            shutil.rmtree(out / sub, ignore_errors=True)
    (out / "executed").mkdir(parents=True, exist_ok=True)
    (out / "html").mkdir(parents=True, exist_ok=True)
    # kernels must import this gxlib even when it is not installed (a plain checkout)
    pkg_parent = str(Path(__file__).resolve().parents[1])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if pkg_parent not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([pkg_parent, *paths])
    workers = max(1, min(jobs or os.cpu_count() or 1, len(grid) or 1))
    log(f"rendering {len(grid)} notebook run(s) on {workers} process(es) -> {out}")
    results: dict[int, Result] = {}
    if workers == 1:
        for i, job in enumerate(grid):
            results[i] = run_job(job, str(out), kernel, timeout)
            _log_result(results[i], log)
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(run_job, job, str(out), kernel, timeout): i
                       for i, job in enumerate(grid)}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except BaseException as exc:  # noqa: BLE001 - a dead worker fails one run
                    results[i] = Result(grid[i], "failed", _error_text(exc))
                _log_result(results[i], log)
    ordered = [results[i] for i in range(len(grid))]
    write_index(ordered, out, config=Path(config), data_dir=data)
    failed = sum(r.status != "ok" for r in ordered)
    log(f"{len(ordered) - failed} ok, {failed} failed; index: {out / 'index.html'}")
    return ordered


def _log_result(res: Result, log) -> None:
    msg = f"  [{res.status}] {res.job.name} ({res.seconds:.0f}s)"
    if res.error:
        msg += " " + res.error.splitlines()[0][:200]
    log(msg)


# --------------------------------------------------------------------------- index
_CSS = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif;margin:2em;
color:#222}table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;
padding:.35em .5em;vertical-align:top;font-size:.9em}th{background:#f3f3f3;text-align:left}
.ok{color:#176f2c;font-weight:bold}.failed{color:#b00020;font-weight:bold}
pre{white-space:pre-wrap;margin:0;font-size:.85em}code{font-size:.85em}
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_index(results: Iterable[Result], out_dir: str | Path, *, config: Path | None = None,
                data_dir: Path | None = None) -> Path:
    """Write ``index.html`` and ``index.json`` for the results (all values escaped)."""
    out = Path(out_dir)
    results = list(results)
    e = html.escape
    rows = []
    for r in results:
        params = "<br>".join(f"<code>{e(k)}</code> = {e(_fmt(v))}"
                             for k, v in r.job.parameters.items() if k != "data_dir")
        link = (f'<a href="{e(quote(r.html))}">{e(r.job.title)}</a>' if r.html
                else e(r.job.title))
        nb_link = (f'<a href="{e(quote(r.executed))}">{e(Path(r.executed).name)}</a>'
                   if r.executed else "")
        figures = "<br>".join(f"{e(k)}: {e(_fmt(v))}" for k, v in r.figures.items())
        error = f"<pre>{e(r.error)}</pre>" if r.error else ""
        rows.append(f"<tr><td>{link}</td><td>{e(Path(r.job.notebook).name)}</td>"
                    f"<td>{params}</td><td class=\"{e(r.status)}\">{e(r.status)}</td>"
                    f"<td>{error}</td><td>{figures}</td><td>{r.seconds:.0f}</td>"
                    f"<td>{nb_link}</td></tr>")
    n_failed = sum(r.status != "ok" for r in results)
    meta = []
    if data_dir is not None:
        meta.append(f"数据 / data: <code>{e(str(data_dir))}</code>")
    if config is not None:
        meta.append(f"网格 / grid: <code>{e(str(config))}</code>")
    meta.append(f"生成时间 / generated: {e(time.strftime('%Y-%m-%d %H:%M:%S'))}")
    meta.append(f"{len(results) - n_failed} 成功 / ok, {n_failed} 失败 / failed")
    page = f"""<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8"><title>gxlib 报告索引 / report index</title>
<style>{_CSS}</style></head><body>
<h1>政府信息公开工作年度报告分析 · 报告索引 / report index</h1>
<p>{' · '.join(meta)}</p>
<table><thead><tr><th>报告 / report</th><th>笔记本 / notebook</th><th>参数 / parameters</th>
<th>状态 / status</th><th>错误 / error</th><th>关键数字 / key figures</th><th>秒 / s</th>
<th>执行记录 / executed</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
    (out / "index.html").write_text(page, encoding="utf-8")
    records = [{**asdict(r), "job": asdict(r.job)} for r in results]
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
                        help="run only the grid entries whose output name contains TEXT")
    parser.add_argument("-p", "--parameter", action="append", type=_parameter, default=[],
                        metavar="NAME=VALUE",
                        help="override a notebook parameter in every run (repeatable), "
                             "e.g. -p lang=en")
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds a single cell may run (default: 600)")
    parser.add_argument("--clean", action="store_true",
                        help="delete old executed/ and html/ outputs first")
    parser.add_argument("--allow-failures", action="store_true",
                        help="exit 0 even when some notebooks failed")


def run(args: argparse.Namespace) -> int:
    """``gx render``: 0 when every run succeeded, 1 when some failed, 2 on bad input."""
    try:
        results = render_grid(args.config, args.data, args.out, args.jobs, only=args.only,
                              overrides=dict(args.parameter), timeout=args.timeout,
                              clean=args.clean)
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
