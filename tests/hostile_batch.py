"""The hostile batch of the worker-pool tests (test_hostile through ``workers.parse_files``,
test_engine_wiring through ``gx parse``): the seeds, the hostile files of
benchmarks/hostile.py, a 512 MB docx bomb, a file that sleeps past the time limit and one
whose worker the test kills; and the killer thread that sends SIGKILL to a worker once it
has written its pid."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repo, not an installed package
    sys.path.insert(0, str(ROOT))
from benchmarks import hostile  # noqa: E402

MiB = 1 << 20
SLOW = "slow.txt"  # sleeps past the time limit (3 s in the tests)
HELD = "held.txt"  # writes its worker's pid to held.txt.pid and waits to be killed


def build_batch(raw: Path) -> tuple[dict[str, str], list[str]]:
    """Write the batch into ``raw``: (file name -> the reason it must fail with, the seeds' names)."""
    expect = hostile.build(raw, [n for n in hostile.HOSTILE if n != "bomb_2gib.docx"])
    (raw / "bomb.docx").write_bytes(hostile.docx_bomb(512 * MiB))
    expect["bomb.docx"] = "word/document.xml inflates to 512 MB (limit 64 MB): not read"
    (raw / SLOW).write_text("某县2023年政府信息公开工作年度报告", encoding="utf-8")
    expect[SLOW] = "took longer than 3 s (limit): not read"
    (raw / HELD).write_text("某县2023年政府信息公开工作年度报告", encoding="utf-8")
    expect[HELD] = "the parser process died while reading this file: killed by signal 9"
    seeds = sorted(p.name for p in raw.glob("0*.txt"))
    assert len(seeds) == 5
    return expect, seeds


def hooked(real):
    """The per-file work ``real`` with the two test hooks by file name (:data:`SLOW`, :data:`HELD`)."""
    def work(task):
        name = Path(task.path).name
        if name == SLOW:
            time.sleep(60)
        if name == HELD:
            Path(task.path + ".pid").write_text(str(os.getpid()))
            time.sleep(60)
        return real(task)
    return work


def kill_when_written(pidfile: Path, timeout: float) -> tuple[threading.Thread, list[int]]:
    """Start a thread that sends SIGKILL to the pid written into ``pidfile`` (within
    ``timeout`` seconds), as the OOM killer would; returns it and the list of pids killed."""
    killed: list[int] = []

    def killer():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pidfile.exists() and pidfile.read_text():
                pid = int(pidfile.read_text())
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.01)

    th = threading.Thread(target=killer)
    th.start()
    return th, killed
