"""The data-quality gate's records (issue 17; crm_pipeline.quality, docs/quality.md).

`crm_quality_result`: one row per gate evaluation of a run (its verdict, the night's
metrics as JSON, where its Data Docs are); `crm_quality_failure`: each expectation that
failed, with its severity; `crm_quality_accept`: an operator's acceptance of a held night
(who, when, why), valid for the inputs it was given for.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, ForeignKey, Index, Integer, String, Table, Text

from load.tables.base import BigId, metadata

# Verdicts: passed (nothing failed), warned (warnings only: published), held (a critical
# expectation failed: not published), accepted (held, then published by an acceptance).
PASSED, WARNED, HELD, ACCEPTED = "passed", "warned", "held", "accepted"

crm_quality_result = Table(
    "crm_quality_result",
    metadata,
    Column("result_id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", BigId),
    Column("business_date", Date, nullable=False),
    Column("province", String(8), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("inputs", String()),  # the run's input digest (crm_pipeline.run_identity)
    Column("verdict", String(12), nullable=False),
    Column("critical", Integer, nullable=False),
    Column("warnings", Integer, nullable=False),
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Column("metrics", Text, nullable=False),  # crm_pipeline.quality.metrics, JSON
    Column("docs", Text),  # the Data Docs index of the evaluation
    Index("ix_crm_quality_result_key", "business_date", "province", "mode"),
    sqlite_autoincrement=True,
)

crm_quality_failure = Table(
    "crm_quality_failure",
    metadata,
    Column("failure_id", BigId, primary_key=True, autoincrement=True),
    Column("result_id", BigId, ForeignKey("crm_quality_result.result_id"), nullable=False),
    Column("check_name", String(), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("subject", String(), nullable=False),  # the file, currency or type concerned
    Column("observed", Text, nullable=False),
    Column("expected", Text, nullable=False),
    Index("ix_crm_quality_failure_result", "result_id"),
    sqlite_autoincrement=True,
)

crm_quality_accept = Table(
    "crm_quality_accept",
    metadata,
    Column("accept_id", BigId, primary_key=True, autoincrement=True),
    Column("result_id", BigId, ForeignKey("crm_quality_result.result_id"), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("province", String(8), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("inputs", String()),
    Column("accepted_by", String(), nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_crm_quality_accept_key", "business_date", "province", "mode"),
    sqlite_autoincrement=True,
)
