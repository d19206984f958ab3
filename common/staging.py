"""The staging area: every path of its layout, defined here and nowhere else.

    {root}/{D}/_fx/                      the date's FX rates, staged once for every province
    {root}/{D}/{P}/{mode}/               one run of a province (mode: initial | daily)
        identity.json                    whose run the folder's work is (inputs, warehouse)
        _jobs/{step}.json                the restart ledger of the run's steps (common.jobs)
        _jobs/{step}/{job}.json          ... and of each step's jobs (a file, a bucket)
        parsed/{file}.parquet            ingest: a data file's kept, typed records
        parsed/{file}.rejects.parquet    ingest: its records set aside
        partition/                       conform: the files cut into buckets
        customers/ merged/ links/ scoring_input/ scored/   {bucket}{suffix}: merge, score
        batch_{table}.parquet            daily: the day's batch, as handed to the load
        rejects.csv                      every record set aside, for an operator
    {root}/state/{P}/{D}/{customers,accounts}.arrow   the province's state as of D

Stages and orchestration ask a `StagingArea` (or the `RunStaging` of one run) for paths; none
of them joins a folder name of its own. The area carries a `pyarrow.fs` filesystem, the local
one by default: the restart ledger reads and writes through it, so the layout can move to
object storage without its users changing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.fs as pafs

from common.intermediate import PART_SUFFIXES

MODES = ("initial", "daily")
JOBS = "_jobs"
FX = "_fx"
STATE = "state"
STATE_TABLES = ("customers", "accounts")
BATCH_TABLES = ("customers", "links", "source_customers", "accounts", "rejects")


def _province_folders(folder: Path) -> set[str]:
    """`folder`'s name if it holds a run folder of a mode (a province's date), else none."""
    return {folder.name} if any((folder / mode).is_dir() for mode in MODES) else set()


def staged_name(data_file: str, suffix: str = ".parquet") -> str:
    """The staged file of a landed `.dat` file: same name, another suffix."""
    return data_file.removesuffix(".dat") + suffix


@dataclass(frozen=True)
class StagingArea:
    """The whole staging area under `root`."""

    root: Path
    filesystem: pafs.FileSystem = field(default_factory=pafs.LocalFileSystem, compare=False)

    def run(self, business_date: str, province: str, mode: str) -> RunStaging:
        """The folder of one province's run of one date and mode."""
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {MODES}")
        return RunStaging(self, self.root / business_date / province / mode)

    def runs_of(self, business_date: str, province: str) -> dict[str, RunStaging]:
        """The runs of a province's date that left a folder, by mode."""
        return {
            mode: self.run(business_date, province, mode)
            for mode in MODES
            if (self.root / business_date / province / mode).is_dir()
        }

    def provinces_with_state(self, business_date: str) -> list[str]:
        """The provinces whose state snapshot of the date exists (a published load's)."""
        root = self.root / STATE
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if (p / business_date).is_dir())

    def provinces_staged(self, business_date: str) -> list[str]:
        """The provinces with a run folder of the date (any mode)."""
        root = self.root / business_date
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.name in _province_folders(p))

    def fx_dir(self, business_date: str) -> Path:
        return self.root / business_date / FX

    def fx_jobs(self, business_date: str) -> Path:
        return self.fx_dir(business_date) / JOBS

    def state_dir(self, province: str, business_date: str) -> Path:
        """The province's copy of every system's customers and accounts as of a date.

        Snapshots are immutable and dated: a daily run for D reads D-1's and writes D's, so
        a rerun of D starts again from the same input and a crash leaves the previous one
        intact.
        """
        return self.root / STATE / province / business_date

    def state_file(self, province: str, business_date: str, table: str) -> Path:
        if table not in STATE_TABLES:
            raise ValueError(f"state table {table!r} is not one of {STATE_TABLES}")
        return self.state_dir(province, business_date) / f"{table}.arrow"


@dataclass(frozen=True)
class RunStaging:
    """The staging folder of one province's run (one date, one mode)."""

    area: StagingArea
    work: Path

    @property
    def filesystem(self) -> pafs.FileSystem:
        return self.area.filesystem

    @property
    def identity(self) -> Path:
        """The identity of the run whose work the folder holds (crm_pipeline.run_identity)."""
        return self.work / "identity.json"

    @property
    def jobs(self) -> Path:
        """Where the run's restart ledger lives (common.jobs.JobLedger)."""
        return self.work / JOBS

    @property
    def parsed_dir(self) -> Path:
        return self.work / "parsed"

    def parsed(self, data_file: str) -> Path:
        return self.parsed_dir / staged_name(data_file)

    def parsed_rejects(self, data_file: str) -> Path:
        return self.parsed_dir / staged_name(data_file, ".rejects.parquet")

    @property
    def partition(self) -> Path:
        return self.work / "partition"

    def buckets(self, folder: str, names: list[str], suffix: str = ".parquet") -> list[Path]:
        """One file per bucket in `folder` (customers, merged, links, scoring_input, scored),
        the folder created."""
        (self.work / folder).mkdir(parents=True, exist_ok=True)
        return [self.work / folder / f"{name}{suffix}" for name in names]

    def existing_buckets(self, folder: str) -> list[Path]:
        """The bucket files a step left in `folder`, in bucket order (none if it has none)."""
        where = self.work / folder
        if not where.is_dir():
            return []
        return sorted(p for p in where.iterdir() if p.suffix in PART_SUFFIXES)

    def batch_table(self, table: str) -> Path:
        """A daily run's batch table, as the load reads it."""
        if table not in BATCH_TABLES:
            raise ValueError(f"batch table {table!r} is not one of {BATCH_TABLES}")
        return self.work / f"batch_{table}.parquet"

    @property
    def rejects_csv(self) -> Path:
        return self.work / "rejects.csv"
