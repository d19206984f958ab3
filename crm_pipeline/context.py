"""What a run is about (date, mode, where it reads and writes) and what it tells an operator."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from common.batch import FileCounts
from common.staging import RunStaging, StagingArea


@dataclass
class ProvinceSummary:
    """What an operator needs to see about one province's run."""

    province: str
    status: str  # published | already published | held | stopped (at `stopped_after`) | failed
    error: str | None = None
    stopped_after: str | None = None  # the stop point asked for, once reached
    failed_step: str | None = None  # the step whose body raised, when one did
    files: list[FileCounts] = field(default_factory=list)
    source_customers: int = 0
    merged_customers: int = 0
    qualified: int = 0
    batch_id: int | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # the quality gate's warnings

    def total(self, attr: str) -> int:
        return sum(int(getattr(f, attr)) for f in self.files)


@dataclass(frozen=True)
class RunContext:
    """One date's run: which date and mode, where it reads, stages and writes."""

    business_date: str  # YYYYMMDD
    mode: str  # initial | daily
    landing: Path
    staging: str | Path  # a folder, or an object store's URL (common.store)
    warehouse_url: str
    force: bool = False
    #: Run the steps up to and including this one, then stop (one Airflow task per step).
    stop_after: str | None = None
    #: Whether the restart ledger ignores what earlier runs recorded; default: `force`. A
    #: forced reload split into step tasks redoes its first step only: doing it afresh drops
    #: the later steps' entries, so each later task redoes its own step once.
    redo_steps: bool | None = None

    @property
    def ledger_force(self) -> bool:
        return self.force if self.redo_steps is None else self.redo_steps

    @property
    def day(self) -> date:
        return datetime.strptime(self.business_date, "%Y%m%d").date()

    @property
    def area(self) -> StagingArea:
        return StagingArea.open(self.staging)

    def run_staging(self, province: str) -> RunStaging:
        """The staging folder of this date and mode's run of `province`."""
        return self.area.run(self.business_date, province, self.mode)
