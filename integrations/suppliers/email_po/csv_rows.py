"""Reading CSV files that suppliers send back: header by name, row numbers as a spreadsheet shows them.

Tolerates what spreadsheet exports do: a UTF-8 byte-order mark, `;` or tab instead of `,`,
header names in any case with stray spaces, and blank rows (skipped). Row numbers count the
header as row 1, so "row 3" is the third line the supplier sees in their spreadsheet.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Iterable

DELIMITERS = (",", ";", "\t")
# Headers as spreadsheets write them ("PO Number", "Tracking #", "Qty") -> our column names.
HEADER_ALIASES = {
    "po": "po_number", "po_no": "po_number", "purchase_order": "po_number", "purchase_order_number": "po_number",
    "qty": "quantity", "tracking": "tracking_number", "tracking_no": "tracking_number", "tracking_code": "tracking_number",
    "courier": "carrier", "tracking_link": "tracking_url", "ship_date": "shipped_at", "date_shipped": "shipped_at", "shipped_on": "shipped_at",
}


def column_name(header: str) -> str:
    """A header cell as our column name: case, spaces, dashes and # do not matter; common spellings are aliases."""
    name = re.sub(r"[\s\-.#/]+", "_", header.strip().lower()).strip("_")
    return HEADER_ALIASES.get(name, name)


@dataclass(frozen=True)
class RowError:
    """One refused row (row 1 is the header), with a message a supplier or merchant can act on."""

    row: int
    message: str
    outcome: str = "unreadable"  # how a tracking import reports the row: unreadable | unknown_po | duplicate

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


@dataclass(frozen=True)
class CsvRows:
    """The data rows as {column: value}, stripped, with their row numbers; or the header's problem."""

    rows: tuple[tuple[int, dict[str, str]], ...]
    columns: frozenset[str]
    header_error: RowError | None = None


def read_rows(text: str | bytes, required: Iterable[str], one_of: Iterable[Iterable[str]] = ()) -> CsvRows:
    """Parse CSV text; the header must name every `required` column and one column of each `one_of` group."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            return CsvRows((), frozenset(), RowError(1, "the file is not UTF-8 text; export it as CSV (UTF-8)"))
    text = text.lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            return CsvRows((), frozenset(), RowError(1, "the file is empty; the first row must name the columns"))
        names = [column_name(cell) for cell in header]
        columns = frozenset(name for name in names if name)
        missing = [name for name in required if name not in columns]
        missing += [" or ".join(group) for group in map(tuple, one_of) if not columns.intersection(group)]
        if missing:
            return CsvRows((), columns, RowError(1, f"the header lacks column(s) {', '.join(missing)}"))
        rows = []
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            values = {name: (cells[index].strip() if index < len(cells) else "") for index, name in enumerate(names) if name}
            rows.append((number, values))
    except csv.Error as exc:
        return CsvRows((), frozenset(), RowError(reader.line_num, f"the file is not valid CSV ({exc})"))
    return CsvRows(tuple(rows), columns)
