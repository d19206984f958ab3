"""What a run noticed but did not stop for (issue 16, item 8): `crm_run.warnings`, a JSON
list of lines (unknown files and folders in the landing zone, an optional city branch that
sent nothing), so that `crm-pipeline status` shows them next to the run, not only the log.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("crm_run", sa.Column("warnings", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crm_run") as batch:
        batch.drop_column("warnings")
