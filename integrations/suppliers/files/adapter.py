"""The file channel adapter: purchase orders dropped as files, acknowledgements, tracking and stock picked up as files.

place_order writes one PO file per supplier order into the supplier's orders folder, named
after the PO number (our idempotency key), and records it in the supplier's sent log (the
email supplier's log: the same memory of POs, shipments and cancellations). Before writing,
it looks for the file in the orders folder and in the folder the supplier moves taken POs
to: a retry after a crash or a lost answer finds it there and writes nothing new. A write
whose answer was lost is OutcomeUnknown; find_order resolves it by looking for the file.

What the supplier drops back is read through the merchant's column mapping (mapping.py) by
`inbound.py`; the app's poll (shopify_app/suppliers/file_channel.py) keeps the ledger of
processed files and applies them: tracking into the sent log (then Shopify fulfillments),
stock into the inventory plan, acknowledgements onto the PO's status.

Batched (settings.po_batching, batch_schedule.py): place_order queues the PO for the next
slot of the merchant's schedule (`batch_queue`, in the app: shopify_app/suppliers/po_batches.py)
and answers PlacementDeferred; the app's batch job writes one file for the slot and places
every order in it. find_order answers from the sent log once the batch file is written.

cancel_order drops a cancellation file (CANCEL-<PO>.csv) once and reports CANCELLED, meaning
"cancellation requested", as the email supplier does; refused once a parcel is on record.
Order changes are not offered (a supplier reading PO files picks them up once).
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
from dataclasses import replace
from typing import Any, Callable, Iterator

from ..base import (
    OutcomeNeedsCheck,
    OutcomeUnknown,
    PlaceOrder,
    PlacementDeferred,
    ReturnAuthorization,
    ReturnLine,
    Shipment,
    StockLevel,
    SupplierAdapter,
    SupplierOrder,
    SupplierOrderNotFound,
    SupplierOrderStatus,
    TransientSupplierError,
)
from ..email_po.adapter import check_order, utc_now
from ..email_po.sent_log import ACCEPTED, SentLine, SentLog, SentPurchaseOrder, request_cancellation, return_reference, return_refusal
from .config import FileChannelSettings
from .po_file import po_file_name, purchase_order_file
from .transport import FileTransport, TransportError

TransportFactory = Callable[[], FileTransport]
WRITING = "writing"  # logged, the file not (known to be) written yet
# A PO logged as being written longer ago than this, whose file is in no folder we know, may
# have been written and taken away by the supplier (moved or deleted elsewhere): not rewritten.
WRITING_GRACE = dt.timedelta(minutes=5)


class FileChannelAdapter(SupplierAdapter):
    """A supplier reached through files on its SFTP/FTP server (or a shared local folder)."""

    kind = "files"
    can_update_address = False
    can_update_lines = False
    can_cancel_when = frozenset({SupplierOrderStatus.PENDING, SupplierOrderStatus.ACKNOWLEDGED})

    def __init__(self, settings: FileChannelSettings, transport_factory: TransportFactory, sent_log: SentLog, *, clock: Callable[[], str] = utc_now,
                 batch_queue: Any = None):
        self.settings = settings
        self.open_transport = transport_factory
        self.sent_log = sent_log
        self._clock = clock
        # Batched suppliers: stage(order, schedule) -> (slot, seconds until it), in_batch(po_number) -> bool,
        # withdraw(po_number) -> "in_batch" | "withdrawn" | None (placed on its own after the merchant went back to per order).
        self.batch_queue = batch_queue

    @contextlib.contextmanager
    def connection(self, *, placing: bool = False) -> Iterator[FileTransport]:
        """A transport for a few operations; its errors as adapter errors (placing: a lost answer is OutcomeUnknown)."""
        transport = None
        try:
            transport = self.open_transport()
            yield transport
        except TransportError as exc:
            if exc.permanent or not placing:
                # Refused logins, host keys, egress and permissions: refused before anything was put in place.
                raise TransientSupplierError(f"file supplier: {exc}") from None
            # A write whose answer was lost may have renamed the file into place: look before writing again.
            raise OutcomeUnknown(f"file supplier: {exc}") from None
        finally:
            if transport is not None:
                with contextlib.suppress(TransportError, OSError):
                    transport.close()

    # -- orders ----------------------------------------------------------------------------

    def po_name(self, po_number: str) -> str:
        """The PO file's name for this PO number."""
        return po_file_name(po_number, self.settings.po_format)

    def place_order(self, order: PlaceOrder) -> SupplierOrder:
        """Log the PO as being written, write its file unless the supplier's folders have it, then log it as dropped."""
        check_order(order, self.settings.known_skus)
        existing = self.sent_log.get(order.external_id)
        if existing is not None and existing.delivery != WRITING:
            return existing.as_supplier_order()
        if self.settings.batching is not None:
            return self._wait_for_batch(order, existing)
        if self.batch_queue is not None and self.batch_queue.withdraw(order.external_id) == "in_batch":
            # Queued while the supplier batched, and its batch is being written: it goes out in that file, not in one of its own.
            raise PlacementDeferred(f"PO {order.external_id} is in a batch file being written", retry_after=60.0)
        name = self.po_name(order.external_id)
        if existing is None:
            # Logged first (with its lines) so that a crash after the write still leaves the lines tracking is matched against.
            self.sent_log.add(SentPurchaseOrder(
                po_number=order.external_id, lines=tuple(SentLine(l.line_ref, l.supplier_sku, l.quantity, l.name) for l in order.lines),
                sent_at=self._clock(), message_id=f"file:{name}", delivery=WRITING,
            ))
        self.write_po_once(name, lambda: purchase_order_file(order, self.settings.po_format, self.settings.po_delimiter),
                           logged_at=existing.sent_at if existing is not None else None, what=f"PO {order.external_id}")
        return self._dropped(order.external_id).as_supplier_order()

    def write_po_once(self, name: str, render: Callable[[], bytes], *, logged_at: str | None, what: str) -> bool:
        """Write a PO file unless the orders folder or the supplier's taken folder has it already; True when written now.

        `logged_at`: when the file was recorded as being written before (a retry). Such a file
        found in neither folder after the grace period may have been taken away: OutcomeNeedsCheck.
        """
        folders = self.settings.folders
        with self.connection(placing=True) as transport:
            if transport.exists(folders["orders"], name) or transport.exists(folders["orders_taken"], name):
                return False
            if logged_at is not None and self._older_than_grace(logged_at):
                raise OutcomeNeedsCheck(
                    f"{what}: its file {name} was being written at {logged_at} and is now in neither "
                    f"{folders['orders']} nor {folders['orders_taken']}; the supplier may have taken it. Check with the supplier "
                    "before it is sent again.")
            transport.write_atomic(folders["orders"], name, render())
        return True

    def _wait_for_batch(self, order: PlaceOrder, existing: SentPurchaseOrder | None) -> SupplierOrder:
        """Queue the PO for its slot (updated when it is queued already) and say when to ask again: the batch job places it."""
        if self.batch_queue is None:
            raise TransientSupplierError("file supplier: batched POs need the app's batch queue")
        if existing is not None:  # its batch is recorded and being written
            raise PlacementDeferred(f"PO {order.external_id} is in a batch file being written", retry_after=60.0)
        slot, wait = self.batch_queue.stage(order, self.settings.batching)
        raise PlacementDeferred(f"PO {order.external_id} waits for the batch at {slot:%Y-%m-%d %H:%M} UTC", retry_after=wait)

    def _older_than_grace(self, sent_at: str) -> bool:
        try:
            return dt.datetime.fromisoformat(self._clock()) - dt.datetime.fromisoformat(sent_at) > WRITING_GRACE
        except (TypeError, ValueError):
            return True  # an unreadable time: the careful answer

    def _dropped(self, po_number: str) -> SentPurchaseOrder:
        return self.sent_log.update(po_number, lambda record: replace(record, delivery=ACCEPTED) if record.delivery == WRITING else record)

    def find_order(self, external_id: str) -> SupplierOrder | None:
        """The logged PO once its file was dropped; a PO still being written counts only when its file is in the supplier's folders."""
        record = self.sent_log.get(external_id)
        if record is not None and record.delivery != WRITING:
            return record.as_supplier_order()
        if self.batch_queue is not None and ((self.settings.batching is not None and record is not None) or self.batch_queue.in_batch(external_id)):
            # Its batch is recorded: the batch job writes the file (or finds it) and places it; ask after that.
            raise TransientSupplierError(f"PO {external_id} is in a batch file being written; ask again shortly", retry_after=60.0)
        try:
            name = self.po_name(external_id)
        except ValueError:
            return None
        with self.connection() as transport:
            found = transport.exists(self.settings.folders["orders"], name) or transport.exists(self.settings.folders["orders_taken"], name)
        if not found:
            return None
        if record is None:
            # The file is there but we never logged it (a restored database): recorded without lines.
            return self.sent_log.add(SentPurchaseOrder(po_number=external_id, lines=(), sent_at=self._clock(), message_id=f"file:{name}")).as_supplier_order()
        return self._dropped(external_id).as_supplier_order()

    def get_order(self, supplier_order_id: str) -> SupplierOrder:
        """The logged PO (the supplier order id is the PO number)."""
        return self._record(supplier_order_id).as_supplier_order()

    def cancel_order(self, supplier_order_id: str) -> SupplierOrder:
        """Drop a cancellation file (once) and report CANCELLED = requested; refused once a parcel is logged."""
        record = self._record(supplier_order_id)

        def send() -> None:
            rows = [["po_number", "action", "requested_at"], [record.po_number, "cancel", self._clock()]]
            with self.connection() as transport:
                transport.write_atomic(self.settings.folders["orders"], "CANCEL-" + self.po_name(record.po_number)[3:].rsplit(".", 1)[0] + ".csv", _csv(rows))

        return request_cancellation(self.sent_log, record, send, self._clock).as_supplier_order()

    def get_shipments(self, supplier_order_id: str) -> list[Shipment]:
        """Parcels read from the supplier's tracking files, in the order they were read."""
        return list(self._record(supplier_order_id).shipments)

    # -- stock and returns -----------------------------------------------------------------

    def get_stock(self, supplier_skus: list[str]) -> list[StockLevel]:
        """Levels from the newest stock file (in the stock folder, else the newest archived one); unknown SKUs left out."""
        from .inbound import newest_stock_levels

        wanted = set(supplier_skus)
        with self.connection() as transport:
            levels = newest_stock_levels(transport, self.settings, wanted)
        return [levels[sku] for sku in supplier_skus if sku in levels]

    def create_return_authorization(self, supplier_order_id: str, lines: list[ReturnLine]) -> ReturnAuthorization:
        """Drop a return request file under the PO; "pending" with our own reference until the supplier answers."""
        record = self._record(supplier_order_id)
        refused = return_refusal(record, lines)
        if refused is not None:
            return refused
        reference = return_reference(record.po_number, lines)
        rows = [["po_number", "rma_reference", "sku", "quantity", "reason"]] + [[record.po_number, reference, l.supplier_sku, l.quantity, l.reason or ""] for l in lines]
        with self.connection() as transport:
            transport.write_atomic(self.settings.folders["orders"], po_file_name(reference, "csv").replace("PO-", "RETURN-", 1), _csv(rows))
        return ReturnAuthorization(rma_number=reference, status="pending", note="return request file dropped for the supplier")

    def check_connection(self) -> str:
        """Log in (host key, credentials) and list the orders folder."""
        with self.connection() as transport:
            transport.list("")
        return "logged in and listed the supplier's folder"

    def _record(self, po_number: str) -> SentPurchaseOrder:
        record = self.sent_log.get(po_number)
        if record is None or record.delivery == WRITING:
            raise SupplierOrderNotFound(f"no purchase order {po_number} was dropped for this supplier")
        return record


def _csv(rows: list[list]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")
