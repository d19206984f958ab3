"""Worker processes: a step's jobs (files, buckets) run on every core, each a restart point.

Each job writes its outputs and returns its counts; the parent records it done in the step's
ledger (common.jobs) as it completes, so a crash in the middle of a step resumes at the
jobs that were not done.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from common.jobs import JobLedger
from crm_pipeline.crash import crash_point

# Buckets are merged and scored by this many worker processes (CRM_BUCKET_WORKERS).
BUCKET_WORKERS = 2
# Below POOL_MIN_BYTES of a province's input, starting worker processes (each imports Arrow
# and the pipeline, about half a second, four pools a night) costs more than the work they
# would share: a 300-customer province took 6.8 s with them, most of it spent starting them.
POOL_MIN_BYTES = 16 * 2**20


def bucket_workers(input_bytes: int) -> int:
    """Worker processes for a province of `input_bytes`: in-process below POOL_MIN_BYTES
    unless CRM_BUCKET_WORKERS asks for more (the tests of the pool path do)."""
    asked = os.environ.get("CRM_BUCKET_WORKERS")
    if not asked and input_bytes < POOL_MIN_BYTES:
        return 1
    return max(1, min(int(asked or BUCKET_WORKERS), os.cpu_count() or 1))


def _init_worker(parent: int, arrow_threads: int) -> None:
    """Worker initializer: Arrow's CPU pool sized to the worker's share of the cores (the
    workers are the parallelism: with a pool as large as the machine in each, its threads
    only added their overhead: a 10M transform 45.2 -> 43.4 s, 83 -> 81 CPU seconds), and
    the worker killed when the runner dies (`_die_with_parent`)."""
    pa.set_cpu_count(arrow_threads)
    _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """Killed when the runner dies (a crash must not leave a worker writing a staged file
    that the rerun is writing too, nor holding the runner's output pipes open). Linux
    only; elsewhere a no-op. A parent that died while this worker was starting (before
    the request took effect) is seen by its pid having changed."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)


def worker_pool(workers: int) -> Any:
    """A pool of `workers` processes, or None for one (the work is then done in-process)."""
    if workers <= 1:
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: a forked copy of a process running Arrow's thread pools can hang.
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(os.getpid(), max(1, (os.cpu_count() or 1) // workers)),
    )


@dataclass(frozen=True)
class Job:
    """One restartable piece of a step (a bucket): `run(*args)` writes `outputs`, returns counts."""

    name: str
    run: Callable[..., dict[str, int]]
    args: tuple[Any, ...]
    outputs: tuple[Path, ...]
    weight: int = 0  # the larger first: a large job started last leaves the other cores idle


def run_jobs(ledger: JobLedger, jobs: Sequence[Job], workers: int) -> list[dict[str, int]]:
    """Run each job of `ledger` that is not done (with intact outputs) in worker processes,
    recording each as it completes; the counts of every job, in order.

    A worker does not force Arrow's freed memory back after a job (`release_unused`):
    mimalloc hands it back on its own shortly after (its purge delay), and the forced
    release made the next job fault the same pages in again (10M transform 40.2 -> 38.4 s,
    2 s less kernel time; sampled peaks unchanged: 1,507 MiB at 10M, 1,829 at 30M)."""
    todo = [job for job in jobs if ledger.done(job.name) is None]
    for job in todo:
        ledger.start(job.name)
    pool = worker_pool(min(workers, len(todo)))
    try:
        futures = (
            {
                job.name: pool.submit(job.run, *job.args)
                for job in sorted(todo, key=lambda job: -job.weight)
            }
            if pool
            else {}
        )
        results = []
        for job in jobs:
            entry = ledger.done(job.name)
            if entry is None:
                future = futures.get(job.name)
                try:
                    counts = future.result() if future is not None else job.run(*job.args)
                except Exception as exc:
                    ledger.fail(job.name, f"{type(exc).__name__}: {exc}")
                    raise
                entry = ledger.complete(job.name, list(job.outputs), counts=counts)
                crash_point(f"{ledger.directory.name}:{job.name}")
            results.append(entry["counts"])
        return results
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
