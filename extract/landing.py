"""The landing zone: where each branch's files of a business date are, and whether they are whole.

The landing zone is laid out like the file-exchange server's `/outbound` (core-dumps.md
section 1), whether it is a local folder (embedded default) or the mirror the SFTP fetcher
fills. A `.dat` is considered only once its `.ok` exists; its size must match the flag
before anything reads it (record count and control sum are checked once the file is
read: `extract.flag.read_checker`, called by ingestion). Both must be regular files inside
the landing folder (`extract.containment`).

A province is read whole or not at all: its own branch folder and every city not declared
optional must be there (docs/decisions.md, "Complete provinces"). What the folders hold
beyond the files of the mode is listed as warnings, never silently skipped.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from common.config import ProvinceConfig
from common.errors import FileRejected
from extract.containment import refuse_unsafe
from extract.flag import Flag, check_against_flag, flag_path, read_flag
from extract.lines import starts_with_bom

log = logging.getLogger(__name__)

# The SFTP fetcher's work folder inside a branch folder (extract.sftp.names.PARTIAL_DIR,
# not imported: that module needs paramiko): its files are downloads in progress.
FETCHER_WORK_DIR = ".partial"

_NAME = re.compile(
    r"^(?P<sys>[A-Z]{3})_(?P<ent>[A-Z]+)_(?:(?P<branch>[A-Z0-9]+)_)?(?P<date>\d{8})\.dat$"
)


@dataclass(frozen=True)
class LandedFile:
    system: str
    entity: str
    branch: str  # reporting branch (a province or a city); "" for the bank-wide FX file
    path: Path
    flag: Flag

    @property
    def name(self) -> str:
        return self.path.name


def parse_name(name: str) -> tuple[str, str, str, str]:
    """(system, entity, branch, date) of a data file name; ValueError if it is not one."""
    match = _NAME.match(name)
    if not match:
        raise ValueError(f"{name}: not a dump file name SYS_ENT_BRANCH_YYYYMMDD.dat")
    return match["sys"], match["ent"], match["branch"] or "", match["date"]


def data_file_name(system: str, entity: str, branch: str, business_date: str) -> str:
    if system == "FXR":
        return f"FXR_{entity}_{business_date}.dat"
    return f"{system}_{entity}_{branch}_{business_date}.dat"


def check_landed(path: Path, branch: str, landing: Path | None = None) -> LandedFile:
    """The file with its flag, if both are there, are regular files (inside `landing`, when
    given) and the size agrees; FileRejected otherwise."""
    ok = flag_path(path)
    refuse_unsafe(ok, "flag", landing)
    refuse_unsafe(path, "data file", landing)
    if not ok.exists():
        what = "data file and flag are missing" if not path.exists() else "flag (.ok) is missing"
        raise FileRejected(path.name, f"{what}: not sent yet, or still being written")
    flag = read_flag(ok)
    if not path.exists():
        raise FileRejected(path.name, "flag is there but the data file is missing")
    check_against_flag(path.name, flag, name=path.name, size=path.stat().st_size)
    system, entity, _, _ = parse_name(path.name)
    return LandedFile(system, entity, branch, path, flag)


def provinces_in_landing(landing: Path, business_date: str, config: ProvinceConfig) -> list[str]:
    """Provinces with at least one branch folder for the date, in configuration order."""
    day = landing / business_date
    if not day.is_dir():
        return []
    present = {p.name for p in day.iterdir() if p.is_dir()}
    return [code for code in config.provinces if present & set(config.branches_of(code))]


@dataclass(frozen=True)
class ProvinceFiles:
    files: list[LandedFile]
    problems: list[FileRejected]  # files (or branch folders) missing or unusable: the
    # province is not published
    branches: list[str]  # the branch folders read
    warnings: list[str] = field(default_factory=list)  # unknown files and folders, optional
    # cities not reporting, byte order marks: for the log and `status`


def branches_to_read(day: Path, province: str, config: ProvinceConfig) -> list[str]:
    """The branches whose folder `day` must hold for `province`: its own and every city not
    declared optional, always; an optional city only when its folder is there."""
    return [
        b
        for b in config.branches_of(province)
        if not config.is_optional(province, b) or (day / b).is_dir()
    ]


def missing_branch(day: Path, province: str, branch: str) -> FileRejected:
    """The fault of a required branch that sent nothing: names the branch and its folder."""
    if branch == province:
        why = "the province's own branch is always required"
    else:
        why = f"a city of {province} not in its optional_cities (config/provinces.yaml)"
    return FileRejected(
        f"{branch}/",
        f"branch {branch} of {province} sent nothing: no folder {day / branch} ({why})",
    )


def expected_names(business_date: str, branch: str, mode: str, config: ProvinceConfig) -> list[str]:
    """The data files a branch sends for `mode` (core-dumps.md section 2), in config order."""
    return [
        data_file_name(system, entity, branch, business_date)
        for system, entities in config.entities[mode].items()  # type: ignore[index]
        for entity in entities
    ]


def province_files(
    landing: Path, business_date: str, province: str, mode: str, config: ProvinceConfig
) -> ProvinceFiles:
    """Every file a province's branches must send for `mode`, checked against its flag."""
    day = landing / business_date
    files: list[LandedFile] = []
    problems: list[FileRejected] = []
    branches: list[str] = []
    for branch in branches_to_read(day, province, config):
        if not (day / branch).is_dir():
            problems.append(missing_branch(day, province, branch))
            continue
        branches.append(branch)
        for name in expected_names(business_date, branch, mode, config):
            try:
                files.append(check_landed(day / branch / name, branch, landing))
            except FileRejected as exc:
                problems.append(exc)
    warnings = [
        *unexpected_entries(day, province, mode, config),
        *[
            f"{f.path}: starts with a UTF-8 byte order mark"
            for f in files
            if starts_with_bom(f.path)
        ],
    ]
    for warning in warnings:
        log.warning("%s %s: %s", province, business_date, warning)
    return ProvinceFiles(files, problems, branches, warnings)


def unexpected_entries(day: Path, province: str, mode: str, config: ProvinceConfig) -> list[str]:
    """What the date folder and the province's branch folders hold beyond the files of
    `mode`: folders of branches not in provinces.yaml, files not in the layout set, and the
    optional cities that sent nothing. Not faults (nothing is read from them), but an
    operator must see them: a misnamed folder or file is a branch or file not loaded."""
    if not day.is_dir():
        return []
    found: list[str] = []
    bank_wide = {data_file_name("FXR", "RATE", "", day.name)}
    for entry in sorted(day.iterdir()):
        if entry.is_symlink():
            found.append(f"{entry}: a symbolic link: nothing is read through it")
        elif entry.is_dir():
            if entry.name != FETCHER_WORK_DIR and config.province_of(entry.name) is None:
                found.append(f"{entry}/: not a branch in config/provinces.yaml (not read)")
        elif not _expected(entry.name, bank_wide):
            found.append(f"{entry}: not a file of the {mode} layout set (not read)")
    for branch in config.branches_of(province):
        folder = day / branch
        if not folder.is_dir():
            if config.is_optional(province, branch):
                found.append(f"{folder}/: optional city {branch} sent nothing tonight")
            continue
        if folder.is_symlink():
            continue  # listed above; its files are refused
        wanted = set(expected_names(day.name, branch, mode, config))
        for entry in sorted(folder.iterdir()):
            if entry.is_symlink():
                if not _expected(entry.name, wanted):  # an expected one is a file fault
                    found.append(f"{entry}: a symbolic link: nothing is read through it")
                continue
            if entry.name == FETCHER_WORK_DIR and entry.is_dir():
                continue
            if entry.is_dir() or not _expected(entry.name, wanted):
                found.append(f"{entry}: not a file of the {mode} layout set (not read)")
    return found


def _expected(name: str, data_files: set[str]) -> bool:
    """Whether `name` is one of `data_files` or the flag of one."""
    return name in data_files or (name.endswith(".ok") and name[:-3] + ".dat" in data_files)


def fx_file(landing: Path, business_date: str) -> LandedFile:
    path = landing / business_date / data_file_name("FXR", "RATE", "", business_date)
    return check_landed(path, "", landing)
