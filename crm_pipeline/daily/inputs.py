"""The ingest step's records of a day's files, as the inputs of the later steps."""

from __future__ import annotations

from crm_pipeline.ingest_step import Ingested

CUSTOMER_KEY = ["source", "cust_no"]
ACCOUNT_KEY = ["source", "acct_no"]


def txn_records(ingested: list[Ingested]) -> list[Ingested]:
    """The records of the day's transaction (TXN) files."""
    return [r for r in ingested if r["entity"] == "TXN"]


def change_records(ingested: list[Ingested]) -> list[Ingested]:
    """The records of the day's change files (every file but the TXN ones)."""
    return [r for r in ingested if r["entity"] != "TXN"]
