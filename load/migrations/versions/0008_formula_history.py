"""Formula history in the warehouse (issue 18): trials and acceptances next to `crm_formula`.

- `crm_formula_trial`: one row per `crm-pipeline formula trial` (who, when, the
  candidate's file name, the formula name it replaces, its content and sha256, the
  business date, the report's path);
- `crm_formula_trial_count`: per trial, province and customer type, the customers and
  qualified counts now and with the candidate, who enters and who leaves;
- `crm_formula_acceptance`: one row per `formula accept` (who, when, the trial it rests on,
  the file written, the content put in force, its effective date, the note);
- `crm_formula_accepted`: the formula ids that accepted content gives each province
  and customer type, so a `formula_id` of `crm_customer` leads back to its text.

They replace the staging folder's `formula_registry.jsonl` (not migrated: it was scratch
space; its records, if any, stay in that file).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "crm_formula_trial",
        sa.Column("trial_id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("tried_by", sa.String(), nullable=False),
        sa.Column("tried_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("file", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("report", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("trial_id", name="pk_crm_formula_trial"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_crm_formula_trial_content", "crm_formula_trial", ["content_sha256"])
    op.create_table(
        "crm_formula_trial_count",
        sa.Column("trial_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("province", sa.String(8), nullable=False),
        sa.Column("cust_type", sa.String(1), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("qualified_now", sa.Integer(), nullable=False),
        sa.Column("qualified_candidate", sa.Integer(), nullable=False),
        sa.Column("entering", sa.Integer(), nullable=False),
        sa.Column("leaving", sa.Integer(), nullable=False),
        sa.Column("formula_id_now", sa.String(), nullable=True),
        sa.Column("formula_id_candidate", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["crm_formula_trial.trial_id"],
            name="fk_crm_formula_trial_count_trial_id_crm_formula_trial",
        ),
        sa.PrimaryKeyConstraint(
            "trial_id", "province", "cust_type", name="pk_crm_formula_trial_count"
        ),
    )
    op.create_table(
        "crm_formula_acceptance",
        sa.Column("acceptance_id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("accepted_by", sa.String(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trial_id", BIG_ID, nullable=False),
        sa.Column("file", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["crm_formula_trial.trial_id"],
            name="fk_crm_formula_acceptance_trial_id_crm_formula_trial",
        ),
        sa.PrimaryKeyConstraint("acceptance_id", name="pk_crm_formula_acceptance"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "crm_formula_accepted",
        sa.Column("acceptance_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("province", sa.String(8), nullable=False),
        sa.Column("cust_type", sa.String(1), nullable=False),
        sa.Column("formula_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["acceptance_id"],
            ["crm_formula_acceptance.acceptance_id"],
            name="fk_crm_formula_accepted_acceptance_id_crm_formula_acceptance",
        ),
        sa.PrimaryKeyConstraint(
            "acceptance_id", "province", "cust_type", name="pk_crm_formula_accepted"
        ),
    )
    op.create_index("ix_crm_formula_accepted_formula", "crm_formula_accepted", ["formula_id"])


def downgrade() -> None:
    op.drop_index("ix_crm_formula_accepted_formula", "crm_formula_accepted")
    op.drop_table("crm_formula_accepted")
    op.drop_table("crm_formula_acceptance")
    op.drop_table("crm_formula_trial_count")
    op.drop_index("ix_crm_formula_trial_content", "crm_formula_trial")
    op.drop_table("crm_formula_trial")
