"""Export one published batch: choose it, refuse what must not leave, write its files.

What a batch's export holds (docs/export.md): the province's CRM tables as the batch
left them (`crm_customer`, `crm_customer_source`, `crm_contact`, `crm_account`: a full
image, since a daily batch updates and deletes rows in place) and the batch's own
`crm_load_batch` row. Refused, with one line naming the batch and nothing written:

- a batch that is not `published` (staging, held by the quality gate, superseded,
  abandoned): the CRM reads only what belongs to a published batch;
- a published batch after which the province published another one: the warehouse now
  holds the later batch's rows, so the export of this one cannot be made any more
  (`LaterBatchPublished`; export the later date, whose image includes this one's changes).

Everything is read in one snapshot (load.exports.ExportReader), so a publication
committed meanwhile is in none of the files or in all of them; rows are written in a
stable order, so exporting the same batch again gives the same bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from crm_pipeline.export.files import ExportedFile, StagedFile, commit_files, discard, stage_file
from crm_pipeline.export.layout import BATCH, TABLES, ExportRefused
from load.exports import BatchRow, ExportReader
from load.warehouse import Warehouse

log = logging.getLogger(__name__)


class LaterBatchPublished(ExportRefused):
    """The province published a later batch: this one's image is no longer in the tables."""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the batch, its folder, its files in the order to push them."""

    batch: BatchRow
    folder: Path
    files: list[ExportedFile]

    @property
    def day(self) -> str:
        return f"{self.batch.business_date:%Y%m%d}"


def _label(business_date: date, province: str, mode: str | None) -> str:
    return f"{province} {business_date:%Y%m%d}" + (f" {mode}" if mode else "")


def choose_batch(
    reader: ExportReader, business_date: date, province: str, mode: str | None
) -> BatchRow:
    """The published batch of (date, province[, mode]) that may be exported, or
    ExportRefused saying why not."""
    label = _label(business_date, province, mode)
    batches = [b for b in reader.batches(business_date, province) if mode in (None, b.mode)]
    if not batches:
        raise ExportRefused(f"{label}: no batch in the warehouse: nothing exported")
    published = [b for b in batches if b.published]
    if not published:
        newest = batches[0]
        raise ExportRefused(
            f"{_label(business_date, province, newest.mode)}: batch {newest.batch_id} is "
            f"{newest.status}, not published: nothing exported"
        )
    if len({b.mode for b in published}) > 1:
        raise ExportRefused(f"{label}: an initial and a daily batch are published: give --mode")
    batch = published[0]
    latest = reader.latest_published(province)
    if latest is not None and latest.batch_id != batch.batch_id:
        raise LaterBatchPublished(
            f"{_label(business_date, province, batch.mode)}: batch {batch.batch_id} is "
            f"published, but {province} published batch {latest.batch_id} "
            f"({latest.business_date:%Y%m%d} {latest.mode}) after it, and the warehouse holds "
            f"that batch's rows: export {latest.business_date:%Y%m%d} instead"
        )
    return batch


def export_batch(
    business_date: date,
    province: str,
    out_dir: Path,
    *,
    mode: str | None = None,
    warehouse_url: str | None = None,
) -> ExportResult:
    """Write the published batch's files under `out_dir/{D}/{P}/` (see the module doc)."""
    warehouse = Warehouse(warehouse_url)
    try:
        with ExportReader.open(warehouse.engine) as reader:
            batch = choose_batch(reader, business_date, province, mode)
            folder = out_dir / f"{business_date:%Y%m%d}" / province
            folder.mkdir(parents=True, exist_ok=True)
            day = f"{business_date:%Y%m%d}"
            staged: list[StagedFile] = []
            try:
                for layout in TABLES:
                    rows = reader.rows(layout.table, layout.names, layout.order, province)
                    staged.append(stage_file(folder, layout.file_name(province, day), layout, rows))
                batch_row = tuple(getattr(batch, name) for name in BATCH.names)
                staged.append(
                    stage_file(folder, BATCH.file_name(province, day), BATCH, [[batch_row]])
                )
            except BaseException:
                discard(staged)
                raise
            files = commit_files(staged)
    finally:
        warehouse.dispose()
    for file in files:
        log.info("exported %s: %d records, %d bytes, control sum %s", file.path,
                 file.flag.records, file.flag.size, file.flag.control_sum)  # fmt: skip
    return ExportResult(batch, folder, files)
