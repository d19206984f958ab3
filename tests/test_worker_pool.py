"""The runner's worker processes: each sizes Arrow's CPU pool to its share of the cores
(the workers are the parallelism; a full-size pool in each only added overhead)."""

from __future__ import annotations

import os

import pyarrow as pa

from crm_pipeline.workers import worker_pool


def _arrow_threads() -> int:
    return pa.cpu_count()


def test_workers_share_the_cores_among_their_arrow_pools() -> None:
    pool = worker_pool(2)
    assert pool is not None
    try:
        found = {pool.submit(_arrow_threads).result(timeout=60) for _ in range(4)}
    finally:
        pool.shutdown()
    assert found == {max(1, (os.cpu_count() or 1) // 2)}


def test_one_worker_means_no_pool() -> None:
    assert worker_pool(1) is None
