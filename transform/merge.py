"""Source customer records -> merged customers (one master record, the others contacts).

The CRM wants one customer per person or company and province, whatever systems they bank
with (crm-import.md, "Merge rules"). Records are the same customer when customer type,
identification type and normalized number agree; a valid organization code joins the valid
unified social credit code that embeds it. The master record, whose name the CRM shows, is
chosen by source priority, then by the lowest customer number within one system.

The whole merge is column work (hash encoding, one sort of integers, `take`), with no
per-record Python, so a province of five million source records merges in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from common.schema import CUSTOMER_LINK, MERGED_CUSTOMER, conform
from transform.identity import CREDIT_CODE, ORG_CODE, org_code_in_credit_code

__all__ = ["DEFAULT_SOURCE_PRIORITY", "merge_customers", "resolve_keys"]

# crm-import.md: the default; config/provinces.yaml `source_priority` is what a run uses.
DEFAULT_SOURCE_PRIORITY: tuple[str, ...] = ("RTL", "CRD", "LON", "FND")

MASTER = "master"
CONTACT = "contact"


def _column(table: pa.Table, name: str) -> pa.Array:
    """One contiguous `string` column with nulls as "" (the schema forbids them anyway)."""
    column = table.column(name)
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if array.type != pa.string():
        array = array.cast(pa.string())
    return array.fill_null("")


def _credit_code_by_org_code(
    cust_type: pa.Array, id_type: pa.Array, id_no: pa.Array, valid: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """For every record, the valid credit code its valid organization code resolves to.

    Returns (resolved, credit_code): `resolved` true where a type-21 record found exactly
    one distinct valid type-23 number of the same customer type embedding it. Two distinct
    credit codes embedding one organization code cannot both be right and nobody can tell
    which is, so such an organization code is left unresolved (keyed by itself), in the
    spirit of core-dumps.md section 7 ("nobody can tell which copy is right").
    """
    n = len(id_no)
    is_credit = pc.and_(pc.equal(id_type, CREDIT_CODE), valid)
    is_org = pc.and_(pc.equal(id_type, ORG_CODE), valid)
    no_match = (pa.array(np.zeros(n, bool)), pa.nulls(n, pa.string()))
    if not pc.any(is_credit).as_py() or not pc.any(is_org).as_py():
        return no_match

    # Distinct (customer type, credit code) pairs, and the organization code each embeds.
    credit = pa.table(
        {"cust_type": pc.filter(cust_type, is_credit), "credit": pc.filter(id_no, is_credit)}
    )
    credit = credit.group_by(["cust_type", "credit"], use_threads=False).aggregate([])
    embedded = pc.binary_join_element_wise(
        credit.column("cust_type"), org_code_in_credit_code(credit.column("credit")), "|"
    )
    credit = credit.append_column("embedded", embedded)
    counts = credit.group_by("embedded", use_threads=False).aggregate([("credit", "count")])
    unique = pc.filter(counts.column("embedded"), pc.equal(counts.column("credit_count"), 1))
    credit = credit.filter(pc.is_in(credit.column("embedded"), value_set=unique))

    # Look every valid organization code up among the unambiguous embedded codes.
    org_key = pc.binary_join_element_wise(cust_type, id_no, "|")
    found = pc.index_in(org_key, value_set=credit.column("embedded").combine_chunks())
    found = pc.if_else(is_org, found, pa.scalar(None, found.type))
    resolved = pc.is_valid(found)
    if not pc.any(resolved).as_py():
        return no_match
    credit_code = pc.take(credit.column("credit").combine_chunks(), found)
    return resolved, credit_code


def resolve_keys(customers: pa.Table) -> pa.Table:
    """The merged customer each source record belongs to, as key columns per record.

    Returns `cust_key`, `key_id_type`, `key_id_no`, `key_id_valid` aligned with `customers`.
    The key is "{cust_type}|{id_type}|{id_no}", with a resolved organization code replaced
    by its credit code. A record without a number ("" after normalization) identifies
    nobody and is never merged: its key is "{cust_type}|{id_type}|(no id) {source}
    {cust_no}", which contains spaces and so cannot equal any cleaned number.
    """
    source = _column(customers, "source")
    cust_no = _column(customers, "cust_no")
    cust_type = _column(customers, "cust_type")
    id_type = _column(customers, "id_type")
    id_no = _column(customers, "id_no")
    valid = customers.column("id_valid").combine_chunks().fill_null(False)

    resolved, credit_code = _credit_code_by_org_code(cust_type, id_type, id_no, valid)
    key_type = pc.if_else(resolved, pa.scalar(CREDIT_CODE), id_type)
    key_no = pc.if_else(resolved, credit_code, id_no)
    key_valid = pc.or_(resolved, valid)

    no_id = pc.equal(pc.binary_length(id_no), 0)
    if pc.any(no_id).as_py():
        own = pc.binary_join_element_wise("(no id)", source, cust_no, " ")
        key_part = pc.if_else(no_id, own, key_no)
    else:
        key_part = key_no
    cust_key = pc.binary_join_element_wise(cust_type, key_type, key_part, "|")
    return pa.table(
        {
            "cust_key": cust_key,
            "key_id_type": key_type,
            "key_id_no": key_no,
            "key_id_valid": key_valid,
        }
    )


def _preference_order(
    source: pa.Array, cust_no: pa.Array, source_priority: Sequence[str]
) -> npt.NDArray[np.int64]:
    """Record positions from best to worst master candidate (a permutation of 0..n-1).

    Order: source priority (sources not listed come after all listed ones), then customer
    number compared as a whole number when it is all ASCII digits ("99" before "100", so a
    system that drops leading zeros orders like one that pads them); numerically equal
    numbers ("0042", "42") by string order; digit-only numbers before any with other
    characters, which compare as strings.

    Sorting five million strings costs seconds, so digit-only numbers of up to 18
    significant digits (all real ones) become int64 keys and only the rest, normally none,
    is sorted as strings; the final sort is over integers only.
    """
    n = len(source)
    rank = pc.index_in(source, value_set=pa.array(list(source_priority), pa.string()))
    rank = pc.fill_null(rank, len(source_priority)).to_numpy().astype(np.int64)
    digits = pc.match_substring_regex(cust_no, "^[0-9]+$").to_numpy(zero_copy_only=False)
    stripped = pc.utf8_ltrim(cust_no, "0")
    magnitude = pc.binary_length(stripped).to_numpy()
    numeric = digits & (magnitude <= 18)

    value = np.zeros(n, np.int64)
    tie = np.zeros(n, np.int64)
    rows = np.flatnonzero(numeric)
    if len(rows):
        index = pa.array(rows)
        as_int = pc.cast(pc.utf8_lpad(stripped.take(index), 1, "0"), pa.int64())
        value[rows] = as_int.to_numpy()
        tie[rows] = -pc.binary_length(cust_no.take(index)).to_numpy()  # "0042" < "042"
    rows = np.flatnonzero(~numeric)
    if len(rows):  # the rare rest: long digit strings, then anything else, as strings
        index = pa.array(rows)
        rest = pa.table(
            {
                "not_digits": pa.array(~digits[rows]),
                "magnitude": pa.array(np.where(digits[rows], magnitude[rows], 0)),
                "stripped": stripped.take(index),
                "cust_no": cust_no.take(index),
            }
        )
        order = pc.sort_indices(
            rest, sort_keys=[(name, "ascending") for name in rest.column_names]
        ).to_numpy()
        value[rows[order]] = np.arange(len(rows), dtype=np.int64)
    return np.lexsort((tie, value, (~numeric).astype(np.int64), rank)).astype(np.int64)


def merge_customers(
    customers: pa.Table, source_priority: Sequence[str] = DEFAULT_SOURCE_PRIORITY
) -> tuple[pa.Table, pa.Table]:
    """Merge one province's SOURCE_CUSTOMER records: (MERGED_CUSTOMER, CUSTOMER_LINK).

    `customers` must hold one province only (merging is per province, core-dumps.md
    section 8) with `id_no`/`id_valid` from `transform.identity.normalize_id_numbers`.
    Every record gets exactly one link row (role "master" or "contact"), in input order;
    merged customers come in order of their first record in the input, so the same input
    always gives the same output. The merged customer's id_type/id_no/id_valid are those
    of its key (the credit code for a resolved organization code), name and master fields
    those of the master record, `source_count` the number of source records.
    """
    n = customers.num_rows
    if n == 0:
        return MERGED_CUSTOMER.empty_table(), CUSTOMER_LINK.empty_table()

    keys = resolve_keys(customers)
    source = _column(customers, "source")
    cust_no = _column(customers, "cust_no")

    encoded = pc.dictionary_encode(keys.column("cust_key").combine_chunks())
    group = encoded.indices.to_numpy().astype(np.int64)
    # Records in preference order; the first of each group there is its master.
    by_preference = _preference_order(source, cust_no, source_priority)
    _, first = np.unique(group[by_preference], return_index=True)
    master_rows = by_preference[first]  # indexed by group number (np.unique sorts them)
    sizes = np.bincount(group, minlength=len(master_rows))

    masters = pa.array(master_rows)
    merged = pa.table(
        {
            "cust_key": encoded.dictionary,
            "cust_type": customers.column("cust_type").take(masters),
            "id_type": keys.column("key_id_type").take(masters),
            "id_no": keys.column("key_id_no").take(masters),
            "id_valid": keys.column("key_id_valid").take(masters),
            "name": customers.column("name").take(masters),
            "master_source": source.take(masters),
            "master_cust_no": cust_no.take(masters),
            "source_count": pa.array(sizes, pa.int32()),
        }
    )

    is_master = np.zeros(n, bool)
    is_master[master_rows] = True
    role = pc.if_else(pa.array(is_master), MASTER, CONTACT)
    links = pa.table(
        {"source": source, "cust_no": cust_no, "cust_key": keys.column("cust_key"), "role": role}
    )
    return conform(merged, MERGED_CUSTOMER), conform(links, CUSTOMER_LINK)
