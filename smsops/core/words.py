"""Counted nouns in output: `1 number`, `2 numbers`, one rule for every layer."""

from __future__ import annotations


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """`1 segment`, `1,200 segments`; `nouns` for a plural not made with an s (`entries`)."""
    return f"{n:,} {noun if n == 1 else nouns or noun + 's'}"
