"""The trial report's histogram: a small hand-written SVG, inline in the HTML page.

No plotting library is installed (and none is needed). The bars are the candidate's
scores per bin; a solid red line marks the candidate's threshold where it falls, a dashed
one the threshold in force when the candidate changes it. Pixel positions are the only
non-exact numbers here, and they are never read back.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape

from transform.scoring.trial import Histogram

BAR_W, GAP, HEIGHT, LEFT, BOTTOM = 36, 6, 200, 50, 80


def money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def bin_label(h: Histogram, index: int) -> str:
    if index == 0:
        return f"< {money(h.edges[0])}"
    if index == len(h.counts) - 1:
        return f">= {money(h.edges[-1])}"
    return f"{money(h.edges[index - 1])} - {money(h.edges[index])}"


def _short(value: Decimal) -> str:
    """A bin edge as the axis shows it: whole numbers without their fen."""
    return f"{value:,.0f}" if value == value.to_integral_value() else money(value)


def axis_label(h: Histogram, index: int) -> str:
    """A bar's label under the axis: its lower edge (the band table has both)."""
    if index == 0:
        return f"< {_short(h.edges[0])}"
    if index == len(h.counts) - 1:
        return f">= {_short(h.edges[-1])}"
    return _short(h.edges[index - 1])


def _bar_x(index: int) -> Decimal:
    return Decimal(LEFT + index * (BAR_W + GAP))


def threshold_x(h: Histogram, threshold: Decimal) -> Decimal:
    """Where `threshold` falls on the bar axis: between two bars when it is a bin edge,
    else proportionally inside the bar of its bin."""
    last = len(h.counts) - 1
    if threshold < h.edges[0]:
        return _bar_x(0) - GAP / Decimal(2)
    if threshold > h.edges[-1]:
        return _bar_x(last) + BAR_W
    if threshold in h.edges:
        return _bar_x(h.edges.index(threshold) + 1) - GAP / Decimal(2)
    index = h.bin_of(threshold)
    low, high = h.edges[index - 1], h.edges[index]
    return _bar_x(index) + BAR_W * (threshold - low) / (high - low)


def _line(x: Decimal, css: str, dash: str, label: str, label_y: int) -> list[str]:
    top, bottom = 24, HEIGHT + 30
    return [
        f'<line class="{css}" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" '
        f'stroke="#c92a2a" stroke-width="2"{dash}/>',
        f'<text class="{css}-label" x="{x + 4:.1f}" y="{label_y}" fill="#c92a2a">'
        f"{escape(label)}</text>",
    ]


def svg_histogram(h: Histogram, title: str) -> str:
    """A bar chart of `h` with its threshold line(s), as an inline <svg> element."""
    n = len(h.counts)
    width = LEFT + n * (BAR_W + GAP) + 60  # room for the last, rotated label
    top = max(h.counts) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="histogram" width="{width}" '
        f'height="{HEIGHT + BOTTOM + 30}" font-family="sans-serif" font-size="10" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{LEFT}" y="16" font-size="13">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{HEIGHT + 30}" x2="{width - 10}" y2="{HEIGHT + 30}" stroke="#333"/>',
    ]
    for index, count in enumerate(h.counts):
        x = _bar_x(index)
        bar_h = Decimal(count * (HEIGHT - 10)) / top
        y = HEIGHT + 30 - bar_h
        above = index > 0 and (index == n - 1 or h.edges[index - 1] >= h.threshold)
        colour = "#2b8a3e" if above else "#868e96"
        centre = x + BAR_W / Decimal(2)
        parts += [
            f'<rect class="bar" data-count="{count}" x="{x}" y="{y:.1f}" width="{BAR_W}" '
            f'height="{bar_h:.1f}" fill="{colour}"/>',
            f'<text x="{centre}" y="{y - 3:.1f}" text-anchor="middle">{count}</text>',
            f'<text x="{centre}" y="{HEIGHT + 42}" transform="rotate(45 {centre} {HEIGHT + 42})">'
            f"{escape(axis_label(h, index))}</text>",
        ]
    parts += _line(
        threshold_x(h, h.threshold), "threshold", "", f"threshold {money(h.threshold)}", 34
    )
    if h.threshold_now is not None:
        parts += _line(
            threshold_x(h, h.threshold_now),
            "threshold-now",
            ' stroke-dasharray="5,4"',
            f"in force {money(h.threshold_now)}",
            48,
        )
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT + BOTTOM + 25}">green: at or above the candidate\'s '
        f"threshold {escape(money(h.threshold))}</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)
