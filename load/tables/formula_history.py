"""The history of formula trials and acceptances, next to `crm_formula` (issue 18).

`crm_formula` says which formula ids scored which batches; these tables say where the
ids came from: every trial an analyst ran (who, when, the candidate's content and its
digest, the business date, and per province and customer type what it would change) and
every acceptance (who, when, the trial it rests on, the content put in force, and the
formula ids that content gives each province). They replace the staging folder's
`formula_registry.jsonl`: the staging area is scratch space, the warehouse is what is
backed up with the scores these records explain. Written and read by load.formula_history.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, ForeignKey, Index, Integer, String, Table, Text

from load.tables.base import BigId, metadata

crm_formula_trial = Table(
    "crm_formula_trial",
    metadata,
    Column("trial_id", BigId, primary_key=True, autoincrement=True),
    Column("tried_by", String(), nullable=False),
    Column("tried_at", DateTime(timezone=True), nullable=False),
    Column("file", String(), nullable=False),  # the candidate's file name, as given
    Column("name", String(), nullable=False),  # the formula it replaces (its `name:`)
    Column("content_sha256", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("business_date", Date, nullable=False),
    Column("report", String()),  # the HTML report's path
    Index("ix_crm_formula_trial_content", "content_sha256"),
    sqlite_autoincrement=True,
)

crm_formula_trial_count = Table(
    "crm_formula_trial_count",
    metadata,
    Column(
        "trial_id",
        BigId,
        ForeignKey("crm_formula_trial.trial_id"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("province", String(8), primary_key=True),
    Column("cust_type", String(1), primary_key=True),
    Column("customers", Integer, nullable=False),
    Column("qualified_now", Integer, nullable=False),
    Column("qualified_candidate", Integer, nullable=False),
    Column("entering", Integer, nullable=False),
    Column("leaving", Integer, nullable=False),
    Column("formula_id_now", String()),
    Column("formula_id_candidate", String(), nullable=False),
)

crm_formula_acceptance = Table(
    "crm_formula_acceptance",
    metadata,
    Column("acceptance_id", BigId, primary_key=True, autoincrement=True),
    Column("accepted_by", String(), nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False),
    Column("trial_id", BigId, ForeignKey("crm_formula_trial.trial_id"), nullable=False),
    Column("file", String(), nullable=False),  # the file of the formulas directory written
    Column("name", String(), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("effective_date", Date, nullable=False),
    Column("note", Text, nullable=False),
    sqlite_autoincrement=True,
)

crm_formula_accepted = Table(
    "crm_formula_accepted",
    metadata,
    Column(
        "acceptance_id",
        BigId,
        ForeignKey("crm_formula_acceptance.acceptance_id"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("province", String(8), primary_key=True),
    Column("cust_type", String(1), primary_key=True),
    Column("formula_id", String(), nullable=False),
    Index("ix_crm_formula_accepted_formula", "formula_id"),
)
