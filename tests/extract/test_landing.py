"""The landing zone's rules (extract/landing.py): a province is read whole (its own folder
and every city not declared optional), links and paths out of the landing folder are
refused, and whatever else the folders hold is listed as warnings."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pytest

from common.config import ProvinceConfig, load_model, provinces
from common.errors import ConfigError, FileRejected
from common.paths import config_dir
from crm_pipeline.sample import write_sample
from extract.landing import FETCHER_WORK_DIR, branches_to_read, check_landed, province_files
from extract.sftp.names import PARTIAL_DIR

D = "20261124"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A landing zone with ZJ and its city NB (WZ does not report), and GD alone."""
    landing = tmp_path_factory.mktemp("landing")
    write_sample(landing, date(2026, 11, 24), ["ZJ", "NB", "GD"], 5, 3)
    (landing / D / "sample_manifest.json").unlink()  # the generator's, not a dump file
    return landing


def copy_of(sample: Path, tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    shutil.copytree(sample, landing, symlinks=True)
    return landing


def strict(config: ProvinceConfig, province: str) -> ProvinceConfig:
    """`config` with every city of `province` required."""
    required = config.provinces[province].model_copy(update={"optional_cities": []})
    return config.model_copy(update={"provinces": {**config.provinces, province: required}})


def test_a_whole_province_reads_its_branches_with_no_warning_but_the_silent_city(
    sample: Path,
) -> None:
    found = province_files(sample, D, "ZJ", "initial", provinces())
    assert not found.problems and found.branches == ["ZJ", "NB"]
    assert len(found.files) == 2 * 8
    assert found.warnings == [f"{sample / D / 'WZ'}/: optional city WZ sent nothing tonight"]


def test_a_province_without_its_own_folder_is_not_read_from_its_city(
    sample: Path, tmp_path: Path
) -> None:
    landing = copy_of(sample, tmp_path)
    shutil.rmtree(landing / D / "ZJ")
    found = province_files(landing, D, "ZJ", "initial", provinces())
    [problem] = found.problems
    assert problem.file == "ZJ/"
    assert f"no folder {landing / D / 'ZJ'}" in problem.reason
    assert "own branch is always required" in problem.reason
    assert found.branches == ["NB"]


def test_a_required_city_without_its_folder_fails_its_province(sample: Path) -> None:
    config = strict(provinces(), "ZJ")
    assert branches_to_read(sample / D, "ZJ", config) == ["ZJ", "NB", "WZ"]
    found = province_files(sample, D, "ZJ", "initial", config)
    [problem] = found.problems
    assert problem.file == "WZ/" and f"no folder {sample / D / 'WZ'}" in problem.reason
    assert "optional_cities" in problem.reason  # says how to declare it optional
    # The GD province with its city SZ optional is read alone; required, it is not.
    assert not province_files(sample, D, "GD", "initial", provinces()).problems
    [gd] = province_files(sample, D, "GD", "initial", strict(provinces(), "GD")).problems
    assert gd.file == "SZ/"


def test_an_optional_city_must_be_one_of_the_province_cities(tmp_path: Path) -> None:
    text = (config_dir() / "provinces.yaml").read_text(encoding="utf-8")
    broken = text.replace("optional_cities: [NB, WZ]", "optional_cities: [NB, SZ, XX]")
    assert broken != text
    (tmp_path / "provinces.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_model(ProvinceConfig, tmp_path / "provinces.yaml")
    [problem] = caught.value.problems
    assert "provinces.ZJ" in problem and "'SZ', 'XX'" in problem and "NB" in problem


def test_unknown_files_and_folders_are_warnings(sample: Path, tmp_path: Path) -> None:
    landing = copy_of(sample, tmp_path)
    day = landing / D
    (day / "XX").mkdir()  # not a branch
    (day / "zj").mkdir()  # a misspelt one
    (day / "notes.txt").write_text("hello")
    (day / "ZJ" / f"RTL_CUST_ZJ_{D}.dat.bak").write_text("old")
    (day / "ZJ" / f"RTL_CUSTCHG_ZJ_{D}.dat").write_text("")  # a daily file on an initial date
    (day / "NB" / "extra").mkdir()
    (day / "ZJ" / FETCHER_WORK_DIR).mkdir()  # the SFTP fetcher's: known, not listed
    found = province_files(landing, D, "ZJ", "initial", provinces())
    assert not found.problems
    assert sorted(found.warnings) == sorted(
        [
            f"{day / 'XX'}/: not a branch in config/provinces.yaml (not read)",
            f"{day / 'notes.txt'}: not a file of the initial layout set (not read)",
            f"{day / 'zj'}/: not a branch in config/provinces.yaml (not read)",
            f"{day / 'ZJ' / f'RTL_CUSTCHG_ZJ_{D}.dat'}: not a file of the initial layout set"
            " (not read)",
            f"{day / 'ZJ' / f'RTL_CUST_ZJ_{D}.dat.bak'}: not a file of the initial layout set"
            " (not read)",
            f"{day / 'NB' / 'extra'}: not a file of the initial layout set (not read)",
            f"{day / 'WZ'}/: optional city WZ sent nothing tonight",
        ]
    )
    # The daily files of a daily date are the layout set there: the initial ones are not.
    daily = province_files(landing, D, "ZJ", "daily", provinces())
    assert any(w.startswith(f"{day / 'ZJ' / f'RTL_CUST_ZJ_{D}.dat'}:") for w in daily.warnings)


def test_the_fetcher_work_folder_name_is_the_fetcher_s() -> None:
    assert FETCHER_WORK_DIR == PARTIAL_DIR


def test_a_data_file_that_is_a_link_is_refused(sample: Path, tmp_path: Path) -> None:
    landing = copy_of(sample, tmp_path)
    path = landing / D / "NB" / f"CRD_CUST_NB_{D}.dat"
    passwd = tmp_path / "passwd"  # stands for /etc/passwd, sized to agree with the flag
    passwd.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n".ljust(path.stat().st_size, b"#"))
    path.unlink()
    path.symlink_to(passwd)
    with pytest.raises(FileRejected, match="the data file is a symbolic link"):
        check_landed(path, "NB", landing)
    found = province_files(landing, D, "ZJ", "initial", provinces())
    assert [p.file for p in found.problems] == [path.name]
    assert path not in [f.path for f in found.files]


def test_a_flag_that_is_a_link_is_refused(sample: Path, tmp_path: Path) -> None:
    landing = copy_of(sample, tmp_path)
    ok = landing / D / "ZJ" / f"FND_HOLD_ZJ_{D}.ok"
    elsewhere = tmp_path / "flag.ok"
    elsewhere.write_bytes(ok.read_bytes())
    ok.unlink()
    ok.symlink_to(elsewhere)
    [problem] = province_files(landing, D, "ZJ", "initial", provinces()).problems
    assert problem.file == ok.name and "the flag is a symbolic link" in problem.reason


def test_a_branch_folder_linked_out_of_the_landing_folder_is_refused(
    sample: Path, tmp_path: Path
) -> None:
    landing = copy_of(sample, tmp_path)
    outside = tmp_path / "outside"
    (landing / D / "NB").rename(outside)
    (landing / D / "NB").symlink_to(outside)
    found = province_files(landing, D, "ZJ", "initial", provinces())
    assert len(found.problems) == 8  # every file of the branch
    assert all(
        f"outside the landing folder {landing.resolve()}" in p.reason for p in found.problems
    )
    assert f"{landing / D / 'NB'}: a symbolic link: nothing is read through it" in found.warnings


def test_a_data_file_that_is_not_a_regular_file_is_refused(sample: Path, tmp_path: Path) -> None:
    landing = copy_of(sample, tmp_path)
    path = landing / D / "ZJ" / f"LON_CUST_ZJ_{D}.dat"
    path.unlink()
    os.mkfifo(path)  # reading it would wait forever
    with pytest.raises(FileRejected, match="not a regular file"):
        check_landed(path, "ZJ", landing)
