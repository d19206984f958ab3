"""End to end through Airflow itself: API server, scheduler and DAG processor on 127.0.0.1.

The DAG is triggered through the REST API v2 with a JWT from the simple auth manager,
exactly as an operator's script would; the tasks run under the LocalExecutor in their own
processes, read the sample landing zone and write the SQLite warehouse in tmp. Slow (the
components (and the triggerer, for deferred waits) start in about half a minute on two cores), hence `slow`.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import AIRFLOW_BIN, BRANCHES, DAGS, PROJECT, truncate

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.xdist_group("airflow")]

STARTUP_SECONDS = 180
RUN_SECONDS = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        answer = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances")
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


def _start(name: str, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [str(AIRFLOW_BIN), name],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped as a whole below
    )


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("airflow-server")
    home = root / "home"
    logs = root / "logs"
    logs.mkdir()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CRM_"))}
    env.update(
        {
            "PATH": f"{AIRFLOW_BIN.parent}:{env.get('PATH', '')}",
            "PYTHONPATH": f"{PROJECT}:{DAGS}",  # the triggerer imports crm_waiting from dags/
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "CRM_STAGING_DIR": str(root / "staging"),
            "CRM_EXPORT_DIR": str(root / "export"),
            "CRM_WAREHOUSE_URL": f"sqlite:///{root / 'warehouse.db'}",
            "CRM_LANDING_DIR": str(root / "landing"),
        }
    )
    subprocess.run(
        [str(AIRFLOW_BIN), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )
    processes = [
        _start(name, env, logs)
        for name in ("api-server", "scheduler", "dag-processor", "triggerer")
    ]
    srv = Server(base=base, home=home, root=root, env=env)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            dead = [p.args[1] for p in processes if p.poll() is not None]
            assert not dead, f"{dead} exited; see {logs}"
            try:
                srv.request("GET", "/api/v2/monitor/health")
                srv.login()
                dags = srv.request("GET", "/api/v2/dags")["dags"]
                if any(d["dag_id"] == "crm_initial_load" for d in dags):
                    break
            except (urllib.error.URLError, ConnectionError, FileNotFoundError, KeyError):
                pass
            assert time.monotonic() < deadline, f"Airflow not ready in {STARTUP_SECONDS}s; {logs}"
            time.sleep(2)
        yield srv
    finally:
        _stop(processes)


def _landing(root: Path, day: date) -> Path:
    from crm_pipeline.sample import write_sample

    landing = root / f"landing-{day:%Y%m%d}"
    write_sample(landing, day, BRANCHES, 60, 23)
    return landing


def _by_label(tis: list[dict[str, Any]], task_id: str) -> dict[str, str]:
    return {
        str(t.get("rendered_map_index") or t["map_index"]): str(t["state"])
        for t in tis
        if t["task_id"] == task_id
    }


def _batch_status(server: Server, day: date, province: str) -> str | None:
    from load.warehouse import Warehouse

    return Warehouse(server.env["CRM_WAREHOUSE_URL"]).batch_status(day, province, "initial")


def test_initial_load_through_the_rest_api(server: Server) -> None:
    day = date(2026, 11, 24)
    landing = _landing(server.root, day)
    run_id = server.trigger(
        "crm_initial_load", {"business_date": f"{day:%Y%m%d}", "landing": str(landing)}
    )
    assert server.wait("crm_initial_load", run_id) == "success"
    tis = server.task_instances("crm_initial_load", run_id)
    assert _by_label(tis, "province.wait_for_files") == {"ZJ": "success", "GD": "success"}
    for task in ("fetch", "ingest", "conform", "merge", "score", "publish"):
        assert _by_label(tis, f"province.{task}") == {"ZJ": "success", "GD": "success"}, task
    assert {t["task_id"]: t["state"] for t in tis if t["map_index"] == -1} == {
        "plan": "success",
        "wait_for_fx_rates": "success",
        "stage_fx_rates": "success",
        "summary": "success",
    }
    for province in ("ZJ", "GD"):
        assert _batch_status(server, day, province) == "published"
    # The per-province asset got one event each, carrying the business date and batch.
    events = server.request("GET", "/api/v2/assets/events?limit=50")["asset_events"]
    by_uri = {e["uri"]: e["extra"] for e in events if e["uri"].startswith("crm://warehouse/")}
    assert set(by_uri) == {"crm://warehouse/ZJ", "crm://warehouse/GD"}
    assert all(extra["business_date"] == f"{day:%Y%m%d}" for extra in by_uri.values())
    # The load log shows the reconciliation of every file, and no secret.
    zj = next(
        t for t in tis if t["task_id"] == "province.publish" and t.get("rendered_map_index") == "ZJ"
    )
    text = server.log_text(
        "crm_initial_load", run_id, zj["task_id"], zj["map_index"], zj["try_number"]
    )
    assert "RTL_ACCT_ZJ_20261124.dat: read" in text and "= kept" in text
    assert server.env["AIRFLOW__API_AUTH__JWT_SECRET"] not in text


def test_a_corrupt_province_fails_alone_with_its_reason(server: Server) -> None:
    day = date(2026, 11, 25)
    landing = _landing(server.root, day)
    broken = truncate(landing, "GD", f"{day:%Y%m%d}")
    run_id = server.trigger(
        "crm_initial_load", {"business_date": f"{day:%Y%m%d}", "landing": str(landing)}
    )
    assert server.wait("crm_initial_load", run_id) == "failed"
    tis = server.task_instances("crm_initial_load", run_id)
    assert _by_label(tis, "province.ingest") == {"ZJ": "success", "GD": "failed"}
    assert _batch_status(server, day, "ZJ") == "published"
    assert _batch_status(server, day, "GD") != "published"
    gd = next(
        t for t in tis if t["task_id"] == "province.ingest" and t.get("rendered_map_index") == "GD"
    )
    assert gd["try_number"] == 1  # a corrupt file is not retried: the reason is shown at once
    text = server.log_text(
        "crm_initial_load", run_id, gd["task_id"], gd["map_index"], gd["try_number"]
    )
    assert broken.name in text and "truncated or corrupt" in text
    assert "province GD, step ingest" in text
