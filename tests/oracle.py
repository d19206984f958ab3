"""A plain, per-record reference implementation of the specification, for tests only.

Written from ../shared/spec/core-dumps.md, crm-import.md and reference-formulas.md (and
the choices of docs/decisions.md), deliberately without the pipeline's code: no
``transform``, no ``load``, no Arrow. Only the layouts and the province map come from
``common.config`` (they are data, the contract's tables). Every record is handled by
ordinary Python, every amount is an exact ``Decimal`` or ``Fraction``, so that a test can
compare the pipeline's vectorized result with an independent reading of the same files.

Entry points:

- ``read_rates(landing, day)``: the date's FX rates, CNY per 100 units (CNY is 100);
- ``flag_for(path, layout)``: the `.ok` a data file should have (bytes, lines, control sum);
- ``normalize_id(id_type, number)`` and the GB 11643 / 11714 / 32100 check characters;
- ``run_province(landing, day, province)``: a province's initial load as the spec defines
  it: per file counts and set-aside lines, source customers, kept accounts, merged
  customers with their master record, score (rounded to the fen) and qualification.

Set-aside reasons use the sample manifest's categories (``field_count``, ``byte_length``,
``decode``, ``date``, ``amount``, ``int``, ``code``, ``duplicate_key``, ``orphan``) plus
``line_end``, ``required``, ``cross_branch`` and ``no_rate`` for rules the generator does
not exercise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Context, Decimal, Inexact
from fractions import Fraction
from pathlib import Path

from common.config import FieldSpec, Layout, layouts, provinces

# --- the contract's constants (reference-formulas.md) -----------------------------------

# province: (personal threshold, corporate threshold, RTL export filter), CNY
PROVINCE_VALUES: dict[str, tuple[int, int, int]] = {
    "ZJ": (500_000, 5_000_000, 50_000),
    "JS": (500_000, 5_000_000, 50_000),
    "GD": (800_000, 8_000_000, 100_000),
    "SD": (300_000, 3_000_000, 30_000),
    "BJ": (1_000_000, 10_000_000, 50_000),
}
FUND_COEF: dict[str, Fraction] = {"GD": Fraction(3, 2)}  # 2 elsewhere
SYSTEMS = ("RTL", "CRD", "LON", "FND")
ACCOUNT_ENTITY = {"RTL": "ACCT", "CRD": "ACCT", "LON": "ACCT", "FND": "HOLD"}
CRD_ID_TYPES = {
    "I": "01",
    "R": "02",
    "P": "03",
    "M": "04",
    "H": "05",
    "T": "06",
    "F": "07",
    "O": "21",
    "B": "22",
    "U": "23",
    "X": "99",
}


EXACT = Context(prec=100, traps=[Inexact])


def exact_cny(amount: Decimal, cny_per_100: Decimal) -> Decimal:
    """`amount` in CNY, exactly (2 decimals x up to 4 decimals / 100: never rounded)."""
    return EXACT.divide(EXACT.multiply(amount, cny_per_100), Decimal(100))


def province_values(province: str) -> tuple[int, int, int]:
    return PROVINCE_VALUES.get(province, PROVINCE_VALUES["ZJ"])


# --- lines and fields --------------------------------------------------------------------


def split_lines(data: bytes) -> list[bytes]:
    """The file's lines, each with its terminator (a last line without one is a line)."""
    if not data:
        return []
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


class SetAside(Exception):
    """A record that cannot be trusted as a whole; `reason` is a manifest category."""

    def __init__(self, reason: str, field_name: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field_name


def raw_fields(line: bytes, layout: Layout) -> list[str]:
    """Decoded, untyped field values of a line, or SetAside for a structural problem."""
    crlf = layout.line_end == "crlf"
    if crlf:
        if not line.endswith(b"\r\n"):
            body = line.rstrip(b"\n")
            if len(body) == layout.record_width:
                raise SetAside("line_end")
            raise SetAside("byte_length")
        body = line[:-2]
    else:
        body = line[:-1] if line.endswith(b"\n") else line
    if layout.format == "fixed":
        if len(body) != layout.record_width:
            raise SetAside("byte_length")
        values, pos = [], 0
        for spec in layout.fields:
            width = spec.width or 0
            try:
                values.append(body[pos : pos + width].decode(layout.encoding))
            except UnicodeDecodeError:
                raise SetAside("decode", spec.name) from None
            pos += width
        return values
    try:
        text = body.decode(layout.encoding)
    except UnicodeDecodeError:
        raise SetAside("decode") from None
    values = text.split("|")
    if len(values) != len(layout.fields):
        raise SetAside("field_count")
    return values


def amount_pattern(spec: FieldSpec) -> re.Pattern[str]:
    decimals = f"{{1,{spec.scale}}}" if spec.max_scale else f"{{{spec.scale}}}"
    return re.compile(rf"-?[0-9]+\.[0-9]{decimals}")


def parse_date(value: str) -> date | None:
    if value in ("", "00000000"):
        return None
    if not re.fullmatch(r"[0-9]{8}", value):
        raise ValueError(value)
    return date(int(value[:4]), int(value[4:6]), int(value[6:]))


def typed_record(values: list[str], layout: Layout) -> dict[str, object]:
    """Typed values by field name; SetAside for the first field (layout order) that fails."""
    config = layouts()
    out: dict[str, object] = {}
    for spec, value in zip(layout.fields, values, strict=True):
        if spec.type == "text":
            text = value.rstrip(" ") if layout.format == "fixed" else value
            if spec.required and text == "":
                raise SetAside("required", spec.name)
            out[spec.name] = text
            continue
        value = value.strip(" ")
        if spec.type == "code":
            codes = config.code_values(spec.codes or "")
            if value not in codes:
                raise SetAside("code", spec.name)
            out[spec.name] = codes[value]
        elif spec.type == "date":
            try:
                out[spec.name] = parse_date(value)
            except ValueError:
                raise SetAside("date", spec.name) from None
        elif spec.type == "amount":
            if not amount_pattern(spec).fullmatch(value):
                raise SetAside("amount", spec.name)
            out[spec.name] = Decimal(value)
        else:  # int
            if not re.fullmatch(r"-?[0-9]+", value):
                raise SetAside("int", spec.name)
            out[spec.name] = int(value)
    return out


def control_value(line: bytes, layout: Layout) -> Decimal:
    """The line's contribution to the flag's control sum (0 when too malformed)."""
    if layout.control is None:
        return Decimal("0.00")
    spec = next(f for f in layout.fields if f.name == layout.control)
    try:
        values = raw_fields(line, layout)
    except SetAside as problem:
        if problem.reason != "decode" or layout.format != "fixed":
            return Decimal("0.00")
        # A fixed-width line of the right length: its control field is still where it is.
        body = line[:-2]
        start = sum(f.width or 0 for f in layout.fields[: layout.fields.index(spec)])
        raw = body[start : start + (spec.width or 0)]
        try:
            values = [""] * len(layout.fields)
            values[layout.fields.index(spec)] = raw.decode("ascii")
        except UnicodeDecodeError:
            return Decimal("0.00")
    value = values[layout.fields.index(spec)].strip(" ")
    return Decimal(value) if amount_pattern(spec).fullmatch(value) else Decimal("0.00")


def flag_for(path: Path, layout: Layout) -> str:
    """The `.ok` content a data file should have (core-dumps.md sections 3 and 8)."""
    data = path.read_bytes()
    lines = split_lines(data)
    control = sum((control_value(line, layout) for line in lines), Decimal("0.00"))
    return f"{path.name}|{len(data)}|{len(lines)}|{control:.2f}\n"


# --- files -------------------------------------------------------------------------------


@dataclass
class Line:
    """One line of a file and what became of it."""

    file: str  # data file name
    branch: str
    number: int  # 1-based
    record: dict[str, object] | None = None
    key: str | None = None
    set_aside: str | None = None  # reason category
    field: str | None = None
    filtered: bool = False


@dataclass
class FileResult:
    name: str
    path: Path
    branch: str
    system: str
    entity: str
    layout: Layout
    lines: list[Line]
    flag_ok: bool = True
    flag_problem: str = ""
    flagged: int = 0

    @property
    def read(self) -> int:
        return len(self.lines)

    @property
    def set_aside(self) -> int:
        return sum(1 for line in self.lines if line.set_aside)

    @property
    def filtered(self) -> int:
        return sum(1 for line in self.lines if line.filtered)

    @property
    def kept(self) -> int:
        return sum(1 for line in self.lines if not line.set_aside and not line.filtered)

    def counts(self) -> tuple[int, int, int, int, int]:
        return (self.read, self.kept, self.set_aside, self.filtered, self.flagged)

    def kept_lines(self) -> list[Line]:
        return [line for line in self.lines if not line.set_aside and not line.filtered]


def read_file(path: Path, branch: str, system: str, entity: str) -> FileResult:
    """Every line of one data file, typed or set aside; file-internal duplicate keys."""
    layout = layouts().layout_for(system, entity)
    data = path.read_bytes()
    raw_lines = split_lines(data)
    result = FileResult(path.name, path, branch, system, entity, layout, [])
    key_index = layout.field_names.index(layout.key[0])
    keys: dict[str, int] = {}
    for number, raw in enumerate(raw_lines, 1):
        line = Line(path.name, branch, number)
        try:
            values = raw_fields(raw, layout)
        except SetAside as problem:
            line.set_aside, line.field = problem.reason, problem.field
        else:
            # The key of a structurally sound line counts for duplicates, typed or not.
            key_spec = layout.fields[key_index]
            key = values[key_index]
            line.key = key.rstrip(" ") if key_spec.type == "text" else key.strip(" ")
            keys[line.key] = keys.get(line.key, 0) + 1
            try:
                line.record = typed_record(values, layout)
            except SetAside as problem:
                line.set_aside, line.field = problem.reason, problem.field
        result.lines.append(line)
    for line in result.lines:
        if line.key is not None and keys[line.key] > 1 and not line.set_aside:
            line.set_aside = "duplicate_key"
    flag_text = path.with_suffix(".ok").read_text(encoding="ascii")
    expected = flag_for(path, layout)
    if flag_text != expected:
        result.flag_ok = False
        result.flag_problem = f"{path.name}: flag {flag_text!r}, file gives {expected!r}"
    return result


def read_rates(landing: Path, day: str) -> dict[str, Decimal]:
    """CNY per 100 units of each currency on `day`; CNY itself is 100."""
    path = landing / day / f"FXR_RATE_{day}.dat"
    result = read_file(path, "", "FXR", "RATE")
    if not result.flag_ok or result.set_aside:
        raise ValueError(f"FX file not usable: {result.flag_problem or 'bad records'}")
    rates = {"CNY": Decimal(100)}
    for line in result.lines:
        assert line.record is not None
        rates[str(line.record["currency"])] = Decimal(str(line.record["cny_per_100"]))
    return rates


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


# --- customers, accounts, merge, score --------------------------------------------------


@dataclass
class SourceCustomer:
    source: str
    branch: str
    file: str
    line: int
    cust_no: str
    cust_type: str
    name: str
    id_type: str  # canonical
    id_no_raw: str
    id_no: str  # normalized
    id_valid: bool


@dataclass
class Account:
    source: str
    branch: str
    file: str
    line: int
    acct_no: str
    cust_no: str
    kind: str  # DEMAND TIME CARD LOAN FUND
    currency: str
    balance: Decimal
    balance_cny: Decimal  # exact
    status: str
    term_months: int = 0
    overdraft: Decimal = Decimal("0.00")
    overdue_balance: Decimal = Decimal("0.00")
    overdue_periods: int = 0
    rate: Decimal = Decimal(100)

    def cny(self, amount: Decimal) -> Decimal:
        return exact_cny(amount, self.rate)


@dataclass
class MergedCustomer:
    cust_type: str
    id_type: str
    id_no: str
    members: list[SourceCustomer]
    master: SourceCustomer
    accounts: list[Account] = field(default_factory=list)
    score: Decimal = Decimal("0.00")
    qualified: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.cust_type, self.id_type, self.id_no)

    @property
    def master_source(self) -> str:
        return self.master.source

    @property
    def master_cust_no(self) -> str:
        return self.master.cust_no


@dataclass
class ProvinceResult:
    province: str
    day: str
    files: list[FileResult]
    customers: list[SourceCustomer]
    accounts: list[Account]
    merged: list[MergedCustomer]

    @property
    def failed_files(self) -> list[FileResult]:
        return [f for f in self.files if not f.flag_ok]

    def file(self, name: str) -> FileResult:
        return next(f for f in self.files if f.name == name)

    def qualified(self) -> list[MergedCustomer]:
        return [m for m in self.merged if m.qualified]


def cust_no_order(cust_no: str) -> tuple[int, int, bytes]:
    """Within one system: digit-only numbers numerically (ties as strings), then the rest."""
    if re.fullmatch(r"[0-9]+", cust_no):
        return (0, int(cust_no), cust_no.encode())
    return (1, 0, cust_no.encode())


def master_of(members: list[SourceCustomer], priority: list[str]) -> SourceCustomer:
    def rank(c: SourceCustomer) -> tuple[int, tuple[int, int, bytes]]:
        pos = priority.index(c.source) if c.source in priority else len(priority)
        return (pos, cust_no_order(c.cust_no))

    return min(members, key=rank)


def merge(customers: list[SourceCustomer], priority: list[str]) -> list[MergedCustomer]:
    """Group by (cust_type, id_type, number); organization codes join their credit code."""
    credit_by_org: dict[tuple[str, str], set[str]] = {}
    for c in customers:
        if c.id_valid and c.id_type == "23":
            credit_by_org.setdefault((c.cust_type, c.id_no[8:17]), set()).add(c.id_no)
    groups: dict[tuple[str, str, str], list[SourceCustomer]] = {}
    for c in customers:
        if c.id_no == "":
            key = (c.cust_type, c.id_type, f"(no id) {c.source} {c.cust_no}")
        elif c.id_valid and c.id_type == "21":
            credits = credit_by_org.get((c.cust_type, c.id_no), set())
            key = (
                (c.cust_type, "23", next(iter(credits)))
                if len(credits) == 1
                else (c.cust_type, "21", c.id_no)
            )
        else:
            key = (c.cust_type, c.id_type, c.id_no)
        groups.setdefault(key, []).append(c)
    return [
        MergedCustomer(key[0], key[1], key[2], members, master_of(members, priority))
        for key, members in groups.items()
    ]


def round_fen(value: Fraction) -> Decimal:
    """Half away from zero, to two decimals, exactly."""
    sign = -1 if value < 0 else 1
    fen = int(abs(value) * 100 + Fraction(1, 2))  # floor of a non-negative number
    return Decimal(sign * fen) / 100


def score(customer: MergedCustomer, province: str) -> Fraction:
    """The reference formula of the customer's type over its non-closed accounts."""
    total = Fraction(0)
    personal = customer.cust_type == "P"
    coef = FUND_COEF.get(province, Fraction(2))
    for a in customer.accounts:
        if a.status == "C":
            continue
        bal = Fraction(a.balance_cny)
        fx = a.currency != "CNY"
        if a.kind == "DEMAND":
            total += bal * (Fraction(3, 2) if fx and personal else 1)
        elif a.kind == "TIME":
            if not personal:
                total += bal
            elif fx:  # time_fx_term / 1.2 (time_fx itself is not a personal term)
                total += bal * a.term_months / 12 / Fraction(6, 5)
            else:  # time_cny + time_cny_term / 1.5
                total += bal + bal * a.term_months / 12 / Fraction(3, 2)
        elif a.kind == "CARD":
            if personal:
                total += bal * (Fraction(13, 10) if fx else Fraction(11, 10))
            else:
                total += bal
            total -= Fraction(a.cny(a.overdraft))
        elif a.kind == "LOAN":
            if personal:
                if a.term_months > 0:
                    total += Fraction(6, 5) * bal / a.term_months
                total += Fraction(a.cny(a.overdue_balance)) * a.overdue_periods
        elif a.kind == "FUND":
            total += bal * (coef if personal else 1)
        else:
            raise AssertionError(a.kind)
    return total


def province_files(landing: Path, day: str, province: str) -> list[tuple[str, str, str, Path]]:
    """(branch, system, entity, path) of the province's initial-load files, province first."""
    out = []
    for branch in provinces().branches_of(province):
        folder = landing / day / branch
        if not folder.is_dir():
            continue
        for system in SYSTEMS:
            for entity in ("CUST", ACCOUNT_ENTITY[system]):
                out.append(
                    (branch, system, entity, folder / f"{system}_{entity}_{branch}_{day}.dat")
                )
    return out


def run_province(landing: Path, day: str, province: str) -> ProvinceResult:
    """A province's initial load, per the spec, one record at a time."""
    rates = read_rates(landing, day)
    files = [read_file(p, b, s, e) for b, s, e, p in province_files(landing, day, province)]
    _, _, export_filter = province_values(province)

    # Customers: the first occurrence of a customer number across the province's files.
    customers: list[SourceCustomer] = []
    seen: set[tuple[str, str]] = set()
    for f in files:
        if f.entity != "CUST":
            continue
        for line in f.lines:
            if line.set_aside:
                continue
            rec = line.record
            assert rec is not None
            cust_no = str(rec["cust_no"])
            if (f.system, cust_no) in seen:
                line.set_aside = "cross_branch"
                continue
            seen.add((f.system, cust_no))
            id_type = str(rec["id_type"])  # CRD letters already mapped by the code set
            number, valid = normalize_id(id_type, str(rec["id_no"]))
            if not valid:
                f.flagged += 1
            customers.append(
                SourceCustomer(
                    f.system,
                    f.branch,
                    f.name,
                    line.number,
                    cust_no,
                    str(rec["cust_type"]),
                    str(rec["name"]),
                    id_type,
                    str(rec["id_no"]),
                    number,
                    valid,
                )
            )
    known = {(c.source, c.cust_no) for c in customers}

    accounts: list[Account] = []
    seen = set()
    for f in files:
        if f.entity == "CUST":
            continue
        for line in f.lines:
            if line.set_aside:
                continue
            rec = line.record
            assert rec is not None
            acct_no = str(rec[f.layout.key[0]])
            if (f.system, acct_no) in seen:
                line.set_aside = "cross_branch"
                continue
            seen.add((f.system, acct_no))
            if (f.system, str(rec["cust_no"])) not in known:
                line.set_aside = "orphan"
                continue
            currency = str(rec["currency"])
            if currency not in rates:
                line.set_aside = "no_rate"
                continue
            account = _account(f, line, rec, rates[currency])
            if f.system == "RTL" and account.balance_cny < export_filter:
                line.filtered = True
                continue
            accounts.append(account)

    merged = merge(customers, list(provinces().source_priority))
    owner = {(c.source, c.cust_no): m for m in merged for c in m.members}
    for a in accounts:
        owner[(a.source, a.cust_no)].accounts.append(a)
    p_threshold, c_threshold, _ = province_values(province)
    for m in merged:
        m.score = round_fen(score(m, province))
        m.qualified = m.score >= (p_threshold if m.cust_type == "P" else c_threshold)
    return ProvinceResult(province, day, files, customers, accounts, merged)


def _account(f: FileResult, line: Line, rec: dict[str, object], rate: Decimal) -> Account:
    def money(name: str) -> Decimal:
        value = rec[name]
        assert isinstance(value, Decimal)
        return value

    def whole(name: str) -> int:
        value = rec[name]
        assert isinstance(value, int)
        return value

    balance_field = {"RTL": "balance", "CRD": "deposit_balance", "LON": "principal_balance"}
    balance = money(balance_field.get(f.system, "market_value"))
    # RTL's product code set maps D -> DEMAND and T -> TIME (config/layouts.yaml).
    kind = {"CRD": "CARD", "LON": "LOAN", "FND": "FUND"}.get(f.system) or str(rec["product"])
    assert kind in ("DEMAND", "TIME", "CARD", "LOAN", "FUND"), kind
    account = Account(
        source=f.system,
        branch=f.branch,
        file=f.name,
        line=line.number,
        acct_no=str(rec[f.layout.key[0]]),
        cust_no=str(rec["cust_no"]),
        kind=kind,
        currency=str(rec["currency"]),
        balance=balance,
        balance_cny=exact_cny(balance, rate),
        status=str(rec.get("status", "N")),
        rate=rate,
    )
    if f.system in ("RTL", "LON"):
        account.term_months = whole("term_months")
    if f.system == "CRD":
        account.overdraft = money("overdraft_amount")
    if f.system == "LON":
        account.overdue_balance = money("overdue_balance")
        account.overdue_periods = whole("overdue_periods")
    return account
