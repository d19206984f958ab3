"""Airflow on the CeleryExecutor, on 127.0.0.1: the deployment of docs/scale-out.md in small.

Used by the `distributed` tests (tests/distributed/) and `make distributed-demo`
(bench/distributed_demo.py). Given the servers it sits on (PostgreSQL for Airflow's
metadata and the Celery result backend, Redis as the broker, an S3 store for the staging
area and the state), it starts the API server, scheduler, DAG processor and triggerer, and
any number of `airflow celery worker` processes, each with its own Celery node name, its
own reported host name (`crm_worker.worker_hostname`) and its own local scratch folder:
one worker stands for one machine. What the workers share is only what machines would
share: the broker, the metadata database, the warehouse's URL, the object store, and the
landing folder (an SFTP mirror or a mounted landing zone in production).

A worker is killed the way a machine dies (`kill_worker`): SIGKILL to every process of its
session, the Celery main process, its pool process and the task processes they forked
(which Airflow puts in process groups of their own, but not in other sessions).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.airflow_api import (
    AIRFLOW_BIN,
    Server,
    base_env,
    start_component,
    stop_components,
    wait_ready,
)
from tests.servers.postgres import PostgresServer, free_port
from tests.servers.procs import proc_stats

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: A task whose worker stops heartbeating is failed (and retried elsewhere) after this long;
#: Airflow's default is 300 s, too long for a test or a demo on loopback.
HEARTBEAT_TIMEOUT_SECONDS = 20


@dataclass
class Worker:
    """One `airflow celery worker`: one machine of the deployment."""

    name: str
    process: subprocess.Popen[bytes]
    scratch: Path


@dataclass
class CeleryCluster:
    """Airflow's components and Celery workers, started by `start`, stopped by `stop`."""

    root: Path
    pg: PostgresServer
    broker_url: str
    #: CRM_* and AWS_* settings every task sees (staging URL, warehouse, landing...).
    pipeline_env: dict[str, str]
    #: The metadata database, created by `start` unless given (an empty one).
    metadata_database: str = ""
    server: Server | None = None
    components: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: dict[str, Worker] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def _env(self) -> dict[str, str]:
        assert self.server is not None
        return dict(self.server.env)

    def start(self, worker_names: list[str]) -> Server:
        """Create the metadata database, migrate it, start the components and workers."""
        self.logs.mkdir(parents=True, exist_ok=True)
        if not self.metadata_database:
            self.metadata_database = "airflow"
            self.pg.execute('CREATE DATABASE "airflow"')
        metadata = self.pg.url(self.metadata_database)  # postgresql+psycopg://...
        port = free_port()
        env = base_env(self.root, port)
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
                # psycopg 3 is async too; Airflow's default would want asyncpg.
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata,
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
                # The steps start worker processes of their own (ProcessPoolExecutor): a
                # prefork pool's daemonic children may not have children ("daemonic
                # processes are not allowed to have children"); `solo` runs the one task
                # slot in the worker's main process.
                "AIRFLOW__CELERY__POOL": "solo",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "crm_worker.worker_hostname",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(
                    HEARTBEAT_TIMEOUT_SECONDS
                ),
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                "CRM_RETRY_DELAY_SECONDS": "2",
                **self.pipeline_env,
            }
        )
        migrate = subprocess.run(
            [str(AIRFLOW_BIN), "db", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.stdout}\n{migrate.stderr}")
        self.server = Server(
            base=f"http://127.0.0.1:{port}", home=self.root / "home", root=self.root, env=env
        )
        self.components = [
            start_component([name], env, self.logs / f"{name}.log") for name in COMPONENTS
        ]
        for name in worker_names:
            self.start_worker(name)
        wait_ready(self.server, self.components, self.logs)
        return self.server

    def start_worker(self, name: str, extra_env: dict[str, str] | None = None) -> Worker:
        """`airflow celery worker` named `name`, one task at a time, its own scratch."""
        scratch = self.root / f"scratch-{name}"
        env = self._env() | {"CRM_WORKER_HOSTNAME": name, "CRM_STAGING_SCRATCH": str(scratch)}
        env |= extra_env or {}
        # fmt: off
        args = ["celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "1",
                "--pid", str(self.root / f"{name}.pid"), "--skip-serve-logs"]
        # fmt: on
        process = start_component(args, env, self.logs / f"worker-{name}.log")
        self.workers[name] = Worker(name, process, scratch)
        return self.workers[name]

    def stop_worker(self, name: str) -> None:
        """A worker's warm shutdown (SIGTERM): it finishes its task, takes no other."""
        stop_components([self.workers[name].process])

    def kill_worker(self, name: str) -> list[int]:
        """SIGKILL every process of the worker's session, as a machine that dies; the pids."""
        worker = self.workers[name]
        victims = list(session_members(worker.process.pid))
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        worker.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(pid_alive(pid) for pid in victims) and time.monotonic() < deadline:
            time.sleep(0.2)
        return victims

    def stop(self) -> None:
        """Workers first (no task left half-run by a stopped scheduler), then the rest."""
        try:
            stop_components([w.process for w in self.workers.values()])
            for worker in self.workers.values():
                for pid in session_members(worker.process.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        finally:
            stop_components(self.components)


def session_members(sid: int) -> Iterator[int]:
    """The live pids whose session id is `sid`."""
    for pid, fields in proc_stats():
        if int(fields[3]) == sid and fields[0] != "Z":
            yield pid


def pid_alive(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]) != "Z"
    except (OSError, IndexError):
        return False
