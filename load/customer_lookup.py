"""One CRM customer as the warehouse holds it: what `crm-pipeline explain` compares with.

Read-only queries returning plain records, so the explanation (crm_pipeline) reads the
warehouse without SQL of its own: a `crm_cust_id`'s identity in the registry, and the
`crm_customer` row of an identity with the business date of the batch that last changed
it (its score holds from that date until a later batch changes the row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Engine, select

from load.tables import crm_customer, crm_customer_key, crm_load_batch


@dataclass(frozen=True)
class Identity:
    """A merged customer's identity: its key in the registry (crm_customer_key)."""

    cust_type: str
    id_type: str
    id_no: str


@dataclass(frozen=True)
class CrmCustomer:
    """The `crm_customer` row of an identity, as published."""

    crm_cust_id: int
    score: Decimal
    qualified: bool
    formula_id: str
    master_source: str
    master_cust_no: str
    batch_id: int
    batch_date: date  # business date of the batch that last changed the row
    first_date: date  # business date of the batch that first published the customer


def identity_of(engine: Engine, province: str, crm_cust_id: int) -> Identity | None:
    """The identity registered for `crm_cust_id` in `province`, None if there is none."""
    key = crm_customer_key.c
    with engine.connect() as conn:
        row = conn.execute(
            select(key.cust_type, key.id_type, key.id_no).where(
                key.crm_cust_id == crm_cust_id, key.province == province
            )
        ).first()
    return None if row is None else Identity(row.cust_type, row.id_type, row.id_no)


def crm_customer_of(engine: Engine, province: str, identity: Identity) -> CrmCustomer | None:
    """The CRM customer of `identity` in `province`, None if it never became one."""
    key, cust = crm_customer_key.c, crm_customer.c
    last, first = crm_load_batch.alias("last_batch"), crm_load_batch.alias("first_batch")
    query = (
        select(
            cust.crm_cust_id,
            cust.score,
            cust.qualified,
            cust.formula_id,
            cust.master_source,
            cust.master_cust_no,
            cust.batch_id,
            last.c.business_date.label("batch_date"),
            first.c.business_date.label("first_date"),
        )
        .select_from(crm_customer_key)
        .join(crm_customer, cust.crm_cust_id == key.crm_cust_id)
        .join(last, last.c.batch_id == cust.batch_id)
        .join(first, first.c.batch_id == cust.first_batch_id)
        .where(
            key.province == province,
            key.cust_type == identity.cust_type,
            key.id_type == identity.id_type,
            key.id_no == identity.id_no,
        )
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return CrmCustomer(
        crm_cust_id=int(row.crm_cust_id),
        score=Decimal(row.score),
        qualified=bool(row.qualified),
        formula_id=row.formula_id,
        master_source=row.master_source,
        master_cust_no=row.master_cust_no,
        batch_id=int(row.batch_id),
        batch_date=row.batch_date,
        first_date=row.first_date,
    )


__all__ = ["CrmCustomer", "Identity", "crm_customer_of", "identity_of"]
