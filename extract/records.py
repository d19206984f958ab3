"""Bytes of a dump file -> raw string columns, chunk by chunk, with structural rejects.

Vectorized: a chunk of lines is split with numpy (fixed width, by bytes *before* decoding,
as the layouts measure fields in bytes of GB18030) or with Arrow string kernels (delimited,
after decoding, since a GB18030 trail byte can be 0x7C '|'). No per-line Python except on
the rare path that locates undecodable lines once a whole-chunk decode has failed.

A chunk yields a `common.records.RawChunk`: one string column per layout field for the
structurally sound lines, their line numbers and raw text (kept only for the life of the
chunk, to be able to write a rejected record as it was sent), and the lines set aside for
their structure. Typing them is the transform stage's job (`transform.fields`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.config import Layout
from common.errors import FileRejected
from common.records import RawChunk, StructuralReject, codec_of, escape, printable
from extract.lines import CHUNK_BYTES, content_start, iter_line_blocks, line_bounds

log = logging.getLogger(__name__)

# The line ends of a file are judged on the lines of its first this many bytes.
LINE_END_SAMPLE_BYTES = 1024 * 1024


def parse_fixed(block: bytes, first_line: int, layout: Layout) -> RawChunk:
    width = layout.record_width
    crlf = layout.line_end == "crlf"
    arr = np.frombuffer(block, dtype=np.uint8)
    starts, ends = line_bounds(arr)
    n = len(starts)
    lengths = ends - starts
    has_cr = np.zeros(n, dtype=bool)
    nonempty = lengths > 0
    has_cr[nonempty] = arr[ends[nonempty] - 1] == 0x0D
    content_len = lengths - has_cr
    terminated = np.ones(n, dtype=bool)
    if n and (len(arr) == 0 or arr[-1] != 0x0A):
        terminated[-1] = False
    good = content_len == width
    if crlf:
        # A CRLF file's lines end in CR LF; only an unterminated last line may lack the CR.
        good &= has_cr | ~terminated
    else:
        good &= ~has_cr
    rejects = [
        StructuralReject(
            first_line + int(i),
            escape(bytes(arr[starts[i] : starts[i] + content_len[i]]), layout.encoding),
            f"byte length {int(content_len[i])}, expected {width}"
            if content_len[i] != width
            else "line end is not " + ("CRLF" if crlf else "LF"),
        )
        for i in np.flatnonzero(~good)
    ]
    good_idx = np.flatnonzero(good)
    matrix = _gather_rows(arr, starts[good_idx], width)
    columns: dict[str, pa.Array] = {}
    offset = 0
    decode_failed = np.zeros(len(good_idx), dtype=bool)
    for spec in layout.fields:
        w = spec.width or 0
        block_cols = matrix[:, offset : offset + w]
        offset += w
        values, failed = _decode_fixed_column(block_cols, layout.encoding)
        columns[spec.name] = values
        decode_failed |= failed
    lines = first_line + good_idx.astype(np.int64)
    nul = _nul_fields_fixed(matrix, layout) if b"\x00" in block else {}
    return RawChunk(columns, lines, matrix, decode_failed, rejects, n, layout.encoding, nul)


def _nul_fields_fixed(matrix: np.ndarray, layout: Layout) -> dict[int, str]:
    """Rows of a fixed-width byte matrix holding a NUL byte -> the first such field."""
    nul = matrix == 0
    rows = np.flatnonzero(nul.any(axis=1))
    if not len(rows):
        return {}
    ends = np.cumsum([spec.width or 0 for spec in layout.fields])
    first = np.searchsorted(ends, nul[rows].argmax(axis=1), side="right")
    return {int(r): layout.fields[int(j)].name for r, j in zip(rows, first, strict=True)}


def _gather_rows(arr: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """An (n, width) byte matrix of the lines starting at `starts`, copying runs at once."""
    if len(starts) == 0:
        return np.empty((0, width), dtype=np.uint8)
    # Consecutive good lines sit at a constant stride: take each run with one reshape.
    stride = int(starts[1] - starts[0]) if len(starts) > 1 else width
    breaks = np.flatnonzero(np.diff(starts) != stride) + 1
    pieces = []
    for run in np.split(starts, breaks):
        first = int(run[0])
        if len(run) == 1:
            pieces.append(arr[first : first + width].reshape(1, width))
            continue
        span = arr[first : first + stride * (len(run) - 1) + width]
        view = np.lib.stride_tricks.as_strided(
            span, shape=(len(run), width), strides=(stride, 1), writeable=False
        )
        pieces.append(view)
    return (
        np.ascontiguousarray(np.concatenate(pieces))
        if len(pieces) > 1
        else np.ascontiguousarray(pieces[0])
    )


def _decode_fixed_column(cols: np.ndarray, encoding: str) -> tuple[pa.Array, np.ndarray]:
    """One field's bytes (n, w) -> strings; rows whose bytes do not decode are flagged."""
    n, w = cols.shape
    failed = np.zeros(n, dtype=bool)
    if n == 0:
        return pa.array([], pa.string()), failed
    if not (cols >= 0x80).any():
        buf = pa.py_buffer(np.ascontiguousarray(cols).tobytes())
        arr = pa.Array.from_buffers(pa.binary(w), n, [None, buf])
        return arr.cast(pa.string()), failed
    return _decode_rows_flagged(cols, encoding)


def _decode_rows_flagged(cols: np.ndarray, encoding: str) -> tuple[pa.Array, np.ndarray]:
    """Rows of bytes (n, w) -> strings, in one decode of the whole column.

    The rows are joined with LF (never part of a GB18030 character) and decoded at once;
    a row that does not decode is located from the error's byte offset, counted as failed
    (decoded as ""), and decoding resumes after it, so k bad rows cost k + 1 decode calls
    and no per-row Python. The UTF-8 result is cut back into rows with numpy.
    """
    n, w = cols.shape
    failed = np.zeros(n, dtype=bool)
    joined = np.empty((n, w + 1), dtype=np.uint8)
    joined[:, :w] = cols
    joined[:, w] = 0x0A
    data = memoryview(joined.reshape(-1).data)
    codec = codec_of(encoding)
    parts: list[str] = []
    pos = 0
    total = n * (w + 1)
    while pos < total:
        try:
            parts.append(str(data[pos:], codec))
            break
        except UnicodeDecodeError as exc:
            row = (pos + exc.start) // (w + 1)
            start = row * (w + 1)
            parts.append(str(data[pos:start], codec))
            parts.append("\n")  # the failed row decodes as ""
            failed[row] = True
            pos = start + w + 1
    return _split_utf8_rows("".join(parts).encode("utf-8"), n), failed


def _split_utf8_rows(utf8: bytes, n: int) -> pa.Array:
    """`n` LF-terminated rows of UTF-8 text -> a string array of the rows (LFs dropped)."""
    arr = np.frombuffer(utf8, dtype=np.uint8)
    ends = np.flatnonzero(arr == 0x0A)
    assert len(ends) == n, (len(ends), n)
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = ends - np.arange(n)  # every row's end once the LFs before it are gone
    data = arr[arr != 0x0A]
    kind = pa.string() if len(data) < 2**31 else pa.large_string()
    width = np.int32 if kind == pa.string() else np.int64
    return pa.Array.from_buffers(
        kind, n, [None, pa.py_buffer(offsets.astype(width)), pa.py_buffer(data)]
    )


def _split_line_ends(block: bytes, layout: Layout) -> tuple[bytes, np.ndarray | None]:
    """A delimited block without the CR of its CR LF line ends, and per line whether its
    end is not the layout's (None when every line's is). Done on the bytes, before the
    decode: 0x0D is never part of a GB18030 or UTF-8 character."""
    crlf = layout.line_end == "crlf"
    if not crlf and b"\r" not in block:
        return block, None  # the usual LF file: nothing to do
    arr = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 0x0A)
    ends_cr = np.zeros(len(newlines), dtype=bool)
    after_first = newlines > 0
    ends_cr[after_first] = arr[newlines[after_first] - 1] == 0x0D
    lines = len(newlines) + (1 if len(arr) and arr[-1] != 0x0A else 0)
    wrong = np.zeros(lines, dtype=bool)  # an unterminated last line is never wrong
    wrong[: len(newlines)] = ends_cr != crlf
    if ends_cr.any():
        keep = np.ones(len(arr), dtype=bool)
        keep[newlines[ends_cr] - 1] = False
        block = arr[keep].tobytes()
    return block, wrong if wrong.any() else None


def parse_delimited(block: bytes, first_line: int, layout: Layout) -> RawChunk:
    codec = codec_of(layout.encoding)
    block, wrong_end = _split_line_ends(block, layout)
    decode_failed_lines: list[int] = []
    try:
        text = block.decode(codec)
    except UnicodeDecodeError:
        text, decode_failed_lines = _decode_lines_locating_errors(block, codec)
    if text.endswith("\n"):
        text = text[:-1]
    lines_arr = pc.split_pattern(pa.array([text], pa.large_string()), "\n").flatten()
    lines_arr = lines_arr.cast(pa.string()) if len(block) < 2**31 - 1 else lines_arr
    n = len(lines_arr) if block else 0
    if n == 0:
        return RawChunk.empty(layout)
    parts = pc.split_pattern(lines_arr, "|")
    counts = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    nfields = len(layout.fields)
    good = counts == nfields
    if wrong_end is not None:  # a line whose end is not the layout's (its CR was dropped)
        good &= ~wrong_end
    bad_decode = np.zeros(n, dtype=bool)
    if decode_failed_lines:
        bad_decode[np.array(decode_failed_lines, dtype=np.int64)] = True
    line_end = "line end is not " + layout.line_end.upper()
    rejects = [
        StructuralReject(
            first_line + int(i),
            printable(lines_arr[int(i)].as_py()),
            f"{int(counts[i])} fields, expected {nfields}" if counts[i] != nfields else line_end,
        )
        for i in np.flatnonzero(~good)
    ]
    keep_idx = np.flatnonzero(good)
    flat = pc.list_flatten(parts.filter(pa.array(good)))
    columns = {
        spec.name: flat.take(pa.array(np.arange(j, len(flat), nfields)))
        for j, spec in enumerate(layout.fields)
    }
    raw = lines_arr.filter(pa.array(good))
    nul = _nul_fields_delimited(raw, columns, layout) if b"\x00" in block else {}
    return RawChunk(
        columns, first_line + keep_idx.astype(np.int64), raw, bad_decode[good], rejects, n,
        nul_fields=nul,
    )  # fmt: skip


def _nul_fields_delimited(
    raw: pa.Array, columns: dict[str, pa.Array], layout: Layout
) -> dict[int, str]:
    """Rows of a delimited chunk whose line holds a NUL byte -> the first such field."""
    rows = np.flatnonzero(pc.match_substring(raw, "\x00").to_numpy(zero_copy_only=False))
    return {
        int(r): next(f.name for f in layout.fields if "\x00" in columns[f.name][int(r)].as_py())
        for r in rows
    }


def _decode_lines_locating_errors(block: bytes, codec: str) -> tuple[str, list[int]]:
    """Decode a block whose whole decode failed: each bad line is located from the error's
    byte offset and decoded on its own with its bad bytes escaped; the good runs between
    them are decoded whole. Returns the text and the 0-based indexes of the bad lines."""
    data = memoryview(block)
    parts: list[str] = []
    bad: list[int] = []
    pos = 0
    line = 0  # index of the line starting at `pos`
    while pos <= len(block):
        try:
            parts.append(str(data[pos:], codec))
            break
        except UnicodeDecodeError as exc:
            error = pos + exc.start
            start = block.rfind(b"\n", pos, error) + 1 or pos
            end = block.find(b"\n", error)
            end = len(block) if end < 0 else end
            parts.append(str(data[pos:start], codec))
            line += block.count(b"\n", pos, start)
            parts.append(block[start:end].decode(codec, errors="backslashreplace"))
            bad.append(line)
            if end == len(block):
                break
            parts.append("\n")
            line += 1
            pos = end + 1
    return "".join(parts), bad


def check_line_ends(block: bytes, layout: Layout, file: str) -> None:
    """FileRejected when most lines of the file's first block (up to LINE_END_SAMPLE_BYTES)
    end otherwise than its layout says: the file was converted on the way (an FTP text
    transfer, dos2unix) and every line is wrong, which is one fault of the file, not
    thousands of faults of its records. A stray line is left to the record rules."""
    sample = np.frombuffer(block[:LINE_END_SAMPLE_BYTES], dtype=np.uint8)
    newlines = np.flatnonzero(sample == 0x0A)
    if not len(newlines):
        return
    crlf = int(np.count_nonzero(sample[newlines[newlines > 0] - 1] == 0x0D))
    lf = len(newlines) - crlf
    wrong, found, says = (lf, "LF", "CRLF") if layout.line_end == "crlf" else (crlf, "CRLF", "LF")
    if 2 * wrong > len(newlines):
        raise FileRejected(
            file,
            f"line ends are {found}, the layout says {says} ({wrong} of the first "
            f"{len(newlines)} lines): the file was converted on its way",
        )


def iter_raw_chunks(
    path: Path, layout: Layout, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[RawChunk]:
    """The file's chunks of raw records, in order. Raises FileRejected for a fault of the
    whole file: wrong line ends, a byte order mark in a GB18030 file, a symbolic link."""
    parse = parse_fixed if layout.format == "fixed" else parse_delimited
    start = content_start(path, layout)
    if start:
        log.warning("%s: a UTF-8 byte order mark at its start is dropped", path.name)
    first = True
    for block, first_line in iter_line_blocks(path, chunk_bytes, start):
        if first:
            check_line_ends(block, layout, path.name)
            first = False
        yield parse(block, first_line, layout)
