"""Where the staging area's files live: a local folder, or an object store by URL.

The steps read and write their files with pathlib, Arrow memory maps and worker processes,
all of which need a local file. So a staging area on an object store (`s3://bucket/prefix`)
is worked on in a local **scratch** folder that mirrors the store's layout (the same relative
paths), and the store is the truth:

- a job's outputs are uploaded before its ledger entry says `done` (`common.jobs`), and a
  job reused from an earlier run (maybe another machine's) has its outputs downloaded again
  first, so a scratch folder is a cache that may be lost at any moment;
- files read outside a ledger (a state snapshot, by the next day's run) are `fetch`ed.

With a local folder the store is that folder itself: keys are its paths, and upload and
download do nothing, so nothing changes for a one-machine run.

Credentials never come from YAML: an S3 store reads `AWS_ENDPOINT_URL` (or
`AWS_ENDPOINT_URL_S3`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` and
`AWS_REGION` (or `AWS_DEFAULT_REGION`) from the environment; the DAGs export an Airflow
connection's into it (dags/crm_staging_store.py). The scratch folder is
`CRM_STAGING_SCRATCH` (default: the system's temporary folder), then the bucket and prefix.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from common.errors import ConfigError, PipelineError, one_line

SCRATCH_ENV = "CRM_STAGING_SCRATCH"
SCHEMES = ("s3",)
# One read or write of a transfer: large enough for S3's multipart parts to stay few.
CHUNK = 8 * 2**20


def is_url(value: str | Path) -> bool:
    """Whether a staging setting names an object store (`s3://...`) rather than a folder."""
    return isinstance(value, str) and "://" in value


@dataclass(frozen=True)
class StagingStore:
    """A staging area's storage: `filesystem` under `remote_root`, mirrored at `local_root`.

    `remote_root` is None for a local folder: then the local paths are the keys."""

    url: str
    local_root: Path
    filesystem: pafs.FileSystem
    remote_root: str | None = None
    # Local files this process uploaded or downloaded, with their (size, mtime) then: one
    # unchanged since is the store's copy already (a step's outputs are its jobs' outputs,
    # uploaded as each job completed: not sent twice).
    _synced: dict[Path, tuple[int, int]] = field(default_factory=dict, compare=False, repr=False)
    # The store's (size, mtime) of each file this process downloaded, when it did.
    _seen: dict[Path, tuple[int, int]] = field(default_factory=dict, compare=False, repr=False)
    # Local files this process wrote and its step will upload (`wrote`): until then they
    # are newer than the store's copy (if any), so reading them back must not download.
    _written: dict[Path, tuple[int, int]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def remote(self) -> bool:
        return self.remote_root is not None

    def key(self, path: Path) -> str:
        """The filesystem path of `path`, a path under the local root."""
        if self.remote_root is None:
            return str(path)
        relative = Path(path).relative_to(self.local_root).as_posix()
        return self.remote_root if relative == "." else f"{self.remote_root}/{relative}"

    def local(self, key: str) -> Path:
        """The local path of a filesystem path `key` (the inverse of `key`)."""
        if self.remote_root is None:
            return Path(key)
        return self.local_root / key.removeprefix(self.remote_root).lstrip("/")

    def check(self) -> None:
        """Fail now, in one line, when the store cannot be reached or refuses these
        credentials, rather than in the middle of a step."""
        if self.remote_root is None:
            return
        bucket = self.remote_root.split("/", 1)[0]
        try:
            found = self.filesystem.get_file_info(bucket)
        except OSError as exc:
            raise PipelineError(f"staging {self.url}: the store refused: {one_line(exc)}") from exc
        if found.type != pafs.FileType.Directory:
            raise PipelineError(f"staging {self.url}: the store has no bucket {bucket!r}")

    def info(self, path: Path) -> pafs.FileInfo:
        return self.filesystem.get_file_info(self.key(path))

    def is_file(self, path: Path) -> bool:
        return self.info(path).type == pafs.FileType.File

    def is_dir(self, path: Path) -> bool:
        return self.info(path).type == pafs.FileType.Directory

    def children(self, folder: Path) -> list[pafs.FileInfo]:
        """What `folder` holds (one level), none if it does not exist."""
        selector = pafs.FileSelector(self.key(folder), allow_not_found=True)
        return list(self.filesystem.get_file_info(selector))

    def upload(self, path: Path) -> None:
        """Copy the local file `path` to the store (nothing to do for a local folder)."""
        if self.remote_root is None or self._synced.get(path) == _stamp(path):
            return
        key = self.key(path)
        with open(path, "rb") as source, self.filesystem.open_output_stream(key) as sink:
            while block := source.read(CHUNK):
                sink.write(block)
        self._synced[path] = _stamp(path)
        self._written.pop(path, None)

    def wrote(self, path: Path) -> None:
        """Note that this process has just written the local file `path`, which a step will
        upload as one of its outputs: a `download` of it before then keeps this copy (the
        store's, if any, is an older one). Nothing to do for a local folder."""
        if self.remote_root is not None:
            self._written[path] = _stamp(path)

    def download(self, path: Path) -> bool:
        """Copy the store's file of `path` over the local one (written aside, then renamed:
        a reader of the old copy keeps it); False when the store has no such file. Not
        copied when the local file is one this process wrote and has not uploaded yet
        (`wrote`), or the store's copy it downloaded and the store's is unchanged since (a
        state snapshot read twice in a run is downloaded once)."""
        if self.remote_root is None:
            return path.is_file()
        if path.is_file() and self._written.get(path) == _stamp(path):
            return True  # written here, not uploaded yet: the newest copy
        key = self.key(path)
        found = self.filesystem.get_file_info(key)
        if found.type != pafs.FileType.File:
            return False
        if (
            path.is_file()
            and self._synced.get(path) == _stamp(path)
            and self._seen.get(path) == _stored(found)
        ):
            return True  # this copy is the store's, which has not changed since
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f"{path.name}.{os.getpid()}.part")
        with self.filesystem.open_input_stream(key) as source, open(aside, "wb") as sink:
            while block := source.read(CHUNK):
                sink.write(block)
        aside.replace(path)
        self._synced[path] = _stamp(path)
        self._seen[path] = _stored(found)
        return True


def _stored(found: pafs.FileInfo) -> tuple[int, int]:
    return int(found.size or 0), int(found.mtime_ns or 0)


def _stamp(path: Path) -> tuple[int, int]:
    found = path.stat()
    return found.st_size, found.st_mtime_ns


def open_store(value: str | Path) -> StagingStore:
    """The store a staging setting names: a folder, or `s3://bucket/prefix`."""
    if not is_url(value):
        root = Path(value)
        return StagingStore(str(root), root, _local())
    return _remote(str(value).rstrip("/"), _credentials(), os.environ.get(SCRATCH_ENV, ""))


@lru_cache(maxsize=1)
def _local() -> pafs.FileSystem:
    return pafs.LocalFileSystem()


def _credentials() -> tuple[str, ...]:
    """The S3 settings of the environment (a cache key: new credentials, a new client)."""
    names = (
        "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
    )  # fmt: skip
    return tuple(os.environ.get(name, "") for name in names)


@lru_cache(maxsize=8)
def _remote(url: str, credentials: tuple[str, ...], scratch: str) -> StagingStore:
    parsed = urlparse(url)
    if parsed.scheme not in SCHEMES or not parsed.netloc:
        raise ConfigError(
            [f"staging {url!r}: expected a folder or s3://bucket/prefix ({', '.join(SCHEMES)})"]
        )
    endpoint_s3, endpoint, key_id, secret, token, region, default_region = credentials
    options: dict[str, object] = {"region": region or default_region or "us-east-1"}
    if endpoint_s3 or endpoint:
        where = urlparse(endpoint_s3 or endpoint)
        options["endpoint_override"] = where.netloc or where.path
        options["scheme"] = where.scheme or "https"
    if key_id:
        options |= {"access_key": key_id, "secret_key": secret, "session_token": token or None}
    filesystem = pafs.S3FileSystem(**options)
    remote_root = f"{parsed.netloc}{parsed.path}".rstrip("/")
    base = Path(scratch) if scratch else Path(tempfile.gettempdir()) / "crm-staging-scratch"
    return StagingStore(url, base.absolute() / parsed.scheme / remote_root, filesystem, remote_root)
