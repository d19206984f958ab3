"""The trial report: one self-contained HTML page an analyst opens in any browser.

Everything is in the one file (styles inline, histograms as inline SVG, no script, no
fetched resource), so it can be mailed, attached to a change request or opened from the
Airflow task's link without a server. Beside it, `changes.csv` holds the complete enter
and leave lists (the page lists the first `limit` of each). Elements carry ids
(`summary-ZJ-P`, `bands-ZJ-P`, `enter-ZJ`, `leave-ZJ`) so tests and scripts can find them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from html import escape
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from transform.scoring.report_svg import bin_label, money, svg_histogram
from transform.scoring.trial import Change, Histogram, ProvinceTrial

STYLE = """
body { font-family: sans-serif; margin: 1.5em 2em; color: #212529; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ced4da; padding: 2px 8px; }
th { background: #f1f3f5; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.note { background: #fff3bf; padding: 4px 8px; }
code { font-size: 90%; }
"""


def _row(
    cells: Iterable[str], numeric: Sequence[bool] = (), tag: str = "td", attrs: str = ""
) -> str:
    parts = []
    for index, cell in enumerate(cells):
        css = ' class="n"' if index < len(numeric) and numeric[index] else ""
        parts.append(f"<{tag}{css}>{cell}</{tag}>")
    return f"<tr{attrs}>" + "".join(parts) + "</tr>"


def _table(
    ident: str, headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool]
) -> list[str]:
    out = [f'<table id="{escape(ident)}">', "<thead>", _row(map(escape, headers), (), "th")]
    out += ["</thead>", "<tbody>"]
    out += [_row(row, numeric) for row in rows]
    out += ["</tbody>", "</table>"]
    return out


def _summary(trials: list[ProvinceTrial]) -> list[str]:
    headers = ["province", "type", "customers", "qualified now", "qualified with candidate",
               "enter", "leave", "formula in force", "candidate formula"]  # fmt: skip
    out = ['<table id="summary">', "<thead>", _row(map(escape, headers), (), "th"), "</thead>"]
    out.append("<tbody>")
    for t in trials:
        for cust_type in sorted(t.candidate_qualified):
            enter = sum(1 for c in t.entering if c.cust_type == cust_type)
            leave = sum(1 for c in t.leaving if c.cust_type == cust_type)
            cells = [
                escape(t.province), escape(cust_type), f"{t.customers_by_type.get(cust_type, 0):,}",
                f"{t.current_qualified.get(cust_type, 0):,}", f"{t.candidate_qualified[cust_type]:,}",
                f"{enter:,}", f"{leave:,}", f"<code>{escape(t.current_ids.get(cust_type, '-'))}</code>",
                f"<code>{escape(t.candidate_ids[cust_type])}</code>",
            ]  # fmt: skip
            numeric = [False, False, True, True, True, True, True]
            ident = f' id="summary-{escape(t.province)}-{escape(cust_type)}"'
            out.append(_row(cells, numeric, attrs=ident))
    out += ["</tbody>", "</table>"]
    return out


def _bands(t: ProvinceTrial, h: Histogram) -> list[str]:
    """Enter and leave per score band (the candidate's score, the histogram's bins)."""
    enter = [0] * len(h.counts)
    leave = [0] * len(h.counts)
    for changes, counts in ((t.entering, enter), (t.leaving, leave)):
        for change in changes:
            if change.cust_type == h.cust_type and change.candidate_score is not None:
                counts[h.bin_of(change.candidate_score)] += 1
    rows = [
        [escape(bin_label(h, i)), f"{h.counts[i]:,}", f"{enter[i]:,}", f"{leave[i]:,}"]
        for i in range(len(h.counts))
    ]
    return _table(
        f"bands-{t.province}-{h.cust_type}",
        ["candidate score", "customers", "enter", "leave"],
        rows,
        [False, True, True, True],
    )


def _changes(t: ProvinceTrial, title: str, changes: list[Change], limit: int) -> list[str]:
    out = [f"<h3>{escape(t.province)}: customers who would {title} the CRM ({len(changes):,})</h3>"]
    if not changes:
        return [*out, "<p>none</p>"]
    rows = [
        [escape(c.cust_key), escape(c.cust_type), money(c.current_score), money(c.candidate_score)]
        for c in changes[:limit]
    ]
    out += _table(
        f"{title}-{t.province}",
        ["customer", "type", "score now", "score with candidate"],
        rows,
        [False, False, True, True],
    )
    if len(changes) > limit:
        out.append(f"<p>... {len(changes) - limit:,} more in changes.csv next to this report</p>")
    return out


def _province(t: ProvinceTrial, limit: int) -> list[str]:
    out = [f'<section id="province-{escape(t.province)}">', f"<h2>{escape(t.province)}</h2>"]
    out += [f'<p class="note">note: {escape(note)}</p>' for note in t.notes]
    for h in t.histograms:
        out.append(
            f"<h3>{escape(t.province)} {escape(h.cust_type)}: scores with the candidate</h3>"
        )
        quantiles = t.quantiles.get(h.cust_type, [])
        if quantiles:
            out += _table(
                f"quantiles-{t.province}-{h.cust_type}",
                [f"p{int(q * 100)}" for q, _ in quantiles],
                [[money(v) for _, v in quantiles]],
                [True] * len(quantiles),
            )
        out.append(svg_histogram(h, f"{t.province} {h.cust_type} scores (candidate)"))
        out += _bands(t, h)
    out += _changes(t, "enter", t.entering, limit)
    out += _changes(t, "leave", t.leaving, limit)
    out.append("</section>")
    return out


def html_report(
    candidate_file: str,
    candidate_sha: str,
    business_date: date,
    trials: list[ProvinceTrial],
    limit: int = 100,
) -> str:
    """The whole page."""
    title = f"Formula trial: {Path(candidate_file).name}"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        "<ul>",
        f"<li>candidate file: <code>{escape(candidate_file)}</code></li>",
        f"<li>candidate content sha256: <code>{candidate_sha}</code></li>",
        f'<li>business date: <span id="business-date">{business_date.isoformat()}</span></li>',
        f"<li>provinces: {escape(', '.join(t.province for t in trials))}</li>",
        "</ul>",
        "<p>Scores are computed exactly and rounded once to the fen; a customer qualifies at "
        "or above the threshold. The CRM tables are not touched.</p>",
        *_summary(trials),
    ]
    for t in trials:
        out += _province(t, limit)
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def write_report(
    out: Path,
    candidate_file: str,
    sha: str,
    business_date: date,
    trials: list[ProvinceTrial],
    limit: int,
) -> Path:
    """`report.html` and the full enter/leave lists as `changes.csv`, in folder `out`."""
    out.mkdir(parents=True, exist_ok=True)
    rows = [
        (t.province, direction, c)
        for t in trials
        for direction, changes in (("enter", t.entering), ("leave", t.leaving))
        for c in changes
    ]
    changes = pa.table(
        {
            "province": pa.array([r[0] for r in rows], pa.string()),
            "change": pa.array([r[1] for r in rows], pa.string()),
            "cust_key": pa.array([r[2].cust_key for r in rows], pa.string()),
            "cust_type": pa.array([r[2].cust_type for r in rows], pa.string()),
            "score_now": pa.array([r[2].current_score for r in rows], pa.decimal128(20, 2)),
            "score_candidate": pa.array([r[2].candidate_score for r in rows], pa.decimal128(20, 2)),
        }
    )
    pacsv.write_csv(changes, out / "changes.csv")
    report = out / "report.html"
    report.write_text(
        html_report(candidate_file, sha, business_date, trials, limit), encoding="utf-8"
    )
    return report
