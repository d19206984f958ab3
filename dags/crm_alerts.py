"""The failure callback of the CRM tasks: one line naming province, step and reason, sent
by webhook and/or mail where configured.

The report is built from Airflow's task context here (the only place that knows its
shape); what the step means and how a reason is cleaned is `crm_pipeline.tasks.failures`.
A notification must never hide the failure itself: every delivery problem is logged as
a warning and the callback returns normally.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Mapping
from typing import Any

from crm_settings import MAIL_SETTING, WEBHOOK_SETTING, setting

from common.errors import PipelineError
from crm_pipeline.tasks.failures import STEP_OF_TASK, FailureReport, ProvinceFailed, redact_text

log = logging.getLogger(__name__)


def _business_date_of(context: Mapping[str, Any]) -> str:
    start = context.get("data_interval_start") or context.get("logical_date")
    return start.strftime("%Y%m%d") if start is not None else ""


def _sensor_reason(context: Mapping[str, Any], province: str, reason: str) -> str:
    """A timed-out `wait_for_files`: what it was still waiting for, when that can be told."""
    params = context.get("params") or {}
    day = str(params.get("business_date") or _business_date_of(context))
    mode = str(params.get("mode") or "initial")
    try:
        from crm_pipeline.tasks.waiting import why_still_waiting  # heavy: not at parse time

        return why_still_waiting(day, mode, province, str(params.get("landing", ""))) or reason
    except Exception:  # the report must go out even if the landing cannot be read
        return reason


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
        step = STEP_OF_TASK.get(short, short)
        reason = f"{type(exc).__name__}: {exc}" if exc is not None else "see the task log"
        if short == "wait_for_files" and province:
            reason = _sensor_reason(context, province, reason)
    dag_run = context.get("dag_run")
    return FailureReport(
        dag_id=str(getattr(context.get("dag"), "dag_id", None) or getattr(ti, "dag_id", "?")),
        run_id=str(getattr(dag_run, "run_id", "?")),
        task_id=task_id,
        province=province or "(all)",
        step=step,
        reason=reason,
    )


def notify(report: FailureReport, context: Mapping[str, Any] | None = None) -> list[str]:
    """Send the failure by webhook and/or mail, only where configured; what was sent."""
    sent: list[str] = []
    message = redact_text(report.line())
    webhook = setting(WEBHOOK_SETTING)
    if webhook:
        body = json.dumps(
            {"text": message, **report.__dict__, "reason": redact_text(report.reason)}
        )
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
    mail = setting(MAIL_SETTING)
    if mail:
        try:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier  # optional

            SmtpNotifier(
                to=[a.strip() for a in mail.split(",") if a.strip()],
                subject=f"[CRM] {report.dag_id}: {report.province} failed at {report.step}",
                html_content=f"<pre>{message}</pre>",
            ).notify(dict(context or {}))  # type: ignore[arg-type]
            sent.append("mail")
        except Exception as exc:
            log.warning("failure mail not sent: %s", type(exc).__name__)
    return sent


def on_failure(context: Any) -> None:
    """on_failure_callback of the CRM tasks: log province, step, reason; notify."""
    report = failure_report(context)
    log.error(redact_text(report.line()))
    sent = notify(report, context)
    if sent:
        log.info("failure notified by %s", " and ".join(sent))
