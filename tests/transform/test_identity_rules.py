"""The rules that joined a record's number to its customer's key, read off the written and
normalized numbers that transform.identity produced."""

from __future__ import annotations

import pyarrow as pa
import pytest

from crm_pipeline.sample.ids import full_width, to_legacy15
from tests.end_to_end.edge_dumps import valid_id_card
from tests.oracle_ids import org_code_check
from transform.identity import normalize_id_numbers
from transform.identity_rules import (
    DASH,
    FULL_WIDTH,
    LEGACY_15,
    LOWER_CASE,
    NO_NUMBER,
    ORG_IN_CREDIT,
    SAME_NUMBER,
    SPACES,
    UNCHECKED,
    join_rules,
)

CARD = valid_id_card("33010619800303456")
CARD_X = next(
    c for c in (valid_id_card(f"3301061980030{n:04d}") for n in range(200)) if c.endswith("X")
)


@pytest.mark.parametrize(
    ("id_type", "written", "key_type", "rules"),
    [
        ("01", CARD, "01", [SAME_NUMBER]),
        ("01", to_legacy15(CARD), "01", [LEGACY_15]),
        ("01", full_width(CARD, 6), "01", [FULL_WIDTH]),
        ("01", f"{CARD[:6]} {CARD[6:]}", "01", [SPACES]),
        ("01", CARD_X.lower(), "01", [LOWER_CASE]),
        ("01", full_width(to_legacy15(CARD)), "01", [FULL_WIDTH, LEGACY_15]),
        ("01", CARD[:-1] + ("0" if CARD[-1] != "0" else "1"), "01", [UNCHECKED]),
        ("21", f"M3AB7K2P-{org_code_check('M3AB7K2P')}", "23", [DASH, ORG_IN_CREDIT]),
        ("03", "\u3000", "03", [NO_NUMBER]),
    ],
)
def test_rules(id_type: str, written: str, key_type: str, rules: list[str]) -> None:
    normalized = normalize_id_numbers(pa.array([id_type]), pa.array([written]))
    number = normalized.column("id_no")[0].as_py()
    valid = normalized.column("id_valid")[0].as_py()
    assert join_rules(id_type, written, number, valid, key_type) == rules
