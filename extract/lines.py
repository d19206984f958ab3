"""A dump file's bytes as blocks of whole lines, and the raw text of a few lines again.

Why apart from the parsers: both the chunked parse (`extract.records`) and the lookup of
a rejected record's line as sent (`raw_lines`, needed after the whole file is known, e.g.
for a duplicate key) walk the file in blocks that end on a line feed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from common.config import Layout
from common.errors import FileRejected
from common.records import escape
from extract.containment import open_landed

# Bytes of text parsed and typed at a time. 16 MiB, not 64: a worker's typing of a chunk
# holds several copies of it (about 800 MiB at 64 MiB, 600 at 16, measured on a 450 MB
# customer file), and smaller chunks stay in the CPU caches better (that file: 6.1-6.2 s
# at 64 MiB, 5.6-5.7 s at 16).
CHUNK_BYTES = 16 * 1024 * 1024
RAW_BLOCK_BYTES = 16 * 1024 * 1024  # read size when looking up raw lines

UTF8_BOM = b"\xef\xbb\xbf"


def starts_with_bom(path: Path) -> bool:
    """Whether the file begins with a UTF-8 byte order mark."""
    with open_landed(path) as handle:
        return handle.read(len(UTF8_BOM)) == UTF8_BOM


def content_start(path: Path, layout: Layout) -> int:
    """Where the file's first record begins: after a UTF-8 byte order mark at the very start
    of a UTF-8 file (an editor's or a Windows tool's mark, not data: docs/decisions.md, "Byte
    order marks and NUL bytes"), else 0. The same mark in a GB18030 file means the file is
    not in its layout's encoding: FileRejected, rather than a first customer number that
    begins with three stray bytes."""
    if not starts_with_bom(path):
        return 0
    if layout.encoding != "utf-8":
        raise FileRejected(
            path.name,
            f"starts with a UTF-8 byte order mark, the layout says {layout.encoding.upper()}:"
            " the file is not in its layout's encoding",
        )
    return len(UTF8_BOM)


def iter_line_blocks(
    path: Path, chunk_bytes: int = CHUNK_BYTES, start: int = 0
) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines (ending in LF, but maybe the very last) and their first line
    number, from byte `start` (`content_start`) on."""
    first_line = 1
    carry = b""
    with open_landed(path) as handle:
        handle.seek(start)
        while True:
            block = handle.read(chunk_bytes)
            if not block:
                break
            data = carry + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            carry = data[cut:]
            piece = data[:cut]
            yield piece, first_line
            first_line += piece.count(b"\n")
    if carry:
        yield carry, first_line


def line_bounds(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive, without LF) offsets of each line of a block."""
    newlines = np.flatnonzero(arr == 0x0A)
    ends = newlines
    if len(arr) and arr[-1] != 0x0A:
        ends = np.append(ends, len(arr))  # last line without a terminator
    starts = np.empty_like(ends)
    if len(ends):
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    return starts.astype(np.int64), ends.astype(np.int64)


def raw_lines(path: Path, lines: set[int], layout: Layout) -> dict[int, str]:
    """The raw text of a few lines, in one pass over the file in large blocks: newlines
    are located with numpy, so the lines in between cost no Python (only rejects need it).
    """
    found: dict[int, str] = {}
    if not lines:
        return found
    wanted = np.array(sorted(lines), dtype=np.int64)
    last = int(wanted[-1])
    for block, first_line in iter_line_blocks(path, RAW_BLOCK_BYTES, content_start(path, layout)):
        starts, ends = line_bounds(np.frombuffer(block, dtype=np.uint8))
        count = len(ends)
        here = wanted[(wanted >= first_line) & (wanted < first_line + count)]
        for number in here.tolist():
            i = number - first_line
            content = block[int(starts[i]) : int(ends[i])].rstrip(b"\r\n")
            found[number] = escape(content, layout.encoding)
        if first_line + count > last:
            break
    return found
