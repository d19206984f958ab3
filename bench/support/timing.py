"""Timing a program's steps from outside: wrap its functions by (module, name).

Nothing in the pipeline changes for a benchmark. A function is replaced, in the module
whose global its caller looks it up in (or on its class, for a method), by one that
times each call and hands the time to a recorder.
"""

from __future__ import annotations

import functools
import importlib
import time
from collections.abc import Callable
from typing import Any

# What a call's row is called, from its positional arguments: (step, input role, beside).
Label = Callable[[tuple[Any, ...]], tuple[str, str | None, bool]]
Recorder = Callable[[str, str | None, float, bool], None]


def wrap(module: str, name: str, label: Label, record: Recorder) -> None:
    """Time every call of ``module.name`` (``Class.method`` for a method)."""
    *path, attribute = name.split(".")
    owner: Any = importlib.import_module(module)
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, attribute)

    @functools.wraps(original)
    def timed(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            step, role, beside = label(a)
            record(step, role, time.perf_counter() - t, beside)

    setattr(owner, attribute, timed)
