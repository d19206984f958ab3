"""What a task process on a worker needs: the host name it reports, worker processes
that can start.

`worker_hostname`: the name a Celery worker reports as its tasks' host
(`[core] hostname_callable`).

Airflow records where a task instance ran (`TaskInstance.hostname`) from the host's FQDN.
Two workers on one host (the loopback deployment of `make distributed-demo` and the
distributed tests) would report the same name; each is given CRM_WORKER_HOSTNAME and
`AIRFLOW__CORE__HOSTNAME_CALLABLE=crm_worker.worker_hostname`, so the grid and the demo
say which worker ran which province. Unset, it is the host's FQDN, as Airflow's default.

`spawn_without_main`: see its docstring (steps with worker processes on any executor).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator


def worker_hostname() -> str:
    """CRM_WORKER_HOSTNAME, else this host's fully qualified name."""
    return os.environ.get("CRM_WORKER_HOSTNAME") or socket.getfqdn()


@contextlib.contextmanager
def spawn_without_main() -> Iterator[None]:
    """While a step runs in a task process: its spawned worker processes do not re-run
    the process's `__main__`.

    A task process's `__main__` is the `airflow` console script. Python's `spawn` start
    method runs the parent's main script again in each child (as `__mp_main__`), and that
    script imports Airflow, whose settings then fail on the database URL the task
    supervisor blanked out to keep tasks off the metadata database ("Could not parse
    SQLAlchemy URL"): every step with worker processes (conform, merge, score buckets)
    failed on a Celery worker. The steps' jobs are functions of importable modules and
    need nothing from `__main__`, so its `__file__` is hidden for the step's duration
    (spawn then skips it) and put back after.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None:
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path
