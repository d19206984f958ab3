"""The benchmark's printed table: one row a step, wall time, rates and peak memory."""

from __future__ import annotations

from dataclasses import dataclass, field


def mb(n: int) -> float:
    return n / 1e6


@dataclass
class Row:
    step: str
    seconds: float
    records: int | None = None
    mbytes: float | None = None
    rss: str = ""
    note: str = ""

    def cells(self) -> list[str]:
        rate = f"{self.records / self.seconds:,.0f}" if self.records and self.seconds else ""
        mbs = f"{self.mbytes / self.seconds:,.1f}" if self.mbytes and self.seconds else ""
        return [self.step, f"{self.seconds:,.2f}", rate, mbs, self.rss, self.note]


@dataclass
class Report:
    """Title lines, rows (a row whose step is ``-`` prints a rule), footer lines."""

    title: list[str]
    rows: list[Row] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)

    def render(self) -> str:
        header = ["step", "wall s", "records/s", "MB/s in", "peak RSS MiB", ""]
        body = [r.cells() for r in self.rows]
        widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
        right = {1, 2, 3, 4}

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.rjust(w) if i in right else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        rule = "  ".join("-" * w for w in widths).rstrip()
        out = [*self.title, "", line(header), rule]
        out += [rule if r.step == "-" else line(r.cells()) for r in self.rows]
        out += ["", *self.footer]
        return "\n".join(out)
