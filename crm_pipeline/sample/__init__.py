"""Synthetic core-system dumps, exactly as core-dumps.md lays them out.

`write_sample(out, business_date, branches, customers, seed)` writes, for every branch,
``out/{D}/{B}/{SYS}_{ENT}_{B}_{D}.dat`` + ``.ok`` for the initial-load entities of RTL, CRD,
LON and FND, the bank-wide ``out/{D}/FXR_RATE_{D}.dat`` + ``.ok``, and a manifest
``out/{D}/sample_manifest.json`` saying what was injected, so tests can check the
pipeline's reconciliation (``read = kept + set aside + filtered`` per file) against it.

Modules, bottom up: ``columns`` (column types, rendered to byte matrices), ``amounts``,
``dates``, ``naming`` (systems, code letters, key numbers, file names), ``fx`` (the rate
board), ``branches`` (province, seed stream, export filter of a branch); ``pools`` and
``ids`` (names, addresses, identification numbers); ``entities`` and ``accounts`` build
tables of fields (no bytes); ``writer`` assembles lines, writes files and flags;
``inject`` breaks a few records on purpose; ``report`` places them and says which line
holds what; ``initial_files`` writes one system's files of a branch; ``generate`` ties
them together. The daily generator (``daily/``) reuses them with an extra ``action``
column.

Reason categories (``set_aside`` of the manifest; what the pipeline must set aside):

- ``field_count``   delimited line with one field too few or too many
- ``byte_length``   fixed-width line 3 bytes short or long
- ``decode``        bytes that do not decode (0xFF) in a text field
- ``date``          impossible date (``20261332``, ``20260230``, ``2026013A``)
- ``amount``        non-numeric amount (``12O4.00``, ``N/A``, ``1,234.50``, ``--5.00``)
- ``int``           non-numeric whole number (``1Y``, ``x``, ``3.5``)
- ``code``          value outside its code set (id type, customer type, gender, product,
                    currency, status); ``field`` names which
- ``duplicate_key`` every copy of a key that appears twice in one file
- ``orphan``        account whose customer is not in the customer file, or whose customer
                    record is itself set aside

Besides set-aside lines: ``flagged_ids`` (customer records kept, identification number
with a wrong check character) and ``filtered_accounts`` (RTL accounts under the export
filter that the core system sent anyway: counted as filtered, never as rejected).

Manifest format (JSON)::

    {"business_date": "20261124", "seed": 7, "branches": [...], "customers_per_branch": N,
     "export_filter": {"ZJ": 50000, ...}, "fx_rates": {"USD": "712.35", ...},
     "files": [{
        "file": "20261124/ZJ/RTL_ACCT_ZJ_20261124.dat",   # relative to `out`
        "layout": "RTL_ACCT", "branch": "ZJ", "province": "ZJ",
        "records": 2345, "bytes": 213395, "control_sum": "123456.78",  # = the .ok
        "kept": 2300, "set_aside": {"date": 4, ...}, "filtered": 2, "flagged": 0,
        "left_out_by_filter": 812,   # not written at all (information)
        "on_filter": 2,              # exactly on the filter: kept (information)
        "set_aside_lines": [{"line": 17, "reason": "date", "key": "...", "field": "open_date"}],
        "flagged_ids": [{"line": 5, "cust_no": "...", "id_type": "01", "id_no": "..."}],
        "filtered_accounts": [{"line": 9, "acct_no": "..."}]}]}

``records = kept + sum(set_aside) + filtered`` holds for every file; lines are 1-based.
"""

from __future__ import annotations

from crm_pipeline.sample.generate import DEFAULT_BRANCHES, write_sample

__all__ = ["DEFAULT_BRANCHES", "write_sample"]
