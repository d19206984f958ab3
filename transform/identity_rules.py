"""Which clean-up rules turned a number as written into the key that joined its records.

`transform.identity` cleans and converts whole columns; an analyst asking why two records
are one customer wants, per record, the rules that applied to it: full-width characters,
stray spaces, lower-case letters, the dash of an organization code, the legacy 15-digit
identity card, or an organization code found inside a credit code (crm-import.md, "Merge
rules"). None of them: the record was written with the key's very number.

The rules are read off the written number and its normalized form (`SOURCE_CUSTOMER`'s
`id_no_raw` and `id_no`, made by `transform.identity.normalize_id_numbers`), so they
describe what the merge did, not a second normalization. Per record, in Python: an
explanation covers a few records, not a province.
"""

from __future__ import annotations

from typing import Final

from transform.identity import CREDIT_CODE, ORG_CODE, RESIDENT_ID

__all__ = [
    "SAME_NUMBER",
    "LEGACY_15",
    "FULL_WIDTH",
    "ORG_IN_CREDIT",
    "join_rules",
]

SAME_NUMBER: Final = "same number"
LEGACY_15: Final = "15 -> 18 digits"
FULL_WIDTH: Final = "full-width characters"
ORG_IN_CREDIT: Final = "organization code inside a credit code"
SPACES: Final = "spaces removed"
LOWER_CASE: Final = "lower-case letters"
DASH: Final = "dash of the organization code removed"
UNCHECKED: Final = "check character wrong: only the identical number joins"
NO_NUMBER: Final = "no number: joins nothing"


def _ascii(text: str) -> str:
    """Full-width ASCII (U+FF01..U+FF5E) as ASCII, as `clean_id_numbers` does."""
    return "".join(chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else c for c in text)


def join_rules(
    id_type: str, written: str, normalized: str, valid: bool, key_id_type: str
) -> list[str]:
    """The rules that made `written` (a record's number as sent, of canonical type
    `id_type`) into `normalized`, and joined it to a customer keyed by `key_id_type`."""
    if not normalized:
        return [NO_NUMBER]
    rules = []
    if any("\uff01" <= c <= "\uff5e" for c in written):
        rules.append(FULL_WIDTH)
    if " " in written or "\u3000" in written:
        rules.append(SPACES)
    if any("a" <= c <= "z" for c in _ascii(written)):
        rules.append(LOWER_CASE)
    if id_type == ORG_CODE and "-" in _ascii(written):
        rules.append(DASH)
    cleaned = _ascii(written).replace(" ", "").replace("\u3000", "")
    if id_type == RESIDENT_ID and valid and len(cleaned) == 15 and len(normalized) == 18:
        rules.append(LEGACY_15)
    if id_type == ORG_CODE and key_id_type == CREDIT_CODE:
        rules.append(ORG_IN_CREDIT)
    if not valid:
        rules.append(UNCHECKED)
    return rules or [SAME_NUMBER]
