"""The floor: read every byte of the dump, and parse its delimited files with pyarrow.csv.

No typing, no rules: a bound on what any reader of the same files can do on this disk.
"""

from __future__ import annotations

import codecs
import functools
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from bench.support.dump import input_files
from common.config import layouts


def _register_lenient_codecs() -> None:
    """`gb18030-lenient` / `utf-8-lenient`: the codecs with bad bytes replaced, not fatal
    (the dumps carry a few undecodable records on purpose; pyarrow's transcoder is strict)."""

    def search(name: str) -> codecs.CodecInfo | None:
        if not name.endswith("_lenient"):
            return None
        base = codecs.lookup(name[: -len("_lenient")])
        return codecs.CodecInfo(
            base.encode,
            base.decode,
            incrementaldecoder=functools.partial(base.incrementaldecoder, errors="replace"),
            name=name,
        )

    codecs.register(search)


def floor_child(args: dict[str, Any]) -> dict[str, Any]:
    config = layouts()
    _register_lenient_codecs()
    inputs = input_files(Path(args["landing"]))
    read_s = fixed_read_s = 0.0
    for _, lay, path in inputs.files:
        t = time.perf_counter()
        with path.open("rb") as handle:
            while handle.read(64 * 1024 * 1024):
                pass
        elapsed = time.perf_counter() - t
        read_s += elapsed
        if config.layouts[lay].format == "fixed":
            fixed_read_s += elapsed
    csv_s = 0.0
    rows = 0
    for _, lay, path in inputs.files:
        layout = config.layouts[lay]
        if layout.format != "delimited":
            continue
        names = [f.name for f in layout.fields]
        t = time.perf_counter()
        # GB18030 must be decoded before it is split (a trail byte can be '|'): pyarrow's
        # reader transcodes it to UTF-8 with the codec given (encoding=...).
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names, block_size=16 << 20, encoding=layout.encoding + "-lenient"
            ),
            parse_options=pacsv.ParseOptions(
                delimiter="|", quote_char=False, invalid_row_handler=lambda _row: "skip"
            ),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}),
        )
        csv_s += time.perf_counter() - t
        rows += table.num_rows
        del table
    return {"read": read_s, "fixed_read": fixed_read_s, "csv": csv_s, "csv_rows": rows}
