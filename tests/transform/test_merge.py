"""transform.merge: who is the same customer, and which record is the master.

Input tables are built the way the pipeline builds them: raw numbers normalized by
transform.identity, conformed to SOURCE_CUSTOMER. Valid numbers come from the reference
check functions in test_identity, never from the code under test.
"""

from __future__ import annotations

import random
from collections import Counter

import pyarrow as pa
import pytest

from common.schema import CUSTOMER_LINK, MERGED_CUSTOMER, SOURCE_CUSTOMER, conform
from tests.transform.test_identity import (
    LEGACY_15,
    LEGACY_AS_18,
    PUBLISHED_CREDIT_CODE,
    PUBLISHED_RESIDENT_ID,
    credit_check,
    make_credit_code,
    make_org_code,
    make_resident_id,
    org_check,
)
from transform.identity import normalize_id_numbers
from transform.merge import merge_customers

ORG_OF_PUBLISHED = PUBLISHED_CREDIT_CODE[8:17]  # "M000100Y4", a valid organization code
Row = tuple[str, str, str, str, str]  # source, cust_no, cust_type, id_type, raw id_no


def source_customers(rows: list[Row]) -> pa.Table:
    source, cust_no, cust_type, id_type, raw = (list(c) for c in zip(*rows, strict=True))
    ids = normalize_id_numbers(pa.array(id_type), pa.array(raw))
    table = pa.table(
        {
            "source": source,
            "cust_no": cust_no,
            "cust_type": cust_type,
            "name": [f"{s}-{n}" for s, n in zip(source, cust_no, strict=True)],
            "id_type": id_type,
            "id_no_raw": raw,
            "id_no": ids.column("id_no"),
            "id_valid": ids.column("id_valid"),
            "branch": ["ZJ"] * len(rows),
            "file": ["f.dat"] * len(rows),
            "line": list(range(1, len(rows) + 1)),
        }
    )
    return conform(table, SOURCE_CUSTOMER)


def merge(
    rows: list[Row], priority: tuple[str, ...] = ("RTL", "CRD", "LON", "FND")
) -> tuple[dict[str, dict[str, object]], dict[tuple[str, str], tuple[str, str]]]:
    """Merged customers by cust_key and {(source, cust_no): (cust_key, role)}, checked for
    the invariants every merge must keep."""
    merged, links = merge_customers(source_customers(rows), priority)
    assert merged.schema == MERGED_CUSTOMER
    assert links.schema == CUSTOMER_LINK
    assert links.num_rows == len(rows)
    by_key = {row["cust_key"]: row for row in merged.to_pylist()}
    assert len(by_key) == merged.num_rows
    link_map = {(r["source"], r["cust_no"]): (r["cust_key"], r["role"]) for r in links.to_pylist()}
    # Every link points at a merged customer, which has exactly one master and as many
    # records as it counts, and whose master fields name that master record.
    per_key = Counter(key for key, _ in link_map.values())
    assert set(per_key) == set(by_key)
    for key, customer in by_key.items():
        assert customer["source_count"] == per_key[key]
        masters = [sc for sc, (k, role) in link_map.items() if k == key and role == "master"]
        assert masters == [(customer["master_source"], customer["master_cust_no"])]
        assert customer["name"] == f"{customer['master_source']}-{customer['master_cust_no']}"
        assert key == f"{customer['cust_type']}|{customer['id_type']}|{customer['id_no']}" or (
            customer["id_no"] == "" and "(no id)" in key
        )
    assert {role for _, role in link_map.values()} <= {"master", "contact"}
    return by_key, link_map


def test_same_person_across_systems_is_one_customer() -> None:
    rows = [
        ("FND", "F1", "P", "01", "11010519491231002x"),
        ("CRD", "C1", "P", "01", "１１０１０５１９４９１２３１００２Ｘ"),
        ("RTL", "R1", "P", "01", PUBLISHED_RESIDENT_ID),
        ("LON", "L1", "P", "01", " 110105 19491231002X"),
    ]
    customers, links = merge(rows)
    key = f"P|01|{PUBLISHED_RESIDENT_ID}"
    assert list(customers) == [key]
    assert customers[key]["source_count"] == 4
    assert customers[key]["id_valid"] is True
    assert (customers[key]["master_source"], customers[key]["master_cust_no"]) == ("RTL", "R1")
    assert links[("FND", "F1")] == (key, "contact")


def test_legacy_15_digits_merge_with_18() -> None:
    customers, _ = merge(
        [("CRD", "9", "P", "01", LEGACY_15), ("LON", "3", "P", "01", LEGACY_AS_18)]
    )
    assert list(customers) == [f"P|01|{LEGACY_AS_18}"]
    assert customers[f"P|01|{LEGACY_AS_18}"]["master_source"] == "CRD"


def test_master_follows_configured_priority() -> None:
    rows = [(s, "1", "P", "01", PUBLISHED_RESIDENT_ID) for s in ("RTL", "CRD", "LON", "FND")]
    for priority in [("FND", "LON", "CRD", "RTL"), ("LON", "RTL", "CRD", "FND")]:
        customers, _ = merge(rows, priority)
        assert [c["master_source"] for c in customers.values()] == [priority[0]]


def test_unlisted_source_comes_after_listed_ones() -> None:
    rows = [
        ("XYZ", "1", "P", "01", PUBLISHED_RESIDENT_ID),
        ("FND", "9", "P", "01", "11010519491231002x"),
    ]
    customers, links = merge(rows)
    assert [c["master_source"] for c in customers.values()] == ["FND"]
    assert links[("XYZ", "1")][1] == "contact"


@pytest.mark.parametrize(
    ("numbers", "master"),
    [
        (["100", "99", "0000000101"], "99"),  # numeric, not string order ("100" < "99")
        (["0000000100", "0000000099"], "0000000099"),  # zero-padded: same either way
        (["0042", "42", "042"], "0042"),  # numerically equal: string order decides
        (["A1", "B0", "999999999999999999999"], "999999999999999999999"),  # digits first
        (["B2", "A10", "A9"], "A10"),  # no digits-only numbers: string order
    ],
)
def test_master_is_lowest_customer_number_within_system(numbers: list[str], master: str) -> None:
    rows = [("CRD", n, "P", "01", PUBLISHED_RESIDENT_ID) for n in numbers]
    rows.append(("LON", "0", "P", "01", PUBLISHED_RESIDENT_ID))  # lower number, lower priority
    customers, links = merge(rows)
    (customer,) = customers.values()
    assert (customer["master_source"], customer["master_cust_no"]) == ("CRD", master)
    assert links[("LON", "0")][1] == "contact"


def test_person_and_company_with_same_number_stay_apart() -> None:
    rows = [
        ("RTL", "1", "P", "01", PUBLISHED_RESIDENT_ID),
        ("RTL", "2", "C", "01", PUBLISHED_RESIDENT_ID),
    ]
    customers, _ = merge(rows)
    assert sorted(customers) == [f"C|01|{PUBLISHED_RESIDENT_ID}", f"P|01|{PUBLISHED_RESIDENT_ID}"]


def test_same_number_under_different_types_stays_apart() -> None:
    customers, _ = merge([("RTL", "1", "P", "03", "E1234567"), ("CRD", "2", "P", "04", "E1234567")])
    assert sorted(customers) == ["P|03|E1234567", "P|04|E1234567"]


def test_org_code_joins_the_credit_code_that_embeds_it() -> None:
    rows = [
        ("RTL", "R7", "C", "21", ORG_OF_PUBLISHED[:8] + "-" + ORG_OF_PUBLISHED[8]),
        ("CRD", "C1", "C", "23", PUBLISHED_CREDIT_CODE.lower()),
        ("LON", "L1", "C", "21", ORG_OF_PUBLISHED),
    ]
    customers, links = merge(rows)
    key = f"C|23|{PUBLISHED_CREDIT_CODE}"
    assert list(customers) == [key]
    customer = customers[key]
    # Keyed and identified by the credit code, named after the master (the RTL org code).
    assert (customer["id_type"], customer["id_no"], customer["id_valid"]) == (
        "23",
        PUBLISHED_CREDIT_CODE,
        True,
    )
    assert (customer["master_source"], customer["source_count"]) == ("RTL", 3)
    assert links[("LON", "L1")] == (key, "contact")


def test_org_code_without_credit_code_keeps_its_own_key() -> None:
    rng = random.Random(3)
    other_credit = make_credit_code(rng)  # embeds some other organization code
    customers, _ = merge(
        [("RTL", "1", "C", "21", ORG_OF_PUBLISHED), ("CRD", "2", "C", "23", other_credit)]
    )
    assert sorted(customers) == [f"C|21|{ORG_OF_PUBLISHED}", f"C|23|{other_credit}"]
    assert customers[f"C|21|{ORG_OF_PUBLISHED}"]["id_valid"] is True


def test_org_code_matches_only_credit_code_of_same_customer_type() -> None:
    customers, _ = merge(
        [("RTL", "1", "C", "21", ORG_OF_PUBLISHED), ("CRD", "2", "P", "23", PUBLISHED_CREDIT_CODE)]
    )
    assert sorted(customers) == [f"C|21|{ORG_OF_PUBLISHED}", f"P|23|{PUBLISHED_CREDIT_CODE}"]


def test_invalid_org_code_is_never_cross_matched() -> None:
    # A valid credit code may embed nine characters that fail the organization-code check;
    # the same nine characters sent as an organization code are invalid and stay apart.
    rng = random.Random(11)
    body = "12345678"
    bad_org = body + next(c for c in "0123456789X" if c != org_check(body))
    first17 = "91330100" + bad_org
    credit = first17 + credit_check(first17)
    customers, links = merge(
        [
            ("RTL", "1", "C", "21", bad_org),
            ("LON", "2", "C", "21", bad_org[:8] + "-" + bad_org[8]),  # identical once cleaned
            ("CRD", "3", "C", "23", credit),
            ("FND", "4", "C", "23", make_credit_code(rng)),
        ]
    )
    bad_key = f"C|21|{bad_org}"
    assert customers[bad_key]["id_valid"] is False
    assert customers[bad_key]["source_count"] == 2  # the identical bad number does match
    assert links[("CRD", "3")][0] == f"C|23|{credit}"
    assert len(customers) == 3


def test_invalid_credit_code_is_never_cross_matched() -> None:
    bad_credit = PUBLISHED_CREDIT_CODE[:17] + "0"
    customers, _ = merge(
        [("RTL", "1", "C", "21", ORG_OF_PUBLISHED), ("CRD", "2", "C", "23", bad_credit)]
    )
    assert sorted(customers) == [f"C|21|{ORG_OF_PUBLISHED}", f"C|23|{bad_credit}"]
    assert customers[f"C|23|{bad_credit}"]["id_valid"] is False


def test_invalid_numbers_match_only_the_identical_cleaned_number() -> None:
    bad = "11010519491231002１"  # wrong check character, full-width
    customers, links = merge(
        [
            ("RTL", "1", "P", "01", bad),
            ("CRD", "2", "P", "01", "110105194912310021"),  # identical once cleaned
            ("LON", "3", "P", "01", PUBLISHED_RESIDENT_ID),  # the valid number it resembles
            ("FND", "4", "P", "01", "110105194912310022"),  # another bad number
            ("FND", "5", "P", "01", "6101046209276"),  # 13 digits: not converted, not matched
        ]
    )
    assert links[("RTL", "1")] == ("P|01|110105194912310021", "master")
    assert links[("CRD", "2")] == ("P|01|110105194912310021", "contact")
    assert links[("LON", "3")][0] == f"P|01|{PUBLISHED_RESIDENT_ID}"
    assert len(customers) == 4
    assert [c["id_valid"] for c in customers.values()] == [False, True, False, False]


def test_ambiguous_org_code_stays_on_its_own() -> None:
    rng = random.Random(5)
    org = make_org_code(rng, alphabet="0123456789")
    first, second = make_credit_code(rng, org), make_credit_code(rng, org)
    assert first != second
    customers, links = merge(
        [
            ("RTL", "1", "C", "21", org),
            ("CRD", "2", "C", "23", first),
            ("LON", "3", "C", "23", second),
            ("FND", "4", "C", "23", first),
        ]
    )
    assert links[("RTL", "1")][0] == f"C|21|{org}"
    assert customers[f"C|23|{first}"]["source_count"] == 2
    assert len(customers) == 3


def test_records_without_number_are_never_merged() -> None:
    customers, links = merge(
        [
            ("RTL", "1", "P", "01", ""),
            ("CRD", "1", "P", "01", " "),
            ("LON", "2", "P", "03", "\u3000"),
        ]
    )
    assert len(customers) == 3
    assert all(role == "master" for _, role in links.values())
    assert all(c["id_no"] == "" and c["id_valid"] is False for c in customers.values())


def test_empty_input_gives_empty_tables_with_the_schemas() -> None:
    merged, links = merge_customers(SOURCE_CUSTOMER.empty_table(), ["RTL"])
    assert merged.schema == MERGED_CUSTOMER and merged.num_rows == 0
    assert links.schema == CUSTOMER_LINK and links.num_rows == 0


def test_result_does_not_depend_on_input_order_and_matches_a_plain_reference() -> None:
    rng = random.Random(42)
    persons = [make_resident_id(rng) for _ in range(40)]
    orgs = [make_org_code(rng, alphabet="0123456789ABCDEFGH") for _ in range(15)]
    credits = {org: make_credit_code(rng, org) for org in orgs[:10]}
    rows: list[Row] = []
    for _ in range(400):
        source = rng.choice(["RTL", "CRD", "LON", "FND"])
        cust_no = str(rng.randrange(1, 5000))
        if rng.random() < 0.6:
            rows.append((source, cust_no, "P", "01", rng.choice(persons)))
        else:
            org = rng.choice(orgs)
            use_credit = org in credits and rng.random() < 0.5
            rows.append(
                (
                    source,
                    cust_no,
                    "C",
                    "23" if use_credit else "21",
                    credits[org] if use_credit else org,
                )
            )
    unique = list({(r[0], r[1]): r for r in rows}.values())  # one record per (source, cust_no)

    customers, links = merge(unique)
    shuffled = unique[:]
    rng.shuffle(shuffled)
    assert merge(shuffled) == (customers, links)

    # Reference: plain dictionaries, one record at a time.
    rank = {"RTL": 0, "CRD": 1, "LON": 2, "FND": 3}
    groups: dict[str, list[Row]] = {}
    for row in unique:
        source, cust_no, cust_type, id_type, number = row
        if id_type == "21" and number in credits:
            id_type, number = "23", credits[number]
        groups.setdefault(f"{cust_type}|{id_type}|{number}", []).append(row)
    assert set(customers) == set(groups)
    for key, members in groups.items():
        best = min(members, key=lambda r: (rank[r[0]], int(r[1])))
        assert (customers[key]["master_source"], customers[key]["master_cust_no"]) == best[:2]
        assert customers[key]["source_count"] == len(members)
