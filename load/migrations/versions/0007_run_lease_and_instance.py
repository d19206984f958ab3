"""The job repository decides restarts (issue 16): the warehouse's own identity, a lease so
that one run per province and business date writes at a time, and each batch's inputs.

- `crm_instance`: one row, a random id drawn when the schema is created. A run's staged
  work is reused only against the warehouse it was staged for; a new, empty database at
  the same URL is another warehouse.
- `crm_lease`: who runs a province's date now (host, pid, since, last heartbeat). On
  PostgreSQL a session advisory lock decides and the row only says who holds it; on SQLite
  the row decides, kept alive by a heartbeat.
- `crm_load_batch.inputs`: the fingerprint of the inputs a batch was computed from (its
  files' flags, the FX file, the formulas, the configuration), so that a rerun of a
  published date with other inputs is refused without `--force` instead of reporting the
  old batch as published.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    instance = op.create_table(
        "crm_instance",
        sa.Column("instance_id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(instance, [{"instance_id": str(uuid.uuid4()), "created_at": datetime.now(UTC)}])
    op.create_table(
        "crm_lease",
        sa.Column("lease_key", sa.String(), primary_key=True),
        sa.Column("token", sa.String(36), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("crm_load_batch", sa.Column("inputs", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crm_load_batch") as batch:
        batch.drop_column("inputs")
    op.drop_table("crm_lease")
    op.drop_table("crm_instance")
