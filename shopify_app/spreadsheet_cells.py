"""CSV cells safe to open in a spreadsheet (OWASP CSV injection), and the same cells read back as they were.

A cell starting with = + - @ TAB or CR may run as a formula in Excel or LibreOffice; an
export prefixes it with a single quote, which spreadsheets show as text. An import strips
that quote again (only in front of those characters), so export -> import round-trips.
"""
from __future__ import annotations

from typing import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell):
    """The cell for a CSV export: text starting like a formula gets a leading quote; anything else as is."""
    return "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell


def neutralised_row(cells: Iterable) -> list:
    """Every cell of a CSV export row through neutralise()."""
    return [neutralise(c) for c in cells]


def restore(text: str) -> str:
    """An imported cell without the quote neutralise() added ("'-ABC" -> "-ABC"); other text as is."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text
