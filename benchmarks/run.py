"""The scale benchmark (issue 5): parse N generated reports with ``gx parse`` and print the figures.

    python -m benchmarks.run --n 100000 --jobs 2 --workdir /tmp/gxbench

Steps, all printed, nothing asserted (it is a benchmark, not a timed test):

1. data     generate N reports into WORKDIR/raw (reused when the folder is complete for the
            same N and seed; files changed by an earlier incremental step are restored first);
2. small    ``gx parse`` on the first N/10 reports (hard links in WORKDIR/raw_small): the
            memory and speed at a tenth of the size, to see whether memory is flat in N;
3. full     ``gx parse WORKDIR/raw --out WORKDIR/out`` from an empty output folder: wall
            time, reports/s, MB/s, peak memory;
4. floor    in this process, a ProcessPoolExecutor with the same --jobs reads the same files
            and finds every number with one compiled regex; the ratio full / floor; then the
            start-up: ``gx parse`` on an empty folder (and ``gx --help`` beside it);
5. incremental  rewrite 1 % of the files with new numbers, re-run ``gx parse`` into the same
            output folder; its time and its ratio to the full run; once more with nothing
            changed, twice (the exports are verified by size and sha256 and left as they
            are); the same on the N/10
            folder (memory at N/10 and N); then a fresh full parse of the changed folder
            into WORKDIR/out_fresh and a byte comparison of the CSVs;
6. render   ``gx render --data WORKDIR/out --out WORKDIR/reports`` when ``gx render`` exists,
            after the same on the N/10 outputs (memory at N/10 and N).

The floor and the incremental run are short (seconds) and vary by ~10 % from run to run on
a shared machine: each is run ``--repeat`` times (default 3), every time is printed, and
the median is the figure (memory: the highest of the runs). The full parse runs once.

Memory is measured two ways for every ``gx`` run: the peak of the summed RSS of the gx
process and all its descendants, sampled every 0.1 s with psutil (an upper bound: pages
shared between forked workers count once per process), and the largest single-process
max RSS reported by the kernel for the finished process tree (``getrusage`` of the children
of a small launcher process, so that this process's own memory does not leak into it).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from . import generate as gen

NUMBER_RX = re.compile(rb"\d+(?:\.\d+)?")
TABLES = ("reports", "disclosure", "applications", "reviews", "checks")

try:  # psutil ships with the notebook stack (ipykernel depends on it); optional here
    import psutil
except ImportError:  # pragma: no cover
    psutil = None


# ---------------------------------------------------------------------------------------
# measuring a subprocess


def gx_command() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m gxlib.cli``."""
    exe = Path(sys.executable).parent / "gx"
    if exe.is_file() and os.access(exe, os.X_OK):
        return [str(exe)]
    found = shutil.which("gx")
    if found:
        return [found]
    return [sys.executable, "-m", "gxlib.cli"]


def _kill_tree(pid: int) -> None:
    """Stop a process this benchmark started, and its descendants, by their ids."""
    pids = []
    if psutil is not None:
        try:
            pids = [c.pid for c in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            pids = []
    for p in [pid] + pids:
        try:
            os.kill(p, 15)
        except OSError:
            pass


# Runs the measured command and writes the largest max RSS among its process tree, as the
# kernel reports it (RUSAGE_CHILDREN). The command must not be started by this process
# directly: on Linux a process's max RSS starts at its parent's RSS when it was forked
# (exec keeps the old memory's high-water mark), so a gx run started after this process
# compared two sets of outputs in memory (~1.8 GB) was reported at 1.8 GB whatever gx used.
_LAUNCHER = ("import resource, subprocess, sys\n"
             "rc = subprocess.call(sys.argv[2:])\n"
             "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
             "if rc < 0:\n    import os, signal; signal.signal(-rc, signal.SIG_DFL); os.kill(os.getpid(), -rc)\n"
             "sys.exit(rc)")


def measure(cmd: list[str], log_prefix: Path, interval: float = 0.1, timeout: float | None = None) -> dict:
    """Run ``cmd``; return wall seconds, exit code, peak tree RSS (psutil) and max single RSS.
    With ``timeout``, the process tree is stopped after that many seconds (``timed_out``)."""
    log_prefix.parent.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_prefix.with_suffix(".out"), log_prefix.with_suffix(".err")
    rss_path = log_prefix.with_suffix(".maxrss")
    rss_path.unlink(missing_ok=True)
    peak = {"tree": 0, "procs": 0}
    stop = threading.Event()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        # through a small launcher (see _LAUNCHER): the command is not a fork of this process
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(rss_path), *cmd], stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)

        def sample():
            if psutil is None:
                return
            try:
                root = psutil.Process(proc.pid)
            except psutil.Error:
                return
            while not stop.is_set():
                try:
                    procs = root.children(recursive=True)  # (not the launcher)
                    total = 0
                    for p in procs:
                        try:
                            total += p.memory_info().rss
                        except psutil.Error:
                            pass
                    if total > peak["tree"]:
                        peak["tree"] = total
                    peak["procs"] = max(peak["procs"], len(procs))
                except psutil.Error:
                    break
                stop.wait(interval)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        timed_out = False
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout is not None and not timed_out and time.perf_counter() - t0 > timeout:
                timed_out = True
                _kill_tree(proc.pid)
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        th.join()
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    try:
        max_single = int(rss_path.read_text()) * 1024  # Linux reports KiB
    except (OSError, ValueError):  # the launcher was stopped: its own figure, an upper bound
        max_single = ru.ru_maxrss * 1024
    return {
        "cmd": " ".join(cmd), "wall": wall, "rc": proc.returncode, "timed_out": timed_out,
        "peak_tree_rss": peak["tree"] if psutil is not None else None, "max_procs": peak["procs"],
        "max_single_rss": max_single,
        # CPU of the launcher and every process it waited for (gx and its workers), from wait4
        "cpu": ru.ru_utime + ru.ru_stime,
        "stdout": stdout, "stderr": stderr, "log": str(out_path),
    }


def _median_run(runs: list[dict]) -> dict:
    """The run of median wall time (the upper median of an even count), with the highest
    peak memory of all the runs and the first non-zero exit code."""
    mid = dict(sorted(runs, key=lambda r: r["wall"])[len(runs) // 2])
    for key in ("peak_tree_rss", "max_single_rss"):
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            mid[key] = max(values)
    if "rc" in mid:
        mid["rc"] = next((r["rc"] for r in runs if r["rc"] != 0), 0)
    return mid


def _runs_note(runs: list[dict]) -> str:
    if len(runs) < 2:
        return ""
    return f"; median of {len(runs)} runs: " + ", ".join(f"{r['wall']:.2f}" for r in runs) + " s"


def _line(y_small: float, n_small: int, y_full: float, n_full: int, n: int) -> tuple[float, float]:
    """The straight line through (n_small, y_small) and (n_full, y_full) at ``n``, and its slope."""
    slope = (y_full - y_small) / (n_full - n_small)
    return y_full + slope * (n - n_full), slope


def _memory_lines(step: str, small: dict, full: dict, n_small: int, n_full: int, target: int) -> None:
    """Print a step's peak memory at N/10 and N and, when N is below ``target``, the
    straight line through them at ``target`` (stored in ``full`` as ``extrapolated_*``).
    At N >= ``target`` the figure at N is the measurement; nothing is extrapolated."""
    for key, label in (("peak_tree_rss", "tree"), ("max_single_rss", "largest process")):
        text = f"    {step} memory, {label:16s} {_mb(small[key])} at N={n_small:,}; {_mb(full[key])} at N={n_full:,}"
        if n_full < target:
            at, _ = _line(small[key], n_small, full[key], n_full, target)
            full[f"extrapolated_{key}"] = at
            text += f"; {_mb(at)} at N={target:,} (straight line, not measured)"
        print(text)


def _mb(x: float | None) -> str:
    return "n/a" if x is None else f"{x / 2**20:,.0f} MiB"


def _tail(text: str, n: int = 6) -> str:
    lines = [ln for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
    return "\n".join("      | " + ln[:200] for ln in lines[-n:])


# ---------------------------------------------------------------------------------------
# data


def _count_files(folder: Path) -> tuple[int, int]:
    n = size = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if not f.startswith("."):
                n += 1
                size += os.stat(os.path.join(root, f)).st_size
    return n, size


def ensure_data(raw: Path, n: int, seed: int, jobs: int, image_share: float) -> dict:
    """Generate, or reuse a complete folder (restoring files an incremental step changed)."""
    info = {"generated": False, "restored": 0, "gen_seconds": 0.0}
    if gen.is_complete(raw, n, seed, image_share):
        marker = gen.read_marker(raw)
        changed = marker.get("changed") or {}
        if changed:
            for idx in changed:
                gen.write_report(raw, seed, int(idx), 0, image_share)
            marker["changed"] = {}
            gen.write_marker(raw, marker)
            info["restored"] = len(changed)
        count, _ = _count_files(raw)
        if count == n:
            return info
        print(f"  {raw}: {count} files, expected {n}: regenerating")
    if raw.exists():
        if gen.read_marker(raw) is None and any(raw.iterdir()):
            raise SystemExit(f"{raw} exists, is not empty and was not made by the generator: choose another --workdir")
        shutil.rmtree(raw)
    st = gen.generate(raw, n, seed, jobs=jobs, progress=sys.stderr.isatty(), image_share=image_share)
    info.update(generated=True, gen_seconds=st["seconds"], stats=st)
    return info


def link_subset(raw: Path, small: Path, n_small: int, seed: int, image_share: float) -> None:
    """WORKDIR/raw_small: hard links to reports 0..n_small-1 (same bytes, no copy)."""
    if small.exists():
        shutil.rmtree(small)
    small.mkdir(parents=True)
    for idx in range(n_small):
        s = gen.spec(seed, idx, 0, image_share)
        dst = small / s["file"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(raw / s["file"], dst)
        except OSError:
            shutil.copyfile(raw / s["file"], dst)


# ---------------------------------------------------------------------------------------
# the floor


def _scan(path: str) -> tuple[int, int]:
    with open(path, "rb") as fh:
        data = fh.read()
    return len(data), len(NUMBER_RX.findall(data))


def floor(raw: Path, jobs: int) -> dict:
    """Read every file under ``raw`` and find every number with one compiled regex, in a
    ProcessPoolExecutor with ``jobs`` workers (listing and pool start-up included)."""
    t0 = time.perf_counter()
    paths = []
    for root, dirs, files in os.walk(raw):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        paths += [os.path.join(root, f) for f in sorted(files) if not f.startswith(".")]
    chunk = max(1, min(256, len(paths) // (jobs * 8) or 1))
    nbytes = numbers = 0
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for b, k in pool.map(_scan, paths, chunksize=chunk):
            nbytes += b
            numbers += k
    return {"wall": time.perf_counter() - t0, "files": len(paths), "bytes": nbytes, "numbers": numbers}


# ---------------------------------------------------------------------------------------
# incremental


def change_files(raw: Path, n: int, seed: int, share: float, image_share: float) -> list[int]:
    """Rewrite ``share`` of the (undamaged) reports with new numbers; record them in the marker."""
    k = max(1, round(n * share))
    rng = random.Random(f"gxbench-change:{seed}:{n}")
    order = rng.sample(range(n), min(n, k * 2 + 10))
    chosen, changed = [], {}
    for idx in order:
        if len(chosen) == k:
            break
        s = gen.spec(seed, idx, 0, image_share)
        if s["damage"]:
            continue
        before = (raw / s["file"]).read_bytes()
        for variant in range(1, 6):
            if gen.render(gen.spec(seed, idx, variant, image_share)) != before:
                gen.write_report(raw, seed, idx, variant, image_share)
                changed[str(idx)] = variant
                chosen.append(idx)
                break
    marker = gen.read_marker(raw) or {}
    marker["changed"] = changed
    gen.write_marker(raw, marker)
    return chosen


def _digest(path: Path) -> str | None:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def compare_outputs(a: Path, b: Path) -> dict:
    return {t: (_digest(a / f"{t}.csv"), _digest(b / f"{t}.csv")) for t in TABLES}


def same_parquet(a: Path, b: Path) -> bool:
    """The same rows in two Parquet files, column by column (codes compared as text: the
    files' dictionaries and row groups may differ)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not (a.is_file() and b.is_file()):
        return False
    sa, sb = pq.read_schema(a), pq.read_schema(b)
    if sa.names != sb.names or pq.read_metadata(a).num_rows != pq.read_metadata(b).num_rows:
        return False
    for col in sa.names:
        x, y = pq.read_table(a, columns=[col])[col], pq.read_table(b, columns=[col])[col]
        x, y = (c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in (x, y))
        if not x.cast(y.type).equals(y):
            return False
    return True


# ---------------------------------------------------------------------------------------


def _gx_summary(stdout: str) -> str:
    for line in stdout.splitlines():
        if "files:" in line and "reports/s" in line:
            return line.strip()
    return ""


def _git_head() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + (" (work tree has uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def ocr_step(raw: Path, images: Path, out: Path, n: int, seed: int, jobs: int, gx: list[str], logs: Path,
             image_share: float) -> dict:
    """Link the scans of the generated set ``raw`` into ``images``, parse them alone with
    ``gx parse`` (empty output folder, so no page is in the OCR page cache) and print OCR
    pages/s (wall) and CPU-seconds a page (the whole process tree's CPU, as the kernel
    counts it, over the pages: start-up, model loading and the table core included)."""
    import pypdfium2 as pdfium

    if images.exists():
        shutil.rmtree(images)
    images.mkdir(parents=True)
    pages = files = 0
    for idx in range(n):
        s = gen.spec(seed, idx, 0, image_share)
        if s["shape"] != "image":
            continue
        dst = images / s["file"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(raw / s["file"], dst)
        except OSError:
            shutil.copyfile(raw / s["file"], dst)
        pdf = pdfium.PdfDocument(str(dst))
        pages += len(pdf)
        pdf.close()
        files += 1
    if not files:
        print("  no scans among the generated reports (raise --n)")
        return {"files": 0, "pages": 0}
    if out.exists():
        shutil.rmtree(out)
    r = measure(gx + ["parse", str(images), "--out", str(out), "--jobs", str(jobs), "--no-progress"], logs / "parse_ocr")
    if r["rc"] != 0:
        print(f"  gx parse exited {r['rc']}; last lines of {logs / 'parse_ocr'}.err:\n{_tail(r['stderr'])}")
    print(f"  {files} scans, {pages} pages, --jobs {jobs} (one file a task)")
    print(f"  wall time      {r['wall']:.1f} s")
    print(f"  OCR pages/s    {pages / r['wall']:.3f} (wall, {min(jobs, files)} worker process(es))")
    print(f"  CPU s/page     {r['cpu'] / pages:.2f}   ({r['cpu']:.1f} CPU-s for the whole gx process tree; aim <= 4)")
    print(f"  peak memory    {_mb(r['peak_tree_rss'])} summed over the gx process tree; largest single process "
          f"{_mb(r['max_single_rss'])}")
    if _gx_summary(r["stdout"]):
        print(f"  gx said        {_gx_summary(r['stdout'])}")
    return {"files": files, "pages": pages, "wall": r["wall"], "cpu": r["cpu"], "rc": r["rc"],
            "pages_per_s": pages / r["wall"], "cpu_per_page": r["cpu"] / pages,
            "peak_tree_rss": r["peak_tree_rss"], "max_single_rss": r["max_single_rss"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="number of reports (default 10000; the issue's figure is 100000)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes for gx and the floor (default: all cores)")
    ap.add_argument("--workdir", default="/tmp/gxbench", help="folder for the generated data and outputs (default /tmp/gxbench)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--change", type=float, default=0.01, help="share of files changed for the incremental run (default 0.01)")
    ap.add_argument("--small", type=int, default=None, help="size of the small run for the memory comparison (default N/10; 0 = skip)")
    ap.add_argument("--no-render", action="store_true", help="skip the gx render step")
    ap.add_argument("--render-timeout", type=float, default=1800,
                    help="stop gx render after this many seconds and say so (default 1800; 0 = no limit)")
    ap.add_argument("--no-fresh", action="store_true", help="skip the fresh full parse used to check incremental outputs")
    ap.add_argument("--image-share", type=float, default=0.0,
                    help="share of the scale set's undamaged reports written as scans (default 0: the scale "
                         "figures are the text engine's; OCR is measured on a set of its own, --ocr-reports)")
    ap.add_argument("--ocr-reports", type=int, default=16,
                    help="reports generated as scans for the OCR step when --image-share is 0 (default 16; 0 skips it)")
    ap.add_argument("--ocr-only", action="store_true",
                    help="only the data step and the OCR step (gx parse on the generated scans alone)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="floor and incremental runs, each timed; the median is reported (default 3)")
    args = ap.parse_args(argv)

    work = Path(args.workdir).resolve()
    raw, small_raw = work / "raw", work / "raw_small"
    out, out_small, out_fresh, reports = work / "out", work / "out_small", work / "out_fresh", work / "reports"
    logs = work / "logs"
    gen.check_out_dir(raw)  # refuses data/raw
    work.mkdir(parents=True, exist_ok=True)
    gx = gx_command()
    n_small = args.n // 10 if args.small is None else args.small
    results: dict = {"n": args.n, "jobs": args.jobs, "seed": args.seed, "image_share": args.image_share}

    print("== gxlib scale benchmark ==")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}")
    print(f"gx: {' '.join(gx)}; code at {_git_head()}")
    print(f"memory: {'psutil ' + psutil.__version__ + ' (sum of RSS over the gx process tree, sampled every 0.1 s)' if psutil else 'psutil not installed: only the kernel rusage figure'}"
          " + os.wait4 rusage (largest single process)")
    print(f"workdir: {work}")

    # 1. data ------------------------------------------------------------------------------
    print("\n[1/6] data")
    info = ensure_data(raw, args.n, args.seed, args.jobs, args.image_share)
    n_files, size = _count_files(raw)
    if info["generated"]:
        st = info["stats"]
        print(f"  generated {st['files']} files in {info['gen_seconds']:.1f} s")
        print("  " + "; ".join(f"{k}: " + ", ".join(f"{a} {b}" for a, b in sorted(st[k].items()))
                               for k in ("shape", "encoding", "template", "damage")))
    else:
        restored = f", restored {info['restored']} files changed by the last run" if info["restored"] else ""
        print(f"  reused the complete folder{restored}")
    print(f"  N = {n_files} files, total {size / 1e6:,.1f} MB")
    results.update(files=n_files, mb=size / 1e6)

    # OCR: the generated scans alone ---------------------------------------------------------
    if args.image_share > 0:
        print(f"\n[OCR] gx parse on the scans of the set alone (image-only PDFs, {args.image_share:.1%} of the reports)")
        results["ocr"] = ocr_step(raw, work / "raw_images", work / "out_images", args.n, args.seed, args.jobs, gx,
                                  logs, args.image_share)
    elif args.ocr_reports > 0:
        print(f"\n[OCR] gx parse on {args.ocr_reports} reports generated as scans (image-only PDFs), alone")
        scans = work / "raw_scans"
        ensure_data(scans, args.ocr_reports, args.seed, args.jobs, 1.0)
        results["ocr"] = ocr_step(scans, work / "raw_images", work / "out_images", args.ocr_reports, args.seed,
                                  args.jobs, gx, logs, 1.0)
    if args.ocr_only:
        (work / "results.json").write_text(json.dumps(results, indent=1))
        print(f"\n(--ocr-only: figures also in {work / 'results.json'}; logs in {logs})")
        return 0

    def gx_parse(src: Path, dst: Path, name: str, fresh: bool = True) -> dict:
        if fresh and dst.exists():
            shutil.rmtree(dst)
        r = measure(gx + ["parse", str(src), "--out", str(dst), "--jobs", str(args.jobs), "--no-progress"], logs / name)
        if r["rc"] != 0:
            print(f"  gx parse exited {r['rc']}; last lines of {logs / name}.err:\n{_tail(r['stderr'])}")
        return r

    def show(r: dict, files: int, mb: float) -> None:
        print(f"  wall time      {r['wall']:.1f} s   (gx exit code {r['rc']})")
        print(f"  reports/s      {files / r['wall']:,.0f}")
        print(f"  MB/s           {mb / r['wall']:,.2f}")
        print(f"  peak memory    {_mb(r['peak_tree_rss'])} summed over the gx process tree ({r['max_procs']} processes at most); "
              f"largest single process {_mb(r['max_single_rss'])}")
        if _gx_summary(r["stdout"]):
            print(f"  gx said        {_gx_summary(r['stdout'])}")

    # 2. small --------------------------------------------------------------------------------
    r_small = None
    if n_small:
        print(f"\n[2/6] small run: gx parse on the first {n_small} reports (N/10)")
        link_subset(raw, small_raw, n_small, args.seed, args.image_share)
        s_files, s_size = _count_files(small_raw)
        r_small = gx_parse(small_raw, out_small, "parse_small")
        show(r_small, s_files, s_size / 1e6)
        results["small"] = {"files": s_files, "mb": s_size / 1e6, **{k: r_small[k] for k in ("wall", "rc", "peak_tree_rss", "max_single_rss")}}
    else:
        print("\n[2/6] small run skipped")

    # 3. full ---------------------------------------------------------------------------------
    print(f"\n[3/6] full run: gx parse on all {n_files} reports (empty output folder)")
    r_full = gx_parse(raw, out, "parse_full")
    show(r_full, n_files, size / 1e6)
    results["full"] = {k: r_full[k] for k in ("wall", "rc", "peak_tree_rss", "max_single_rss")}

    # 4. floor --------------------------------------------------------------------------------
    print(f"\n[4/6] floor: read the same bytes and find every number with one regex, ProcessPoolExecutor({args.jobs})")
    floors = [floor(raw, args.jobs) for _ in range(args.repeat)]
    fl = _median_run(floors)
    print(f"  wall time      {fl['wall']:.2f} s   ({fl['files']} files, {fl['bytes'] / 1e6:,.1f} MB, {fl['numbers']:,} numbers)"
          + _runs_note(floors))
    print(f"  reports/s      {fl['files'] / fl['wall']:,.0f}")
    print(f"  MB/s           {fl['bytes'] / 1e6 / fl['wall']:,.1f}")
    print(f"  parse / floor  {r_full['wall'] / fl['wall']:.1f}x")
    results["floor"] = {**fl, "ratio": r_full["wall"] / fl["wall"], "walls": [f["wall"] for f in floors]}

    # start-up ---------------------------------------------------------------------------------
    empty, out_empty = work / "raw_empty", work / "out_empty"
    empty.mkdir(exist_ok=True)
    shutil.rmtree(out_empty, ignore_errors=True)
    first = measure(gx + ["parse", str(empty), "--out", str(out_empty), "--no-progress"], logs / "empty_first")
    starts = [measure(gx + ["parse", str(empty), "--out", str(out_empty), "--no-progress"], logs / f"empty{i}")
              for i in range(5)]
    helps = [measure(gx + ["--help"], logs / f"help{i}") for i in range(5)]
    st, hp = _median_run(starts), _median_run(helps)
    print(f"  start-up       gx parse on an empty folder {st['wall']:.3f} s (median of 5; the first run, which "
          f"creates the store, {first['wall']:.3f} s); gx --help {hp['wall']:.3f} s")
    results["startup"] = {"empty": st["wall"], "empty_first": first["wall"], "help": hp["wall"]}

    # 5. incremental --------------------------------------------------------------------------
    print(f"\n[5/6] incremental: change {args.change:.0%} of the files, re-run gx parse into the same output folder")

    def incremental(src: Path, dst: Path, n: int, name: str, r_fullrun: dict) -> tuple[dict, list[dict], dict]:
        """``--repeat`` times: rewrite the same share of the files again, then gx parse into
        ``dst``; the median run, every run, and the results entry."""
        runs, changed = [], []
        for i in range(args.repeat):
            changed = change_files(src, n, args.seed, args.change, args.image_share)
            runs.append(gx_parse(src, dst, f"{name}{i + 1}" if args.repeat > 1 else name, fresh=False))
        r = _median_run(runs)
        return r, runs, {"changed": len(changed), "ratio": r["wall"] / r_fullrun["wall"],
                         **{k: r[k] for k in ("wall", "rc", "peak_tree_rss", "max_single_rss")},
                         "walls": [x["wall"] for x in runs]}

    r_inc, incs, results["incremental"] = incremental(raw, out, args.n, "parse_incremental", r_full)
    print(f"  rewrote {results['incremental']['changed']} files with new numbers"
          + (f", {args.repeat} times, gx parse after each" if args.repeat > 1 else ""))
    print(f"  wall time      {r_inc['wall']:.1f} s   (gx exit code {r_inc['rc']})" + _runs_note(incs))
    print(f"  ratio to full  {r_inc['wall'] / r_full['wall']:.1%}")
    print(f"  peak memory    {_mb(r_inc['peak_tree_rss'])} summed over the process tree; largest single process {_mb(r_inc['max_single_rss'])}"
          + (" (the highest of the runs)" if args.repeat > 1 else ""))
    if _gx_summary(r_inc["stdout"]):
        print(f"  gx said        {_gx_summary(r_inc['stdout'])}")
    # the same again, nothing changed: the first re-run checks the files changed within 2 s
    # of the last listing by their hash; the second finds the listing as it was (the usual case)
    for key, label in (("unchanged_first", "nothing changed, first re-run"), ("unchanged", "nothing changed")):
        r_same = gx_parse(raw, out, f"parse_{key}", fresh=False)
        results[key] = {"wall": r_same["wall"], "rc": r_same["rc"], "ratio": r_same["wall"] / r_full["wall"],
                        "peak_tree_rss": r_same["peak_tree_rss"]}
        print(f"  {label}: {r_same['wall']:.2f} s = {r_same['wall'] / r_full['wall']:.1%} of the full run"
              f" (exit {r_same['rc']}); peak memory {_mb(r_same['peak_tree_rss'])} summed over the process tree")
        if _gx_summary(r_same["stdout"]):
            print(f"    gx said      {_gx_summary(r_same['stdout'])}")
    if r_small and r_small["rc"] == 0:  # the same on the N/10 folder: does its memory grow with N?
        r_is, incs_small, results["incremental_small"] = incremental(small_raw, out_small, n_small, "parse_incremental_small", r_small)
        print(f"  N/10 folder    {results['incremental_small']['changed']} files changed: {r_is['wall']:.1f} s = "
              f"{r_is['wall'] / r_small['wall']:.1%} of its full run (exit {r_is['rc']})" + _runs_note(incs_small)
              + f"; peak memory {_mb(r_is['peak_tree_rss'])} summed over the process tree; "
              f"largest single process {_mb(r_is['max_single_rss'])}")
    if not args.no_fresh:
        print("  fresh full parse of the changed folder (for the comparison)")
        r_fresh = gx_parse(raw, out_fresh, "parse_fresh")
        print(f"  fresh wall     {r_fresh['wall']:.1f} s")
        cmp = compare_outputs(out, out_fresh)
        same = all(a is not None and a == b for a, b in cmp.values())
        for t, (a, b) in cmp.items():
            print(f"    {t + '.csv':18} {'identical' if a is not None and a == b else 'DIFFERENT' if a and b else 'missing'}")
        for t in TABLES:
            ok = same_parquet(out / f"{t}.parquet", out_fresh / f"{t}.parquet")
            same = same and ok
            print(f"    {t + '.parquet':18} {'same rows' if ok else 'DIFFERENT'}")
        print(f"  identical to a full run: {'yes' if same else 'no'}")
        results["incremental"].update(identical=same, fresh_wall=r_fresh["wall"])

    # 6. render -------------------------------------------------------------------------------
    print("\n[6/6] render")
    has_render = subprocess.run(gx + ["render", "--help"], capture_output=True).returncode == 0
    if args.no_render:
        print("  skipped (--no-render)")
    elif not has_render:
        print("  gx render does not exist in this version: skipped")
    else:
        def render_cmd(data: Path, dest: Path) -> list[str]:
            return gx + ["render", "--data", str(data), "--out", str(dest), "--jobs", str(args.jobs)]

        if r_small and r_small["rc"] == 0:  # the same suite on the N/10 panel: does memory grow with N?
            reports_small = work / "reports_small"
            shutil.rmtree(reports_small, ignore_errors=True)
            r_rs = measure(render_cmd(out_small, reports_small), logs / "render_small", timeout=args.render_timeout or None)
            print(f"  N/10 panel     {r_rs['wall']:.1f} s (exit {r_rs['rc']}); peak memory {_mb(r_rs['peak_tree_rss'])} summed "
                  f"over the process tree; largest single process {_mb(r_rs['max_single_rss'])}")
            results["render_small"] = {k: r_rs[k] for k in ("wall", "rc", "timed_out", "peak_tree_rss", "max_single_rss")}
        if reports.exists():
            shutil.rmtree(reports)
        r_render = measure(render_cmd(out, reports), logs / "render", timeout=args.render_timeout or None)
        pages = sum(1 for _ in reports.rglob("*.html")) if reports.is_dir() else 0
        if r_render["timed_out"]:
            print(f"  NOT FINISHED: stopped after {args.render_timeout:.0f} s (--render-timeout), {pages} HTML pages written by then")
        print(f"  wall time      {r_render['wall']:.1f} s   (gx render exit code {r_render['rc']}; {pages} HTML pages)")
        print(f"  peak memory    {_mb(r_render['peak_tree_rss'])} summed over the process tree; largest single process {_mb(r_render['max_single_rss'])}")
        if r_render["rc"] != 0:
            print(f"  last lines of {logs / 'render'}.err:\n{_tail(r_render['stderr'])}")
        results["render"] = {"pages": pages, **{k: r_render[k] for k in ("wall", "rc", "timed_out", "peak_tree_rss", "max_single_rss")}}

    # summary ---------------------------------------------------------------------------------
    print("\n== summary (as measured) ==")
    print(f"  N                          {n_files} reports, {size / 1e6:,.1f} MB, --jobs {args.jobs}")
    print(f"  parse                      {r_full['wall']:.1f} s, {n_files / r_full['wall']:,.0f} reports/s, {size / 1e6 / r_full['wall']:,.2f} MB/s")
    print(f"  floor                      {fl['wall']:.2f} s; parse is {r_full['wall'] / fl['wall']:.1f}x the floor")
    if r_small:
        print(f"  peak memory (tree)         {_mb(r_small['peak_tree_rss'])} at N={n_small}; {_mb(r_full['peak_tree_rss'])} at N={n_files}")
        print(f"  largest single process     {_mb(r_small['max_single_rss'])} at N={n_small}; {_mb(r_full['max_single_rss'])} at N={n_files}")
    else:
        print(f"  peak memory (tree)         {_mb(r_full['peak_tree_rss'])}; largest single process {_mb(r_full['max_single_rss'])}")
    target = 1_000_000
    if n_files < target:  # the scale: a straight line through the two measured points
        ext = {"n": target, "parse_seconds": target / (n_files / r_full["wall"])}
        print(f"  extrapolated to N={target:,} (straight line, not measured):")
        print(f"    parse                    {ext['parse_seconds'] / 60:.0f} min at the same reports/s")
        if r_small and n_small >= 1000 and n_files > n_small:  # below that, start-up costs dominate
            for key, label in (("peak_tree_rss", "peak memory (tree)"), ("max_single_rss", "largest single process")):
                ext[key], slope = _line(r_small[key], n_small, r_full[key], n_files, target)
                print(f"    {label:24s} {_mb(ext[key])} ({slope * 1000 / 2**20:+.1f} MiB per 1,000 reports)")
        results["extrapolated"] = ext
    inc = results["incremental"]
    print(f"  incremental ({inc['changed']} changed)  {inc['wall']:.1f} s = {inc['ratio']:.1%} of the full run"
          + (f"; outputs identical to a full run: {'yes' if inc.get('identical') else 'no'}" if "identical" in inc else ""))
    print(f"  re-run, nothing changed    {results['unchanged']['wall']:.2f} s = {results['unchanged']['ratio']:.1%} of the full run"
          f" (first re-run after the change: {results['unchanged_first']['wall']:.2f} s)")
    print(f"  start-up, empty folder     {results['startup']['empty']:.3f} s (gx --help {results['startup']['help']:.3f} s)")
    ins = results.get("incremental_small")
    if ins and ins["rc"] == 0 and inc["rc"] == 0 and n_small >= 1000 and n_files > n_small:
        _memory_lines("incremental", ins, inc, n_small, n_files, target)
    if "render" in results:
        rr = results["render"]
        print(f"  render                     {rr['wall']:.1f} s (exit {rr['rc']}{', stopped by --render-timeout' if rr['timed_out'] else ''}; "
              f"{rr['pages']} HTML pages), peak {_mb(rr['peak_tree_rss'])} tree")
        rs = results.get("render_small")
        if rs and rs["rc"] == 0 and rr["rc"] == 0 and n_small >= 1000 and n_files > n_small:
            _memory_lines("render", rs, rr, n_small, n_files, target)
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print(f"  (figures also in {work / 'results.json'}; logs in {logs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
