"""The oracle's identification numbers: cleaning, 15 -> 18 digits and the GB 11643 / 11714 /
32100 check characters (core-dumps.md section 8; tests/oracle.py)."""

from __future__ import annotations

import re

# --- identification numbers (core-dumps.md section 8) -----------------------------------

GB11643_CHECK = "10X98765432"
GB32100_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def clean_id(id_type: str, number: str) -> str:
    out = "".join(chr(ord(c) - 0xFEE0) if 0xFF01 <= ord(c) <= 0xFF5E else c for c in number)
    out = out.replace(" ", "").replace("\u3000", "").upper()
    return out.replace("-", "") if id_type == "21" else out


def id_card_check(first17: str) -> str:
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(first17))
    return GB11643_CHECK[total % 11]


def id_card_ok(number: str) -> bool:
    return (
        bool(re.fullmatch(r"[0-9]{17}[0-9X]", number))
        and id_card_check(number[:17]) == (number[17])
    )


def org_code_check(first8: str) -> str:
    total = sum(int(c, 36) * w for c, w in zip(first8, GB11714_WEIGHTS, strict=True))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def org_code_ok(number: str) -> bool:
    return (
        bool(re.fullmatch(r"[0-9A-Z]{8}[0-9X]", number))
        and org_code_check(number[:8]) == (number[8])
    )


def credit_code_check(first17: str) -> str:
    total = sum(GB32100_CHARS.index(c) * (3**i % 31) for i, c in enumerate(first17))
    return GB32100_CHARS[(31 - total % 31) % 31]


def credit_code_ok(number: str) -> bool:
    if len(number) != 18 or any(c not in GB32100_CHARS for c in number):
        return False
    return credit_code_check(number[:17]) == number[17]


def normalize_id(id_type: str, number: str) -> tuple[str, bool]:
    """(normalized number, check passed); a failing number is returned cleaned only."""
    cleaned = clean_id(id_type, number)
    if cleaned == "":
        return "", False
    if id_type == "01":
        if re.fullmatch(r"[0-9]{15}", cleaned):
            body = cleaned[:6] + "19" + cleaned[6:]
            return body + id_card_check(body), True
        return cleaned, id_card_ok(cleaned)
    if id_type == "21":
        return cleaned, org_code_ok(cleaned)
    if id_type == "23":
        return cleaned, credit_code_ok(cleaned)
    return cleaned, True
