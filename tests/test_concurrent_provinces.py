"""Two provinces loading at the same time into one PostgreSQL warehouse, in two processes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from crm_pipeline.run import run_date
from crm_pipeline.sample import write_sample

DATE = "20261124"
pytestmark = [pytest.mark.postgres]

# The CRM's view, keyed by what identifies a customer rather than by the id it was given
# (ids come from one sequence, so two provinces loading at once interleave them).
VIEW = {
    "customers": """select c.province, c.cust_type, c.id_type, c.id_no, c.master_source,
                           c.master_cust_no, c.score, c.qualified
                    from crm_customer c""",
    "accounts": """select c.province, c.id_no, a.source, a.acct_no, a.balance, a.balance_cny
                   from crm_account a join crm_customer c on c.crm_cust_id = a.crm_cust_id""",
    "sources": """select c.province, c.id_no, s.source, s.source_cust_no, s.role
                  from crm_customer_source s
                  join crm_customer c on c.crm_cust_id = s.crm_cust_id""",
    "rejects": "select file, line, reason from crm_reject",
    "published": "select province from crm_load_batch where status = 'published'",
}


def crm_view(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: sorted(tuple(str(v) for v in row) for row in conn.execute(text(sql)))
                for name, sql in VIEW.items()
            }
    finally:
        engine.dispose()


def test_two_provinces_at_once_equal_one_after_the_other(pg_server: Any, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_sample(landing, date(2026, 11, 24), ["ZJ", "NB", "GD", "SZ"], 400, 17)
    sequential = pg_server.url(pg_server.create_database())
    summaries = run_date(DATE, "initial", landing, ["ZJ", "GD"], sequential, tmp_path / "seq")
    assert [s.status for s in summaries] == ["published", "published"]

    concurrent = pg_server.url(pg_server.create_database())
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "crm_pipeline.cli",
                "run",
                "--date",
                DATE,
                "--mode",
                "initial",
                "--landing",
                str(landing),
                "--province",
                province,
                "--warehouse",
                concurrent,
                "--staging",
                str(tmp_path / "shared"),
            ],
            env={**os.environ, "CRM_LOAD_CHUNK_ROWS": "50"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for province in ("ZJ", "GD")
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outputs)

    view = crm_view(concurrent)
    assert view == crm_view(sequential)
    assert view["published"] == [("GD",), ("ZJ",)]
    engine = create_engine(concurrent)
    with engine.connect() as conn:
        ids = conn.execute(text("select crm_cust_id from crm_customer")).scalars().all()
    engine.dispose()
    assert len(ids) == len(set(ids)) == len(view["customers"])
