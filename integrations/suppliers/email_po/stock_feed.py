"""Optional stock for an email supplier: a CSV they send (sku, available and/or in_stock), imported and kept.

Without a feed, get_stock answers [] (nothing known). An import updates the SKUs it lists
and leaves the others as they were; `in_stock` accepts yes/no, true/false, 1/0, y/n.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol

from ..base import StockLevel
from .csv_rows import RowError, read_rows
from .json_file import JsonFile

TRUE_WORDS = {"yes", "y", "true", "1", "in stock"}
FALSE_WORDS = {"no", "n", "false", "0", "out of stock"}


@dataclass(frozen=True)
class StockImport:
    """The levels read and the rows refused."""

    levels: tuple[StockLevel, ...]
    errors: list[RowError]


class StockFeed(Protocol):
    """Where imported stock levels are kept."""

    def levels(self, skus: list[str]) -> list[StockLevel]:
        """Known levels for these SKUs, in their order; unknown SKUs left out."""

    def update(self, levels: tuple[StockLevel, ...]) -> None:
        """Replace the levels of the SKUs given."""


def parse_stock_csv(text: str | bytes, *, quote: bool = True) -> StockImport:
    """Check a stock CSV row by row (quote=False: errors never repeat the file's content)."""
    table = read_rows(text, required=("sku",), one_of=(("available", "in_stock"),))
    if table.header_error is not None:
        error = table.header_error if quote else RowError(table.header_error.row, "the first row must name the columns sku and available or in_stock")
        return StockImport((), [error])
    return check_stock_rows(table.rows, quote=quote)


def check_stock_rows(rows: Iterable[tuple[int, Mapping[str, str]]], *, quote: bool = True) -> StockImport:
    """Check numbered rows of text values (sku, available and/or in_stock), whatever file they came from.

    quote=False: row errors name the column and the problem, never the file's content (feeds
    fetched from a URL: what came back is not necessarily the merchant's to read).
    """
    shown = (lambda text: f" {text}") if quote else (lambda text: "")
    levels: dict[str, StockLevel] = {}
    first_row: dict[str, int] = {}
    errors: list[RowError] = []
    for number, values in rows:
        sku, available_text, flag_text = values.get("sku", ""), values.get("available", ""), values.get("in_stock", "").lower()
        if not sku:
            errors.append(RowError(number, "sku is missing"))
            continue
        if sku in first_row:
            errors.append(RowError(number, f"SKU{shown(sku)} is listed again (first on row {first_row[sku]})"))
            continue
        available = None
        if available_text:
            try:
                available = int(available_text)
            except ValueError:
                errors.append(RowError(number, f"available{shown(repr(available_text[:20]))} is not a whole number"))
                continue
            if available < 0:
                errors.append(RowError(number, f"available{shown(str(available))} cannot be negative"))
                continue
        if flag_text and flag_text not in TRUE_WORDS | FALSE_WORDS:
            errors.append(RowError(number, f"in_stock{shown(repr(flag_text[:20]))} is not yes or no"))
            continue
        if available is None and not flag_text:
            errors.append(RowError(number, "needs available or in_stock"))
            continue
        in_stock = flag_text in TRUE_WORDS if flag_text else available > 0
        first_row[sku] = number
        levels[sku] = StockLevel(supplier_sku=sku, in_stock=in_stock, available=available)
    return StockImport(tuple(levels.values()), errors)


def import_stock_csv(feed: StockFeed, text: str | bytes) -> StockImport:
    """Check a stock CSV and keep the rows that pass."""
    result = parse_stock_csv(text)
    feed.update(result.levels)
    return result


class InMemoryStockFeed:
    """Stock levels in a dict (tests, demos)."""

    def __init__(self) -> None:
        self._levels: dict[str, StockLevel] = {}
        self._lock = threading.Lock()

    def levels(self, skus: list[str]) -> list[StockLevel]:
        """Known levels for these SKUs."""
        with self._lock:
            return [self._levels[sku] for sku in dict.fromkeys(skus) if sku in self._levels]

    def update(self, levels: tuple[StockLevel, ...]) -> None:
        """Replace the levels of the SKUs given."""
        with self._lock:
            self._levels.update({level.supplier_sku: level for level in levels})


class JsonFileStockFeed:
    """Stock levels in one JSON file: {"stock": {sku: {"in_stock", "available"}}}."""

    def __init__(self, path: str | os.PathLike[str]):
        self._file = JsonFile(path)

    def levels(self, skus: list[str]) -> list[StockLevel]:
        """Known levels for these SKUs."""
        stock = self._file.read().get("stock", {})
        return [StockLevel(sku, stock[sku]["in_stock"], stock[sku].get("available")) for sku in dict.fromkeys(skus) if sku in stock]

    def update(self, levels: tuple[StockLevel, ...]) -> None:
        """Replace the levels of the SKUs given."""
        if not levels:
            return
        with self._file.change() as document:
            stock = document.setdefault("stock", {})
            for level in levels:
                stock[level.supplier_sku] = {"in_stock": level.in_stock, "available": level.available}
