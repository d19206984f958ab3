"""Every table of the warehouse, as SQLAlchemy Core metadata: the code's view of the schema.

The database itself is only ever created and changed by the Alembic migrations in
`load/migrations/versions/`; the tables declared here must describe the schema those
migrations produce (tests/load/test_schema.py compares the two). They are declared in one
module per family, all on the one `metadata`, and this module imports and lists them all,
so that importing `load.tables` (as the migrations' environment does) puts every table on
`metadata`:

- `published`: the `crm_*` tables the downstream CRM imports, and the batch states;
- `job_repository`: `crm_run` / `crm_step` / `crm_checkpoint` (and `crm_instance`, `crm_lease`), control data like Spring
  Batch's job repository, that the runner and `crm-pipeline status` use;
- `staging`: the `stg_*` tables keyed by `batch_id`: a batch is bulk-written there in
  committed chunks, then published into the `crm_*` tables in one transaction;
- `formula_history`: `crm_formula_trial*` / `crm_formula_acceptance*`, the formula trials
  and acceptances behind `crm_formula`'s ids;
- `transactions`: transaction details, their staging, monthly statements and the purge log;
- `quality`: the data-quality gate's verdicts, failed expectations and acceptances;
- `base`: the metadata (with its naming convention) and the column types they share.

Tables created at run time (a first load's own tables, the provinces' partitions) are not
declared here: see load.batch_tables.
"""

from load.tables.base import MONEY, MONEY_CNY, Amount, BigId, ident, metadata
from load.tables.formula_history import (
    crm_formula_acceptance,
    crm_formula_accepted,
    crm_formula_trial,
    crm_formula_trial_count,
)
from load.tables.job_repository import (
    crm_checkpoint,
    crm_instance,
    crm_lease,
    crm_run,
    crm_step,
)
from load.tables.published import (
    ABANDONED,
    PUBLISHED,
    STAGING,
    SUPERSEDED,
    crm_account,
    crm_contact,
    crm_customer,
    crm_customer_key,
    crm_customer_source,
    crm_file_count,
    crm_formula,
    crm_load_batch,
    crm_reject,
)
from load.tables.quality import crm_quality_accept, crm_quality_failure, crm_quality_result
from load.tables.staging import (
    STAGING_TABLES,
    stg_account,
    stg_contact,
    stg_customer,
    stg_customer_source,
    stg_reject,
)
from load.tables.transactions import (
    crm_statement,
    crm_statement_account,
    crm_txn,
    crm_txn_load,
    crm_txn_purge,
    stg_txn,
)

__all__ = [
    "ABANDONED",
    "MONEY",
    "MONEY_CNY",
    "PUBLISHED",
    "STAGING",
    "STAGING_TABLES",
    "SUPERSEDED",
    "Amount",
    "BigId",
    "crm_account",
    "crm_checkpoint",
    "crm_contact",
    "crm_customer",
    "crm_customer_key",
    "crm_customer_source",
    "crm_file_count",
    "crm_formula",
    "crm_formula_acceptance",
    "crm_formula_accepted",
    "crm_formula_trial",
    "crm_formula_trial_count",
    "crm_instance",
    "crm_lease",
    "crm_load_batch",
    "crm_quality_accept",
    "crm_quality_failure",
    "crm_quality_result",
    "crm_reject",
    "crm_run",
    "crm_statement",
    "crm_statement_account",
    "crm_step",
    "crm_txn",
    "crm_txn_load",
    "crm_txn_purge",
    "ident",
    "metadata",
    "stg_account",
    "stg_contact",
    "stg_customer",
    "stg_customer_source",
    "stg_reject",
    "stg_txn",
]
