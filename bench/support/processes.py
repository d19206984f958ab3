"""Each part of a benchmark in a fresh Python process, with its wall time and memory.

A fresh process per part keeps one part's memory out of another's figures. The parent
samples the summed RSS of the child and its descendants from /proc every 50 ms (the
pipeline's workers count), and takes the child's own peak from `os.wait4`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULT = "RESULT "  # the line of a child's stdout that carries its result (JSON)
MAX_RSS_GIB = 18.0  # a child whose process tree grows past this is killed (shared machine)

Child = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class ChildRun:
    result: dict[str, Any]
    wall: float
    maxrss_mib: float  # os.wait4 rusage of the child (it and the workers it reaped)
    tree_peak_mib: float  # sampled peak of the summed RSS of the child and its descendants


def rss_mib(who: int) -> float:
    """Peak RSS in MiB of this process (RUSAGE_SELF) or of its reaped children."""
    return resource.getrusage(who).ru_maxrss / 1024


def tree_rss(pid: int) -> int:
    """Summed RSS in bytes of `pid` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
            with open(f"/proc/{entry}/statm") as handle:
                resident = int(handle.read().split()[1]) * page
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = resident
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def run_child(
    script: Path, kind: str, args: dict[str, Any], max_rss_gib: float = MAX_RSS_GIB
) -> ChildRun:
    """Run part ``kind`` of ``script`` in a fresh Python process (``script --child kind``);
    its result, wall time and memory."""
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(script), "--child", kind, "--child-args", json.dumps(args)],
            stdout=out,
            cwd=script.resolve().parent.parent,
        )
        peak = 0
        killed = False
        done = threading.Event()

        def sample() -> None:
            nonlocal peak, killed
            while not done.is_set():
                peak = max(peak, tree_rss(proc.pid))
                if peak > max_rss_gib * 2**30 and not killed:
                    killed = True  # its workers die with it (PR_SET_PDEATHSIG)
                    os.kill(proc.pid, 9)
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    lines = [line for line in text.splitlines() if line.startswith(RESULT)]
    if killed:
        raise RuntimeError(f"{kind} child killed: its processes held over {max_rss_gib} GiB")
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{kind} child failed (exit {proc.returncode}):\n{text[-4000:]}")
    return ChildRun(
        json.loads(lines[-1][len(RESULT) :]), wall, usage.ru_maxrss / 1024, peak / 2**20
    )


def child_main(children: dict[str, Child], kind: str, args_json: str) -> int:
    """In the child: run part ``kind`` and print its result on the RESULT line."""
    result = children[kind](json.loads(args_json))
    print(RESULT + json.dumps(result), flush=True)
    return 0
