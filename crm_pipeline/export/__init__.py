"""`crm-pipeline export`: a published batch's CRM tables as files for the CRM data server.

batch.py   choose the batch, refuse what must not leave, write its files (one snapshot)
layout.py  the files' record layouts and how each value is written (docs/export.md)
files.py   one file and its `.ok` flag, written so that no reader sees a partial one
push.py    the files to the CRM data server over SFTP (resumed, verified, flags last)
"""

from __future__ import annotations

from crm_pipeline.export.batch import ExportResult, LaterBatchPublished, export_batch
from crm_pipeline.export.layout import ExportRefused
from crm_pipeline.export.push import push_export

__all__ = ["ExportRefused", "ExportResult", "LaterBatchPublished", "export_batch", "push_export"]
