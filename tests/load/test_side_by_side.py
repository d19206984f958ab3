"""`side_by_side`, which stages a first load's accounts beside its source records and
contacts: a failure in one stream stops the other at its next part and is raised."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from load.concurrency import side_by_side


class Boom(Exception):
    pass


def test_a_failure_stops_the_other_stream_and_is_raised() -> None:
    parts_done: list[int] = []
    started = threading.Event()

    def failing(_stop: threading.Event) -> None:
        started.wait(5)
        raise Boom("stream A")

    def looping(stop: threading.Event) -> None:
        for part in range(10_000):
            if stop.is_set():
                return
            parts_done.append(part)
            started.set()
            stop.wait(0.01)

    with pytest.raises(Boom, match="stream A"):
        side_by_side([failing, looping], parallel=True)
    assert 0 < len(parts_done) < 10_000


def test_tasks_run_side_by_side_or_in_order() -> None:
    both = threading.Barrier(2, timeout=5)
    seen: list[str] = []

    def task(name: str) -> Callable[[threading.Event], None]:
        def run(_stop: threading.Event) -> None:
            both.wait()  # returns only if the other task runs at the same time
            seen.append(name)

        return run

    side_by_side([task("a"), task("b")], parallel=True)
    assert sorted(seen) == ["a", "b"]
    order: list[int] = []

    def append(i: int) -> Callable[[threading.Event], None]:
        return lambda _stop: order.append(i)

    side_by_side([append(i) for i in range(3)], parallel=False)
    assert order == [0, 1, 2]
