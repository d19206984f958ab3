"""The daily incremental run of one province (issue 7): change lists onto the state, then CRM.

After the initial load the core systems send only what changed (core-dumps.md section 8).
A daily run for business date D, module by module:

1. `business_dates`: finds the previous business date P (the newest date of the province
   published before D) and refuses to run when a day between P and D was begun or landed
   but is not published, or when a later day is already published: days must be applied
   in order;
2. the `ingest` step (`crm_pipeline.ingest_step`): the day's files with the same
   parse/type/ingest code as the initial load (change layouts from
   `layouts().layout_for(sys, "CUSTCHG")`);
3. `apply`: `CUSTCHG`, then `ACCTCHG`/`HOLDCHG` (the day's customers first, so an account
   may belong to a customer who arrives the same day) onto P's state snapshot
   (`transform.changes`, the state read from its layers without a copy); `revalue`: the
   CNY equivalents and export-filter scope at D's rates of the accounts in the currencies
   whose rate moved;
4. `touched`: the records of the identities the day touched, found from its change rows;
   `rescore`: only those re-merged and re-scored; `day` puts them in a `daily` batch (new qualifying customers are added, the
   others are updated, `qualified` false when under the threshold, never deleted), and the
   `apply` step writes it with D's state snapshot (a layer of what the day changed,
   `crm_pipeline.state`);
5. `transactions`: the day's transactions of CRM customers' accounts into `crm_txn`.

`run` runs these as the steps `ingest`, `apply`, `load`, `transactions`.

Reconciliation is that of the initial load, per file: read = kept + set aside + filtered,
where *filtered* counts a `D` of an unknown key (ignored, core-dumps.md section 8) and, in
`TXN` files, a transaction of an account that is not a CRM customer's.
"""

from __future__ import annotations

from crm_pipeline.daily.run import run_daily_province

__all__ = ["run_daily_province"]
