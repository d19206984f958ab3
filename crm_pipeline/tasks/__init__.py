"""The functions the DAG tasks call: the pipeline with Airflow-friendly inputs and outputs.

Each module holds one task's decisions (planning a date's provinces, waiting for files,
staging the FX rates, loading one province, the formula trial, the monthly statement,
the failure report), so it runs and is tested without a scheduler. Nothing here imports
Airflow or SQLAlchemy: the DAG files (`dags/`) wire these functions into tasks, resolve
Airflow Variables, mask secrets and send notifications.

Failures are split in two on purpose:

- a data problem (a missing or corrupt file, a reconciliation that does not balance, a bad
  configuration) will not go away by retrying: a `PipelineError` (often `ProvinceFailed`),
  which the DAG turns into a failure without retries so the operator sees the reason at once;
- anything else (a locked database, a full disk, a killed worker) is raised as is and the
  task is retried with exponential backoff; the run resumes from its restart ledger.
"""
