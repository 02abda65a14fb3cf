"""Reading what a file supplier drops: which files are ready, fetching one safely, and its rows through the mapping.

A file is ready when its name is not a writer's temporary (a dot-name, or one of the
supplier's temporary endings such as .tmp or .part) and its size and modification time are
the same at two looks (the app's poll remembers the first look; see file_channel.py). It is
fetched into a spooled temporary file while its SHA-256 is computed, then looked at again:
a file that changed size or time while it was read (replaced under us) is left for the next
poll, never half-applied.
"""
from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from typing import IO, BinaryIO, Iterable, Iterator

from ..base import StockLevel
from ..email_po.csv_rows import CsvRows, RowError
from ..email_po.stock_feed import StockImport, check_stock_rows
from ..email_po.tracking_import import PurchaseOrderLookup, RowReport, TrackingImport, parse_tracking_table
from .config import FileChannelSettings
from .mapping import FIELDS, FileMapping, read_mapped
from .transport import FileTransport, RemoteFile, is_temporary

SPOOL_BYTES = 8 * 1024 * 1024  # larger downloads go to a temporary file on disk
MAX_FILE_BYTES = 200 * 1024 * 1024
ACCEPTED_WORDS = {"accepted", "accept", "ok", "confirmed", "confirm", "yes", "y", "ack", "acknowledged", "a", "open", "in progress"}
REJECTED_WORDS = {"rejected", "reject", "declined", "refused", "no", "n", "r", "cancelled", "canceled", "error"}


class FileChanged(Exception):
    """The file changed (or vanished) while it was being read: read it again at the next poll."""


def ready_candidates(files: Iterable[RemoteFile], settings: FileChannelSettings) -> list[RemoteFile]:
    """The files whose names are not a writer's temporary (dot-names never reach here: transports leave them out)."""
    return [f for f in files if not is_temporary(f.name, settings.temp_suffixes)]


class _Hashing:
    """A sink that hashes what it writes and stops past the size cap."""

    def __init__(self, sink: IO[bytes]):
        self.sink, self.digest, self.size = sink, hashlib.sha256(), 0

    def write(self, chunk: bytes) -> int:
        self.size += len(chunk)
        if self.size > MAX_FILE_BYTES:
            raise FileChanged(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        self.digest.update(chunk)
        return self.sink.write(chunk)


def fetch(transport: FileTransport, folder: str, seen: RemoteFile) -> tuple[BinaryIO, str]:
    """Download a listed file into a seekable temporary and return it with its SHA-256; FileChanged if it moved under us."""
    sink = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    hashing = _Hashing(sink)
    try:
        transport.download(folder, seen.name, hashing)
        after = next((f for f in transport.list(folder) if f.name == seen.name), None)
    except BaseException:
        sink.close()
        raise
    if hashing.size != seen.size or after is None or (after.size, after.modified) != (seen.size, seen.modified):
        sink.close()
        raise FileChanged("the file changed while it was being read; it is read again at the next poll")
    sink.seek(0)
    return sink, hashing.digest.hexdigest()


@dataclass(frozen=True)
class FileRead:
    """What one file held: rows applied and refused, with a report row for each refused one."""

    applied: int
    refused: tuple[RowError, ...]
    message: str = ""


# -- stock -------------------------------------------------------------------------------------


def read_stock(stream: BinaryIO, mapping: FileMapping) -> StockImport:
    """A stock file's levels and refused rows (streamed: the checker holds one level per SKU)."""
    mapped = read_mapped(stream, mapping)
    if mapped.header_error is not None:
        return StockImport((), [mapped.header_error])
    refused: list[RowError] = []

    def good_rows() -> Iterator[tuple[int, dict[str, str]]]:
        for number, values, problem in mapped.rows:
            if problem:
                refused.append(RowError(number, problem))
            else:
                yield number, values

    checked = check_stock_rows(good_rows())
    return StockImport(checked.levels, sorted(refused + checked.errors, key=lambda e: e.row))


def newest_stock_levels(transport: FileTransport, settings: FileChannelSettings, wanted: set[str]) -> dict[str, StockLevel]:
    """Levels of the wanted SKUs in the newest stock file (the stock folder first, then the archive); {} without one."""
    for folder in (settings.folders["stock"], settings.archive_folder("stock")):
        try:
            files = ready_candidates(transport.list(folder), settings)
        except Exception as exc:  # noqa: BLE001 - a missing folder is "no file yet"
            if getattr(exc, "permanent", False) or "no such" in str(exc):
                continue
            raise
        if not files:
            continue
        newest = files[-1]
        stream, _ = fetch(transport, folder, newest)
        with stream:
            result = read_stock(stream, settings.mapping("stock"))
        return {level.supplier_sku: level for level in result.levels if level.supplier_sku in wanted}
    return {}


# -- tracking ----------------------------------------------------------------------------------


def read_tracking(stream: BinaryIO, mapping: FileMapping, find_po: PurchaseOrderLookup) -> TrackingImport:
    """A tracking file checked against the POs we sent (nothing recorded): parcels, refused rows, one report row each."""
    mapped = read_mapped(stream, mapping)
    if mapped.header_error is not None:
        error = mapped.header_error
        return TrackingImport({}, [error], report=(RowReport(error.row, "unreadable", error.message),))
    rows, refused = [], []
    for number, values, problem in mapped.rows:
        if problem:
            refused.append(RowError(number, problem))
        else:
            rows.append((number, values))
    result = parse_tracking_table(CsvRows(tuple(rows), frozenset(mapped.fields)), find_po)
    if not refused:
        return result
    extra = tuple(RowReport(e.row, "unreadable", e.message) for e in refused)
    return TrackingImport(result.shipments, sorted(result.errors + refused, key=lambda e: e.row), result.already_imported,
                          tuple(sorted(result.report + extra, key=lambda r: r.row)))


# -- acknowledgements --------------------------------------------------------------------------


@dataclass(frozen=True)
class Acknowledgement:
    """The supplier's word on one PO."""

    row: int
    po_number: str
    accepted: bool
    reason: str = ""


def read_acknowledgements(stream: BinaryIO, mapping: FileMapping, find_po: PurchaseOrderLookup) -> tuple[list[Acknowledgement], list[RowError]]:
    """Acknowledgement rows for POs we sent, and the refused rows (unknown PO, a status we cannot read)."""
    mapped = read_mapped(stream, mapping)
    if mapped.header_error is not None:
        return [], [mapped.header_error]
    taken: dict[str, Acknowledgement] = {}
    refused: list[RowError] = []
    for number, values, problem in mapped.rows:
        po_number, status = values.get("po_number", ""), values.get("status", "").strip().lower()
        if problem:
            refused.append(RowError(number, problem))
        elif not po_number:
            refused.append(RowError(number, "po_number is missing"))
        elif find_po(po_number) is None:
            refused.append(RowError(number, f"PO {po_number} is not a purchase order we sent to this supplier", "unknown_po"))
        elif status not in ACCEPTED_WORDS | REJECTED_WORDS:
            refused.append(RowError(number, f"status {status[:20]!r} is neither accepted nor rejected"))
        elif po_number in taken:
            refused.append(RowError(number, f"PO {po_number} is acknowledged again (first on row {taken[po_number].row})", "duplicate"))
        else:
            taken[po_number] = Acknowledgement(number, po_number, status in ACCEPTED_WORDS, values.get("reason", "")[:200])
    return list(taken.values()), refused


def preview(stream: BinaryIO, mapping: FileMapping, *, first: int = 20, max_refused: int = 500) -> dict:
    """The mapping applied to a sample: the header's problem, the first rows as our fields, every refused row with its reason."""
    mapped = read_mapped(stream, mapping)
    if mapped.header_error is not None:
        return {"fields": [], "rows": [], "refused": [{"row": mapped.header_error.row, "reason": mapped.header_error.message}], "rows_read": 0, "file_refused": True}
    shown, refused, count = [], [], 0
    rows: list[tuple[int, dict[str, str]]] = []
    for number, values, problem in mapped.rows:
        count += 1
        if problem:
            if len(refused) < max_refused:
                refused.append({"row": number, "reason": problem})
            continue
        rows.append((number, values))
        if len(shown) < first:
            shown.append({"row": number, "values": {name: values.get(name, "") for name in FIELDS[mapping.kind] if name in values}})
    if mapping.kind == "stock":
        refused += [{"row": e.row, "reason": e.message} for e in check_stock_rows(rows).errors][: max(0, max_refused - len(refused))]
    elif mapping.kind == "tracking":
        from ..email_po.tracking_import import _quantity  # the importer's own quantity rule, not a copy

        for number, values in rows:
            problem = _quantity(values.get("quantity", ""))[1] or ("" if values.get("tracking_number") or values.get("tracking_url") else "needs a tracking_number or a tracking_url")
            if problem and len(refused) < max_refused:
                refused.append({"row": number, "reason": problem})
    refused.sort(key=lambda item: item["row"])
    return {"fields": [name for name in FIELDS[mapping.kind] if name in mapped.fields], "rows": shown, "refused": refused, "rows_read": count, "file_refused": False}
