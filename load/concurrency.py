"""Running a load's streams at once: the next part read while this one is written, and
independent streams in threads of their own.

PostgreSQL's COPY keeps one core busy, Arrow (which releases the GIL) reading and shaping
the next part another: on two cores, one after the other left one idle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def prefetched(read: Callable[[int], T], parts: int) -> Iterator[tuple[int, T]]:
    """(i, read(i)) for each part in order, read(i + 1) running in a thread meanwhile.

    The caller stages part i (COPY: PostgreSQL's core) while the next part is read from
    Parquet and shaped (Arrow releases the GIL: the other core). At most two parts are in
    memory. `read` must depend on nothing the caller changes while staging part i (the
    stagers' `needs(i + 1)` does not: staging part i never completes part i + 1).
    """
    if parts <= 1:
        for part in range(parts):
            yield part, read(part)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-prefetch") as pool:
        ahead: Future[T] = pool.submit(read, 0)
        for part in range(parts):
            current = ahead.result()
            if part + 1 < parts:
                ahead = pool.submit(read, part + 1)
            try:
                yield part, current
            except BaseException:
                ahead.cancel()
                raise
            del current


def side_by_side(
    tasks: Sequence[Callable[[threading.Event], None]],
    *,
    parallel: bool,
    stop: threading.Event | None = None,
) -> None:
    """Run `tasks`, each in a thread of its own if `parallel`, else one after the other.

    Each task is handed a stop event, set as soon as another has failed (or by the caller,
    who may pass it), that it checks between units of work (a staged part), so that a
    failure is reported without waiting for the other streams to finish; the first error
    is raised once every task returned.
    """
    stop = stop or threading.Event()
    if not parallel or len(tasks) <= 1:
        for task in tasks:
            task(stop)
        return

    def guarded(task: Callable[[threading.Event], None]) -> None:
        try:
            task(stop)
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="load-stream") as pool:
        running = [pool.submit(guarded, task) for task in tasks]
    for done in running:
        done.result()
