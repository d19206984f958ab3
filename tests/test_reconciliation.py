"""The reconciliation gate every load passes before publication."""

from __future__ import annotations

import pytest

from common.errors import PipelineError
from crm_pipeline.reconcile import reconciled_counts

INGESTED = [
    {
        "file": "A.dat",
        "branch": "ZJ",
        "system": "RTL",
        "entity": "ACCT",
        "read": 10,
        "set_aside": 2,
    },
    {"file": "B.dat", "branch": "NB", "system": "FND", "entity": "HOLD", "read": 3, "set_aside": 0},
]


def test_balanced_files_pass_with_later_counts_added() -> None:
    files = reconciled_counts(INGESTED, {"A.dat": 5, "B.dat": 3}, {"A.dat": 1}, {"A.dat": 2}, {})
    a = files[0]
    assert (a.read, a.kept, a.set_aside, a.filtered) == (10, 5, 3, 2)


@pytest.mark.parametrize(
    ("kept", "filtered"),
    [({"A.dat": 6, "B.dat": 3}, {"A.dat": 2}), ({"A.dat": 9, "B.dat": 3}, {"A.dat": -1})],
)
def test_a_record_lost_or_counted_negative_stops_the_load(
    kept: dict[str, int], filtered: dict[str, int]
) -> None:
    with pytest.raises(PipelineError, match="reconciliation failed: A.dat: read 10"):
        reconciled_counts(INGESTED, kept, {"A.dat": 1}, filtered, {})
