"""Airflow DAG `crm_formula_trial`: an analyst tries a candidate scoring formula file.

Triggered by hand with the formula file, the province (empty: every staged province) and
the business date whose customer base the trial scores. It runs `crm-pipeline formula
trial` (never touching the CRM tables): the HTML report (inline SVG histograms) and the
enter/leave CSV under `{staging}/{date}/trials/{name}-{sha}/`, the trial recorded in the
warehouse's formula history. The task's "Trial report" extra link (task instance
details) points at the report, whose path is also in the task log.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink, Param, dag
from airflow.sdk.exceptions import AirflowFailException
from crm_alerts import on_failure


class TrialReportLink(BaseOperatorLink):
    """The report of the trial this task instance ran (pushed to XCom when it finishes)."""

    name = "Trial report"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        path = getattr(operator, "report_path", "")
        return Path(path).resolve().as_uri() if path else ""


class FormulaTrialOperator(BaseOperator):
    """Runs a formula trial on staged data and exposes its report as an extra link."""

    template_fields = ("formula_file", "province", "business_date", "mode")
    operator_extra_links = (TrialReportLink(),)

    def __init__(
        self, *, formula_file: str, province: str, business_date: str, mode: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.formula_file = formula_file
        self.province = province
        self.business_date = business_date
        self.mode = mode
        self.report_path = ""

    def execute(self, context: Any) -> str:
        from common.errors import PipelineError
        from crm_pipeline.tasks.trial import formula_trial

        try:
            report = formula_trial(self.formula_file, self.province, self.business_date, self.mode)
        except PipelineError as exc:  # a bad formula or a date never loaded: no retry helps
            raise AirflowFailException(str(exc)) from exc
        self.report_path = str(report)
        self.log.info("trial report: %s (folder %s)", report, report.parent)
        return str(report)


@dag(
    dag_id="crm_formula_trial",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["crm", "analysts"],
    params={
        "formula_file": Param(
            "scoring_formulas/reference.yaml",
            type="string",
            minLength=1,
            description="candidate formula YAML (absolute, or relative to the project)",
        ),
        "province": Param(
            "",
            type="string",
            pattern=r"^([A-Z]{2})?$",
            description="province (empty: every staged province)",
        ),
        "business_date": Param(
            "20261124",
            type="string",
            pattern=r"^\d{8}$",
            description="business date whose staged data is scored, YYYYMMDD",
        ),
        "mode": Param("", type="string", description="staged mode folder: initial / daily"),
    },
    render_template_as_native_obj=False,
    doc_md=__doc__,
)
def crm_formula_trial() -> None:
    FormulaTrialOperator(
        task_id="formula_trial",
        formula_file="{{ params.formula_file }}",
        province="{{ params.province }}",
        business_date="{{ params.business_date }}",
        mode="{{ params.mode }}",
        on_failure_callback=on_failure,
    )


crm_formula_trial()
