"""Exact amounts as the dumps write them: integers of fen (or 1/10000) and their text.

One place for both directions, so a balance the daily generator reads back from a line
is the very integer the writer put there; no binary float ever decides a digit.
"""

from __future__ import annotations


def format_fen(fen: int) -> str:
    """Fen as the dumps' amount text: ``-12.34``, ``0.05``."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def money(fen: int) -> bytes:
    """Fen as the bytes of an amount field."""
    return format_fen(fen).encode("ascii")


def fen(value: bytes) -> int:
    """An amount field (``-12.34``) in fen (or 1/10000 for a scale-4 field), exactly."""
    text = value.decode("ascii").strip()
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    return sign * int(whole + frac)
