"""Reading the merchant's spreadsheets (CSV or XLSX) into rows, and the numbers in them as spreadsheets write them.

CSV goes through the suppliers' CSV reader (UTF-8 BOM, `;` or tab separators, headers in any
case). XLSX is read with openpyxl in read-only mode, which streams the sheet's XML row by row
instead of building the whole workbook: openpyxl is already pinned for the email suppliers'
files, so no second spreadsheet library (python-calamine would be faster, but is one more
native dependency for a file read a few times a day).
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Iterable

from integrations.suppliers.email_po.csv_rows import HEADER_ALIASES, CsvRows, RowError, read_rows
from integrations.suppliers.email_po.xlsx_rows import looks_like_xlsx, read_xlsx_rows

from ..i18n import gettext as _
from ..spreadsheet_cells import restore

# The one upload limit: the app's request cap (factory.REQUEST_MAX_BYTES) is this plus room for
# a multipart form's headers, so every file this limit accepts reaches the handler.
MAX_FILE_BYTES = 16 * 1024 * 1024
MULTIPART_ALLOWANCE = 64 * 1024


def too_large_message() -> str:
    """The refusal for a file over MAX_FILE_BYTES (in the merchant's language)."""
    return _("the file is larger than %(mb)s MB; split it", mb=MAX_FILE_BYTES // (1024 * 1024))

MAX_ROWS = 200_000
MAX_COST = Decimal("1000000000")
# Header spellings merchants and suppliers use, besides the CSV reader's own aliases.
ALIASES = {
    "shopify_sku": "sku", "variant_sku": "sku", "vendor_sku": "supplier_sku", "supplier_code": "supplier_sku", "supplier_product_code": "supplier_sku",
    "ean": "barcode", "gtin": "barcode", "upc": "barcode", "ean13": "barcode", "unit_cost": "cost", "price": "cost", "purchase_price": "cost",
    "available": "stock", "quantity": "stock", "qty": "stock", "name": "title", "product": "title", "supplier_name": "supplier",
}


class UnreadableFile(Exception):
    """The file as a whole cannot be read (not CSV or XLSX, no header, too big)."""


def read_table(data: bytes, required: Iterable[str] = (), one_of: Iterable[Iterable[str]] = ()) -> CsvRows:
    """The rows of a CSV or XLSX file with our column names; UnreadableFile when the file or its header is not usable."""
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableFile(too_large_message())
    if not data.strip():
        raise UnreadableFile(_("the file is empty"))
    if looks_like_xlsx(data):
        table = read_xlsx_rows(data, (), max_rows=MAX_ROWS)
    else:
        if b"\x00" in data:
            raise UnreadableFile(_("the file is neither CSV (UTF-8 text) nor XLSX"))
        table = read_rows(data, ())
    if table.header_error is not None:
        raise UnreadableFile(str(table.header_error))
    # restore(): a cell our own export neutralised ("'-ABC") reads back as it was.
    rows = tuple((number, {ALIASES.get(k, k): restore(v) if isinstance(v, str) else v for k, v in values.items()}) for number, values in table.rows)
    columns = frozenset(ALIASES.get(c, c) for c in table.columns)
    if len(rows) > MAX_ROWS:
        raise UnreadableFile(_("the file has more than %(n)s rows; split it", n=MAX_ROWS))
    missing = [name for name in required if name not in columns]
    missing += [" or ".join(group) for group in map(tuple, one_of) if not columns.intersection(group)]
    if missing:
        raise UnreadableFile(_("the first row must name the column(s) %(columns)s", columns=", ".join(missing)))
    return CsvRows(rows, columns)


_GROUPED = re.compile(r"^\d{1,3}([ .,\u00a0\u202f']\d{3})+([.,]\d+)?$")


def parse_cost(text: str) -> str | None:
    """A unit cost as exact decimal text ('4,50' and '1.234,50' too); None when empty; ValueError when it is not one."""
    value = text.strip().replace("\u00a0", "").replace(" ", "")
    for symbol in ("$", "€", "£", "zł", "₪", "PLN", "USD", "EUR", "ILS"):
        value = value.replace(symbol, "")
    if not value:
        return None
    if "," in value and "." in value:
        # The last separator is the decimal one: 1.234,50 or 1,234.50.
        decimal = "," if value.rfind(",") > value.rfind(".") else "."
        value = value.replace("." if decimal == "," else ",", "").replace(decimal, ".")
    elif "," in value:
        value = value.replace(",", ".") if value.count(",") == 1 else value.replace(",", "")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(_("cost is not a number")) from None
    if not number.is_finite() or number < 0 or number > MAX_COST:
        raise ValueError(_("cost must be a number from 0 to 1,000,000,000"))
    if number.as_tuple().exponent < -4:
        raise ValueError(_("cost has more than 4 decimal places"))
    return format(number, "f")


def parse_stock(text: str) -> int | None:
    """A stock count; None when empty; ValueError when it is not a whole number of at least 0."""
    value = text.strip()
    if not value:
        return None
    if not re.fullmatch(r"\d{1,9}", value):
        raise ValueError(_("stock must be a whole number of at least 0"))
    return int(value)


__all__ = ["ALIASES", "CsvRows", "HEADER_ALIASES", "RowError", "UnreadableFile", "parse_cost", "parse_stock", "read_table"]
