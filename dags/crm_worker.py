"""The name a Celery worker reports as its tasks' host (`[core] hostname_callable`).

Airflow records where a task instance ran (`TaskInstance.hostname`) from the host's FQDN.
Two workers on one host (the loopback deployment of `make distributed-demo` and the
distributed tests) would report the same name; each is given CRM_WORKER_HOSTNAME and
`AIRFLOW__CORE__HOSTNAME_CALLABLE=crm_worker.worker_hostname`, so the grid and the demo
say which worker ran which province. Unset, it is the host's FQDN, as Airflow's default.
"""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    """CRM_WORKER_HOSTNAME, else this host's fully qualified name."""
    return os.environ.get("CRM_WORKER_HOSTNAME") or socket.getfqdn()
