"""Airflow's components as processes on 127.0.0.1, and a client of its REST API v2.

Shared by the LocalExecutor end-to-end test (tests/dags/test_airflow_server.py), the
CeleryExecutor cluster (tests/servers/celery_cluster.py) and `make distributed-demo`: each
component is an `airflow ...` process in its own session (so it and everything it forks
can be stopped, or killed, as a whole); the client logs in with the simple auth manager's
generated password and talks JSON, exactly as an operator's script would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AIRFLOW_BIN = Path(sys.executable).parent / "airflow"
STARTUP_SECONDS = 180
RUN_SECONDS = 300


@dataclass
class Server:
    """A running Airflow and what a test needs to talk to it."""

    base: str
    home: Path
    root: Path
    env: dict[str, str]
    token: str = ""

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("Accept", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def login(self) -> None:
        passwords = self.home / "simple_auth_manager_passwords.json.generated"
        password = json.loads(passwords.read_text())["admin"]
        answer = self.request("POST", "/auth/token", {"username": "admin", "password": password})
        self.token = answer["access_token"]

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        run = self.request(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf}
        )
        return str(run["dag_run_id"])

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        answer = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=logical_date")
        return list(answer["dag_runs"])

    def wait(self, dag_id: str, run_id: str, seconds: float = RUN_SECONDS) -> str:
        quoted = urllib.parse.quote(run_id, safe="")
        deadline = time.monotonic() + seconds
        state = "?"
        while time.monotonic() < deadline:
            state = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}")["state"]
            if state in ("success", "failed"):
                return str(state)
            time.sleep(2)
        raise AssertionError(f"{dag_id} {run_id} still {state} after {seconds}s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        quoted = urllib.parse.quote(run_id, safe="")
        answer = self.request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances?limit=1000"
        )
        return list(answer["task_instances"])

    def log_text(self, dag_id: str, run_id: str, task_id: str, map_index: int, attempt: int) -> str:
        quoted = urllib.parse.quote(run_id, safe="")
        answer = self.request(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/logs/{attempt}"
            f"?map_index={map_index}&full_content=true",
        )
        return "\n".join(
            json.dumps(e, ensure_ascii=False) if not isinstance(e, str) else e
            for e in answer.get("content", [])
        )


def province_labels(tis: list[dict[str, Any]]) -> dict[int, str]:
    """Map index -> province code, from the tasks whose label is rendered (`crm_province`).

    A task still running shows its bare map index ("0") as its label; the code comes from
    one of the province's tasks that already ran.
    """
    return {
        t["map_index"]: str(t["rendered_map_index"])
        for t in tis
        if t["map_index"] >= 0 and re.fullmatch(r"[A-Z]{2}", str(t.get("rendered_map_index")))
    }


def base_env(root: Path, port: int) -> dict[str, str]:
    """The settings every component of one Airflow shares (no executor chosen here)."""
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CRM_"))}
    project, dags = (
        Path(__file__).resolve().parents[2],
        Path(__file__).resolve().parents[2] / "dags",
    )
    env.update(
        {
            "PATH": f"{AIRFLOW_BIN.parent}:{env.get('PATH', '')}",
            "PYTHONPATH": f"{project}:{dags}",  # the triggerer imports crm_waiting from dags/
            "AIRFLOW_HOME": str(root / "home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets_token(),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        }
    )
    return env


def secrets_token() -> str:
    import secrets

    return secrets.token_urlsafe(32)


def start_component(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`airflow *args` in its own session, its output in `log`."""
    out = open(log, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [str(AIRFLOW_BIN), *args],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopped as a whole below
    )


def stop_components(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each component's group, SIGKILL whatever is left after 20 s."""
    for proc in processes:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_ready(
    srv: Server,
    processes: Sequence[subprocess.Popen[bytes]],
    logs: Path,
    dag_id: str = "crm_initial_load",
    seconds: float = STARTUP_SECONDS,
) -> None:
    """Until the API answers, the login works and the DAG processor has sent `dag_id`."""
    deadline = time.monotonic() + seconds
    while True:
        dead = [" ".join(map(str, p.args[1:3])) for p in processes if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{dead} exited; see {logs}")
        try:
            srv.request("GET", "/api/v2/monitor/health")
            srv.login()
            dags = srv.request("GET", "/api/v2/dags")["dags"]
            if any(d["dag_id"] == dag_id for d in dags):
                return
        except (urllib.error.URLError, ConnectionError, FileNotFoundError, KeyError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"Airflow not ready in {seconds}s; see {logs}")
        time.sleep(2)
