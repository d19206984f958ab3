"""The landing zone: where each branch's files of a business date are, and whether they are whole.

The landing zone is laid out like the file-exchange server's `/outbound` (core-dumps.md
section 1), whether it is a local folder (embedded default) or the mirror the SFTP fetcher
fills. A `.dat` is considered only once its `.ok` exists; its size must match the flag
before anything reads it (record count and control sum are checked once the file is
read: `extract.flag.read_checker`, called by ingestion).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from common.config import ProvinceConfig
from common.errors import FileRejected
from extract.flag import Flag, check_against_flag, flag_path, read_flag

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


def check_landed(path: Path, branch: str) -> LandedFile:
    """The file with its flag, if both are there and the size agrees; FileRejected otherwise."""
    ok = flag_path(path)
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
    problems: list[FileRejected]  # files that cannot be loaded: the province is not published
    branches: list[str]


def province_files(
    landing: Path, business_date: str, province: str, mode: str, config: ProvinceConfig
) -> ProvinceFiles:
    """Every file a province's branches must send for `mode`, checked against its flag."""
    day = landing / business_date
    branches = [b for b in config.branches_of(province) if (day / b).is_dir()]
    files: list[LandedFile] = []
    problems: list[FileRejected] = []
    for branch in branches:
        for system, entities in config.entities[mode].items():  # type: ignore[index]
            for entity in entities:
                path = day / branch / data_file_name(system, entity, branch, business_date)
                try:
                    files.append(check_landed(path, branch))
                except FileRejected as exc:
                    problems.append(exc)
    return ProvinceFiles(files, problems, branches)


def fx_file(landing: Path, business_date: str) -> LandedFile:
    path = landing / business_date / data_file_name("FXR", "RATE", "", business_date)
    return check_landed(path, "")
