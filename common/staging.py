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
of them joins a folder name of its own. The paths are local ones; the area's `StagingStore`
(common.store) says where they really live: the folder itself by default, or an object store
by URL (`StagingArea.open("s3://bucket/prefix")`) that the paths mirror in a local scratch
folder. The restart ledger uploads and downloads through it; the listings here ask it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.fs as pafs

from common.intermediate import IPC_SUFFIX, PART_SUFFIXES
from common.store import StagingStore, open_store

MODES = ("initial", "daily")
JOBS = "_jobs"
FX = "_fx"
STATE = "state"
STATE_TABLES = ("customers", "accounts")
BATCH_TABLES = ("customers", "links", "source_customers", "accounts", "rejects")


def staged_name(data_file: str, suffix: str = ".parquet") -> str:
    """The staged file of a landed `.dat` file: same name, another suffix."""
    return data_file.removesuffix(".dat") + suffix


@dataclass(frozen=True)
class StagingArea:
    """The whole staging area under `root`."""

    root: Path
    store: StagingStore = field(default=None, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.store is None:
            object.__setattr__(self, "store", open_store(self.root))

    @classmethod
    def open(cls, where: str | Path) -> StagingArea:
        """The area a staging setting names: a folder, or `s3://bucket/prefix` (worked on in
        its local scratch mirror, common.store)."""
        store = open_store(where)
        return cls(store.local_root, store)

    @property
    def filesystem(self) -> pafs.FileSystem:
        return self.store.filesystem

    def fetch(self, path: Path) -> bool:
        """Make the store's copy of `path` the local one (a file read outside any restart
        ledger, such as a state snapshot); False when the store has none."""
        return self.store.download(path)

    def save(self, path: Path) -> None:
        """Copy the local file `path` into the store (a file no ledger entry lists)."""
        self.store.upload(path)

    def _folders(self, folder: Path) -> list[str]:
        return sorted(
            Path(i.path).name
            for i in self.store.children(folder)
            if i.type == pafs.FileType.Directory
        )

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
            if self.store.is_dir(self.root / business_date / province / mode)
        }

    def provinces_with_state(self, business_date: str) -> list[str]:
        """The provinces whose state snapshot of the date exists (a published load's)."""
        root = self.root / STATE
        return [p for p in self._folders(root) if self.store.is_dir(root / p / business_date)]

    def provinces_staged(self, business_date: str) -> list[str]:
        """The provinces with a run folder of the date (any mode)."""
        root = self.root / business_date
        return [p for p in self._folders(root) if any(m in self._folders(root / p) for m in MODES)]

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
    def store(self) -> StagingStore:
        return self.area.store

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
        """The bucket files a step left in `folder`, in bucket order (none if it has none),
        fetched from the store when it is not the local folder."""
        where = self.work / folder
        found = sorted(
            where / Path(i.path).name
            for i in self.store.children(where)
            if i.type == pafs.FileType.File and Path(i.path).suffix in PART_SUFFIXES
        )
        if self.store.remote:
            for path in found:
                self.area.fetch(path)
        return found

    def batch_table(self, table: str) -> Path:
        """A daily run's batch table, as the load reads it."""
        if table not in BATCH_TABLES:
            raise ValueError(f"batch table {table!r} is not one of {BATCH_TABLES}")
        return self.work / f"batch_{table}{IPC_SUFFIX}"  # written and read back whole

    @property
    def rejects_csv(self) -> Path:
        return self.work / "rejects.csv"
