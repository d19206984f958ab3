"""What the DAGs call: the runner with Airflow-friendly inputs and outputs (paths and counts).

The DAG files stay thin and import nothing heavy at parse time; everything that decides
something lives here, where it runs and is tested without a scheduler. Airflow itself is
imported only inside the few functions that need it (variables, notifications), so the
command line and the unit tests can import this module without Airflow installed.

Failures are split in two on purpose:

- a data problem (a missing or corrupt file, a reconciliation that does not balance, a bad
  configuration) will not go away by retrying: `ProvinceFailed(retryable=False)`, and the
  DAG turns it into a failure without retries so the operator sees the reason at once;
- anything else (a locked database, a full disk, a killed worker) is raised as is and the
  task is retried with exponential backoff; the runner resumes from its step manifests.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from common import config
from common.errors import PipelineError
from common.jobs import JobLedger, JobState
from common.paths import project_path
from common.staging import RunStaging, StagingArea
from crm_pipeline.context import ProvinceSummary, RunContext
from crm_pipeline.ingest_step import stage_fx_rates
from crm_pipeline.run import run_date

log = logging.getLogger(__name__)

#: The asset alias every province task publishes through; the asset itself is per province.
PUBLICATION_ALIAS = "crm_warehouse_publication"
#: Environment variables, else Airflow Variables (lower case), that switch notification on.
WEBHOOK_SETTING = "CRM_ALERT_WEBHOOK"
MAIL_SETTING = "CRM_ALERT_EMAIL"
#: Provinces a scheduled run expects, comma-separated (env or Airflow Variable `crm_provinces`).
PROVINCES_SETTING = "CRM_PROVINCES"


class ProvinceFailed(PipelineError):
    """One province could not be published: which province, at which step, and why."""

    def __init__(self, province: str, step: str, reason: str, *, retryable: bool = False) -> None:
        self.province = province
        self.step = step
        self.reason = reason
        self.retryable = retryable
        super().__init__(f"{province}: {step} failed: {reason}")


def asset_uri(province: str) -> str:
    """The warehouse asset of a province; downstream DAGs schedule on it."""
    return f"crm://warehouse/{province}"


# --- where things are ---------------------------------------------------------------------


def landing_dir(value: str = "") -> Path:
    """The landing folder: the DAG parameter, else CRM_LANDING_DIR, else config."""
    return project_path(value or os.environ.get("CRM_LANDING_DIR") or config.settings().landing_dir)


def staging_dir(value: str = "") -> Path:
    """The staging area: the argument, else CRM_STAGING_DIR, else config (as the CLI does)."""
    return project_path(value or os.environ.get("CRM_STAGING_DIR") or config.settings().staging_dir)


def warehouse_url(value: str = "") -> str:
    """The warehouse URL: the argument, else CRM_WAREHOUSE_URL, else config."""
    return value or os.environ.get("CRM_WAREHOUSE_URL") or config.settings().warehouse_url


def safe_url(url: str) -> str:
    """The URL with its password replaced, fit for a task log."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is not logged at all: it may hold a secret
        return "<warehouse url not shown>"


def _mask(url: str) -> None:
    """Tell Airflow's secrets masker about the warehouse password, if there is one."""
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:
        return
    if password:
        try:
            from airflow.sdk.log import mask_secret
        except ImportError:  # outside Airflow nothing logs task output
            return
        mask_secret(str(password))


def business_date(value: str) -> str:
    """YYYYMMDD from YYYYMMDD or YYYY-MM-DD; PipelineError naming the value otherwise."""
    for pattern in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip(), pattern).strftime("%Y%m%d")
        except ValueError:
            continue
    raise PipelineError(f"business date {value!r}: expected YYYYMMDD")


def _setting(name: str) -> str:
    """An environment variable, else the Airflow Variable of the same name in lower case."""
    value = os.environ.get(name, "")
    if value:
        return value
    try:
        from airflow.sdk import Variable

        return str(Variable.get(name.lower(), default="") or "")
    except Exception:  # no Airflow, or no API to ask: not configured
        return ""


# --- planning a run -----------------------------------------------------------------------


def plan_run(day: str, mode: str, requested: Sequence[str] = (), landing: str = "") -> list[str]:
    """The provinces of one run, in configuration order, after preparing the warehouse.

    Order matters: a province keeps its map index from one night to the next, which is
    what `depends_on_past` compares. Requested provinces win; otherwise a scheduled run
    expects the configured list (CRM_PROVINCES / Variable `crm_provinces`) so a province
    that sent nothing waits visibly; otherwise whatever is in the landing zone.
    """
    from extract.landing import provinces_in_landing
    from load.warehouse import Warehouse

    day = business_date(day)
    known = config.provinces()
    wanted = [p.strip().upper() for p in requested if p.strip()]
    if not wanted:
        wanted = [p.strip().upper() for p in _setting(PROVINCES_SETTING).split(",") if p.strip()]
    if not wanted:
        wanted = provinces_in_landing(landing_dir(landing), day, known)
    unknown = [p for p in wanted if p not in known.provinces]
    if unknown:
        raise PipelineError(f"unknown province(s) {', '.join(unknown)} (see config/provinces.yaml)")
    if not wanted:
        raise PipelineError(f"no province to load: nothing under {landing_dir(landing) / day}")
    url = warehouse_url()
    _mask(url)
    warehouse = Warehouse(url)
    warehouse.upgrade()  # idempotent; done once here so parallel provinces never race on DDL
    log.info(
        "business date %s, %s load of %s; landing %s, staging %s, warehouse %s",
        day,
        mode,
        ", ".join(wanted),
        landing_dir(landing),
        staging_dir(),
        safe_url(warehouse.url),
    )
    ordered = [p for p in known.provinces if p in wanted]
    return ordered


# --- waiting for files --------------------------------------------------------------------


@dataclass
class LandingState:
    """What a sensor poke found for one province (or for the FX file)."""

    missing: list[str] = field(default_factory=list)  # not sent yet: keep waiting
    broken: list[str] = field(default_factory=list)  # sent but unusable: the load reports it
    branches: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.missing


def province_landing(day: str, mode: str, province: str, landing: str = "") -> LandingState:
    """Whether every file of the province's branches has landed with its `.ok`.

    A file is "missing" while its flag (or the province's own folder) is absent: the core
    system has not finished sending it. A flag that disagrees with its file is "broken":
    waiting will not mend it, so the sensor lets the load task fail with the reason.
    """
    from common.errors import FileRejected
    from extract.flag import flag_path
    from extract.landing import check_landed, data_file_name

    known = config.provinces()
    folder = landing_dir(landing) / business_date(day)
    state = LandingState()
    if config.settings().source.kind == "sftp":
        # The runner's SFTP fetcher lands the files and waits for their flags itself
        # (until its deadline); the local mirror is empty until then.
        log.info("%s: files come from SFTP; the load fetches them", province)
        return state
    if not (folder / province).is_dir():
        state.missing.append(f"{folder / province}/ (no folder yet)")
        return state
    state.branches = [b for b in known.branches_of(province) if (folder / b).is_dir()]
    for branch in state.branches:
        for system, entities in known.entities[mode].items():  # type: ignore[index]
            for entity in entities:
                path = folder / branch / data_file_name(system, entity, branch, folder.name)
                if not flag_path(path).exists() or not path.exists():
                    state.missing.append(path.name)
                    continue
                try:
                    check_landed(path, branch)
                except FileRejected as exc:
                    state.broken.append(str(exc))
    return state


def previous_day_gap(day: str, province: str) -> str:
    """Why a daily load of `day` must wait for the province's previous date, or "".

    Nights are loaded in order per province: the daily mode applies D's changes to D-1's
    state, so D waits until D-1 is published (by a daily load, or by the initial load it
    follows). Checked per province, so a province late or failed on D-1 holds back only
    its own D; Airflow's depends_on_past would count every province's instance together.
    """
    from datetime import timedelta

    from load.warehouse import Warehouse

    the_day = datetime.strptime(business_date(day), "%Y%m%d").date()
    before = the_day - timedelta(days=1)
    warehouse = Warehouse(warehouse_url())
    if any(
        warehouse.batch_status(before, province, m) == "published" for m in ("daily", "initial")
    ):
        return ""
    return f"{province} {before:%Y%m%d} is not published yet (nights load in order)"


def fx_landing(day: str, landing: str = "") -> LandingState:
    """Whether the bank-wide FX rate file of the date has landed with its flag."""
    from extract.flag import flag_path
    from extract.landing import data_file_name

    day = business_date(day)
    path = landing_dir(landing) / day / data_file_name("FXR", "RATE", "", day)
    state = LandingState()
    if not flag_path(path).exists() or not path.exists():
        state.missing.append(path.name)
    return state


def stage_fx(day: str, mode: str, landing: str = "") -> str:
    """Stage the date's FX rates once, before the provinces run in parallel.

    Every province reads the same staged rates; staging them here means two provinces
    never write the same Parquet file at the same moment.
    """
    ctx = RunContext(
        business_date=business_date(day),
        mode=mode,
        landing=landing_dir(landing),
        staging=staging_dir(),
        warehouse_url=warehouse_url(),
    )
    try:
        rates = stage_fx_rates(ctx.area, ctx.landing, ctx.business_date, ctx.force)
    except PipelineError as exc:
        raise ProvinceFailed("FX", "fx rates", str(exc)) from exc
    log.info("FX rates of %s staged: %d currencies", ctx.business_date, rates.num_rows)
    return str(ctx.area.fx_dir(ctx.business_date))


# --- loading a province -------------------------------------------------------------------


def _failed_step(summary: ProvinceSummary, staging: RunStaging) -> str:
    """The step a failed province stopped at: from its error, else the run's ledger (the
    step recorded failed, else one left started), whatever the mode's steps are."""
    error = summary.error or ""
    if error.startswith("no branch folder"):
        return "discover files"
    if error.startswith("not published"):
        return "verify files"
    if "reconciliation failed" in error:
        return "reconcile"
    if error.startswith("unknown province") or "configuration" in error:
        return "configuration"
    states = JobLedger(staging.jobs, filesystem=staging.filesystem).states()
    for wanted in (JobState.FAILED, JobState.STARTED):
        for step, state in states.items():
            if state == wanted:
                return step
    return "publish"


@contextmanager
def _single_sqlite_writer(url: str) -> Iterator[None]:
    """With an SQLite warehouse, one province writes at a time (a file lock beside the db).

    SQLite has a single writer; two provinces publishing at once make one of them fail
    with "database is locked". PostgreSQL needs no such lock, so none is taken there.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        yield
        return
    lock_path = project_path(str(parsed.database)).with_suffix(".airflow.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another province is writing the SQLite warehouse: waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_one_province(
    day: str, mode: str, province: str, landing: str = "", force: bool = False
) -> dict[str, Any]:
    """Load one province; return its counts, or raise ProvinceFailed naming step and reason.

    Logs one reconciliation line per file (read = kept + set aside + filtered) so the task
    log is the place an operator checks the counts.
    """
    day = business_date(day)
    url = warehouse_url()
    _mask(url)
    staging = staging_dir()
    log.info("%s %s %s: loading from %s", province, day, mode, landing_dir(landing))
    with _single_sqlite_writer(url):
        [summary] = run_date(day, mode, landing_dir(landing), [province], url, staging, force=force)
    for f in summary.files:
        log.info(
            "%s: read %d = kept %d + set aside %d + filtered %d (flagged %d)%s",
            f.file,
            f.read,
            f.kept,
            f.set_aside,
            f.filtered,
            f.flagged,
            "" if f.balanced() else "  <-- does not balance",
        )
    if summary.files:
        log.info(
            "%s total: %d files, read %d, kept %d, set aside %d, filtered %d; "
            "%d source customers, %d merged, %d qualified",
            province,
            len(summary.files),
            summary.total("read"),
            summary.total("kept"),
            summary.total("set_aside"),
            summary.total("filtered"),
            summary.source_customers,
            summary.merged_customers,
            summary.qualified,
        )
    if summary.status == "failed":
        run_staging = StagingArea(staging).run(day, province, mode)
        raise ProvinceFailed(
            province, _failed_step(summary, run_staging), summary.error or "unknown"
        )
    rejects = StagingArea(staging).run(day, province, mode).parsed_dir
    log.info(
        "%s %s: %s (batch %s) in %.1fs; rejects under %s and in table crm_reject",
        province,
        day,
        summary.status,
        summary.batch_id,
        summary.seconds,
        rejects,
    )
    return {
        "province": province,
        "business_date": day,
        "mode": mode,
        "status": summary.status,
        "batch_id": summary.batch_id,
        "qualified": summary.qualified,
        "merged_customers": summary.merged_customers,
        "source_customers": summary.source_customers,
        "read": summary.total("read"),
        "set_aside": summary.total("set_aside"),
    }


def publication_statuses(day: str, mode: str, provinces: Sequence[str]) -> dict[str, str]:
    """The warehouse's word on each province of the date: published, failed, or none."""
    from load.warehouse import Warehouse

    warehouse = Warehouse(warehouse_url())
    the_day = datetime.strptime(business_date(day), "%Y%m%d").date()
    return {p: warehouse.batch_status(the_day, p, mode) or "not loaded" for p in provinces}


# --- failures -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureReport:
    """The three things an operator needs from a failure at 2 a.m."""

    dag_id: str
    run_id: str
    task_id: str
    province: str
    step: str
    reason: str

    def line(self) -> str:
        return (
            f"CRM FAILURE {self.dag_id} {self.run_id}: province {self.province}, "
            f"step {self.step}: {self.reason}"
        )


_STEP_OF_TASK = {
    "wait_for_files": "wait for files (.ok flags) and the previous date",
    "wait_for_fx_rates": "wait for FX rates (.ok flag)",
    "stage_fx_rates": "fx rates",
    "plan": "plan the run",
}


def failure_report(context: Mapping[str, Any]) -> FailureReport:
    """Province, step and reason of a failed task, from its Airflow context."""
    ti = context.get("ti") or context.get("task_instance")
    task_id = str(getattr(ti, "task_id", "?"))
    short = task_id.rsplit(".", 1)[-1]
    exc = context.get("exception")
    if exc is not None and not isinstance(exc, PipelineError) and exc.__cause__ is not None:
        exc = exc.__cause__  # the DAG wraps data problems so Airflow does not retry them
    province = str(getattr(ti, "rendered_map_index", None) or "")
    if isinstance(exc, ProvinceFailed):
        province, step, reason = exc.province, exc.step, exc.reason
    else:
        step = _STEP_OF_TASK.get(short, short)
        reason = f"{type(exc).__name__}: {exc}" if exc is not None else "see the task log"
        if short == "wait_for_files" and province:
            params = context.get("params") or {}
            day = str(params.get("business_date") or _business_date_of(context))
            mode = str(params.get("mode") or "initial")
            try:
                state = province_landing(day, mode, province, str(params.get("landing", "")))
                if state.missing:
                    reason = "still missing after the sensor's timeout: " + ", ".join(
                        state.missing[:10]
                    )
                elif mode == "daily":
                    reason = previous_day_gap(day, province) or reason
            except Exception:
                pass
    dag_run = context.get("dag_run")
    return FailureReport(
        dag_id=str(getattr(context.get("dag"), "dag_id", None) or getattr(ti, "dag_id", "?")),
        run_id=str(getattr(dag_run, "run_id", "?")),
        task_id=task_id,
        province=province or "(all)",
        step=step,
        reason=reason,
    )


def _business_date_of(context: Mapping[str, Any]) -> str:
    start = context.get("data_interval_start") or context.get("logical_date")
    return start.strftime("%Y%m%d") if start is not None else ""


def _redact(text: str) -> str:
    """Drop anything that looks like a password in a URL before it leaves the machine."""
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def notify(report: FailureReport, context: Mapping[str, Any] | None = None) -> list[str]:
    """Send the failure by webhook and/or mail, only where configured; what was sent."""
    sent: list[str] = []
    message = _redact(report.line())
    webhook = _setting(WEBHOOK_SETTING)
    if webhook:
        body = json.dumps({"text": message, **report.__dict__, "reason": _redact(report.reason)})
        request = urllib.request.Request(
            webhook,
            data=body.encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                response.read()
            sent.append("webhook")
        except Exception as exc:  # a notification must never hide the failure itself
            log.warning("failure webhook not delivered: %s", type(exc).__name__)
    mail = _setting(MAIL_SETTING)
    if mail:
        try:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            SmtpNotifier(
                to=[a.strip() for a in mail.split(",") if a.strip()],
                subject=f"[CRM] {report.dag_id}: {report.province} failed at {report.step}",
                html_content=f"<pre>{message}</pre>",
            ).notify(dict(context or {}))  # type: ignore[arg-type]
            sent.append("mail")
        except Exception as exc:
            log.warning("failure mail not sent: %s", type(exc).__name__)
    return sent


def on_failure(context: Mapping[str, Any]) -> None:
    """on_failure_callback of the province tasks: log province, step, reason; notify."""
    report = failure_report(context)
    log.error(_redact(report.line()))
    sent = notify(report, context)
    if sent:
        log.info("failure notified by %s", " and ".join(sent))


# --- formula trial and monthly statement -------------------------------------------------


def formula_trial(formula_file: str, province: str, day: str, mode: str = "") -> Path:
    """`crm-pipeline formula trial` on staged data; the path of the Markdown report.

    Goes through the command line's own parser so the DAG and the analysts' command can
    never disagree about options.
    """
    try:
        from crm_pipeline.cli import build_parser
        from crm_pipeline.cli import formula as _formula  # noqa: F401  (must exist)
    except ImportError as exc:
        raise PipelineError("crm-pipeline formula is not available in this build") from exc
    path = project_path(formula_file)
    if not path.is_file():
        raise PipelineError(f"{path}: no such formula file")
    day = business_date(day)
    staging = staging_dir()
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    out = staging / day / "trials" / f"{path.stem}-{sha[:12]}"
    argv = ["formula", "trial", str(path), "--date", day, "--staging", str(staging)]
    argv += ["--out", str(out)]
    if province:
        argv += ["--province", province]
    if mode:
        argv += ["--mode", mode]
    args = build_parser().parse_args(argv)
    status = int(args.handler(args))
    if status != 0:
        raise PipelineError(f"formula trial of {path.name} ended with status {status}")
    return out / "report.md"


def previous_month(day: date) -> str:
    """YYYYMM of the month before `day`: the month a statement run on the 1st covers."""
    first = day.replace(day=1)
    last_month = date.fromordinal(first.toordinal() - 1)
    return last_month.strftime("%Y%m")


def statement_provinces(requested: Sequence[str] = ()) -> list[str]:
    """Provinces of a monthly statement: requested, else CRM_PROVINCES, else all configured."""
    known = config.provinces()
    wanted = [p.strip().upper() for p in requested if p.strip()]
    wanted = wanted or [
        p.strip().upper() for p in _setting(PROVINCES_SETTING).split(",") if p.strip()
    ]
    unknown = [p for p in wanted if p not in known.provinces]
    if unknown:
        raise PipelineError(f"unknown province(s) {', '.join(unknown)} (see config/provinces.yaml)")
    return [p for p in known.provinces if not wanted or p in wanted]


def run_month_statement(month: str, province: str) -> Any:
    """The month's statement of one province through `crm_pipeline.statement`.

    Prefers `run_statement(month, provinces)`; falls back to `produce_statements`
    (month as YYYY-MM) when that is what the module offers. A failed province raises
    ProvinceFailed with the module's reason.
    """
    if not re.fullmatch(r"\d{6}", month):
        raise PipelineError(f"month {month!r}: expected YYYYMM")
    try:
        import crm_pipeline.statement as statement
    except ImportError as exc:
        raise PipelineError("crm_pipeline.statement is not available in this build") from exc
    log.info("statement of %s for %s", month, province)
    run_statement = getattr(statement, "run_statement", None)
    if run_statement is not None:
        result = run_statement(month, [province])
    else:
        produce = statement.produce_statements
        url = warehouse_url()
        _mask(url)
        result = produce(f"{month[:4]}-{month[4:]}", [province], url, staging_dir())
    rows = result if isinstance(result, list) else [result]
    out: list[dict[str, Any]] = []
    for row in rows:
        fields = {k: str(v) for k, v in getattr(row, "__dict__", {"result": row}).items()}
        log.info("statement of %s for %s: %s", month, province, fields)
        if fields.get("status") == "failed":
            raise ProvinceFailed(province, "statement", fields.get("error") or "unknown")
        out.append(fields)
    return out
