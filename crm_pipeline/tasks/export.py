"""The `export` task: one province's published batch written as files and pushed to the
CRM data server (the DAG's last step per province, after `publish`).

The task returns counts and paths as strings (an XCom carries no data). A batch that is
not published (or held), a refused file or login fail the task with the reason
(ProvinceFailed: no retry mends them); a link that kept dropping raises ConnectionError,
which the DAG retries, each retry continuing the push where it stopped. A batch after which the province
published another one is skipped, not failed: the later date's export is the full image
of the province and includes this one's changes, and clearing the task could never make
it succeed (a night run late behind the next one).
"""

from __future__ import annotations

import logging

from common import settings
from common.dates import business_day
from common.errors import PipelineError
from crm_pipeline.export import LaterBatchPublished, export_batch, push_export
from crm_pipeline.tasks.failures import ProvinceFailed
from extract.sftp.credentials import CredentialsProvider
from extract.sftp.errors import PushFailedError

log = logging.getLogger(__name__)


def export_province(
    business_date: str,
    province: str,
    mode: str | None = None,
    *,
    push: bool = True,
    provider: CredentialsProvider | None = None,
) -> dict[str, str]:
    """Export (D, P) into the export folder and, with `push`, onto the CRM data server.

    `provider` turns the configured connection id into credentials: the DAG passes
    `dags.sftp_connection.credentials_from_connection`; None reads CRM_EXPORT_SFTP_*."""
    day = business_day(business_date)
    try:
        result = export_batch(day, province, settings.export_dir(), mode=mode,
                              warehouse_url=settings.warehouse_url())  # fmt: skip
    except LaterBatchPublished as exc:
        log.warning("export skipped: %s", exc)
        return {"province": province, "status": "skipped", "reason": str(exc)}
    except PipelineError as exc:
        raise ProvinceFailed(province, "export", str(exc)) from None
    summary = {
        "province": province,
        "status": "exported",
        "batch_id": str(result.batch.batch_id),
        "mode": result.batch.mode,
        "folder": str(result.folder),
        "files": str(len(result.files)),
        "records": str(sum(f.flag.records for f in result.files)),
        "bytes": str(sum(f.flag.size for f in result.files)),
    }
    if push:
        try:
            pushed = push_export(result, provider)
        except PushFailedError as exc:  # the link: a retry continues the push (resumed)
            raise ConnectionError(str(exc)) from None
        except PipelineError as exc:
            raise ProvinceFailed(province, "export", str(exc)) from None
        summary["status"] = "pushed"
        summary["remote"] = pushed[0].remote_path.rsplit("/", 1)[0] if pushed else ""
        summary["resumed_bytes"] = str(sum(p.resumed_from for p in pushed))
    log.info("export of %s for %s: %s", business_date, province, summary)
    return summary
