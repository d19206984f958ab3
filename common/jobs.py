"""The one restart mechanism: a ledger of jobs and their states, in the staging area.

A job is anything a rerun may skip: a run's step, a file of the ingest step, a bucket of the
merge step. Its entry (`{ledger}/{name}.json`) moves through explicit states, as dlt's load
packages do:

    new (no entry) -> started -> done
                              -> failed (the reason kept)

A job is reusable only when it is `done` and every output it listed still has the size it
had then; a `started` entry is what a crash leaves, and a `started` or `failed` job is
redone. Entries are replaced atomically (written aside, then moved), through the staging
area's store (common.store): on an object store a job's outputs are uploaded before it is
recorded done, and a job reused from an earlier run has its outputs downloaded into the
local scratch folder first, so a run resumes on any machine that reaches the store. Local
paths in an entry's info are kept relative to the scratch folder there (`{staging}/...`),
so they hold on a machine whose scratch folder is elsewhere.

`force` makes a ledger ignore what earlier runs recorded (a forced rerun redoes everything)
while still reusing what this run itself completed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from common.store import StagingStore, open_store

log = logging.getLogger(__name__)

# What an entry's info holds in place of the scratch folder's path (object stores only).
ROOT_MARK = "{staging}"


class JobState(StrEnum):
    NEW = "new"
    STARTED = "started"
    DONE = "done"
    FAILED = "failed"


class JobLedger:
    """The jobs of one folder of the staging area (a run's steps, or one step's jobs)."""

    def __init__(
        self, directory: Path, force: bool = False, store: StagingStore | None = None
    ) -> None:
        self.directory = directory
        self.force = force
        self.store = store or open_store(directory)
        self.filesystem = self.store.filesystem
        self._completed_here: set[str] = set()
        self._fetched_here: set[str] = set()

    def of(self, name: str) -> JobLedger:
        """The ledger of the jobs inside job `name` (a step's files or buckets)."""
        return JobLedger(self.directory / name, self.force, self.store)

    def entry(self, name: str) -> dict[str, Any] | None:
        """The recorded entry of job `name`, whatever its state; None if it has none."""
        path = self._key(name)
        if self.filesystem.get_file_info(path).type != pafs.FileType.File:
            return None
        with self.filesystem.open_input_stream(path) as stream:
            text = stream.read().decode()
        if self.store.remote:
            text = text.replace(ROOT_MARK, _json_text(str(self.store.local_root)))
        entry: dict[str, Any] = json.loads(text)
        return entry

    def state(self, name: str) -> JobState:
        entry = self.entry(name)
        return JobState(entry["state"]) if entry else JobState.NEW

    def done(self, name: str) -> dict[str, Any] | None:
        """Job `name`'s entry if it is done and its outputs are intact, else None (redo it)."""
        if self.force and name not in self._completed_here:
            return None
        entry = self.entry(name)
        if entry is None or entry.get("state") != JobState.DONE:
            return None
        for output, size in entry.get("outputs", {}).items():
            info = self.filesystem.get_file_info(output)
            if info.type != pafs.FileType.File or info.size != size:
                log.info("%s: output %s changed or missing, redoing it", name, output)
                return None
        if self.store.remote and name not in self._completed_here | self._fetched_here:
            for output in entry.get("outputs", {}):
                self.store.download(self.store.local(output))
            self._fetched_here.add(name)
        return entry

    def start(self, name: str) -> None:
        self._write(name, {"state": JobState.STARTED, "started": _now()})

    def fail(self, name: str, reason: str) -> None:
        self._write(name, {"state": JobState.FAILED, "ended": _now(), "error": reason})

    def complete(self, name: str, outputs: Sequence[Path], **info: Any) -> dict[str, Any]:
        """Record job `name` done with its outputs' sizes and `info`, the outputs uploaded
        first when the store is remote; the entry."""
        for path in outputs:
            self.store.upload(path)
        keys = [self.store.key(p) for p in outputs]
        sizes = {key: self.filesystem.get_file_info(key).size for key in keys}
        entry = {"state": JobState.DONE, "ended": _now(), "outputs": sizes, **info}
        self._write(name, entry)
        self._completed_here.add(name)
        return json.loads(json.dumps(entry, default=str))

    def forget(self, name: str) -> None:
        """Drop job `name`'s entry and the ledger of its own jobs: it is redone from scratch."""
        entry = str(self.directory / f"{name}.json")
        if self.filesystem.get_file_info(entry).type == pafs.FileType.File:
            self.filesystem.delete_file(entry)
        inner = str(self.directory / name)
        if self.filesystem.get_file_info(inner).type == pafs.FileType.Directory:
            self.filesystem.delete_dir(inner)
        self._completed_here.discard(name)

    def failed(self) -> list[tuple[str, str]]:
        """(job, reason) of every job of this ledger in state failed, by name."""
        return [(n, e.get("error", "")) for n, e in self._entries() if e["state"] == "failed"]

    def states(self) -> dict[str, JobState]:
        return {name: JobState(entry["state"]) for name, entry in self._entries()}

    def _key(self, name: str) -> str:
        return self.store.key(self.directory / f"{name}.json")

    def _entries(self) -> list[tuple[str, dict[str, Any]]]:
        selector = pafs.FileSelector(self.store.key(self.directory), allow_not_found=True)
        names = sorted(
            Path(i.path).stem
            for i in self.filesystem.get_file_info(selector)
            if i.type == pafs.FileType.File and i.path.endswith(".json")
        )
        entries = [(n, self.entry(n)) for n in names]
        return [(n, e) for n, e in entries if e is not None]

    def _write(self, name: str, entry: dict[str, Any]) -> None:
        self.filesystem.create_dir(self.store.key(self.directory), recursive=True)
        final = self._key(name)
        text = json.dumps(entry, default=str)
        if self.store.remote:
            text = text.replace(_json_text(str(self.store.local_root)), ROOT_MARK)
        if self.store.remote:  # an object's PUT is atomic: readers see the old or the new
            with self.filesystem.open_output_stream(final) as stream:
                stream.write(text.encode())
            return
        aside = f"{final}.{os.getpid()}.tmp"
        with self.filesystem.open_output_stream(aside) as stream:
            stream.write(text.encode())
        self.filesystem.move(aside, final)


def _json_text(value: str) -> str:
    """`value` as it appears inside a JSON string (escapes, no quotes)."""
    return json.dumps(value)[1:-1]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
