"""Defensive reading of stored numeric settings: whatever is in the database, jobs get a finite, bounded number.

Settings are validated with the same bounds when saved (400 otherwise); this is the
second line, for values stored before the bounds existed or written around the API, so
one shop's absurd number can never raise OverflowError in a job that serves every shop.
"""
from __future__ import annotations

import json
import math

# Database ids are 64-bit signed: a number outside 1..MAX_ID cannot name a row, and
# handing it to a query overflows the driver (SQLite) or the column type (PostgreSQL).
MAX_ID = 2**63 - 1
# Stock counts are 32-bit INTEGER columns (product_mappings.stock, supplier_catalog_items.stock): a supplier's count
# past it failed the whole feed's write on PostgreSQL (past 64 bits on SQLite), every later pull of it again.
MAX_STOCK = 2**31 - 1


def stock_column_holds(count: int | None) -> bool:
    """True for a known stock count a stock column can hold (0..MAX_STOCK); False for None and anything else."""
    return count is not None and 0 <= count <= MAX_STOCK


def json_or_none(text: str | bytes):
    """The parsed JSON of `text`, or None when it is not JSON, including JSON nested past the parser's depth.

    json.loads raises RecursionError (not ValueError) from about 1,000 levels: code that caught only
    ValueError let one such body stop a whole lane or a customer's redaction.
    """
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def bounded_number(value, low: float, high: float, default: float) -> float:
    """`value` as a float clamped to [low, high]; `default` when it is missing, not a number, or not finite."""
    if isinstance(value, bool):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    if not math.isfinite(number):
        return default
    return min(high, max(low, number))


def bounded_int(value, low: int, high: int, default: int) -> int:
    """`value` as an int clamped to [low, high] (see bounded_number)."""
    return int(bounded_number(value, low, high, default))


def id_from_text(text: str | None) -> int | None:
    """Typed or received text as a 64-bit id (0..MAX_ID), or None when it cannot name a row.

    ASCII digits only: str.isdigit() also takes '²' and '①', which int() refuses (ValueError),
    and more than 19 digits overflows the driver or the column (OverflowError, DataError).
    """
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 19):
        return None
    number = int(text)
    return number if number <= MAX_ID else None


def storable_text(value) -> str | None:
    """A value a supplier or partner sent where text is expected, as text every database stores; None for none.

    Numbers become their text, objects and lists None; NUL is dropped (PostgreSQL refuses it) and a lone
    surrogate (a JSON "\\udc80" escape) becomes "?" (no driver encodes it). Lengths are the caller's.
    """
    if value is None or isinstance(value, (bool, dict, list, tuple)):
        return None
    text = str(value).replace("\x00", "")
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")
