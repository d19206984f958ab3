"""`crm-pipeline quality --date D --province P`: the quality gate's result of a night (its
verdict, the expectations that failed, the Data Docs site), and
`crm-pipeline quality accept --date D --province P --reason "..."`: an operator's
acceptance of a held night, recorded with who and when; the next run of that night
publishes it (docs/quality.md).
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Sequence

from common.dates import business_day
from common.errors import PipelineError
from crm_pipeline.cli.options import migrated_warehouse
from load import quality
from load.quality import QualityResult


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "quality", help="the quality gate's result of a night, or accept a held night",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "action", nargs="?", choices=["show", "accept"], default="show",
        help="show (default): the night's result; accept: publish a held night on the next run",
    )  # fmt: skip
    parser.add_argument("--date", required=True, help="business date, YYYYMMDD")
    parser.add_argument("--province", required=True, help="province code (config/provinces.yaml)")
    parser.add_argument("--reason", help="accept: why the night may be published as it is")
    parser.add_argument(
        "--warehouse",
        metavar="URL",
        help="SQLAlchemy URL (default: CRM_WAREHOUSE_URL, else config/pipeline.yaml)",
    )
    parser.set_defaults(handler=run)


def render(results: Sequence[QualityResult]) -> str:
    """The latest evaluation of each mode: verdict, failures, what was not compared and
    why (the notes), acceptance, Data Docs."""
    if not results:
        return "no quality gate result for this night (has it been run since the gate exists?)"
    out: list[str] = []
    for r in results:
        critical = sum(f.severity == "critical" for f in r.failures)
        out.append(
            f"{r.province} {r.business_date.isoformat()} {r.mode}: {r.verdict}"
            f" ({critical} critical, {len(r.failures) - critical} warnings;"
            f" checked {r.checked_at:%Y-%m-%d %H:%M:%S}, run {r.run_id})"
        )
        for f in r.failures:
            out.append(
                f"  {f.severity:<8} {f.check} {f.subject}: {f.observed} (expected {f.expected})"
            )
        out.extend(f"  note     {note}" for note in r.metrics.get("notes", []))
        if r.acceptance is not None:
            a = r.acceptance
            out.append(
                f"  accepted by {a.accepted_by} at {a.accepted_at:%Y-%m-%d %H:%M:%S}: {a.reason}"
            )
        out.append(f"  Data Docs: {r.docs or '-'}")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    day = business_day(args.date, "--date")
    with migrated_warehouse(args.warehouse) as warehouse:
        if args.action == "accept":
            if not (args.reason or "").strip():
                raise PipelineError("quality accept: --reason is required (why publish as is)")
            who = getpass.getuser()
            held = quality.accept(warehouse.engine, day, args.province, who, args.reason.strip())
            if held is None:
                raise PipelineError(
                    f"{args.province} {args.date}: no held quality result to accept"
                    " (see `crm-pipeline quality --date D --province P`)"
                )
            print(
                f"{args.province} {args.date}: accepted by {who} (result {held.result_id});"
                " the next run of this night publishes it"
            )
            return 0
        print(render(quality.results(warehouse.engine, day, args.province, latest=True)))
    return 0
