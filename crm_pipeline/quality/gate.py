"""The `quality_gate` step: a night's metrics validated before its batch is published.

The step body (`gate_step`) computes the metrics, validates them (crm_pipeline.quality
.validation), writes the Data Docs, records the verdict in the warehouse and returns it as
the step's manifest; a rerun whose staged work is intact reuses that verdict. `enforce`
then decides: a critical failure holds the batch (QualityHeld) unless an operator accepted
this night for these very inputs (`crm-pipeline quality accept`); warnings are listed and
the batch is published.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from common import config as cfg
from common.batch import FileCounts
from common.errors import QualityHeld
from common.paths import config_dir
from crm_pipeline.context import RunContext
from crm_pipeline.quality import frames
from crm_pipeline.quality.config import quality
from crm_pipeline.quality.layout_metrics import layout_metrics
from crm_pipeline.quality.metrics import (
    NightMetrics,
    TypeScore,
    currencies_in,
    currency_value,
    customer_ids,
    file_metrics,
    rate_metrics,
    score_totals,
)
from crm_pipeline.steps import ProvinceSteps, StepResult
from load.published_scores import Totals, province_totals, touched_totals
from load.quality import (
    Failure,
    Night,
    acceptance,
    mark_accepted,
    previous_metrics,
    record_result,
)
from load.tables.quality import HELD, PASSED, WARNED
from load.warehouse import Warehouse
from transform.conform import StagedFile

log = logging.getLogger(__name__)

STEP = "quality_gate"
_VALIDATION = "crm_pipeline.quality.validation"
_preloading: list[threading.Thread] = []


def preload_validation() -> None:
    """Start importing Great Expectations (about 2.5 s of imports, most of the gate's
    cost) on a background thread at low CPU priority, while the run's first steps work
    in their worker processes (spawned, never forked: an import in flight is safe). The
    gate's own import then finds it done, or waits for it; a failed preload is retried
    there and raises as usual."""
    if _VALIDATION in sys.modules or _preloading:
        return
    thread = threading.Thread(target=_import_validation, name="gx-preload", daemon=True)
    _preloading.append(thread)
    thread.start()


def _import_validation() -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    try:
        importlib.import_module(_VALIDATION)
    except Exception:  # noqa: BLE001 - the gate imports it again and reports the error
        log.debug("preloading %s failed", _VALIDATION, exc_info=True)


@dataclass(frozen=True)
class GateInputs:
    """Where a night's metrics come from; paths are read a few columns at a time."""

    files: Sequence[FileCounts]  # the run's reconciled counts per data file
    currency_tables: Sequence[Path]  # staged tables whose `currency` column is in use
    value_tables: Sequence[Path]  # tables with `currency` and `balance_cny` (the accounts)
    scored: Sequence[Path] | None = None  # scored customers (None: not compared)
    staged: Sequence[StagedFile] = ()  # each data file's staged kept records (its layout)
    # A daily batch's customers (the ones the day touched): the province's totals after the
    # day are the published ones with these replaced (see daily_scores).
    touched: Path | None = None


def night_metrics(ctx: RunContext, gate: GateInputs) -> NightMetrics:
    """The night's metrics, read from the run's staged files (a few columns each)."""
    used = currencies_in(gate.currency_tables)
    foreign, total = currency_value(gate.value_tables)
    return NightMetrics(
        files=file_metrics(gate.files),
        rates=rate_metrics(ctx.area, ctx.landing, ctx.business_date, used),
        scores=score_totals(gate.scored) if gate.scored is not None else None,
        foreign_cny=str(foreign),
        total_cny=str(total),
    )


def daily_scores(
    warehouse: Warehouse, province: str, touched: Path
) -> tuple[dict[str, TypeScore], dict[str, TypeScore]]:
    """(as published, after the day): the province's qualified customers and their total
    score per type. A daily batch holds only the customers the day touched: the totals
    after it are the published ones, less those customers as published, plus the batch's
    (a customer no longer qualified drops out, a new one comes in)."""
    before = province_totals(warehouse.engine, province)
    replaced = touched_totals(warehouse.engine, province, customer_ids(touched))
    batch = score_totals([touched])
    after: dict[str, TypeScore] = {}
    for kind in sorted(set(before) | set(batch)):
        old, gone = before.get(kind, Totals(0, Decimal(0))), replaced.get(kind)
        new = batch.get(kind, TypeScore(0, "0"))
        qualified = old.qualified - (gone.qualified if gone else 0) + new.qualified
        score = old.score - (gone.score if gone else Decimal(0)) + Decimal(new.score)
        after[kind] = TypeScore(qualified, str(score))
    published = {k: TypeScore(t.qualified, str(t.score)) for k, t in before.items()}
    return published, after


def gate_step(
    ctx: RunContext, warehouse: Warehouse, night: Night, inputs: Callable[[], GateInputs]
) -> StepResult:
    """Evaluate the night: (outputs, counts, info) with info's `verdict`, `failures`,
    `result_id` and `docs` (the Data Docs index)."""
    from crm_pipeline.quality.validation import suites, validate  # see preload_validation

    gate = inputs()
    metrics = night_metrics(ctx, gate)
    config = quality(config_dir())
    checks = config.for_province(night.province)
    found = previous_metrics(warehouse.engine, night.business_date, night.province)
    before = (
        frames.Previous(
            found[0].isoformat(), NightMetrics.from_json(found[2]), found[1] == night.mode
        )
        if found is not None
        else None
    )
    if gate.touched is not None:
        published, metrics.scores = daily_scores(warehouse, night.province, gate.touched)
        if before is not None:
            before = replace(before, metrics=replace(before.metrics, scores=published))
    tables = {
        "files": frames.files_frame(metrics, before, checks),
        "fx": frames.fx_frame(metrics, before, config),
        "scores": frames.scores_frame(metrics, before, checks),
        "province": frames.province_frame(metrics, night.province),
        "layout": frames.layout_frame(layout_metrics(gate.staged, cfg.layouts())),
    }
    notes = frames.not_compared(metrics, before, night.province, checks)
    for note in notes:
        log.info("%s %s: quality note: %s", night.province, night.business_date, note)
    out = ctx.run_staging(night.province).work / "quality"
    validated = validate(
        tables, suites(checks, ctx.business_date), out / "docs",
        f"{night.province}-{ctx.business_date}-{night.mode}",
    )  # fmt: skip
    failures = validated.failures
    critical = [f for f in failures if f.severity == "critical"]
    verdict = HELD if critical else WARNED if failures else PASSED
    # The notes (what was not compared, and why) are kept with the metrics, so that
    # `crm-pipeline quality` shows them from the warehouse wherever the night ran.
    result_id = record_result(
        warehouse.engine, night, verdict, {**metrics.to_json(), "notes": notes},
        str(validated.docs), failures,
    )  # fmt: skip
    info = {
        "config": config_digest(),
        "verdict": verdict,
        "result_id": result_id,
        "docs": str(validated.docs),
        "failures": [asdict(f) for f in failures],
        "previous": before.day if before else None,
        "notes": notes,
        "changes": frames.changes(tables),
    }
    out.mkdir(parents=True, exist_ok=True)
    result_file = out / "result.json"
    result_file.write_text(json.dumps(info, indent=2), encoding="utf-8")
    counts = {"critical": len(critical), "warnings": len(failures) - len(critical)}
    return [result_file, validated.docs], counts, info


def describe(failure: Failure) -> str:
    """One failed expectation as the run's summary and log show it."""
    return (
        f"{failure.check} {failure.subject}: {failure.observed}"
        f" (expected {failure.expected}, {failure.severity})"
    )


def enforce(warehouse: Warehouse, manifest: dict[str, Any], night: Night) -> list[str]:
    """Publish or hold on the gate's verdict; the lines to show an operator (warnings, an
    acceptance). QualityHeld when a critical expectation failed and nobody accepted the
    night for these inputs."""
    failures = [Failure(**f) for f in manifest["failures"]]
    warnings = [describe(f) for f in failures if f.severity == "warning"]
    notes = [f"quality note: {n}" for n in manifest.get("notes", [])]
    if manifest["verdict"] != HELD:
        for line in warnings:
            log.warning("%s %s: quality warning: %s", night.province, night.business_date, line)
        return [*notes, *(f"quality warning: {w}" for w in warnings)]
    critical = [describe(f) for f in failures if f.severity == "critical"]
    accepted = acceptance(warehouse.engine, night)
    if accepted is not None:
        mark_accepted(warehouse.engine, int(manifest["result_id"]), accepted)
        log.warning(
            "%s %s: quality gate held the night, published as accepted by %s: %s",
            night.province, night.business_date, accepted.accepted_by, accepted.reason,
        )  # fmt: skip
        return [
            f"quality: accepted by {accepted.accepted_by} ({accepted.reason}) despite: "
            + "; ".join(critical),
            *(f"quality warning: {w}" for w in warnings),
            *notes,
        ]
    day = night.business_date.strftime("%Y%m%d")
    shown = "; ".join(critical[:5]) + (
        f"; and {len(critical) - 5} more" if len(critical) > 5 else ""
    )
    raise QualityHeld(
        f"held by the quality gate, not published: {shown}. Data Docs: {manifest['docs']}."
        f" Fix and re-send the file, or `crm-pipeline quality accept --date {day}"
        f" --province {night.province} --reason ...` then rerun"
    )


def quality_gate(
    steps: ProvinceSteps,
    ctx: RunContext,
    warehouse: Warehouse,
    night: Night,
    inputs: Callable[[], GateInputs],
) -> list[str]:
    """The `quality_gate` step of a province's run, then `enforce` on its verdict.

    A verdict reached under another config/quality.yaml is not reused: the step runs again
    (only it: the bands are not part of the run's identity, which would redo every step)."""
    digest = config_digest()
    done = steps.ledger.done(STEP)
    if done is not None and done.get("config") != digest:
        log.info("%s: config/quality.yaml changed since the gate ran: evaluating again", STEP)
        steps.ledger.start(STEP)
    manifest = steps.run(STEP, lambda _: gate_step(ctx, warehouse, night, inputs))
    return enforce(warehouse, manifest, night)


def config_digest() -> str:
    """What tells one config/quality.yaml from another (its bytes)."""
    return hashlib.sha256((config_dir() / "quality.yaml").read_bytes()).hexdigest()[:16]
