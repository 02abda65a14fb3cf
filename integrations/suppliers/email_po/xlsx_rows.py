"""Reading XLSX workbooks that suppliers send back, into the same rows a CSV gives (csv_rows.CsvRows).

The first worksheet is read; its first non-empty row is the header. Row numbers are the ones
the spreadsheet shows. Dates become ISO dates, whole numbers lose their ".0". A workbook
that is not a valid XLSX, or that would unpack to more than MAX_UNPACKED_BYTES (a zip bomb),
is refused as a header error, never raised.
"""
from __future__ import annotations

import datetime as dt
import io
import zipfile
from typing import Any, Iterable

from .csv_rows import CsvRows, RowError, column_name

MAX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_ROWS = 20_000
XLSX_MAGIC = b"PK\x03\x04"


def looks_like_xlsx(data: bytes) -> bool:
    """Whether the bytes start like a zip archive (every XLSX does)."""
    return data[:4] == XLSX_MAGIC


def read_xlsx_rows(data: bytes, required: Iterable[str], one_of: Iterable[Iterable[str]] = (), *, max_rows: int = MAX_ROWS) -> CsvRows:
    """Parse the first sheet; the header must name every `required` column and one of each `one_of` group."""
    import openpyxl  # imported here: only workbook imports pay for it

    problem = _unpacked_size_problem(data)
    if problem:
        return CsvRows((), frozenset(), RowError(1, problem))
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a broken file
        return CsvRows((), frozenset(), RowError(1, f"the file is not a readable XLSX workbook ({type(exc).__name__})"))
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            return CsvRows((), frozenset(), RowError(1, "the workbook has no worksheet"))
        names: list[str] | None = None
        header_row = 1
        rows: list[tuple[int, dict[str, str]]] = []
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            texts = [_text(cell) for cell in cells]
            if not any(texts):
                continue
            if names is None:
                names, header_row = [column_name(text) for text in texts], number
                continue
            if len(rows) >= max_rows:
                return CsvRows((), frozenset(), RowError(number, f"the sheet has more than {max_rows} rows; split it"))
            rows.append((number, {name: (texts[index] if index < len(texts) else "") for index, name in enumerate(names) if name}))
    finally:
        workbook.close()
    if names is None:
        return CsvRows((), frozenset(), RowError(1, "the sheet is empty; the first row must name the columns"))
    columns = frozenset(name for name in names if name)
    missing = [name for name in required if name not in columns]
    missing += [" or ".join(group) for group in map(tuple, one_of) if not columns.intersection(group)]
    if missing:
        return CsvRows((), columns, RowError(header_row, f"the header lacks column(s) {', '.join(missing)}"))
    return CsvRows(tuple(rows), columns)


def _unpacked_size_problem(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
                return f"the workbook unpacks to more than {MAX_UNPACKED_BYTES // (1024 * 1024)} MB"
    except zipfile.BadZipFile:
        return "the file is not a readable XLSX workbook (not a zip archive)"
    return None


def _text(value: Any) -> str:
    """A cell as the text a CSV cell would hold."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
