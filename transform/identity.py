"""Identification numbers: clean, convert and check them, a whole column at a time.

The same person or company reaches the bank through several systems that key the number
differently (full-width digits typed at a counter, a lower-case `x`, the legacy 15-digit
identity card, `XXXXXXXX-X` organization codes). Merging needs one spelling per number, so
every number is cleaned and, when its check character is right, converted to its 18-character
form (core-dumps.md section 8). A number that fails its check is kept as cleaned and flagged:
the customer is real, but a number we cannot trust must never be converted or cross-matched.

Everything here works on whole Arrow columns: pyarrow.compute for the string clean-up and
numpy over the UTF-8 bytes for the check characters, because a per-record Python loop over
five million customers would take minutes. There is no per-record Python code at all.
"""

from __future__ import annotations

from typing import Final, overload

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "clean_id_numbers",
    "normalize_id_numbers",
    "org_code_in_credit_code",
    "RESIDENT_ID",
    "ORG_CODE",
    "CREDIT_CODE",
]

# Canonical identification type codes that carry a check character (core-dumps.md section 6).
RESIDENT_ID: Final = "01"  # GB 11643
ORG_CODE: Final = "21"  # GB 11714
CREDIT_CODE: Final = "23"  # GB 32100

# GB 11643: weights of the first 17 digits; the check character is indexed by sum mod 11.
_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK: Final = np.frombuffer(b"10X98765432", np.uint8)

# GB 11714: weights of the 8 body characters (digits and upper-case letters, A=10 .. Z=35).
_ORG_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)
# check value 11 - (sum mod 11) in 1..11, written as: 1..9 digits, 10 'X', 11 '0'.
_ORG_CHECK: Final = np.frombuffer(b"?123456789X0", np.uint8)

# GB 32100: 31-character alphabet (no I, O, Z, S, V); a character's value is its index.
_CREDIT_CHARSET: Final = b"0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _lookup(alphabet: bytes) -> npt.NDArray[np.int8]:
    """Byte -> value table: the index of the byte in `alphabet`, -1 for any other byte.

    int8 keeps the (rows x 18) value matrices small: at five million numbers an int64
    matrix would be 700 MB.
    """
    table = np.full(256, -1, np.int8)
    table[np.frombuffer(alphabet, np.uint8)] = np.arange(len(alphabet))
    return table


_DIGIT_VALUE: Final = _lookup(b"0123456789")
_ORG_VALUE: Final = _lookup(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_CREDIT_VALUE: Final = _lookup(_CREDIT_CHARSET)


def _string_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous `string` array (chunks combined, large_string/dictionary cast)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if values.type != pa.string():
        values = values.cast(pa.string())
    return values


def _utf8_buffers(values: pa.Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Offsets (rebased to 0, length n + 1) and UTF-8 bytes of a `string` array, zero-copy.

    Null entries are whatever bytes their offsets span (normally none); callers mask them.
    """
    n = len(values)
    _, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32)[values.offset : values.offset + n + 1]
    offsets = offsets.astype(np.int64)
    if data_buf is None or n == 0:
        return np.zeros(n + 1, np.int64), np.zeros(0, np.uint8)
    data = np.frombuffer(data_buf, np.uint8)[offsets[0] : offsets[-1]]
    return offsets - offsets[0], data


def _string_array_from(offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]) -> pa.Array:
    """A `string` array (no nulls) from rebased offsets and UTF-8 bytes."""
    return pa.Array.from_buffers(
        pa.string(),
        len(offsets) - 1,
        [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(np.ascontiguousarray(data))],
    )


def _fullwidth_to_ascii(values: pa.Array) -> pa.Array:
    """U+FF01..U+FF5E -> U+0021..U+007E, working on the UTF-8 bytes (no nulls in `values`).

    Arrow has no `translate` kernel, and 94 `replace_substring` passes would be slow, so the
    three-byte sequences are rewritten in the byte buffer: EF BC 81..BF -> 21..5F and
    EF BD 80..9E -> 60..7E, dropping the two trailing bytes and shifting the offsets.
    """
    offsets, data = _utf8_buffers(values)
    if len(data) < 3:
        return values
    lead = np.flatnonzero(data[:-2] == 0xEF)
    if len(lead) == 0:
        return values
    second, third = data[lead + 1], data[lead + 2]
    block_bc = (second == 0xBC) & (third >= 0x81) & (third <= 0xBF)
    block_bd = (second == 0xBD) & (third >= 0x80) & (third <= 0x9E)
    hit = block_bc | block_bd
    if not hit.any():
        return values
    lead, third, block_bc = lead[hit], third[hit], block_bc[hit]
    data = data.copy()
    data[lead] = np.where(block_bc, third - 0x60, third - 0x20)
    keep = np.ones(len(data), bool)
    keep[lead + 1] = False
    keep[lead + 2] = False
    # A string starting at offset o loses two bytes per rewritten character before o (a
    # character never straddles two strings): counted from the few hits, not a cumulative
    # sum over every byte of the column.
    removed_before = 2 * np.searchsorted(lead, offsets, side="left")
    return _string_array_from(offsets - removed_before, data[keep])


def clean_id_numbers(
    id_type: pa.Array | pa.ChunkedArray, id_no: pa.Array | pa.ChunkedArray
) -> pa.Array:
    """The clean-up every number gets before anything else (core-dumps.md section 8).

    Full-width ASCII characters (U+FF01..U+FF5E) become ASCII, ASCII spaces and U+3000
    are removed, letters become upper case, and for organization codes (type "21") the
    `-` of the `XXXXXXXX-X` spelling is removed. Nothing else is touched: the check
    decides later whether the result can be trusted. Nulls stay null.
    """
    numbers = _string_array(id_no)
    types = _string_array(id_type)
    if len(types) != len(numbers):
        raise ValueError(f"id_type has {len(types)} values, id_no {len(numbers)}")
    present = pc.is_valid(numbers)
    cleaned = _fullwidth_to_ascii(numbers.fill_null(""))
    cleaned = pc.replace_substring(cleaned, " ", "")
    cleaned = pc.replace_substring(cleaned, "\u3000", "")
    cleaned = pc.utf8_upper(cleaned)
    is_org = pc.fill_null(pc.equal(types, ORG_CODE), False)
    cleaned = pc.if_else(is_org, pc.replace_substring(cleaned, "-", ""), cleaned)
    return pc.if_else(present, cleaned, pa.scalar(None, pa.string()))


def _rows_of_width(
    cleaned: pa.Array, rows: npt.NDArray[np.intp], width: int
) -> npt.NDArray[np.uint8]:
    """The bytes of `cleaned[rows]` as a (len(rows), width) matrix; every row has `width` bytes.

    `take` makes the selected strings contiguous, so the matrix is a reshape, not a gather
    of width x rows indices (which would need gigabytes at five million rows).
    """
    if len(rows) == 0:
        return np.zeros((0, width), np.uint8)
    subset = cleaned.take(pa.array(rows))
    _, data = _utf8_buffers(subset)
    return data.reshape(len(rows), width)


def _weighted_sum(values: npt.NDArray[np.int8], weights: tuple[int, ...]) -> npt.NDArray[np.int32]:
    """Row sums of values x weights, one column at a time (no rows x columns int temporary).

    Rows holding a -1 (a character outside the alphabet) get a meaningless sum; callers
    reject those rows anyway, and `%` on numpy integers is never negative, so the sum
    still indexes the check tables safely.
    """
    total = np.zeros(len(values), np.int32)
    for column, weight in enumerate(weights):
        total += values[:, column].astype(np.int32) * weight
    return total


def _resident_id_check(body: npt.NDArray[np.int8]) -> npt.NDArray[np.uint8]:
    """GB 11643 check characters (as ASCII bytes) of rows of 17 digit values."""
    return _ID_CHECK[_weighted_sum(body, _ID_WEIGHTS) % 11]


def _check_resident_ids(matrix: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Which 18-character identity card numbers have 17 digits and the right check char."""
    body = _DIGIT_VALUE[matrix[:, :17]]
    digits = (body >= 0).all(axis=1)
    return digits & (matrix[:, 17] == _resident_id_check(body))


def _convert_resident_ids(
    matrix: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint8]]:
    """15-digit identity card numbers -> 18 characters: "19" after the 6th digit + check.

    Returns which rows were all digits (the others cannot be converted and are invalid) and
    the (rows, 18) byte matrix of the converted numbers (meaningless for invalid rows).
    """
    values = _DIGIT_VALUE[matrix]
    digits = np.asarray((values >= 0).all(axis=1))
    converted = np.empty((len(matrix), 18), np.uint8)
    converted[:, :6] = matrix[:, :6]
    converted[:, 6] = ord("1")
    converted[:, 7] = ord("9")
    converted[:, 8:17] = matrix[:, 6:15]
    converted[:, 17] = _resident_id_check(_DIGIT_VALUE[converted[:, :17]])
    return digits, converted


def _check_org_codes(matrix: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """GB 11714: 8 body characters (0-9, A-Z) and check 11 - (sum mod 11), 10='X', 11='0'."""
    body = _ORG_VALUE[matrix[:, :8]]
    ok = (body >= 0).all(axis=1)
    check = 11 - _weighted_sum(body, _ORG_WEIGHTS) % 11
    return ok & (matrix[:, 8] == _ORG_CHECK[check])


def _check_credit_codes(matrix: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """GB 32100: 18 characters of the 31-character alphabet, check (31 - sum mod 31) mod 31."""
    values = _CREDIT_VALUE[matrix]
    ok = (values >= 0).all(axis=1)
    check = (31 - _weighted_sum(values, _CREDIT_WEIGHTS) % 31) % 31
    return ok & (values[:, 17] == check)


def normalize_id_numbers(
    id_type: pa.Array | pa.ChunkedArray, id_no: pa.Array | pa.ChunkedArray
) -> pa.Table:
    """Matching keys for identification numbers: table of `id_no` (string) and `id_valid`.

    Types "01", "21" and "23" are checked (GB 11643, GB 11714, GB 32100); a valid 15-digit
    identity card number is converted to its 18-character form. A number that fails its
    check keeps its cleaned, unconverted spelling with `id_valid` false, so it still matches
    the identical number elsewhere but nothing else. Other types are valid once cleaned.
    A null or empty number is `""` and invalid: it identifies nobody.

    `id_type` holds canonical codes (CRD's letters already mapped, core-dumps.md section 6).
    """
    types = _string_array(id_type).fill_null("")
    cleaned = clean_id_numbers(types, id_no).fill_null("")
    n = len(cleaned)
    lengths = pc.binary_length(cleaned).to_numpy(zero_copy_only=False)
    is_resident = pc.equal(types, RESIDENT_ID).to_numpy(zero_copy_only=False)
    is_org = pc.equal(types, ORG_CODE).to_numpy(zero_copy_only=False)
    is_credit = pc.equal(types, CREDIT_CODE).to_numpy(zero_copy_only=False)

    # Unchecked types: anything non-empty identifies its holder.
    valid = (lengths > 0) & ~(is_resident | is_org | is_credit)

    rows = np.flatnonzero(is_resident & (lengths == 18))
    valid[rows] = _check_resident_ids(_rows_of_width(cleaned, rows, 18))

    rows = np.flatnonzero(is_org & (lengths == 9))
    valid[rows] = _check_org_codes(_rows_of_width(cleaned, rows, 9))

    rows = np.flatnonzero(is_credit & (lengths == 18))
    valid[rows] = _check_credit_codes(_rows_of_width(cleaned, rows, 18))

    rows = np.flatnonzero(is_resident & (lengths == 15))
    digits, converted = _convert_resident_ids(_rows_of_width(cleaned, rows, 15))
    rows, converted = rows[digits], converted[digits]
    valid[rows] = True
    normalized = cleaned
    if len(rows):
        mask = np.zeros(n, bool)
        mask[rows] = True
        offsets = np.arange(len(rows) + 1, dtype=np.int64) * 18
        replacements = _string_array_from(offsets, converted.reshape(-1))
        normalized = pc.replace_with_mask(cleaned, pa.array(mask), replacements)

    return pa.table({"id_no": normalized, "id_valid": pa.array(valid, pa.bool_())})


@overload
def org_code_in_credit_code(credit_code: str) -> str: ...
@overload
def org_code_in_credit_code(credit_code: pa.Array | pa.ChunkedArray) -> pa.Array: ...
def org_code_in_credit_code(credit_code: str | pa.Array | pa.ChunkedArray) -> str | pa.Array:
    """The organization code a unified social credit code embeds: characters 9 to 17.

    GB 32100 builds the credit code from the registering authority (2), the region (6), the
    GB 11714 organization code (9) and its own check character, which is what lets an
    organization code in one system be matched to the credit code in another.
    """
    if isinstance(credit_code, str):
        return credit_code[8:17]
    return pc.utf8_slice_codeunits(_string_array(credit_code), 8, 17)
