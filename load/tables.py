"""The warehouse schema as SQLAlchemy Core metadata: the code's view of the tables.

The database itself is only ever created and changed by the Alembic migrations in
`load/migrations/versions/`; this module must describe the schema those migrations
produce (a test compares the two). Three families of tables:

- `crm_*` published tables: what the downstream CRM imports (see docs/warehouse.md);
- `crm_run` / `crm_step` / `crm_checkpoint`: control data, like Spring Batch's job
  repository, that the runner and `crm-pipeline status` use;
- `stg_*` staging tables keyed by `batch_id`: a batch is bulk-written here in committed
  chunks, then published into the `crm_*` tables in one transaction.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeEngine

from load.types import Amount, BigId

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

MONEY = Amount(20, 2)


def ident(length: int | None = None) -> TypeEngine[str]:
    """An identifier column (codes, customer and account numbers): compared in byte order.

    PostgreSQL: `COLLATE "C"` (migration 0005), so that sorting and indexing them is
    `memcmp` with abbreviated keys rather than the database's libc collation (`strcoll`);
    SQLite compares bytes anyway (BINARY). Equality is the same either way.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


# CNY equivalents keep the exact product balance x rate / 100 (decimal128(38, 8) in the
# transform stage): the CRM can add them up and reproduce a score to the fen.
MONEY_CNY = Amount(38, 8)

# Batch states. Only `published` is visible to the CRM.
STAGING, PUBLISHED, SUPERSEDED, ABANDONED = "staging", "published", "superseded", "abandoned"

crm_load_batch = Table(
    "crm_load_batch",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=True),
    Column("business_date", Date, nullable=False),
    Column("province", String(8), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("status", String(12), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
    Column("run_id", BigId),
    Column("fingerprint", String(), nullable=False),
    Column("inputs", String()),  # the run's input fingerprint (crm_pipeline.run_identity)
    Column("customers", Integer),
    Column("qualified", Integer),
    Column("accounts", Integer),
    Column("rejects", Integer),
    Index("ix_crm_load_batch_key", "business_date", "province", "mode"),
    # At most one published batch per (date, province, mode): `force` supersedes the old
    # one in the same transaction that publishes the new one.
    Index(
        "ux_crm_load_batch_published",
        "business_date",
        "province",
        "mode",
        unique=True,
        postgresql_where=text("status = 'published'"),
        sqlite_where=text("status = 'published'"),
    ),
    sqlite_autoincrement=True,
)

crm_customer_key = Table(
    "crm_customer_key",
    metadata,
    # Never reused: an identity on PostgreSQL, AUTOINCREMENT (not plain rowid) on SQLite.
    Column("crm_cust_id", BigId, primary_key=True, autoincrement=True),
    Column("province", String(8), nullable=False),
    Column("cust_type", ident(1), nullable=False),
    Column("id_type", ident(8), nullable=False),
    Column("id_no", ident(), nullable=False),
    Column("batch_id", BigId, nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("province", "cust_type", "id_type", "id_no", name="uq_crm_customer_key"),
    sqlite_autoincrement=True,
)

crm_customer = Table(
    "crm_customer",
    metadata,
    Column("crm_cust_id", BigId, primary_key=True, autoincrement=False),
    Column("province", String(8), nullable=False),
    Column("cust_type", String(1), nullable=False),
    Column("name", String()),
    Column("id_type", String(8), nullable=False),
    Column("id_no", String(), nullable=False),
    Column("id_valid", Boolean, nullable=False),
    Column("master_source", String(3), nullable=False),
    Column("master_cust_no", String(), nullable=False),
    Column("source_count", Integer, nullable=False),
    Column("score", MONEY, nullable=False),
    Column("formula_id", String(), nullable=False),
    Column("qualified", Boolean, nullable=False),
    Column("batch_id", BigId, nullable=False),
    Column("first_batch_id", BigId, nullable=False),
    Index("ix_crm_customer_province", "province"),
)

crm_customer_source = Table(
    "crm_customer_source",
    metadata,
    Column("province", String(8), nullable=False),
    Column("source", ident(3), nullable=False),
    Column("source_cust_no", ident(), nullable=False),
    Column("crm_cust_id", BigId, nullable=False),
    Column("role", String(8), nullable=False),
    Column("batch_id", BigId, nullable=False),
    # The partition key last, as crm_account's (migration 0006).
    PrimaryKeyConstraint("source_cust_no", "source", "province", name="pk_crm_customer_source"),
    Index("ix_crm_customer_source_cust", "crm_cust_id"),
    # One partition per province on PostgreSQL (migration 0004), as crm_account.
    postgresql_partition_by="LIST (province)",
)

crm_contact = Table(
    "crm_contact",
    metadata,
    Column("province", String(8), nullable=False),
    Column("source", ident(3), nullable=False),
    Column("source_cust_no", ident(), nullable=False),
    Column("crm_cust_id", BigId, nullable=False),
    Column("phone", String()),
    Column("mobile", String()),
    Column("address", String()),
    Column("postcode", String(10)),
    Column("batch_id", BigId, nullable=False),
    PrimaryKeyConstraint("source_cust_no", "source", "province", name="pk_crm_contact"),
    Index("ix_crm_contact_cust", "crm_cust_id"),
    # One partition per province on PostgreSQL (migration 0004), as crm_account.
    postgresql_partition_by="LIST (province)",
)

crm_account = Table(
    "crm_account",
    metadata,
    Column("province", String(8), nullable=False),
    Column("source", ident(3), nullable=False),
    Column("acct_no", ident(), nullable=False),
    Column("crm_cust_id", BigId, nullable=False),
    Column("source_cust_no", ident(), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("balance", MONEY, nullable=False),
    Column("balance_cny", MONEY_CNY, nullable=False),
    Column("status", String(1), nullable=False),
    Column("in_scope", Boolean, nullable=False),
    Column("open_date", Date),
    Column("maturity_date", Date),
    Column("batch_id", BigId, nullable=False),
    # The partition key `province` last (migration 0006): it is constant within a
    # partition. A province's first load builds this key, in this order (the parent's,
    # which ATTACH needs), on its own table (load/accounts.py `prepare_attach`), where
    # sorting by province and source first took twice as long (10M accounts: 10.8 s
    # against 5.1 s).
    PrimaryKeyConstraint("acct_no", "source", "province", name="pk_crm_account"),
    Index("ix_crm_account_cust", "crm_cust_id"),
    # One partition per province on PostgreSQL (migration 0003): a province's first
    # publication attaches its staged accounts instead of copying them (load/accounts.py).
    postgresql_partition_by="LIST (province)",
)

crm_reject = Table(
    "crm_reject",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=False),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("file", String(), nullable=False),
    Column("line", Integer, nullable=False),
    Column("raw", Text, nullable=False),
    Column("reason", String(), nullable=False),
    Column("field", String()),
    Column("branch", String(8), nullable=False),
)

crm_file_count = Table(
    "crm_file_count",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=False),
    Column("file", String(), primary_key=True),
    Column("branch", String(8), nullable=False),
    Column("system", String(3), nullable=False),
    Column("entity", String(16), nullable=False),
    Column("read", Integer, nullable=False),
    Column("kept", Integer, nullable=False),
    Column("set_aside", Integer, nullable=False),
    Column("filtered", Integer, nullable=False),
    Column("flagged", Integer, nullable=False),
)

crm_formula = Table(
    "crm_formula",
    metadata,
    Column("province", String(8), primary_key=True),
    Column("cust_type", String(1), primary_key=True),
    Column("formula_id", String(), primary_key=True),
    Column("name", String(), nullable=False),
    Column("content_hash", String(), nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False),
    Column("first_batch_id", BigId, nullable=False),
    Column("last_batch_id", BigId, nullable=False),
)

# --- control data (job repository) -------------------------------------------------------

crm_instance = Table(
    "crm_instance",
    metadata,
    Column("instance_id", String(36), primary_key=True),  # drawn when the schema was created
    Column("created_at", DateTime(timezone=True), nullable=False),
)

crm_lease = Table(  # who runs a province's date now (load/lease.py)
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

# --- staging (UNLOGGED on PostgreSQL; see load/migrations) -----------------------------

stg_customer = Table(
    "stg_customer",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=False),
    Column("cust_key", ident(), primary_key=True),
    Column("cust_type", ident(1), nullable=False),
    Column("id_type", ident(8), nullable=False),
    Column("id_no", ident(), nullable=False),
    Column("id_valid", Boolean, nullable=False),
    Column("name", String()),
    Column("master_source", String(3), nullable=False),
    Column("master_cust_no", String(), nullable=False),
    Column("source_count", Integer, nullable=False),
    Column("score", MONEY, nullable=False),
    Column("formula_id", String(), nullable=False),
    Column("qualified", Boolean, nullable=False),
    Column("crm_cust_id", BigId),  # set once the batch's CRM customers are resolved
)

stg_customer_source = Table(
    "stg_customer_source",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=False),
    Column("source", ident(3), primary_key=True),
    Column("source_cust_no", ident(), primary_key=True),
    Column("crm_cust_id", BigId, nullable=False),
    Column("role", String(8), nullable=False),
)

stg_contact = Table(
    "stg_contact",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=False),
    Column("source", ident(3), primary_key=True),
    Column("source_cust_no", ident(), primary_key=True),
    Column("crm_cust_id", BigId, nullable=False),
    Column("phone", String()),
    Column("mobile", String()),
    Column("address", String()),
    Column("postcode", String(10)),
)

stg_account = Table(
    "stg_account",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=False),
    Column("source", ident(3), primary_key=True),
    Column("acct_no", ident(), primary_key=True),
    Column("crm_cust_id", BigId, nullable=False),
    Column("source_cust_no", ident(), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("balance", MONEY, nullable=False),
    Column("balance_cny", MONEY_CNY, nullable=False),
    Column("status", String(1), nullable=False),
    Column("in_scope", Boolean, nullable=False),
    Column("open_date", Date),
    Column("maturity_date", Date),
)

stg_reject = Table(
    "stg_reject",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=False),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("file", String(), nullable=False),
    Column("line", Integer, nullable=False),
    Column("raw", Text, nullable=False),
    Column("reason", String(), nullable=False),
    Column("field", String()),
    Column("branch", String(8), nullable=False),
)

STAGING_TABLES = (stg_customer, stg_customer_source, stg_contact, stg_account, stg_reject)

# The transaction, statement and purge-log tables (issue 7) are declared in load/txn.py;
# importing it here puts them on `metadata` wherever the schema is used or compared.
from load import txn as _txn  # noqa: E402, F401
