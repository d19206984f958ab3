"""Where a daily night's time goes, without a profiler: bench/daily_vs_initial.py with
wall-clock timers around the night's parts.

    .venv/bin/python bench/daily_parts.py [daily_vs_initial.py's arguments]

cProfile doubles the cost of the many small Arrow calls of a night and shifts the
picture; these timers add a few microseconds a call. Each timed function is replaced in
the module that calls it (its name there), so a part counts every call made from that
module, the initial load's included: read the daily's parts with `--keep`, whose runs
after the first skip the initial load. Printed after the benchmark's own figures:
seconds, calls, part.
"""

from __future__ import annotations

import importlib
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench.support.timing import wrap  # noqa: E402

# (module that calls them, names as that module knows them)
PARTS: list[tuple[str, list[str]]] = [
    ("crm_pipeline.daily.run", [
        "ingest_files", "compute_day", "write_layer", "write_state", "quality_gate",
        "run_load_step", "load_transactions",
    ]),
    ("crm_pipeline.daily.day", [
        "read_live_state", "apply_customer_changes", "revalue", "known_customers",
        "apply_account_changes", "touched_records", "_accounts_of", "rescore",
        "marked_tables", "carried_sums",
    ]),
    ("crm_pipeline.daily.rescore", ["merge_customers"]),
    ("crm_pipeline.state", ["read_layers", "_indexes", "live_table", "conform"]),
    ("crm_pipeline.quality.gate", [
        "daily_scores", "province_totals", "touched_totals", "layout_metrics",
    ]),
    ("crm_pipeline.quality.validation", ["validate"]),  # Great Expectations, Data Docs
    ("load.batch_writer", [
        "assign_ids", "row_scope", "fresh_customers", "publish", "drop_staging",
        "refresh_statistics",
    ]),
]  # fmt: skip

seconds: defaultdict[str, float] = defaultdict(float)
calls: Counter[str] = Counter()


def _record(part: str, _role: str | None, spent: float, _beside: bool) -> None:
    seconds[part] += spent
    calls[part] += 1


def main(argv: list[str]) -> int:
    for module_name, names in PARTS:
        module = importlib.import_module(module_name)
        for name in names:
            if not hasattr(module, name):
                print(f"{module_name} has no {name} any more: update PARTS in {__file__}")
                return 2
            part = f"{module_name}.{name}"
            wrap(module_name, name, lambda _args, part=part: (part, None, False), _record)
    import daily_vs_initial

    code = daily_vs_initial.main(argv)
    for name, total in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"{total:8.3f} s {calls[name]:4d}  {name}")
    return code


if __name__ == "__main__":  # the initial load's worker processes import this module
    raise SystemExit(main(sys.argv[1:]))
