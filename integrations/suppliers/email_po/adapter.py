"""The email purchase-order adapter: for suppliers without an API, a PO email with a CSV and a PDF, tracking back by reply or file.

place_order mails a PO (subject and X-PO-Number carry the PO number = our external_id, the
idempotency key) and records it in the sent log once the SMTP server took it; placing the
same PO number again returns the record and sends nothing. There is no supplier to ask, so
find_order, get_order and get_shipments answer from the sent log, and the supplier order id
is the PO number itself.

Statuses: PENDING once sent (a person has yet to read it); CANCELLED once a cancellation
email went out; PARTIALLY_SHIPPED / SHIPPED from imported tracking, which wins over a
cancellation (goods that left have left). `raw["delivery"]` says "unconfirmed" when the SMTP
answer to a fully transmitted PO was lost (counted as sent; see sent_log.py).

cancel_order sends a cancellation email and reports CANCELLED, meaning "cancellation
requested": nothing comes back to confirm it, and a supplier who already shipped will send
tracking, which then shows as shipped. It refuses (CancellationRefused) once the log has
any parcel of the PO. Asking twice sends one email; a cancellation whose SMTP answer was
lost (OutcomeUnknown) is not recorded, so the retry may mail it twice, which is harmless.

amend_order mails a change notice under the PO (same PO number, threaded under it, numbered
by the change reference) with every line as it stands now, and the new address when it
changed; the log's lines follow, so tracking is matched against what was asked last. Each
reference is mailed once; refused (AmendmentRefused) once a parcel or a cancellation is logged.

Not offered: webhooks (parse_webhook raises NotImplementedError), return authorizations.
Stock: from an imported stock CSV when a feed is configured, else [].
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from typing import Callable

from ..base import (
    Amendment,
    AmendmentRefused,
    OutcomeUnknown,
    PermanentSupplierError,
    PlaceOrder,
    ReturnAuthorization,
    ReturnLine,
    Shipment,
    StockLevel,
    SupplierAdapter,
    SupplierOrder,
    SupplierOrderNotFound,
)
from .config import EmailPoSettings
from .messages import cancellation_message, change_notice_message, purchase_order_message, return_request_message
from .po_amounts import po_amounts
from .sent_log import UNCONFIRMED, SentLine, SentLog, SentPurchaseOrder, request_cancellation, return_reference, return_refusal
from .smtp_sender import send_message
from .stock_feed import StockFeed, StockImport, import_stock_csv
from .tracking_import import TrackingImport, import_tracking_csv

log = logging.getLogger(__name__)

MAX_PO_NUMBER = 100


def utc_now() -> str:
    """Now, UTC, ISO 8601."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def check_order(order: PlaceOrder, known_skus: frozenset[str] | None) -> None:
    """PermanentSupplierError for a PO that must not be mailed."""
    po = order.external_id
    if not po or len(po) > MAX_PO_NUMBER or any(ord(char) < 32 or ord(char) == 127 for char in po):
        raise PermanentSupplierError(f"the PO number must be 1-{MAX_PO_NUMBER} printable characters")
    if not order.lines:
        raise PermanentSupplierError("the order has no lines")
    refs = [line.line_ref for line in order.lines]
    if any(not ref for ref in refs) or len(set(refs)) != len(refs):
        raise PermanentSupplierError("every line needs its own line_ref (tracking is matched by it)")
    for line in order.lines:
        if not line.supplier_sku:
            raise PermanentSupplierError(f"line {line.line_ref} has no supplier SKU")
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int) or line.quantity < 1:
            raise PermanentSupplierError(f"line {line.line_ref} has quantity {line.quantity!r}; it must be a whole number of at least 1")
        if known_skus is not None and line.supplier_sku not in known_skus:
            raise PermanentSupplierError(f"SKU {line.supplier_sku} is not one this supplier sells (settings.known_skus)")


class EmailPoAdapter(SupplierAdapter):
    """A supplier that takes purchase orders by email."""

    kind = "email"
    can_update_address = True  # a change notice: a person at the supplier applies it
    can_update_lines = True

    def __init__(self, settings: EmailPoSettings, sent_log: SentLog, *, stock_feed: StockFeed | None = None, clock: Callable[[], str] = utc_now):
        """`sent_log` is the durable memory of sent POs (see sent_log.py for the choices)."""
        self.settings = settings
        self.sent_log = sent_log
        self.stock_feed = stock_feed
        self._clock = clock

    # -- orders ----------------------------------------------------------------------------

    def place_order(self, order: PlaceOrder) -> SupplierOrder:
        """Mail the PO unless the log has it; record it once the SMTP server took it."""
        check_order(order, self.settings.known_skus)
        existing = self.sent_log.get(order.external_id)
        if existing is not None:
            return existing.as_supplier_order()
        message = purchase_order_message(order, self.settings)
        amounts = po_amounts(order, self.settings.currency)
        # The delivery's cost is in the order's currency (KPIs add it up): only a complete total in it counts.
        in_order_currency = amounts.currency == (order.currency or "").upper()
        record = SentPurchaseOrder(
            po_number=order.external_id,
            lines=tuple(SentLine(line.line_ref, line.supplier_sku, line.quantity, line.name) for line in order.lines),
            sent_at=self._clock(),
            message_id=str(message["Message-ID"]),
            total=amounts.total if amounts.any_cost and not amounts.incomplete and in_order_currency else None,
        )
        try:
            send_message(self.settings, message)
        except OutcomeUnknown:
            # The whole PO went through DATA; most likely it is queued: never send a second one.
            self.sent_log.add(replace(record, delivery=UNCONFIRMED))
            raise
        return self.sent_log.add(record).as_supplier_order()

    def find_order(self, external_id: str) -> SupplierOrder | None:
        """The logged PO with this number, or None if it was never (knowingly) sent."""
        record = self.sent_log.get(external_id)
        return record.as_supplier_order() if record is not None else None

    def get_order(self, supplier_order_id: str) -> SupplierOrder:
        """The logged PO (the supplier order id is the PO number)."""
        return self._record(supplier_order_id).as_supplier_order()

    def cancel_order(self, supplier_order_id: str) -> SupplierOrder:
        """Mail a cancellation (once) and report CANCELLED = requested; refused once a parcel is logged."""
        record = self._record(supplier_order_id)
        send = lambda: send_message(self.settings, cancellation_message(record.po_number, self.settings))  # noqa: E731
        return request_cancellation(self.sent_log, record, send, self._clock).as_supplier_order()

    def amend_order(self, supplier_order_id: str, amendment: Amendment) -> SupplierOrder:
        """Mail a change notice under the PO (once per reference) and keep the log's lines as changed."""
        record = self._record(supplier_order_id)
        if amendment.reference in record.amendments:
            return record.as_supplier_order()
        if record.shipments or record.cancel_requested_at:
            raise AmendmentRefused(f"PO {record.po_number} has {'shipped parcels' if record.shipments else 'a cancellation'} on record")
        send_message(self.settings, change_notice_message(record.po_number, amendment, self.settings))
        lines = tuple(SentLine(line.line_ref, line.supplier_sku, line.quantity, line.name) for line in amendment.lines if line.quantity > 0)
        updated = self.sent_log.update(record.po_number, lambda current: current if amendment.reference in current.amendments
                                       else replace(current, lines=lines, amendments=(*current.amendments, amendment.reference)))
        return updated.as_supplier_order()

    def get_shipments(self, supplier_order_id: str) -> list[Shipment]:
        """Parcels imported from the supplier's tracking CSVs, in the order they were imported."""
        return list(self._record(supplier_order_id).shipments)

    # -- what the supplier sends back ------------------------------------------------------

    def import_tracking_csv(self, text: str | bytes) -> TrackingImport:
        """Check a tracking CSV from this supplier and record the parcels that pass."""
        return import_tracking_csv(self.sent_log, text)

    def import_stock_csv(self, text: str | bytes) -> StockImport:
        """Check a stock CSV from this supplier and keep the levels that pass."""
        if self.stock_feed is None:
            raise PermanentSupplierError("this email supplier keeps no stock file: upload its stock feed to the app (by file or URL) instead")
        return import_stock_csv(self.stock_feed, text)

    # -- stock and returns -----------------------------------------------------------------

    def get_stock(self, supplier_skus: list[str]) -> list[StockLevel]:
        """Levels from the imported stock feed ([] without one); unknown SKUs left out."""
        return self.stock_feed.levels(supplier_skus) if self.stock_feed is not None else []

    def create_return_authorization(self, supplier_order_id: str, lines: list[ReturnLine]) -> ReturnAuthorization:
        """Mail a return request under the PO; "pending" with our own reference until the supplier replies.

        The reference is derived from the PO and the lines, so asking twice for the same
        return names the same request (the supplier sees one reference, possibly twice).
        """
        record = self._record(supplier_order_id)
        refused = return_refusal(record, lines)
        if refused is not None:
            return refused
        reference = return_reference(record.po_number, lines)
        send_message(self.settings, return_request_message(record.po_number, reference, lines, self.settings))
        return ReturnAuthorization(rma_number=reference, status="pending", note="awaiting the supplier's reply by email")

    # -- internals -------------------------------------------------------------------------

    def _record(self, po_number: str) -> SentPurchaseOrder:
        record = self.sent_log.get(po_number)
        if record is None:
            raise SupplierOrderNotFound(f"no purchase order {po_number} in the sent log")
        return record
