"""transform.identity against the standards' check rules and core-dumps.md section 8.

The expected values come from an independent, character-by-character reference of each
standard written here (checked first against numbers published with the standards), never
from the vectorized code under test.
"""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from transform.identity import clean_id_numbers, normalize_id_numbers, org_code_in_credit_code

# ---------------------------------------------------------------------------------------------
# Reference implementations, straight from the standards (one number at a time, on purpose).

ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]
ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def id_check(first17: str) -> str:
    """GB 11643 check character of 17 digits."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def org_check(body8: str) -> str:
    """GB 11714 check character of 8 body characters."""
    c = 11 - sum(ORG_ALPHABET.index(ch) * w for ch, w in zip(body8, ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def credit_check(first17: str) -> str:
    """GB 32100 check character of 17 credit-code characters."""
    total = sum(
        CREDIT_ALPHABET.index(ch) * w for ch, w in zip(first17, CREDIT_WEIGHTS, strict=True)
    )
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def ref_valid(id_type: str, number: str) -> bool:
    """Whether an already cleaned number passes its type's check (reference)."""
    if id_type == "01":
        return (
            len(number) == 18
            and number[:17].isdigit()
            and number[:17].isascii()
            and id_check(number[:17]) == number[17]
        )
    if id_type == "21":
        return (
            len(number) == 9
            and all(ch in ORG_ALPHABET for ch in number[:8])
            and org_check(number[:8]) == number[8]
        )
    if id_type == "23":
        return (
            len(number) == 18
            and all(ch in CREDIT_ALPHABET for ch in number)
            and credit_check(number[:17]) == number[17]
        )
    return number != ""


def make_resident_id(rng: random.Random) -> str:
    first17 = "".join(rng.choice("0123456789") for _ in range(17))
    return first17 + id_check(first17)


def make_org_code(rng: random.Random, alphabet: str = ORG_ALPHABET) -> str:
    body = "".join(rng.choice(alphabet) for _ in range(8))
    return body + org_check(body)


def make_credit_code(rng: random.Random, org_code: str | None = None) -> str:
    """A valid credit code; embedding `org_code` (characters 9-17) when given."""
    head = "".join(rng.choice("0123456789") for _ in range(8))
    embedded = org_code if org_code is not None else make_org_code(rng, CREDIT_ALPHABET)
    first17 = head + embedded
    return first17 + credit_check(first17)


# Numbers published with the standards or in their worked examples.
PUBLISHED_RESIDENT_ID = "11010519491231002X"  # GB 11643 example
LEGACY_15, LEGACY_AS_18 = "610104620927690", "610104196209276908"  # core-dumps.md section 8
PUBLISHED_CREDIT_CODE = "91350100M000100Y43"  # GB 32100 example
PUBLISHED_ORG_CODE = "D2143569X"  # GB 11714 example (written D2143569-X)


def normalize(id_type: str | list[str | None], numbers: list[str | None]) -> list[tuple[str, bool]]:
    types = [id_type] * len(numbers) if isinstance(id_type, str) else id_type
    table = normalize_id_numbers(pa.array(types, pa.string()), pa.array(numbers, pa.string()))
    assert table.schema == pa.schema([("id_no", pa.string()), ("id_valid", pa.bool_())])
    return list(
        zip(table.column("id_no").to_pylist(), table.column("id_valid").to_pylist(), strict=True)
    )


def mutations(number: str, alphabet: str) -> list[str]:
    """Every number differing from `number` in exactly one character drawn from `alphabet`."""
    return [
        number[:i] + ch + number[i + 1 :]
        for i in range(len(number))
        for ch in alphabet
        if ch != number[i]
    ]


# ---------------------------------------------------------------------------------------------
# The reference itself.


def test_reference_accepts_published_numbers() -> None:
    assert ref_valid("01", PUBLISHED_RESIDENT_ID)
    assert ref_valid("01", LEGACY_AS_18)
    assert ref_valid("23", PUBLISHED_CREDIT_CODE)
    assert ref_valid("21", PUBLISHED_ORG_CODE)
    assert ref_valid("21", org_code_in_credit_code(PUBLISHED_CREDIT_CODE))
    assert not ref_valid("01", "110105194912310021")
    assert not ref_valid("23", "91350100M000100Y44")


# ---------------------------------------------------------------------------------------------
# Clean-up.


def test_clean_full_width_spaces_case_and_org_code_hyphen() -> None:
    types = ["01", "01", "21", "03", "23", "99"]
    numbers = [
        "１１０１０５１９４９１２３１００２ｘ",  # full-width digits and a full-width lower x
        " 110105 19491231\u3000002x ",  # ASCII spaces, U+3000, lower-case x
        "d2143569－x",  # full-width hyphen, lower-case letters
        "E-123 45",  # a passport keeps its '-': only type 21 loses it
        "９１３５０１００ｍ０００１００ｙ４３",
        "！～",  # the two ends of the full-width range
    ]
    cleaned = clean_id_numbers(pa.array(types), pa.array(numbers))
    assert cleaned.to_pylist() == [
        PUBLISHED_RESIDENT_ID,
        PUBLISHED_RESIDENT_ID,
        PUBLISHED_ORG_CODE,
        "E-12345",
        PUBLISHED_CREDIT_CODE,
        "!~",
    ]


def test_clean_leaves_other_characters_alone_and_keeps_nulls() -> None:
    # U+FF00 and U+FF5F/U+FF61 sit next to the full-width range, U+FFE5 shares its lead
    # byte EF: none of them may be rewritten, and multi-byte text must survive intact.
    numbers = ["护照Ａ１", "\uff00\uff5f\uff61\uffe5", None, "", "\u3000 "]
    cleaned = clean_id_numbers(pa.array(["03"] * 5), pa.array(numbers))
    assert cleaned.to_pylist() == ["护照A1", "\uff00\uff5f\uff61\uffe5", None, "", ""]


def test_clean_accepts_chunked_and_large_string_input() -> None:
    types = pa.chunked_array([["01"], ["21", "21"]])
    numbers = pa.chunked_array(
        [pa.array(["1x"], pa.large_string()), pa.array(["ab-c", None], pa.large_string())]
    )
    cleaned = clean_id_numbers(types, numbers)
    assert cleaned.type == pa.string()
    assert cleaned.to_pylist() == ["1X", "ABC", None]


def test_clean_on_a_sliced_array_uses_the_slice() -> None:
    numbers = pa.array(["１", "２ａ", "３", "４ ４"])[1:]
    cleaned = clean_id_numbers(pa.array(["99", "99", "99", "99"])[1:], numbers)
    assert cleaned.to_pylist() == ["2A", "3", "44"]


def test_clean_rejects_columns_of_different_length() -> None:
    with pytest.raises(ValueError, match="id_type has 1 values, id_no 2"):
        clean_id_numbers(pa.array(["01"]), pa.array(["1", "2"]))


# ---------------------------------------------------------------------------------------------
# Resident identity card (01).


def test_resident_id_valid_18_with_lower_case_x() -> None:
    assert normalize("01", [PUBLISHED_RESIDENT_ID, "11010519491231002x"]) == [
        (PUBLISHED_RESIDENT_ID, True),
        (PUBLISHED_RESIDENT_ID, True),
    ]


def test_resident_id_every_one_character_change_fails() -> None:
    numbers = mutations(PUBLISHED_RESIDENT_ID, "0123456789X")
    results = normalize("01", numbers)
    assert results == [(number, False) for number in numbers]


def test_resident_id_wrong_check_keeps_cleaned_number() -> None:
    assert normalize("01", [" 110105194912310021"]) == [("110105194912310021", False)]


def test_resident_id_15_digits_converted_to_18() -> None:
    assert (
        normalize("01", [LEGACY_15, "６１０１０４６２０９２７６９０", "610104 62092769 0"])
        == [(LEGACY_AS_18, True)] * 3
    )


def test_resident_id_15_digits_conversion_matches_reference() -> None:
    rng = random.Random(15)
    legacy = ["".join(rng.choice("0123456789") for _ in range(15)) for _ in range(200)]
    expected = [(n[:6] + "19" + n[6:] + id_check(n[:6] + "19" + n[6:]), True) for n in legacy]
    assert normalize("01", legacy) == expected


def test_resident_id_15_characters_with_non_digits_is_invalid_and_not_converted() -> None:
    assert normalize("01", ["61010462092769X", "6101046209276ab", "61010462092769０"]) == [
        ("61010462092769X", False),
        ("6101046209276AB", False),
        (LEGACY_AS_18, True),  # a full-width digit is a digit once cleaned
    ]


@pytest.mark.parametrize(
    "number",
    [
        PUBLISHED_RESIDENT_ID[:-1],  # 17 characters
        PUBLISHED_RESIDENT_ID + "1",  # 19 characters
        LEGACY_15[:-1],  # 14 digits
        "X1010519491231002X",  # a letter among the first 17
        "11010519491231002Ｘ" + "\u00e9",  # trailing non-ASCII
    ],
)
def test_resident_id_wrong_shape_is_invalid(number: str) -> None:
    cleaned = clean_id_numbers(pa.array(["01"]), pa.array([number])).to_pylist()[0]
    assert normalize("01", [number]) == [(cleaned, False)]


def test_resident_id_non_ascii_of_18_bytes_is_invalid() -> None:
    # 6 three-byte characters make 18 bytes: the byte-matrix check must not be fooled.
    assert normalize("01", ["一二三四五六"]) == [("一二三四五六", False)]


# ---------------------------------------------------------------------------------------------
# Organization code (21) and unified social credit code (23).


def test_org_code_published_and_hyphenated() -> None:
    assert normalize("21", ["D2143569-X", "d2143569x", "D2143569-9"]) == [
        (PUBLISHED_ORG_CODE, True),
        (PUBLISHED_ORG_CODE, True),
        ("D21435699", False),
    ]


def test_org_code_check_values_10_and_11() -> None:
    rng = random.Random(21)
    codes = [make_org_code(rng) for _ in range(400)]
    assert {c[-1] for c in codes} >= {"X", "0"}  # both special check values are exercised
    assert normalize("21", codes) == [(c, True) for c in codes]


def test_org_code_one_character_changes_match_reference() -> None:
    # A digit-for-digit change is always caught (weights and differences are below 11);
    # letters can differ by 11, 22 or 33 and slip through, exactly as the standard says.
    numbers = mutations(PUBLISHED_ORG_CODE, ORG_ALPHABET)
    results = normalize("21", numbers)
    assert results == [(n, ref_valid("21", n)) for n in numbers]
    digit_changes = [
        n
        for n in mutations(PUBLISHED_ORG_CODE, "0123456789")
        if any(
            a.isdigit() and b.isdigit() and a != b
            for a, b in zip(n, PUBLISHED_ORG_CODE, strict=True)
        )
    ]
    assert len(digit_changes) == 7 * 9
    assert normalize("21", digit_changes) == [(n, False) for n in digit_changes]


def test_org_code_wrong_length_invalid() -> None:
    assert normalize("21", ["D2143569", "D2143569X0", "D2143569-X-"]) == [
        ("D2143569", False),
        ("D2143569X0", False),
        ("D2143569X", True),  # every '-' goes, wherever it is
    ]


def test_credit_code_published_and_every_one_character_change_fails() -> None:
    assert (
        normalize("23", [PUBLISHED_CREDIT_CODE, "91350100m000100y43"])
        == [(PUBLISHED_CREDIT_CODE, True)] * 2
    )
    # 31 is prime and the weights are not multiples of it: every single change is caught.
    numbers = mutations(PUBLISHED_CREDIT_CODE, CREDIT_ALPHABET)
    assert normalize("23", numbers) == [(n, False) for n in numbers]


@pytest.mark.parametrize("letter", list("IOZSV"))
def test_credit_code_excluded_letters_are_invalid(letter: str) -> None:
    # Whatever the check character: a letter outside the alphabet has no value.
    first17 = PUBLISHED_CREDIT_CODE[:8] + letter + PUBLISHED_CREDIT_CODE[9:17]
    numbers = [first17 + check for check in CREDIT_ALPHABET]
    assert normalize("23", numbers) == [(n, False) for n in numbers]


def test_credit_code_random_valid_and_hyphen_kept() -> None:
    rng = random.Random(23)
    codes = [make_credit_code(rng) for _ in range(300)]
    assert normalize("23", codes) == [(c, True) for c in codes]
    hyphenated = PUBLISHED_CREDIT_CODE[:8] + "-" + PUBLISHED_CREDIT_CODE[8:]
    assert normalize("23", [hyphenated]) == [(hyphenated, False)]  # '-' goes only for 21


def test_org_code_in_credit_code() -> None:
    assert org_code_in_credit_code(PUBLISHED_CREDIT_CODE) == "M000100Y4"
    codes = pa.chunked_array([[PUBLISHED_CREDIT_CODE], ["123456789ABCDEFGHJ", None]])
    assert org_code_in_credit_code(codes).to_pylist() == ["M000100Y4", "9ABCDEFGH", None]


# ---------------------------------------------------------------------------------------------
# Other types, empties, and a mixed column against the reference.


def test_other_types_cleaned_only_and_valid() -> None:
    assert normalize(["03", "02", "99", "22"], ["e1234567８", "abc", "x-1", "1-2"]) == [
        ("E12345678", True),
        ("ABC", True),
        ("X-1", True),
        ("1-2", True),
    ]


def test_null_and_empty_numbers_are_invalid() -> None:
    assert (
        normalize(["01", "21", "23", "03", "99"], [None, "", " ", "\u3000", None])
        == [("", False)] * 5
    )


def test_null_type_is_treated_as_unchecked() -> None:
    assert normalize([None, None], ["12345", ""]) == [("12345", True), ("", False)]


def test_mixed_column_matches_reference() -> None:
    rng = random.Random(7)
    types: list[str | None] = []
    numbers: list[str | None] = []
    makers = {"01": make_resident_id, "21": make_org_code, "23": make_credit_code}
    alphabets = {"01": "0123456789X", "21": ORG_ALPHABET, "23": CREDIT_ALPHABET}
    for _ in range(3000):
        id_type = rng.choice(["01", "21", "23"])
        number = makers[id_type](rng)
        if rng.random() < 0.5:  # one character changed: usually, not always, invalid
            i = rng.randrange(len(number))
            number = number[:i] + rng.choice(alphabets[id_type]) + number[i + 1 :]
        types.append(id_type)
        numbers.append(number.lower() if rng.random() < 0.2 else number)
    results = normalize(types, numbers)
    expected = [(n.upper(), ref_valid(t, n.upper())) for t, n in zip(types, numbers, strict=True)]
    assert results == expected
    assert 0.3 < sum(valid for _, valid in results) / len(results) < 0.8
