"""The trial report: Markdown an analyst can read in any viewer, with SVG histograms.

No plotting library is installed (and none is needed): the histogram is drawn as text
bars in the Markdown and as a small hand-written SVG beside it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from html import escape

from transform.scoring.trial import Histogram, ProvinceTrial


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (customer keys contain '|')."""
    return text.replace("|", "\\|")


def _bin_label(h: Histogram, index: int) -> str:
    if index == 0:
        return f"< {_money(h.edges[0])}"
    if index == len(h.counts) - 1:
        return f">= {_money(h.edges[-1])}"
    return f"{_money(h.edges[index - 1])} - {_money(h.edges[index])}"


def text_histogram(h: Histogram, width: int = 40) -> list[str]:
    top = max(h.counts) or 1
    lines = ["```"]
    for index, count in enumerate(h.counts):
        if index > 0 and index < len(h.counts) - 1 and h.edges[index - 1] == h.threshold:
            lines.append(f"{'--- threshold ' + _money(h.threshold):>31} ---")
        bar = "#" * round(count * width / top)
        lines.append(f"{_bin_label(h, index):>31} | {bar} {count}")
    lines.append("```")
    return lines


def svg_histogram(h: Histogram, title: str) -> str:
    """A bar chart of `h` with the threshold marked, as a standalone SVG document."""
    bar_w, gap, height, left, bottom = 36, 6, 200, 50, 90
    n = len(h.counts)
    width = left + n * (bar_w + gap) + 20
    top = max(h.counts) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + bottom + 30}" '
        'font-family="sans-serif" font-size="10">',
        f'<text x="{left}" y="16" font-size="13">{escape(title)}</text>',
        f'<line x1="{left}" y1="{height + 30}" x2="{width - 10}" y2="{height + 30}" stroke="#333"/>',
    ]
    for index, count in enumerate(h.counts):
        x = left + index * (bar_w + gap)
        bar_h = count * (height - 10) / top
        y = height + 30 - bar_h
        above = index > 0 and (index == n - 1 or h.edges[index - 1] >= h.threshold)
        colour = "#2b8a3e" if above else "#868e96"
        parts.append(
            f'<rect x="{x}" y="{y:.1f}" width="{bar_w}" height="{bar_h:.1f}" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{x + bar_w / 2}" y="{y - 3:.1f}" text-anchor="middle">{count}</text>'
        )
        label = escape(_bin_label(h, index))
        parts.append(
            f'<text x="{x + bar_w / 2}" y="{height + 42}" transform="rotate(45 {x + bar_w / 2} {height + 42})">'
            f"{label}</text>"
        )
    parts.append(
        f'<text x="{left}" y="{height + bottom + 25}">green: at or above the threshold '
        f"{escape(_money(h.threshold))}</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)


def markdown(
    candidate_file: str,
    candidate_sha: str,
    business_date: date,
    trials: list[ProvinceTrial],
    svg_names: dict[tuple[str, str], str],
    limit: int = 100,
) -> str:
    """The whole report; `svg_names` maps (province, cust_type) to the SVG file next to it."""
    out = [
        f"# Formula trial: {candidate_file}",
        "",
        f"- candidate content sha256: `{candidate_sha}`",
        f"- business date: {business_date.isoformat()}",
        f"- provinces: {', '.join(t.province for t in trials)}",
        "",
        "Scores are computed exactly and rounded to the fen at the end; a customer qualifies at "
        "or above the threshold. The CRM tables are not touched.",
        "",
        "| province | customers | accounts | type | qualified now | qualified with candidate | enter | leave |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for t in trials:
        for cust_type in sorted(t.candidate_qualified):
            enter = sum(1 for c in t.entering if c.cust_type == cust_type)
            leave = sum(1 for c in t.leaving if c.cust_type == cust_type)
            out.append(
                f"| {t.province} | {t.customers:,} | {t.accounts:,} | {cust_type} | "
                f"{t.current_qualified.get(cust_type, 0):,} | {t.candidate_qualified[cust_type]:,} | "
                f"{enter:,} | {leave:,} |"
            )
    for t in trials:
        out += ["", f"## {t.province}", ""]
        for note in t.notes:
            out.append(f"> note: {note}")
        out += ["| type | formula in force | candidate |", "|---|---|---|"]
        for cust_type in sorted(t.candidate_ids):
            out.append(
                f"| {cust_type} | `{t.current_ids.get(cust_type, '-')}` | `{t.candidate_ids[cust_type]}` |"
            )
        for h in t.histograms:
            out += ["", f"### {t.province} {h.cust_type}: score distribution (candidate)", ""]
            quantiles = t.quantiles.get(h.cust_type, [])
            if quantiles:
                out.append("| " + " | ".join(f"p{int(q * 100)}" for q, _ in quantiles) + " |")
                out.append("|" + "---:|" * len(quantiles))
                out.append("| " + " | ".join(_money(v) for _, v in quantiles) + " |")
                out.append("")
            out += text_histogram(h)
            svg = svg_names.get((t.province, h.cust_type))
            if svg:
                out += ["", f"![{t.province} {h.cust_type} histogram]({svg})"]
        for title, changes in (("enter", t.entering), ("leave", t.leaving)):
            out += [
                "",
                f"### {t.province}: customers who would {title} the CRM ({len(changes):,})",
                "",
            ]
            if not changes:
                out.append("none")
                continue
            out += ["| customer | type | score now | score with candidate |", "|---|---|---:|---:|"]
            for change in changes[:limit]:
                out.append(
                    f"| {_cell(change.cust_key)} | {change.cust_type} | {_money(change.current_score)} | "
                    f"{_money(change.candidate_score)} |"
                )
            if len(changes) > limit:
                out.append(
                    f"| ... {len(changes) - limit:,} more in the CSV next to this report | | | |"
                )
    return "\n".join(out) + "\n"
