"""The ingest step's records of a day's files, as the inputs of the later steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common import config as cfg
from transform.conform import StagedFile

# The ingest step's record of one file (crm_pipeline.ingest_step.ingest_files).
Ingested = dict[str, Any]

CUSTOMER_KEY = ["source", "cust_no"]
ACCOUNT_KEY = ["source", "acct_no"]


def staged_files(ingested: list[Ingested], role: str) -> list[StagedFile]:
    """The staged files whose layout has `role` (customer, account, txn), in file order."""
    # The initial load builds the same StagedFile list (crm_pipeline.initial); one helper
    # beside the ingest step's records could serve both.
    layouts = cfg.layouts()
    return [
        StagedFile(
            Path(r["path"]),
            Path(r["staged"]),
            layouts.layout_for(r["system"], r["entity"]),
            r["system"],
            r["entity"],
            r["branch"],
        )
        for r in ingested
        if layouts.layout_for(r["system"], r["entity"]).role == role
    ]


def txn_records(ingested: list[Ingested]) -> list[Ingested]:
    """The records of the day's transaction (TXN) files."""
    return [r for r in ingested if r["entity"] == "TXN"]


def change_records(ingested: list[Ingested]) -> list[Ingested]:
    """The records of the day's change files (every file but the TXN ones)."""
    return [r for r in ingested if r["entity"] != "TXN"]
