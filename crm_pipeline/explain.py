"""Why is this customer (not) in the CRM? One merged customer of a province on a published
business date, from its source records to the threshold (`crm-pipeline explain`).

The answer is computed by the pipeline's own code on the date's state snapshot, the
customer base every published date has (`crm_pipeline.scoring_base.customer_base`): the
records that can merge with the customer's (one identity key) are merged with
`transform.merge`, its accounts keyed as the score step keys them, and scored by the
formulas in force on the date (`transform.scoring.breakdown`, which reads the scorer's
own terms and checks that they add up to its score). Earlier published dates are
explained the same way, each on its own snapshot with its own formulas: the warehouse
keeps a customer's current row only (`crm_customer`), so it is the current row that the
explanation is compared with (`warehouse`), on the dates it holds for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from common import config as cfg
from common import settings
from common.errors import PipelineError
from common.paths import formulas_dir
from common.staging import StagingArea
from crm_pipeline.buckets import source_key
from crm_pipeline.scoring_base import CustomerBase, customer_base
from load.business_dates import published_dates
from load.customer_lookup import CrmCustomer, Identity, crm_customer_of, identity_of
from load.warehouse import Warehouse
from transform.identity import normalize_id_numbers
from transform.identity_rules import join_rules
from transform.scoring import FormulaSet, load_formulas
from transform.scoring.breakdown import AccountUse, Breakdown, breakdown


@dataclass(frozen=True)
class Query:
    """Whom to explain: an identification number, or a CRM customer number."""

    province: str
    business_date: str  # YYYYMMDD
    id_type: str | None = None
    id_no: str | None = None
    crm_cust_id: int | None = None


@dataclass(frozen=True)
class SourceRecord:
    """A source record merged into the customer, and the rules that joined it."""

    source: str
    cust_no: str
    role: str  # master / contact
    name: str | None
    id_type: str  # canonical code
    id_type_written: str  # as the system writes it (CRD's letters)
    id_no_written: str
    id_no_normalized: str
    id_valid: bool
    rules: list[str]
    file: str
    line: int


@dataclass(frozen=True)
class Account:
    """One account of the customer as the date's state holds it, and what it fed."""

    source: str
    acct_no: str
    cust_no: str
    kind: str
    currency: str
    status: str
    balance: Decimal
    balance_cny: Decimal  # exact, not rounded
    in_scope: bool
    use: AccountUse


@dataclass(frozen=True)
class DatePoint:
    """The customer's score on one earlier published date (None: see `note`)."""

    business_date: date
    score: Decimal | None
    qualified: bool | None
    formula_id: str | None
    note: str | None = None


@dataclass
class Explanation:
    province: str
    business_date: date
    cust_key: str
    cust_type: str
    key_id_type: str
    key_id_no: str
    name: str | None
    master_source: str
    master_cust_no: str
    master_reason: str
    sources: list[SourceRecord]
    accounts: list[Account]
    score: Breakdown
    crm: CrmCustomer | None  # the warehouse's current row, if it is a CRM customer
    history: list[DatePoint] = field(default_factory=list)

    @property
    def warehouse_holds_for_date(self) -> bool:
        """Whether the warehouse's row is the customer's row on this date (no later batch
        changed it), so its score must equal the one explained."""
        return self.crm is not None and self.crm.batch_date <= self.business_date


def _day(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise PipelineError(f"--date {text}: not a business date YYYYMMDD") from None


def canonical_id_type(id_type: str) -> str:
    """A canonical identification type code, from a code or one of CRD's letters."""
    layouts = cfg.layouts()
    codes = layouts.code_values("id_type")
    letters = layouts.code_values("crd_id_type")
    if id_type in codes:
        return codes[id_type]
    if id_type.upper() in letters:
        return letters[id_type.upper()]
    raise PipelineError(
        f"--id-type {id_type}: not an identification type (one of {', '.join(codes)},"
        f" or CRD's letters {', '.join(letters)})"
    )


def written_id_type(source: str, id_type: str) -> str:
    """The identification type as `source` writes it in its customer file."""
    layouts = cfg.layouts()
    layout = layouts.layout_for(source, "CUST")
    spec = next((f for f in layout.fields if f.column == "id_type"), None)
    if spec is None or spec.codes is None:
        return id_type
    written = {canonical: code for code, canonical in layouts.code_values(spec.codes).items()}
    return written.get(id_type, id_type)


def _probe(rows: list[tuple[str, str, str]]) -> pa.Table:
    """SOURCE_CUSTOMER-like rows (cust_type, id_type, normalized id_no) to look for."""
    return pa.table(
        {
            "source": [""] * len(rows),
            "cust_no": [""] * len(rows),
            "cust_type": [r[0] for r in rows],
            "id_type": [r[1] for r in rows],
            "id_no": [r[2] for r in rows],
        }
    )


def _normalized(id_type: str, id_no: str) -> str:
    table = normalize_id_numbers(pa.array([id_type]), pa.array([id_no]))
    return str(table.column("id_no")[0].as_py())


def _chosen(base: CustomerBase, cust_keys: set[str], what: str) -> int:
    """The row of the one merged customer among `cust_keys`."""
    keys = base.customers.column("cust_key").to_pylist()
    rows = [i for i, k in enumerate(keys) if k in cust_keys]
    if not rows:
        raise PipelineError(what)
    if len(rows) > 1:
        found = ", ".join(keys[i] for i in rows)
        raise PipelineError(f"{what} is {len(rows)} customers ({found}): use --crm-cust-id")
    return rows[0]


def _keys_of_number(base: CustomerBase, id_type: str, id_no: str) -> set[str]:
    """The merged customers with a record, or a key, of this type and normalized number."""
    sources, merged = base.sources, base.customers

    def same(table: pa.Table) -> pa.Array:
        return pc.and_(
            pc.equal(table.column("id_type"), id_type), pc.equal(table.column("id_no"), id_no)
        )

    numbers = source_key(sources.filter(same(sources)), "cust_no")
    links = base.links.filter(pc.is_in(source_key(base.links, "cust_no"), value_set=numbers))
    return set(links.column("cust_key").to_pylist()) | set(
        merged.filter(same(merged)).column("cust_key").to_pylist()
    )


def _records(base: CustomerBase, cust_key: str, key_id_type: str) -> list[SourceRecord]:
    """The customer's source records, master first, then in the state's order."""
    links = base.links.filter(pc.equal(base.links.column("cust_key"), cust_key))
    role_of = {(link["source"], link["cust_no"]): link["role"] for link in links.to_pylist()}
    records = [
        SourceRecord(
            source=row["source"],
            cust_no=row["cust_no"],
            role=role_of[(row["source"], row["cust_no"])],
            name=row["name"],
            id_type=row["id_type"],
            id_type_written=written_id_type(row["source"], row["id_type"]),
            id_no_written=row["id_no_raw"],
            id_no_normalized=row["id_no"],
            id_valid=bool(row["id_valid"]),
            rules=join_rules(
                row["id_type"], row["id_no_raw"], row["id_no"], bool(row["id_valid"]), key_id_type
            ),
            file=row["file"],
            line=int(row["line"]),
        )
        for row in base.sources.to_pylist()
        if (row["source"], row["cust_no"]) in role_of
    ]
    return sorted(records, key=lambda r: r.role != "master")


def master_reason(records: list[SourceRecord], priority: list[str]) -> str:
    """Why the master record is the master (crm-import.md: source priority, then the
    lowest customer number within one system)."""
    master = next(r for r in records if r.role == "master")
    rank = {s: i for i, s in enumerate(priority)}
    systems = sorted({r.source for r in records}, key=lambda s: (rank.get(s, len(rank)), s))
    if len(systems) > 1:
        reason = (
            f"source priority {' > '.join(priority)}: {master.source} ranks first of"
            f" {', '.join(systems)}"
        )
    else:
        reason = f"{master.source} is its only system"
    same = [r for r in records if r.source == master.source]
    if len(same) > 1:
        reason += f"; lowest customer number of its {len(same)} {master.source} records"
    return reason


def _accounts(accounts: pa.Table, uses: list[AccountUse]) -> list[Account]:
    """The customer's accounts (`accounts`: theirs only), each with what it fed."""
    by_row = {use.row: use for use in uses}
    return [
        Account(
            source=row["source"],
            acct_no=row["acct_no"],
            cust_no=row["cust_no"],
            kind=row["kind"],
            currency=row["currency"],
            status=row["status"],
            balance=row["balance"],
            balance_cny=row["balance_cny"],
            in_scope=bool(row.get("in_scope", True)),
            use=by_row.get(i, AccountUse(i)),
        )
        for i, row in enumerate(accounts.to_pylist())
    ]


@dataclass(frozen=True)
class _Scored:
    """One merged customer of a customer base, scored with the date's formulas."""

    row: int
    accounts: pa.Table  # its accounts only
    breakdown: Breakdown


def _score(base: CustomerBase, row: int, formulas: FormulaSet, province: str, day: date) -> _Scored:
    customer = base.customers.slice(row, 1)
    key = customer.column("cust_key")[0].as_py()
    accounts = base.accounts.filter(pc.equal(base.accounts.column("cust_key"), key))
    (result,) = breakdown(formulas.for_province(province, day), accounts, customer)
    return _Scored(row, accounts, result)


def _history(
    area: StagingArea,
    query: Query,
    dates: list[date],
    identity: Identity,
    cust_key: str,
    formulas: FormulaSet,
) -> list[DatePoint]:
    """The customer's score on each of `dates`, each on its own snapshot and formulas."""
    points = []
    probe = _probe([(identity.cust_type, identity.id_type, identity.id_no)])
    for day in dates:
        if not area.store.is_dir(area.state_dir(query.province, day.strftime("%Y%m%d"))):
            points.append(DatePoint(day, None, None, None, "no state snapshot of that date"))
            continue
        base = customer_base(area, query.province, day, probe)
        rows = [
            i for i, k in enumerate(base.customers.column("cust_key").to_pylist()) if k == cust_key
        ]
        if not rows:
            points.append(DatePoint(day, None, None, None, "not a customer on that date"))
            continue
        scored = _score(base, rows[0], formulas, query.province, day).breakdown
        points.append(DatePoint(day, scored.score, scored.qualified, scored.formula_id))
    return points


def explain(
    query: Query,
    staging: str | Path | None = None,
    warehouse_url: str | None = None,
    formulas: Path | None = None,
) -> Explanation:
    """Explain one customer of `query.province` on `query.business_date` (published)."""
    day = _day(query.business_date)
    if query.province not in cfg.provinces().provinces:
        raise PipelineError(f"--province {query.province}: not a configured province")
    warehouse = Warehouse(warehouse_url)
    try:
        area = StagingArea.open(settings.staging_url(staging))
        return _explain(query, day, area, warehouse, formulas)
    finally:
        warehouse.dispose()


def _explain(
    query: Query, day: date, area: StagingArea, warehouse: Warehouse, formulas: Path | None
) -> Explanation:
    province = query.province
    dates = published_dates(warehouse.engine, province)
    if day not in dates:
        last = f" (last published: {dates[-1]:%Y%m%d})" if dates else ""
        raise PipelineError(f"{province} has no published load of {query.business_date}{last}")
    if query.crm_cust_id is not None:
        identity = identity_of(warehouse.engine, province, query.crm_cust_id)
        if identity is None:
            raise PipelineError(
                f"unknown customer: no crm_cust_id {query.crm_cust_id} in {province}"
            )
        probe = _probe([(identity.cust_type, identity.id_type, identity.id_no)])
        what = (
            f"crm_cust_id {query.crm_cust_id} has no source record in {province}'s state of"
            f" {query.business_date}: the CRM keeps its last published row"
        )
        base = customer_base(area, province, day, probe)
        wanted = {f"{identity.cust_type}|{identity.id_type}|{identity.id_no}"}
    else:
        if query.id_type is None or query.id_no is None:
            raise PipelineError("give --id-type and --id-no, or --crm-cust-id")
        id_type = canonical_id_type(query.id_type)
        id_no = _normalized(id_type, query.id_no)
        if not id_no:
            raise PipelineError(f"--id-no {query.id_no!r}: no number left once cleaned")
        probe = _probe([("P", id_type, id_no), ("C", id_type, id_no)])
        what = (
            f"unknown customer: no customer of {province} with id type {id_type} number"
            f" {id_no} on {query.business_date}"
        )
        base = customer_base(area, province, day, probe)
        wanted = _keys_of_number(base, id_type, id_no)
    row = _chosen(base, wanted, what)
    merged = base.customers.slice(row, 1).to_pylist()[0]
    identity = Identity(merged["cust_type"], merged["id_type"], merged["id_no"])
    formula_set = load_formulas(formulas or formulas_dir())
    scored = _score(base, row, formula_set, province, day)
    records = _records(base, merged["cust_key"], merged["id_type"])
    earlier = [d for d in dates if d < day]
    return Explanation(
        province=province,
        business_date=day,
        cust_key=merged["cust_key"],
        cust_type=merged["cust_type"],
        key_id_type=merged["id_type"],
        key_id_no=merged["id_no"],
        name=merged["name"],
        master_source=merged["master_source"],
        master_cust_no=merged["master_cust_no"],
        master_reason=master_reason(records, list(cfg.provinces().source_priority)),
        sources=records,
        accounts=_accounts(scored.accounts, scored.breakdown.accounts),
        score=scored.breakdown,
        crm=crm_customer_of(warehouse.engine, province, identity),
        history=_history(area, query, earlier, identity, merged["cust_key"], formula_set),
    )
