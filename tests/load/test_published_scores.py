"""The published totals the quality gate compares a daily night with (load.published_scores):
exact against a Fraction oracle on SQLite and PostgreSQL, by the registry's key."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import insert, text

from load import Warehouse
from load.published_scores import Totals, province_totals, touched_totals
from load.tables import crm_customer, crm_customer_key

ID_TYPES = ["01", "02", "20"]


def _customers(seed: int, n: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows = []
    for number in range(1, n + 1):
        cents = rng.choice([0, 1, -1, 50, -50, 99, 10**14 + 7, -(10**13)]) + rng.randrange(10**9)
        rows.append(
            {
                "crm_cust_id": number,
                "province": rng.choice(["ZJ", "ZJ", "JS"]),
                "cust_type": rng.choice("PC"),
                "id_type": rng.choice(ID_TYPES),
                "id_no": f"{number:018d}",
                "score": Decimal(cents).scaleb(-2),
                "qualified": rng.random() < 0.6,
            }
        )
    return rows


def _publish(warehouse: Warehouse, rows: list[dict[str, object]]) -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    keys = ["crm_cust_id", "province", "cust_type", "id_type", "id_no"]
    with warehouse.engine.begin() as conn:
        conn.execute(
            insert(crm_customer_key),
            [{**{k: r[k] for k in keys}, "batch_id": 1, "assigned_at": now} for r in rows],
        )
        conn.execute(
            insert(crm_customer),
            [
                {
                    **r, "name": "n", "id_valid": True, "master_source": "RTL",
                    "master_cust_no": str(r["crm_cust_id"]), "source_count": 1,
                    "formula_id": "f@1", "batch_id": 1, "first_batch_id": 1,
                }
                for r in rows
            ],
        )  # fmt: skip


def _identity(row: dict[str, object]) -> tuple[str, str, str]:
    return str(row["cust_type"]), str(row["id_type"]), str(row["id_no"])


def _oracle(rows: list[dict[str, object]], wanted: set[tuple[str, str, str]] | None) -> dict:
    out: dict[str, tuple[int, Fraction]] = {}
    for r in rows:
        identity = _identity(r)
        if (
            r["province"] != "ZJ"
            or not r["qualified"]
            or (wanted is not None and identity not in wanted)
        ):
            continue
        n, total = out.get(str(r["cust_type"]), (0, Fraction(0)))
        out[str(r["cust_type"])] = (n + 1, total + Fraction(str(r["score"])))
    return out


def _as_fractions(totals: dict[str, Totals]) -> dict:
    return {k: (t.qualified, Fraction(t.score)) for k, t in totals.items()}


def test_totals_exact_against_the_oracle(warehouse: Warehouse) -> None:
    rows = _customers(7, 1500)
    _publish(warehouse, rows)
    assert _as_fractions(province_totals(warehouse.engine, "ZJ")) == _oracle(rows, None)
    rng = random.Random(3)
    wanted = {_identity(r) for r in rng.sample(rows, 700)}
    wanted |= {("P", "01", "999999999999999999"), ("C", "20", "000000000000000001")}  # unknown
    assert _as_fractions(touched_totals(warehouse.engine, "ZJ", wanted)) == _oracle(rows, wanted)


def test_a_score_not_in_two_decimals_is_still_summed_exactly(warehouse: Warehouse) -> None:
    """SQLite keeps decimal text; a row written by other means ('12.5') must not be summed
    as cents of the wrong scale."""
    rows = _customers(11, 40)
    for row in rows[:2]:
        row["province"], row["qualified"] = "ZJ", True
    _publish(warehouse, rows)
    if warehouse.engine.dialect.name == "sqlite":
        with warehouse.engine.begin() as conn:
            conn.execute(text("UPDATE crm_customer SET score = '12.5' WHERE crm_cust_id = 1"))
            conn.execute(text("UPDATE crm_customer SET score = '7' WHERE crm_cust_id = 2"))
    else:
        with warehouse.engine.begin() as conn:
            conn.execute(text("UPDATE crm_customer SET score = 12.5 WHERE crm_cust_id = 1"))
            conn.execute(text("UPDATE crm_customer SET score = 7 WHERE crm_cust_id = 2"))
    rows[0]["score"], rows[1]["score"] = Decimal("12.5"), Decimal("7")
    assert _as_fractions(province_totals(warehouse.engine, "ZJ")) == _oracle(rows, None)
