"""The one module that uses Great Expectations (1.x): the night's expectation suites built
from config/quality.yaml, validated on the small metric tables of
crm_pipeline.quality.frames through a `ValidationDefinition` and a `Checkpoint` per table
in an ephemeral context the gate owns, with the Data Docs written as a static site.

Each expectation carries its check name and severity in `meta`; a failed one becomes one
`Failure` per subject (file, currency, type, province) it failed on.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no usage reports from a bank

import great_expectations as gx  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.checkpoint import UpdateDataDocsAction  # noqa: E402
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.expectations import Expectation  # noqa: E402

from crm_pipeline.quality.config import Band, BandCheck, Checks, FlagCheck  # noqa: E402
from load.quality import Failure  # noqa: E402

log = logging.getLogger(__name__)
# Its INFO lines (decorator registration) and the "lossy conversion" warnings of results
# it serializes for the Data Docs (the values were compared exact) are not an operator's.
logging.getLogger("great_expectations").setLevel(logging.ERROR)
logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.ERROR)  # INFO

SITE = "night"
TABLES = ("files", "fx", "scores", "province", "layout")
_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": ["subject", "example"],
    "return_unexpected_index_query": False,
}


def _bound(value: Decimal | None, upward: bool) -> float | None:
    """A band's bound as the float Great Expectations compares with, rounded outward so
    that a value exactly on the bound is inside (a float nearest to 0.7 is below 0.7)."""
    if value is None:
        return None
    near = float(value)
    if upward and Decimal(near) < value:
        return math.nextafter(near, math.inf)
    if not upward and Decimal(near) > value:
        return math.nextafter(near, -math.inf)
    return near


def _meta(
    check: str, severity: str, column: str | None, expected: str, observed: str = ""
) -> dict[str, Any]:
    """What a failure reports: `column`'s value in the failing row, else `observed`."""
    return {
        "check": check,
        "severity": severity,
        "column": column,
        "expected": expected,
        "observed": observed,
    }


def _text(band: Band) -> str:
    low = f">= {band.min}" if band.min is not None else ""
    high = f"<= {band.max}" if band.max is not None else ""
    return " and ".join(t for t in (low, high) if t)


def _between(check: str, column: str, config: BandCheck) -> list[Expectation]:
    return [
        gx.expectations.ExpectColumnValuesToBeBetween(
            column=column,
            min_value=_bound(band.min, upward=False),
            max_value=_bound(band.max, upward=True),
            meta=_meta(check, severity, column, _text(band)),
            description=f"{check} ({severity}): {column} {_text(band)}",
        )
        for severity, band in config.bands()
    ]


def _flag(check: FlagCheck, name: str, expectations: Iterable[Expectation]) -> list[Expectation]:
    if check.severity == "off":
        return []
    out = []
    for e in expectations:
        e.meta = {**(e.meta or {}), "check": name, "severity": check.severity}
        e.description = f"{name} ({check.severity}): {e.meta['expected']}"
        out.append(e)
    return out


def suites(checks: Checks, business_date: str) -> dict[str, list[Expectation]]:
    """The expectations of each metric table, from the province's checks."""
    ex = gx.expectations
    fx = [
        *_flag(checks.fx_present, "fx_present", [ex.ExpectColumnValuesToBeInSet(
            column="quoted", value_set=[True],
            meta=_meta("", "", None, "a rate for every currency used", "no rate"))]),
        *_flag(checks.fx_positive, "fx_positive", [ex.ExpectColumnValuesToBeBetween(
            column="cny_per_100", min_value=0, strict_min=True,
            meta=_meta("", "", "cny_per_100", "> 0"))]),
        *_flag(checks.fx_dated, "fx_dated", [ex.ExpectColumnValuesToBeInSet(
            column="rate_date", value_set=[business_date],
            meta=_meta("", "", "rate_date", f"dated {business_date}"))]),
        *_flag(checks.fx_unique, "fx_unique", [ex.ExpectColumnValuesToBeUnique(
            column="currency", meta=_meta("", "", None, "one rate per currency", "several rates"))]),
        *_flag(checks.fx_band, "fx_band", [
            ex.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="cny_per_100", column_B="band_min", or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta={**_meta("", "", "cny_per_100", ">= fx_bands min"), "bound": "band_min"}),
            ex.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="band_max", column_B="cny_per_100", or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta={**_meta("", "", "cny_per_100", "<= fx_bands max"), "bound": "band_max"}),
        ]),
        *_between("fx_change", "rate_change", checks.fx_change),
    ]  # fmt: skip
    return {
        "files": [
            *_between("set_aside_share", "set_aside_share", checks.set_aside_share),
            *_between("records_change", "records_change", checks.records_change),
        ],
        "fx": fx,
        "scores": [
            *_between("qualified_change", "qualified_change", checks.qualified_change),
            *_between("score_change", "score_change", checks.score_change),
        ],
        "province": _between("foreign_share", "foreign_share", checks.foreign_share),
        "layout": _layout(checks),
    }


_LAYOUT_EXPECTED = {
    "layout_types": "every field staged with its declared type",
    "layout_codes": "no value outside the field's code set",
    "layout_required": "no null in a key or required field",
    "layout_unique": "no key twice in the file",
}


def _layout(checks: Checks) -> list[Expectation]:
    """Each layout check: its count 0 in every row of the layout table."""
    return [
        e
        for name, expected in _LAYOUT_EXPECTED.items()
        for e in _flag(getattr(checks, name), name, [gx.expectations.ExpectColumnValuesToBeBetween(
            column=name, max_value=0, meta=_meta("", "", name, expected))])
    ]  # fmt: skip


@dataclass(frozen=True)
class Validated:
    failures: list[Failure]
    docs: Path  # the Data Docs site's index.html


def _context(docs_dir: Path) -> Any:
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(
        site_name=SITE,
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    return context


def one_table(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The metric tables stacked into one (their columns side by side, a row filled only
    in its own table's columns), so that one validation covers the night: a Checkpoint
    costs its fixed overhead once, and the Data Docs show one page."""
    columns = ["table", *dict.fromkeys(c for f in frames.values() for c in f.columns)]
    stacked = [f.assign(table=name) for name, f in frames.items() if len(f)]
    table = pd.concat(stacked, ignore_index=True) if stacked else pd.DataFrame()
    table = table.reindex(columns=columns).astype(object)
    return table.where(table.notna(), None)


def validate(
    frames: dict[str, pd.DataFrame],
    expectations: dict[str, list[Expectation]],
    docs_dir: Path,
    run_name: str,
) -> Validated:
    """Validate the night's metrics with its suite through a Checkpoint that updates the
    Data Docs site in `docs_dir` (emptied first: the site shows this evaluation only)."""
    if docs_dir.exists():
        shutil.rmtree(docs_dir)
    docs_dir.mkdir(parents=True)
    context = _context(docs_dir)
    batch = (
        context.data_sources.add_pandas("night_metrics")
        .add_dataframe_asset("metrics")
        .add_batch_definition_whole_dataframe("night")
    )
    # The suite stored once with its expectations: added one by one, each one rewrote the
    # stored suite (about 50 ms a night for the 22 checks).
    ordered = [e for name in TABLES for e in expectations.get(name, [])]
    suite = context.suites.add(gx.ExpectationSuite(name="quality_gate", expectations=ordered))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="night", data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="quality_gate",
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="data_docs", site_names=[SITE])],
            result_format=_FORMAT,
        )
    )
    run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
    result = checkpoint.run(batch_parameters={"dataframe": one_table(frames)}, run_id=run_id)
    failures = [
        f for run in result.run_results.values() for r in run.results if not r.success
        for f in _failed(r)
    ]  # fmt: skip
    return Validated(failures, docs_dir / "index.html")


def _show(value: object) -> str:
    """A value as an operator reads it: a long quotient (a share, a change) to 6
    significant digits, anything else as it is."""
    if isinstance(value, Decimal) and value.is_finite():
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -6:
            return format(value, ".6g")
    return str(value)


def _failed(result: Any) -> list[Failure]:
    """One Failure per subject an expectation failed on (a unique-check's duplicates are
    one subject)."""
    meta = result.expectation_config.meta or {}
    column = meta.get("column")
    rows = result.result.get("unexpected_index_list") or []
    seen: dict[str, tuple[str, str]] = {}
    for row in rows:
        subject = str(row.get("subject"))
        observed = _show(row.get(column)) if column else str(meta["observed"])
        if row.get("example"):  # a layout check's breaking value
            observed = f"{observed} (e.g. {row['example']})"
        expected = str(meta["expected"])
        if meta.get("bound"):  # a band of the row's own (its currency's)
            expected = f"{expected} {_show(row.get(meta['bound']))}"
        seen.setdefault(subject, (observed, expected))
    if not rows:  # a failure without rows (an exception in the expectation itself)
        info = result.exception_info or {}
        problem = str(info.get("exception_message") or "the expectation could not run")
        seen["-"] = (problem, str(meta["expected"]))
    return [
        Failure(meta["check"], meta["severity"], subject, observed, expected)
        for subject, (observed, expected) in seen.items()
    ]
