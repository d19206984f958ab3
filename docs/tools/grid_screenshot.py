"""The grid of a finished `crm_initial_load` run, photographed in headless Chromium.

    .venv/bin/python docs/tools/grid_screenshot.py [--out docs/images/grid-crm-initial-load.png]

Produces the picture in docs/operations.md ("What a finished run looks like"):

1. Generates a sample landing zone with `crm-pipeline sample` (business date 20261124,
   provinces ZJ with city NB and GD with city SZ, 60 customers per branch) in a
   temporary directory and cuts 40 bytes off GD's account file, as a broken transfer does,
   so the run ends with one province published and one failed.
2. Starts Airflow's api-server, scheduler and dag-processor on 127.0.0.1 and a free port,
   the way tests/dags/test_airflow_server.py does (AIRFLOW_HOME and SQLite metadata in the
   temporary directory, LocalExecutor, SQLite warehouse), but with the simple auth manager's
   `simple_auth_manager_all_admins` so that the browser needs no login.
3. Triggers `crm_initial_load` through the REST API v2 and waits for it to finish.
4. Drives headless Chromium (Debian package `chromium`: `.ci/install-chromium.sh`) over
   the DevTools protocol: opens the task group `province` in the grid (the UI keeps open
   groups in the browser's local storage), loads the run's page for that group,
   `/dags/crm_initial_load/runs/<run id>/tasks/group/province` (the grid on the left, every
   province's task instances on the right), waits for both panes and writes the PNG.

Nothing leaves the machine: every component listens on loopback and Chromium runs with
its background networking off and a fresh, empty profile. `--keep` keeps the temporary
directory (component logs, Airflow home, warehouse) for a look afterwards.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

# The Airflow client helpers of the end-to-end test (REST calls, start/stop of a component).
sys.path.insert(0, str(Path(__file__).parent))
from headless_chromium import chromium_command  # noqa: E402

from tests.dags.conftest import AIRFLOW_BIN, BRANCHES, DAGS, truncate  # noqa: E402
from tests.servers.airflow_api import Server, start_component, stop_components  # noqa: E402
from tests.servers.postgres import free_port  # noqa: E402

DAG_ID = "crm_initial_load"
BUSINESS_DATE = date(2026, 11, 24)
BROKEN_PROVINCE = "GD"
STARTUP_SECONDS = 180
RUN_SECONDS = 300
CRM_PIPELINE_BIN = AIRFLOW_BIN.parent / "crm-pipeline"
DEFAULT_OUT = PROJECT / "docs" / "images" / "grid-crm-initial-load.png"


def airflow_env(root: Path, port: int) -> dict[str, str]:
    """The components' environment: loopback, everything under root, no login."""
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CRM_"))}
    env.update(
        {
            "PATH": f"{AIRFLOW_BIN.parent}:{env.get('PATH', '')}",
            "PYTHONPATH": f"{PROJECT}:{PROJECT / 'dags'}",  # the triggerer imports crm_waiting
            "AIRFLOW_HOME": str(root / "home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "CRM_STAGING_DIR": str(root / "staging"),
            "CRM_WAREHOUSE_URL": f"sqlite:///{root / 'warehouse.db'}",
            "CRM_LANDING_DIR": str(root / "landing"),
        }
    )
    return env


def write_landing(root: Path, customers: int, seed: int) -> tuple[Path, Path]:
    """`crm-pipeline sample` for BUSINESS_DATE, then one of BROKEN_PROVINCE's files cut short."""
    landing = root / "landing"
    day = f"{BUSINESS_DATE:%Y%m%d}"
    subprocess.run(
        [str(CRM_PIPELINE_BIN), "sample", "--out", str(landing), "--date", day]
        + ["--branches", ",".join(BRANCHES), "--customers", str(customers), "--seed", str(seed)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return landing, truncate(landing, BROKEN_PROVINCE, day)


@contextmanager
def running_airflow(root: Path, port: int) -> Iterator[Server]:
    """api-server, scheduler and dag-processor until the block ends; ready once the DAG is."""
    env = airflow_env(root, port)
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(AIRFLOW_BIN), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )
    names = ("api-server", "scheduler", "dag-processor", "triggerer")
    processes = [start_component([name], env, logs / f"{name}.log") for name in names]
    # No token: the all-admins middleware authenticates every request to the API server.
    srv = Server(base=env["AIRFLOW__API__BASE_URL"], home=root / "home", root=root, env=env)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            dead = [p.args[1] for p in processes if p.poll() is not None]  # type: ignore[index]
            if dead:
                raise RuntimeError(f"{dead} exited; see {logs}")
            try:
                dags = srv.request("GET", "/api/v2/dags")["dags"]
                if any(d["dag_id"] == DAG_ID for d in dags):
                    break
            except (urllib.error.URLError, ConnectionError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Airflow not ready in {STARTUP_SECONDS}s; see {logs}")
            time.sleep(2)
        yield srv
    finally:
        stop_components(processes)


def province_states(srv: Server, run_id: str) -> dict[str, dict[str, str]]:
    """{task id: {province: state}} of the run's mapped tasks."""
    states: dict[str, dict[str, str]] = {}
    for ti in srv.task_instances(DAG_ID, run_id):
        if ti["map_index"] >= 0:
            label = str(ti.get("rendered_map_index") or ti["map_index"])
            states.setdefault(str(ti["task_id"]), {})[label] = str(ti["state"])
    return states


def group_url(base: str, run_id: str, group: str = "province") -> str:
    """The UI page of one run with a task group selected: the grid on the left, the group's
    task instances (one per province and task) on the right."""
    quoted = urllib.parse.quote(run_id, safe="")
    return f"{base}/dags/{DAG_ID}/runs/{quoted}/tasks/group/{group}"


class DevTools:
    """The few Chrome DevTools protocol calls needed: navigate, evaluate, capture."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws  # a websockets.sync.client connection
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return answer.get("result", {}).get("value")

    def goto(self, url: str, ready: str, seconds: float = 60) -> None:
        """Navigate and wait until the JavaScript expression ready is true."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + seconds
        while not self.evaluate(f"document.readyState === 'complete' && Boolean({ready})"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url}: not ready after {seconds}s ({ready})")
            time.sleep(0.5)


def _devtools_url(profile: Path, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    active = profile / "DevToolsActivePort"
    while not (active.exists() and active.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("chromium did not open its DevTools port")
        time.sleep(0.2)
    port = int(active.read_text().split()[0])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
        targets = json.loads(answer.read())
    return str(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))


# The grid's rows are in the left pane; the mapped tasks' rows appear once the group is open
# and the right pane lists every province's task instances.
GRID_READY = (
    "(() => { const t = document.body.innerText;"
    " return t.includes('publish') && t.includes('wait_for_files')"
    " && t.includes('ZJ') && t.includes('GD') && t.includes('Total Failed'); })()"
)


def screenshot(
    chromium: str, base: str, run_id: str, out: Path, root: Path, size: tuple[int, int]
) -> str:
    """Open the run's `province` group with the group expanded in the grid, write the PNG."""
    # websockets comes with Airflow: airflow-core > fastapi[standard] > uvicorn[standard].
    from websockets.sync.client import connect

    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=root))  # new and empty
    command = chromium_command(chromium, profile, size)
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = group_url(base, run_id)
    try:
        with connect(_devtools_url(profile, proc), max_size=None, open_timeout=30) as ws:
            tools = DevTools(ws)
            tools.call("Page.enable")
            tools.call(
                "Emulation.setDeviceMetricsOverride",
                width=size[0],
                height=size[1],
                deviceScaleFactor=1,
                mobile=False,
            )
            # The grid keeps its open task groups in the browser's local storage, per DAG:
            # open `province` there first (same origin), then load the run's page.
            tools.goto(f"{base}/", "document.body.innerText.includes('Dags')")
            tools.evaluate(
                f"localStorage.setItem({json.dumps(DAG_ID + '/open-groups')},"
                f" JSON.stringify(['province']))"
            )
            tools.goto(url, GRID_READY)
            time.sleep(2)  # let the last requests' rows and the layout settle
            png = tools.call("Page.captureScreenshot", format="png")["data"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(png))
    return url


def parse_size(text: str) -> tuple[int, int]:
    width, height = text.lower().replace("x", ",").split(",")
    return int(width), int(height)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--window-size", type=parse_size, default=(1680, 760), metavar="W,H")
    parser.add_argument("--customers", type=int, default=60)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        parser.error(f"no Chromium at {args.chromium}: bash .ci/install-chromium.sh")

    root = Path(tempfile.mkdtemp(prefix="crm-grid-screenshot-"))
    try:
        landing, broken = write_landing(root, args.customers, args.seed)
        print(f"landing {landing} ({broken.name} cut short)")
        with running_airflow(root, free_port()) as srv:
            print(f"Airflow ready on {srv.base}")
            conf: dict[str, Any] = {
                "business_date": f"{BUSINESS_DATE:%Y%m%d}",
                "landing": str(landing),
            }
            run_id = srv.trigger(DAG_ID, conf)
            state = srv.wait(DAG_ID, run_id, RUN_SECONDS)
            states = province_states(srv, run_id)
            print(f"run {run_id}: {state}; {states}")
            # The picture is of a run where ZJ published and GD failed: anything else means
            # the pipeline (or Airflow) changed and docs/operations.md's caption with it.
            expected = {"ZJ": "success", BROKEN_PROVINCE: "failed"}
            # GD's truncated file fails its `ingest` task (issue 19: one task per step).
            if states.get("province.ingest") != expected:
                raise SystemExit(f"ingest should be {expected}; see {root} (--keep)")
            url = screenshot(args.chromium, srv.base, run_id, args.out, root, args.window_size)
            print(f"wrote {args.out} ({args.out.stat().st_size} bytes) from {url}")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
