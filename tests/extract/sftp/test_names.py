"""Names that would escape the landing zone: refused on the server and locally."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract.sftp import UnsafeRemoteName
from extract.sftp.names import check_file_name, inside, remote_dir
from tests.extract.sftp.helpers import (
    D,
    Remote,
    fetcher,
    now,
)

pytestmark = [
    pytest.mark.sshd,
    pytest.mark.xdist_group("sshd"),
    pytest.mark.usefixtures("no_leftover_sessions"),
]


# -- names that would escape the landing zone ---------------------------------------------


def test_links_and_traversal_names_are_refused(remote: Remote, tmp_path: Path) -> None:
    outside = remote.root / "secret.txt"
    outside.write_text("not for the landing zone\n")
    folder = remote.root / D / "ZJ"
    folder.mkdir(parents=True)
    link = folder / f"RTL_CUST_ZJ_{D}.dat"
    link.symlink_to(outside)
    (folder / f"RTL_CUST_ZJ_{D}.ok").write_text(f"RTL_CUST_ZJ_{D}.dat|25|1|0.00\n")
    # a flag whose data-file name climbs out of the folder
    remote.put("ZJ", f"CRD_CUST_ZJ_{D}", b"x|y\n", flag="../../../evil.dat|4|1|0.00\n")
    remote.put(None, f"FXR_RATE_{D}", b"USD|712.35|20261124\n")

    report = fetcher(remote).fetch_date(D, ["ZJ"], tmp_path, now())

    assert "symbolic link" in report.rejected[str(link)]
    assert "'..'" in report.rejected[f"{folder}/CRD_CUST_ZJ_{D}.dat"]
    assert not (tmp_path / D / "ZJ" / link.name).exists()
    assert not list(tmp_path.rglob("evil.dat"))
    assert [f.name for f in report.files] == [f"FXR_RATE_{D}.dat"]


def test_linked_branch_folder_and_bad_codes_are_refused(remote: Remote, tmp_path: Path) -> None:
    (remote.root / D).mkdir()
    (remote.root / "elsewhere").mkdir()
    (remote.root / D / "ZJ").symlink_to(remote.root / "elsewhere")
    with pytest.raises(UnsafeRemoteName, match="link"):
        fetcher(remote).fetch_date(D, ["ZJ"], tmp_path, now())
    with pytest.raises(UnsafeRemoteName):
        fetcher(remote).fetch_date(D, ["../ZJ"], tmp_path, now())
    with pytest.raises(UnsafeRemoteName):
        fetcher(remote).fetch_date("../2026", ["ZJ"], tmp_path, now())


@pytest.mark.parametrize(
    "name", ["..", "../x.dat", "/etc/passwd", "a/b.dat", "x..dat", "..hidden.dat", "x\\y.dat"]
)
def test_unsafe_file_names(name: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafeRemoteName):
        check_file_name(name)
    with pytest.raises(UnsafeRemoteName):
        inside(tmp_path, name)


def test_remote_root_must_be_absolute() -> None:
    with pytest.raises(UnsafeRemoteName):
        remote_dir("outbound", D, "ZJ")
    with pytest.raises(UnsafeRemoteName):
        remote_dir("/outbound/../etc", D, "ZJ")
    assert remote_dir("/outbound", D, "ZJ") == f"/outbound/{D}/ZJ"
