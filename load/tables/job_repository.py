"""Control data, like Spring Batch's job repository: what ran, with which counts, how far.

`crm_run` (one row per attempt at a date, province and mode), `crm_step` (one per step
execution) and `crm_checkpoint` (progress inside long steps and a batch's staging); the
runner writes them through load.control and `crm-pipeline status` reads them (load.report).
`crm_instance` tells this warehouse from another (load.instance); `crm_lease` says who runs
a province's date now (load.lease).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from load.tables.base import BigId, metadata

crm_instance = Table(
    "crm_instance",
    metadata,
    Column("instance_id", String(36), primary_key=True),  # drawn when the schema was created
    Column("created_at", DateTime(timezone=True), nullable=False),
)

crm_lease = Table(
    "crm_lease",
    metadata,
    Column("lease_key", String(), primary_key=True),
    Column("token", String(36), nullable=False),
    Column("host", String(), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)

crm_run = Table(
    "crm_run",
    metadata,
    Column("run_id", BigId, primary_key=True, autoincrement=True),
    Column("business_date", Date, nullable=False),
    Column("province", String(8), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("state", String(12), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("host", String()),
    Column("pid", Integer),
    Column("warnings", Text),  # JSON list: what the run noticed but did not stop for
    Index("ix_crm_run_key", "business_date", "province", "mode"),
    sqlite_autoincrement=True,
)

crm_step = Table(
    "crm_step",
    metadata,
    Column("step_id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", BigId, ForeignKey("crm_run.run_id"), nullable=False),
    Column("name", String(), nullable=False),
    Column("state", String(12), nullable=False),
    Column("read_count", Integer),
    Column("kept_count", Integer),
    Column("set_aside_count", Integer),
    Column("filtered_count", Integer),
    Column("written_count", Integer),
    Column("counts", Text),  # every count the step reported, as JSON
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("error", Text),
    Index("ix_crm_step_run", "run_id"),
    sqlite_autoincrement=True,
)

crm_checkpoint = Table(
    "crm_checkpoint",
    metadata,
    Column("checkpoint_id", BigId, primary_key=True, autoincrement=True),
    Column("step_id", BigId, ForeignKey("crm_step.step_id")),
    Column("batch_id", BigId),
    Column("stream", String(), nullable=False),
    Column("chunk", Integer, nullable=False),
    Column("position", String(), nullable=False),
    Column("committed_at", DateTime(timezone=True), nullable=False),
    Index("ix_crm_checkpoint_step", "step_id"),
    Index("ix_crm_checkpoint_batch", "batch_id"),
    sqlite_autoincrement=True,
)
