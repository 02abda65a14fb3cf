"""The merchant's column mapping for a supplier's files, and reading a CSV or XLSX file through it, streamed.

A mapping says, per file kind (tracking, stock, acknowledgements), which column holds each of
our fields (by header text or by 1-based position), which row is the header (0: none), the
CSV delimiter ("auto": guessed from the first line), the text encoding (a UTF-8 or UTF-16
byte-order mark is dropped), whether numbers use a decimal comma ("1.234,0"), the date
formats of the ship date, and the XLSX sheet. Fields the mapping does not name are found by
header text the way the email supplier's files are (csv_rows.column_name: any case, common
aliases such as "Qty" or "Tracking #").

Rows come out one at a time as (row number as the spreadsheet shows it, {our field: text},
problem or None), never the whole file in memory: a 50,000-row stock file reads in constant
memory. A row's problem (bytes that are not valid in the encoding, a date in no known format)
refuses that row only; a header that lacks a required column refuses the file.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator, Mapping

from ..email_po.csv_rows import RowError, column_name
from ..email_po.xlsx_rows import MAX_UNPACKED_BYTES, XLSX_MAGIC, _text as cell_text

KINDS = ("tracking", "stock", "acknowledgements")
# Our fields per kind, in the order the mapping editor shows them; the names the importers read.
FIELDS: dict[str, tuple[str, ...]] = {
    "tracking": ("po_number", "line_ref", "sku", "quantity", "tracking_number", "carrier", "tracking_url", "shipped_at"),
    "stock": ("sku", "available", "in_stock"),
    "acknowledgements": ("po_number", "status", "reason"),
}
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {  # each group: at least one of its fields
    "tracking": (("po_number",), ("quantity",), ("line_ref", "sku"), ("tracking_number", "tracking_url")),
    "stock": (("sku",), ("available", "in_stock")),
    "acknowledgements": (("po_number",), ("status",)),
}
# What merchants call them in the editor (and may use as keys): "quantity" of a stock file is "available".
FIELD_ALIASES = {"stock": {"quantity": "available", "qty": "available"}, "tracking": {"ship_date": "shipped_at", "order_reference": "po_number"},
                 "acknowledgements": {"order_reference": "po_number"}}
NUMBER_FIELDS = {"quantity", "available"}
DATE_FIELDS = {"shipped_at"}
DELIMITERS = {"auto": None, ",": ",", ";": ";", "tab": "\t", "\t": "\t", "|": "|"}
ENCODINGS = ("utf-8", "utf-16", "cp1252", "iso-8859-1", "iso-8859-2", "cp1250", "shift_jis", "gb18030")
FORMATS = ("auto", "csv", "xlsx")
MAX_DATE_FORMATS = 5
MAX_ROWS = 1_000_000
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


class InvalidMapping(ValueError):
    """A mapping the merchant may not save; the message names the key."""


@dataclass(frozen=True)
class FileMapping:
    """How to read one kind of file from one supplier."""

    kind: str
    format: str = "auto"
    header_row: int = 1  # 0: no header, columns by position only
    columns: Mapping[str, Any] = field(default_factory=dict)  # our field -> header text or 1-based position
    delimiter: str = "auto"
    encoding: str = "utf-8"
    decimal_comma: bool = False
    date_formats: tuple[str, ...] = ()
    sheet: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The mapping as stored in the supplier's settings."""
        return {"format": self.format, "header_row": self.header_row, "columns": dict(self.columns), "delimiter": self.delimiter,
                "encoding": self.encoding, "decimal_comma": self.decimal_comma, "date_formats": list(self.date_formats), "sheet": self.sheet}


def parse_mapping(kind: str, raw: Any) -> FileMapping:
    """Check a mapping as the merchant sent it; InvalidMapping names the key and the reason."""
    where = f"mappings.{kind}"
    if kind not in KINDS:
        raise InvalidMapping(f"mappings: unknown file kind {kind!r} (one of {', '.join(KINDS)})")
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping):
        raise InvalidMapping(f"{where} must be an object")
    unknown = sorted(set(raw) - {"format", "header_row", "columns", "delimiter", "encoding", "decimal_comma", "date_formats", "sheet"})
    if unknown:
        raise InvalidMapping(f"{where}: unknown key(s) {', '.join(unknown)}")
    fmt = raw.get("format", "auto")
    if fmt not in FORMATS:
        raise InvalidMapping(f"{where}.format must be one of {', '.join(FORMATS)}")
    header_row = raw.get("header_row", 1)
    if isinstance(header_row, bool) or not isinstance(header_row, int) or not 0 <= header_row <= 50:
        raise InvalidMapping(f"{where}.header_row must be a row number from 1 to 50, or 0 when the file has no header")
    columns_raw = raw.get("columns") or {}
    if not isinstance(columns_raw, Mapping):
        raise InvalidMapping(f"{where}.columns must be an object of field: column")
    columns: dict[str, Any] = {}
    for key, value in columns_raw.items():
        name = FIELD_ALIASES.get(kind, {}).get(key, key)
        if name not in FIELDS[kind]:
            raise InvalidMapping(f"{where}.columns: {key!r} is not a field of a {kind} file (fields: {', '.join(FIELDS[kind])})")
        if value in (None, ""):
            continue
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 3:  # not '²': int() refuses it
            value = int(value.strip())  # "3" typed in the editor: the third column
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise InvalidMapping(f"{where}.columns.{key} must be a column's header text or its position (1 = first column)")
        if isinstance(value, int) and not 1 <= value <= 500:
            raise InvalidMapping(f"{where}.columns.{key} must be a position from 1 to 500")
        if isinstance(value, str) and (len(value) > 100 or not value.strip()):
            raise InvalidMapping(f"{where}.columns.{key} must be 1-100 characters of header text")
        if header_row == 0 and not isinstance(value, int):
            raise InvalidMapping(f"{where}.columns.{key} must be a position (1 = first column): the file has no header row")
        columns[name] = value
    delimiter = raw.get("delimiter", "auto")
    if delimiter not in DELIMITERS:
        raise InvalidMapping(f"{where}.delimiter must be one of auto , ; tab |")
    encoding = str(raw.get("encoding", "utf-8")).lower()
    if encoding not in ENCODINGS:
        raise InvalidMapping(f"{where}.encoding must be one of {', '.join(ENCODINGS)}")
    decimal_comma = raw.get("decimal_comma", False)
    if not isinstance(decimal_comma, bool):
        raise InvalidMapping(f"{where}.decimal_comma must be true or false")
    formats = raw.get("date_formats") or []
    if not isinstance(formats, list) or len(formats) > MAX_DATE_FORMATS or not all(isinstance(f, str) and 2 <= len(f) <= 40 and "%" in f for f in formats):
        raise InvalidMapping(f"{where}.date_formats must be up to {MAX_DATE_FORMATS} strftime formats such as %d.%m.%Y")
    for pattern in formats:
        try:
            dt.datetime(2026, 12, 31, 23, 59).strftime(pattern)
        except ValueError:
            raise InvalidMapping(f"{where}.date_formats: {pattern!r} is not a date format") from None
    sheet = raw.get("sheet")
    if sheet is not None and (not isinstance(sheet, str) or not 1 <= len(sheet) <= 31):
        raise InvalidMapping(f"{where}.sheet must be a worksheet name of 1-31 characters")
    return FileMapping(kind, fmt, header_row, columns, delimiter, encoding, decimal_comma, tuple(formats), sheet or None)


@dataclass
class MappedRows:
    """A file opened through a mapping: the header's problem (file refused), or the rows as they stream."""

    header_error: RowError | None
    rows: Iterator[tuple[int, dict[str, str], str | None]]
    fields: tuple[str, ...] = ()


def looks_like_xlsx(head: bytes) -> bool:
    """Whether the bytes start like a zip archive (every XLSX does)."""
    return head[:4] == XLSX_MAGIC


def read_mapped(stream: BinaryIO, mapping: FileMapping) -> MappedRows:
    """Open a seekable binary file through the mapping (CSV or XLSX, by the mapping or by its first bytes)."""
    head = stream.read(4)
    stream.seek(0)
    xlsx = mapping.format == "xlsx" or (mapping.format == "auto" and looks_like_xlsx(head))
    return _xlsx_rows(stream, mapping) if xlsx else _csv_rows(stream, mapping)


def _empty(message: str, row: int = 1) -> MappedRows:
    return MappedRows(RowError(row, message), iter(()))


def _csv_rows(stream: BinaryIO, mapping: FileMapping) -> MappedRows:
    encoding = "utf-8-sig" if mapping.encoding == "utf-8" else mapping.encoding
    # errors="replace": a bad byte refuses its row (U+FFFD is looked for), not the whole file.
    text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")
    first = text.readline()
    if mapping.encoding in ("iso-8859-1", "cp1252") and first.startswith("\u00ef\u00bb\u00bf"):
        return _empty("the file starts with a UTF-8 byte-order mark: set the mapping's encoding to utf-8")
    first = first.lstrip("\ufeff")
    delimiter = DELIMITERS[mapping.delimiter] or max((",", ";", "\t", "|"), key=first.count)
    reader = csv.reader(itertools.chain([first], text), delimiter=delimiter, strict=True)
    return _mapped(_numbered(reader), mapping, decoding_errors=True)


def _numbered(reader) -> Iterator[tuple[int, list[str]]]:
    number = 0
    try:
        for cells in reader:
            number += 1
            yield number, cells
    except csv.Error as exc:
        yield number + 1, ["\x00csv-error", str(exc)]


def _xlsx_rows(stream: BinaryIO, mapping: FileMapping) -> MappedRows:
    import openpyxl  # imported here: only workbook reads pay for it

    try:
        with zipfile.ZipFile(stream) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
                return _empty(f"the workbook unpacks to more than {MAX_UNPACKED_BYTES // (1024 * 1024)} MB")
        stream.seek(0)
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zipfile and openpyxl raise many types for a broken file
        return _empty(f"the file is not a readable XLSX workbook ({type(exc).__name__})")
    if mapping.sheet:
        if mapping.sheet not in workbook.sheetnames:
            workbook.close()
            return _empty(f"the workbook has no sheet named {mapping.sheet!r} (it has {', '.join(workbook.sheetnames)[:200]})")
        sheet = workbook[mapping.sheet]
    elif workbook.worksheets:
        sheet = workbook.worksheets[0]
    else:
        workbook.close()
        return _empty("the workbook has no worksheet")

    def cells() -> Iterator[tuple[int, list[str]]]:
        try:
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield number, [cell_text(value) for value in row]
        finally:
            workbook.close()

    return _mapped(cells(), mapping, decoding_errors=False)


def _mapped(numbered: Iterator[tuple[int, list[str]]], mapping: FileMapping, *, decoding_errors: bool) -> MappedRows:
    """Find the header, resolve every field to a column index, and stream the data rows."""
    positions: dict[str, int] = {}
    header_number = mapping.header_row
    if header_number:
        header: list[str] | None = None
        for number, cells in numbered:
            if cells and cells[0] == "\x00csv-error":
                return _empty(f"the file is not valid CSV ({cells[1]})", number)
            if number == header_number:
                header = cells
                break
        if header is None or not any(cell.strip() for cell in header):
            return _empty(f"row {header_number} should be the header, but the file {'ends before it' if header is None else 'has an empty row there'}", header_number)
        by_text = {cell.strip().lower(): index for index, cell in enumerate(header) if cell.strip()}
        by_name = {column_name(cell): index for index, cell in reversed(list(enumerate(header))) if cell.strip()}
        for name in FIELDS[mapping.kind]:
            wanted = mapping.columns.get(name)
            if isinstance(wanted, int):
                positions[name] = wanted - 1
            elif isinstance(wanted, str):
                index = by_text.get(wanted.strip().lower(), by_name.get(column_name(wanted)))
                if index is None:
                    return _empty(f"the header has no column {wanted!r} (mapped to {name}); it has: {', '.join(c.strip() for c in header if c.strip())[:300]}", header_number)
                positions[name] = index
            elif name in by_name:
                positions[name] = by_name[name]
    else:
        positions = {name: value - 1 for name, value in mapping.columns.items() if isinstance(value, int)}
    missing = [" or ".join(group) for group in REQUIRED[mapping.kind] if not any(name in positions for name in group)]
    if missing:
        return _empty(f"no column is mapped to {', '.join(missing)} (set it in the {mapping.kind} mapping)", header_number or 1)
    fields = tuple(positions)

    def rows() -> Iterator[tuple[int, dict[str, str], str | None]]:
        for count, (number, cells) in enumerate(numbered, start=1):
            if cells and cells[0] == "\x00csv-error":
                yield number, {}, f"the file is not valid CSV from here on ({cells[1]})"
                return
            if count > MAX_ROWS:
                yield number, {}, f"the file has more than {MAX_ROWS} rows; the rest is not read"
                return
            if not any(cell.strip() for cell in cells):
                continue  # blank rows, as spreadsheets leave them
            values = {name: (cells[index].strip() if index < len(cells) else "") for name, index in positions.items()}
            yield number, *_normalized(values, mapping, decoding_errors)

    return MappedRows(None, rows(), fields)


def _normalized(values: dict[str, str], mapping: FileMapping, decoding_errors: bool) -> tuple[dict[str, str], str | None]:
    if decoding_errors and any("\ufffd" in value for value in values.values()):
        return values, f"the row has bytes that are not {mapping.encoding} text; set the mapping's encoding to the one the supplier exports"
    for name in NUMBER_FIELDS & values.keys():
        values[name] = number_text(values[name], mapping.decimal_comma)
    for name in DATE_FIELDS & values.keys():
        if values[name]:
            parsed = parse_date(values[name], mapping.date_formats)
            if parsed is None:
                shown = ", ".join(mapping.date_formats) or "YYYY-MM-DD"
                return values, f"{name} {values[name][:30]!r} matches none of the date formats ({shown})"
            values[name] = parsed
    return values, None


def number_text(text: str, decimal_comma: bool) -> str:
    """'1.234,0' (decimal comma) or '12.0' -> '1234' / '12'; anything else unchanged (the importer then says what is wrong)."""
    cleaned = text.replace("\u00a0", "").replace(" ", "")
    if decimal_comma:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    if _NUMBER.match(cleaned):
        whole, _, fraction = cleaned.partition(".")
        if len(whole) > 30:  # no count or price; int() of 4300+ digits raises: left for the importer to refuse
            return text
        if not fraction.strip("0"):
            return str(int(whole))
        return cleaned
    return text


def parse_date(text: str, formats: tuple[str, ...]) -> str | None:
    """The date (or date and time) in ISO 8601, trying ISO first, then each format; None when none fits."""
    try:
        return (dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)).isoformat()
    except ValueError:
        pass
    for pattern in formats:
        try:
            parsed = dt.datetime.strptime(text, pattern)
        except ValueError:
            continue
        return parsed.date().isoformat() if parsed.time() == dt.time() and "%H" not in pattern else parsed.isoformat()
    return None
