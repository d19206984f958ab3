"""Identification numbers with correct check characters, and the ways counters mangle them.

Standards: GB 11643 (resident identity card, 18 characters; legacy 15 digits), GB 11714
(organization code, 8 characters + check, written ``XXXXXXXX-X``), GB 32100 (unified
social credit code, 18 characters embedding the organization code at characters 9 to 17).
Bulk numbers are generated vectorized; the variants (legacy 15 digits, lower-case ``x``,
full-width digits, stray spaces) touch a minority of records and are applied one by one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_ID_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARS)}


def id_check(body17: str) -> str:
    """GB 11643 check character of the first 17 digits."""
    total = sum(int(c) * int(w) for c, w in zip(body17, _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def org_check(body8: str) -> str:
    """GB 11714 check character of an 8-character organization code body."""
    total = sum(int(c, 36) * int(w) for c, w in zip(body8, _ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


def _ascii_rows(m: npt.NDArray[np.uint8]) -> npt.NDArray[np.bytes_]:
    m = np.ascontiguousarray(m.astype(np.uint8))
    return m.view(f"S{m.shape[1]}").ravel()


def identity_cards(
    region: npt.NDArray[np.int64], birth: npt.NDArray[np.int64], seq: npt.NDArray[np.int64]
) -> npt.NDArray[np.bytes_]:
    """18-character identity card numbers: region (6 digits), birth YYYYMMDD, 3-digit
    sequence (odd for men), GB 11643 check character."""
    n = len(region)
    m = np.zeros((n, 18), dtype=np.int64)
    for j in range(6):
        m[:, 5 - j] = (region // 10**j) % 10
    for j in range(8):
        m[:, 13 - j] = (birth // 10**j) % 10
    for j in range(3):
        m[:, 16 - j] = (seq // 10**j) % 10
    check = _ID_CHECK[(m[:, :17] @ _ID_WEIGHTS) % 11]
    out = (m + 48).astype(np.uint8)
    out[:, 17] = check
    return _ascii_rows(out)


def org_codes(bodies: npt.NDArray[np.int64]) -> npt.NDArray[np.bytes_]:
    """9-character organization codes (no dash) from 8-digit numeric bodies.

    Digits only, so that every code can also be embedded in a credit code (whose alphabet
    lacks I, O, S, V, Z).
    """
    n = len(bodies)
    m = np.zeros((n, 9), dtype=np.int64)
    for j in range(8):
        m[:, 7 - j] = (bodies // 10**j) % 10
    value = 11 - (m[:, :8] @ _ORG_WEIGHTS) % 11
    out = (m + 48).astype(np.uint8)
    out[:, 8] = np.where(value == 10, ord("X"), np.where(value == 11, 48, 48 + value % 10))
    return _ascii_rows(out)


def credit_codes(
    orgs: npt.NDArray[np.bytes_], region: npt.NDArray[np.int64]
) -> npt.NDArray[np.bytes_]:
    """18-character unified social credit codes ``91`` + region + organization code + check."""
    n = len(orgs)
    values = np.zeros((n, 17), dtype=np.int64)
    values[:, 0], values[:, 1] = 9, 1
    for j in range(6):
        values[:, 7 - j] = (region // 10**j) % 10
    org = orgs.view(np.uint8).reshape(n, 9).astype(np.int64)
    values[:, 8:17] = np.where(org == ord("X"), _USCC_VALUE["X"], org - 48)
    check = (31 - (values @ _USCC_WEIGHTS) % 31) % 31
    alphabet = np.frombuffer(USCC_CHARS.encode(), dtype=np.uint8)
    out = np.zeros((n, 18), dtype=np.uint8)
    out[:, :17] = alphabet[values]
    out[:, 17] = alphabet[check]
    return _ascii_rows(out)


def to_legacy15(id18: str) -> str:
    """The legacy 15-digit form: drop the century ``19`` and the check character."""
    return id18[:6] + id18[8:17]


def full_width(text: str, count: int | None = None) -> str:
    """Turn the first ``count`` ASCII characters (all by default) into full-width ones."""
    count = len(text) if count is None else count
    head = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text[:count])
    return head + text[count:]


def with_space(text: str, where: int, space: str) -> str:
    """A stray space (ASCII or U+3000) typed into a number."""
    return text[:where] + space + text[where:]


def spoil_check(number: str, id_type: str) -> str:
    """The same number with a wrong check character (kept but flagged by the pipeline)."""
    alphabet = USCC_CHARS if id_type == "23" else "0123456789X"
    current = alphabet.index(number[-1]) if number[-1] in alphabet else 0
    return number[:-1] + alphabet[(current + 1) % len(alphabet)]
