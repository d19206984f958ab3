"""What a province's run is, so that staged work is reused only by a rerun of the same run.

A run's identity is its business date, province and mode, the fingerprint of its inputs
(each data file's flag and size, the FX file's flag, the formulas in force and the
configuration that types and merges the records) and the warehouse it writes to. The
staging area keeps the identity of the run that filled a folder; a run whose identity
differs (a file re-sent, a formula edited, another warehouse) does not trust that folder:
its restart ledger is emptied and every step is redone, and the log says why.

A published batch keeps the identity of the run that computed it (`crm_load_batch.inputs`):
a rerun of a published date whose inputs differ refuses, naming what differs, unless forced
(`refuse_other_inputs`), instead of saying "already published" over another night's data.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import pyarrow.fs as pafs

from common.errors import PipelineError
from common.paths import config_dir
from common.staging import RunStaging
from crm_pipeline.context import RunContext
from extract.landing import LandedFile, fx_file

log = logging.getLogger(__name__)

# The configuration files whose content decides how records are typed, merged and kept.
CONFIG_FILES = ("layouts.yaml", "provinces.yaml")


def run_identity(
    business_date: str,
    province: str,
    mode: str,
    files: list[LandedFile],
    fx: LandedFile | None,
    formula_ids: dict[str, str],
    export_filter: object,
    warehouse: str,
    basis: str = "",
) -> dict[str, Any]:
    """The identity of a run, as a JSON-ready dict (compared key by key). `basis`: what a
    daily run starts from (the previous business date and its batch)."""
    config = hashlib.sha256()
    for name in CONFIG_FILES:
        config.update((config_dir() / name).read_bytes())
    return {
        "business_date": business_date,
        "province": province,
        "mode": mode,
        "warehouse": warehouse,
        "files": {f.name: f.flag.text() for f in files},
        "fx": fx.flag.text() if fx is not None else None,
        "formulas": dict(sorted(formula_ids.items())),
        "export_filter": str(export_filter),
        "config": config.hexdigest(),
        "basis": basis,
    }


def identity_text(identity: dict[str, Any]) -> str:
    """An identity as the canonical JSON text the batch carries to the warehouse."""
    return json.dumps(identity, sort_keys=True, default=str)


def differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What changed between two identities, in words an operator can act on."""
    said: list[str] = []
    if before.get("warehouse") != now["warehouse"]:
        said.append("another warehouse")
    old_files, new_files = before.get("files", {}), now["files"]
    for name in sorted(set(old_files) | set(new_files)):
        if name not in new_files:
            said.append(f"{name} no longer landed")
        elif name not in old_files:
            said.append(f"{name} newly landed")
        elif old_files[name] != new_files[name]:
            said.append(f"{name} re-sent (flag {old_files[name]} -> {new_files[name]})")
    if before.get("fx") != now["fx"]:
        said.append("the FX rates file re-sent")
    if (
        before.get("formulas") != now["formulas"]
        or before.get("export_filter") != now["export_filter"]
    ):
        said.append("the formulas in force changed")
    if before.get("config") != now["config"]:
        said.append("the configuration (layouts, provinces) changed")
    if before.get("basis") != now["basis"]:
        said.append(f"the state it starts from changed ({before.get('basis')} -> {now['basis']})")
    for key in ("business_date", "province", "mode"):
        if before.get(key) != now[key]:
            said.append(f"{key} {before.get(key)} -> {now[key]}")
    return said


def adopt(staging: RunStaging, identity: dict[str, Any]) -> list[str]:
    """Make `staging` the folder of the run `identity`: when it holds another run's work,
    empty its restart ledger (every step is redone) and say what differs; the differences
    (empty when the folder is this run's, or new)."""
    fs, key = staging.filesystem, staging.store.key
    path = key(staging.identity)
    info = fs.get_file_info(path)
    said: list[str] = []
    if info.type == pafs.FileType.File:
        with fs.open_input_stream(path) as stream:
            before = json.loads(stream.read())
        said = differences(before, identity)
        if not said:
            return []
        log.warning(
            "%s %s: the staged work is another run's (%s): redoing every step",
            identity["province"], identity["business_date"], "; ".join(said),
        )  # fmt: skip
    if fs.get_file_info(key(staging.jobs)).type == pafs.FileType.Directory:
        fs.delete_dir(key(staging.jobs))
    fs.create_dir(key(staging.work), recursive=True)
    staging.work.mkdir(parents=True, exist_ok=True)  # the local folder the steps write in
    with fs.open_output_stream(path + ".tmp") as stream:
        stream.write(json.dumps(identity, sort_keys=True).encode())
    fs.move(path + ".tmp", path)
    return said


def adopt_run(
    ctx: RunContext,
    province: str,
    files: list[LandedFile],
    formula_ids: dict[str, str],
    export_filter: object,
    warehouse: str,
    basis: str = "",
) -> str:
    """`adopt` the province's run folder for this run of `ctx` (see `adopt`); the text of
    the run's identity, which the batch carries to the load and the warehouse keeps."""
    identity = context_identity(ctx, province, files, formula_ids, export_filter, warehouse, basis)
    adopt(ctx.run_staging(province), identity)
    return identity_text(identity)


def context_identity(
    ctx: RunContext,
    province: str,
    files: list[LandedFile],
    formula_ids: dict[str, str],
    export_filter: object,
    warehouse: str,
    basis: str = "",
) -> dict[str, Any]:
    """`run_identity` of the province's run of `ctx`."""
    return run_identity(
        ctx.business_date, province, ctx.mode, files, fx_file(ctx.landing, ctx.business_date),
        formula_ids, export_filter, warehouse, basis,
    )  # fmt: skip


def refuse_other_inputs(published: str | None, now: dict[str, Any]) -> None:
    """PipelineError when the published batch of a date was computed from other inputs than
    those in force now. A batch published before its identity was recorded (None, or not
    JSON) cannot be compared and is taken as it is."""
    if not published:
        return
    try:
        before = json.loads(published)
    except json.JSONDecodeError:
        return
    said = differences(before, now) if isinstance(before, dict) else []
    if said:
        raise PipelineError(
            f"{now['province']} {now['business_date']} is published from other inputs than "
            f"those in force now ({'; '.join(said)}); rerun with --force to replace it"
        )
