"""File suppliers' POs batched on the merchant's schedule: the waiting queue and the per-shop job that closes due batches.

Placing (forwarding -> FileChannelAdapter.place_order) queues the PO here, encrypted (it holds
the ship-to address), for the first slot of the supplier's schedule after now, and leaves the
supplier order UNKNOWN (asked again after its slot). Per shop, job "po-batches" (every minute,
only for shops with a due row or an unwritten batch), per supplier:

1. record (one transaction, no network): every due row whose supplier order is still waiting
   to be placed joins the batch of its slot; its key `<supplier>-<slot>` fixes the file name
   (PO-BATCH-<key>.csv|xlsx). The PO is re-rendered from the order as it is now (an address or
   line change before the slot is in the file) and remembered as sent; a sent-log record
   "writing" is added per PO. A row whose order was cancelled, held or failed meanwhile leaves
   the batch (is deleted). The update that claims the supplier order also locks it until commit,
   so a cancellation lands either before (not in the file) or after (cancelled at the supplier).
2. write (no transaction open): the batch file is written unless the orders folder or the
   supplier's taken folder has it (a retry after a crash rewrites the SAME name, never a second
   batch with the same orders); each try is counted first so an unclear outcome is judged as the
   per-order file is (adapter.write_po_once).
3. mark (one transaction): the batch written, each supplier order placed (its PO number is its
   own idempotency key: acknowledgements and tracking match back per order), the sent-log
   records dropped, the waiting rows (and their addresses) deleted.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import delete, func, select, union, update
from sqlalchemy.exc import IntegrityError

from integrations.suppliers.base import Address, OrderLine, OutcomeNeedsCheck, PlaceOrder, SupplierError, SupplierOrderStatus
from integrations.suppliers.email_po.messages import po_digest
from integrations.suppliers.email_po.sent_log import ACCEPTED, SentLine, SentPurchaseOrder
from integrations.suppliers.files.adapter import WRITING, FileChannelAdapter
from integrations.suppliers.files.batch_schedule import BatchSchedule, InvalidBatching, parse_batching
from integrations.suppliers.files.po_file import batch_file_name, purchase_orders_file
from integrations.suppliers.runtime import SupplierRef

from ..alerts import raise_alert, resolve_alert
from ..models import Shop, utcnow
from ..orders.models import Order
from ..orders.timeline import record_event
from .amendments import remember_sent
from .email_po_log import EmailPoSentRecord
from .models import DeliveryState, Supplier, SupplierOrder
from .po_batch_models import PoBatch, PoBatchState, PoBatchWaiting

log = logging.getLogger(__name__)

STILL_TO_PLACE = (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value)
CLAIM_FOR = dt.timedelta(minutes=10)  # the forwarding worker leaves a supplier order in a recorded batch alone this long
ALERT_AFTER_TRIES = 3


# -- the queue the adapter stages into -----------------------------------------------------------


def encode_request(box, order: PlaceOrder) -> bytes:
    """The PO as encrypted JSON."""
    return box.encrypt(json.dumps(asdict(order)))


def decode_request(box, blob: bytes) -> PlaceOrder:
    """The PO back from encrypted JSON."""
    data = json.loads(box.decrypt(blob))
    return PlaceOrder(**{**data, "shipping_address": Address(**data["shipping_address"]), "lines": tuple(OrderLine(**l) for l in data["lines"])})


def _as_utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


class DatabaseBatchQueue:
    """The waiting POs of one shop's supplier (runtime.po_batch_queue_for)."""

    def __init__(self, session_factory, box, owner: SupplierRef, *, now=utcnow):
        self._sessions, self._box, self._owner, self._now = session_factory, box, owner, now

    def _where(self, po_number: str):
        return (PoBatchWaiting.supplier_id == self._owner.supplier_id, PoBatchWaiting.shop_domain == self._owner.shop_domain,
                PoBatchWaiting.po_number == po_number)

    def stage(self, order: PlaceOrder, schedule: BatchSchedule) -> tuple[dt.datetime, float]:
        """Queue the PO for the next slot (or update the queued one); its slot and the seconds until it."""
        now = _as_utc(self._now())
        blob = encode_request(self._box, order)
        for _ in range(2):
            try:
                with self._sessions.begin() as session:
                    row = session.scalar(select(PoBatchWaiting).where(*self._where(order.external_id)))
                    if row is None:
                        timezone = session.scalar(select(Shop.iana_timezone).where(Shop.domain == self._owner.shop_domain))
                        order_id = session.scalar(select(SupplierOrder.order_id).where(
                            SupplierOrder.idempotency_key == order.external_id, SupplierOrder.shop_domain == self._owner.shop_domain))
                        row = PoBatchWaiting(shop_domain=self._owner.shop_domain, supplier_id=self._owner.supplier_id, po_number=order.external_id,
                                             order_id=order_id, request_enc=blob, slot_at=schedule.next_slot(now, timezone))
                        session.add(row)
                    elif row.batch_id is None:
                        row.request_enc, row.updated_at = blob, utcnow()  # placed again after a change: the newest wins
                    slot = _as_utc(row.slot_at)
                return slot, max((slot - now).total_seconds(), 0.0)
            except IntegrityError:  # queued concurrently: read that one
                continue
        raise RuntimeError(f"PO {order.external_id} could not be queued")

    def withdraw(self, po_number: str) -> str | None:
        """Take a PO out of the queue unless its batch is recorded: "withdrawn", "in_batch", or None when it was not queued."""
        with self._sessions.begin() as session:
            if session.execute(delete(PoBatchWaiting).where(*self._where(po_number), PoBatchWaiting.batch_id.is_(None))).rowcount:
                return "withdrawn"
            return "in_batch" if session.scalar(select(PoBatchWaiting.id).where(*self._where(po_number))) is not None else None

    def in_batch(self, po_number: str) -> bool:
        """Whether the PO is in a recorded batch whose file is not confirmed written yet."""
        with self._sessions() as session:
            return session.scalar(select(PoBatchWaiting.batch_id).where(*self._where(po_number))) is not None


# -- the per-shop job -----------------------------------------------------------------------------


def shops_with_due_batches(services) -> list[str]:
    """Shops with a waiting PO whose slot has come, or a batch not written yet (two indexed lookups; idle shops cost nothing)."""
    now = utcnow()
    query = union(select(PoBatchWaiting.shop_domain).where(PoBatchWaiting.slot_at <= now, PoBatchWaiting.batch_id.is_(None)),
                  select(PoBatch.shop_domain).where(PoBatch.state == PoBatchState.RECORDED))
    with services.session_factory() as session:
        return list(session.scalars(query))


def close_due_batches(services, shop_domain: str, *, now: dt.datetime | None = None) -> int:
    """The per-shop unit: record, write and mark every due batch of the shop's batched file suppliers; batches written."""
    now = now or utcnow()
    with services.session_factory() as session:
        suppliers = set(session.scalars(select(PoBatchWaiting.supplier_id).where(
            PoBatchWaiting.shop_domain == shop_domain, PoBatchWaiting.slot_at <= now, PoBatchWaiting.batch_id.is_(None))))
        suppliers |= set(session.scalars(select(PoBatch.supplier_id).where(PoBatch.shop_domain == shop_domain, PoBatch.state == PoBatchState.RECORDED)))
    written = 0
    for supplier_id in sorted(suppliers):
        record_due_batches(services, shop_domain, supplier_id, now=now)
        written += write_recorded_batches(services, shop_domain, supplier_id)
    return written


def record_due_batches(services, shop_domain: str, supplier_id: int, *, now: dt.datetime | None = None) -> list[int]:
    """Step 1: the due waiting POs of one supplier into the batch of their slot (one transaction, no network); the batch ids recorded."""
    from .forwarding import place_request

    now = now or utcnow()
    recorded = []
    with services.session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        if supplier is None or supplier.shop_domain != shop_domain:
            return []
        usable = supplier.active and supplier.deleted_at is None  # deactivated: the forwarding worker fails its orders, nothing is sent
        settings = supplier.settings or {}
        po_format = settings.get("po_format", "csv")
        rows = session.scalars(select(PoBatchWaiting).where(
            PoBatchWaiting.shop_domain == shop_domain, PoBatchWaiting.supplier_id == supplier_id, PoBatchWaiting.slot_at <= now,
            PoBatchWaiting.batch_id.is_(None)).order_by(PoBatchWaiting.slot_at, PoBatchWaiting.po_number)).all()
        by_slot: dict[dt.datetime, list[PoBatchWaiting]] = {}
        for row in rows:
            by_slot.setdefault(row.slot_at, []).append(row)
        for slot, waiting in by_slot.items():
            batch = _new_batch(session, shop_domain, supplier_id, slot, po_format) if usable else None
            for row in waiting:
                if batch is None:
                    gone = session.scalar(select(SupplierOrder.id).where(SupplierOrder.shop_domain == shop_domain, SupplierOrder.idempotency_key == row.po_number,
                                                                         SupplierOrder.state.in_(STILL_TO_PLACE))) is None
                    if gone:
                        session.delete(row)
                    continue
                # Claims the supplier order (and, on PostgreSQL, locks it until commit): only one still to be placed joins.
                claimed = session.execute(update(SupplierOrder).where(
                    SupplierOrder.shop_domain == shop_domain, SupplierOrder.supplier_id == supplier_id,
                    SupplierOrder.idempotency_key == row.po_number, SupplierOrder.state.in_(STILL_TO_PLACE),
                ).values(next_attempt_at=now + CLAIM_FOR).execution_options(synchronize_session=False)).rowcount
                if not claimed:
                    session.delete(row)  # cancelled, held or failed before its slot: it leaves the batch (placing queues it again if it comes back)
                    continue
                delivery = session.scalar(select(SupplierOrder).where(SupplierOrder.shop_domain == shop_domain, SupplierOrder.idempotency_key == row.po_number))
                request, sent_digest = place_request(session, delivery)  # the order as it is now (reads only the session)
                if not request.lines:
                    session.delete(row)
                    continue
                remember_sent(session, delivery, request, sent_digest)  # what the supplier gets: a later change is compared with this
                row.request_enc, row.batch_id, row.updated_at = encode_request(services.box, request), batch.id, utcnow()
                _log_writing(session, shop_domain, supplier_id, request, batch.file_name)
                batch.po_numbers = [*batch.po_numbers, row.po_number]
            if batch is None:
                continue
            if batch.po_numbers:
                recorded.append(batch.id)
            else:
                session.delete(batch)
    return recorded


def _new_batch(session, shop_domain: str, supplier_id: int, slot: dt.datetime, po_format: str) -> PoBatch:
    """The batch of this slot; a slot whose batch exists already (an order queued late) gets the next key, never more orders in a file already fixed."""
    base = f"{supplier_id}-{_as_utc(slot):%Y%m%dT%H%MZ}"
    taken = set(session.scalars(select(PoBatch.batch_key).where(PoBatch.shop_domain == shop_domain, PoBatch.supplier_id == supplier_id,
                                                                   PoBatch.batch_key.like(f"{base}%"))))
    key = base
    number = 1
    while key in taken:
        number += 1
        key = f"{base}-{number}"
    batch = PoBatch(shop_domain=shop_domain, supplier_id=supplier_id, batch_key=key, slot_at=slot, file_name=batch_file_name(key, po_format),
                    state=PoBatchState.RECORDED, po_numbers=[], attempts=0)
    session.add(batch)
    session.flush()
    return batch


def _log_writing(session, shop_domain: str, supplier_id: int, request: PlaceOrder, file_name: str) -> None:
    """The PO's sent-log record, "writing" until its batch file is confirmed (its lines are what tracking is matched against)."""
    record = SentPurchaseOrder(po_number=request.external_id, lines=tuple(SentLine(l.line_ref, l.supplier_sku, l.quantity, l.name) for l in request.lines),
                               sent_at=utcnow().replace(tzinfo=dt.timezone.utc).isoformat(), message_id=f"file:{file_name}", delivery=WRITING)
    existing = session.scalar(select(EmailPoSentRecord).where(EmailPoSentRecord.shop_domain == shop_domain, EmailPoSentRecord.supplier_id == supplier_id,
                                                                EmailPoSentRecord.po_number == request.external_id))
    if existing is None:
        session.add(EmailPoSentRecord(shop_domain=shop_domain, supplier_id=supplier_id, po_number=request.external_id, record=record.to_json(),
                                      po_digest=po_digest(request.external_id)))
    elif SentPurchaseOrder.from_json(existing.record).delivery == WRITING:
        existing.record, existing.version, existing.updated_at = record.to_json(), existing.version + 1, utcnow()


def write_recorded_batches(services, shop_domain: str, supplier_id: int, *, adapter: FileChannelAdapter | None = None) -> int:
    """Steps 2 and 3 for every recorded batch of the supplier, oldest first; how many were written (or found written)."""
    from .file_channel import adapter_for

    with services.session_factory() as session:
        batches = session.scalars(select(PoBatch.id).where(PoBatch.shop_domain == shop_domain, PoBatch.supplier_id == supplier_id,
                                                           PoBatch.state == PoBatchState.RECORDED).order_by(PoBatch.id)).all()
        if not batches:
            return 0
        supplier = session.get(Supplier, supplier_id)
        name = supplier.name
        adapter = adapter or adapter_for(services, supplier)
    done = 0
    for batch_id in batches:
        if not _write_batch(services, adapter, batch_id, name):
            break  # the server failed: the later batches wait behind this one (the supplier reads them in order)
        done += 1
    return done


def _write_batch(services, adapter: FileChannelAdapter, batch_id: int, supplier_name: str) -> bool:
    with services.session_factory.begin() as session:
        batch = session.get(PoBatch, batch_id)
        tried_at = batch.written_at if batch.attempts else None  # written_at holds the last try until the file is confirmed
        batch.attempts += 1
        batch.written_at = utcnow()  # counted before the write: a crash after it leaves a try on record
        file_name, shop, supplier_id = batch.file_name, batch.shop_domain, batch.supplier_id
        requests = [decode_request(services.box, blob) for blob in session.scalars(
            select(PoBatchWaiting.request_enc).where(PoBatchWaiting.batch_id == batch_id).order_by(PoBatchWaiting.po_number))]
    try:
        adapter.write_po_once(file_name, lambda: purchase_orders_file(requests, adapter.settings.po_format, adapter.settings.po_delimiter),
                              logged_at=_as_utc(tried_at).isoformat() if tried_at else None, what=f"Batch {file_name}")
    except SupplierError as exc:
        with services.session_factory.begin() as session:
            batch = session.get(PoBatch, batch_id)
            batch.last_error = str(exc)[:2000]
            if batch.attempts >= ALERT_AFTER_TRIES or isinstance(exc, OutcomeNeedsCheck):
                raise_alert(session, shop, "po_batch_unwritten", f"po_batch_unwritten:{batch_id}",
                            f"{supplier_name}: the batch file {file_name} ({len(requests)} orders) could not be written: {exc}",
                            severity="critical", subject=supplier_name)
        return False
    _mark_written(services, batch_id, shop, supplier_id, supplier_name)
    return True


def _mark_written(services, batch_id: int, shop: str, supplier_id: int, supplier_name: str) -> None:
    """Step 3: the batch written, its orders placed, their records dropped, the waiting rows (addresses) deleted; one transaction."""
    from .forwarding import _update_order_state

    now = utcnow()
    with services.session_factory.begin() as session:
        batch = session.get(PoBatch, batch_id)
        batch.state, batch.written_at, batch.last_error = PoBatchState.WRITTEN, now, None
        for po_number in batch.po_numbers:
            delivery = session.scalar(select(SupplierOrder).where(SupplierOrder.shop_domain == shop, SupplierOrder.idempotency_key == po_number))
            record = session.scalar(select(EmailPoSentRecord).where(EmailPoSentRecord.shop_domain == shop, EmailPoSentRecord.supplier_id == supplier_id,
                                                                      EmailPoSentRecord.po_number == po_number))
            if record is not None:
                sent = SentPurchaseOrder.from_json(record.record)
                if sent.delivery == WRITING:
                    record.record = replace(sent, delivery=ACCEPTED).to_json()
                    record.version, record.updated_at = record.version + 1, now
            if delivery is None:
                continue
            if delivery.state == DeliveryState.CANCEL_REQUESTED.value:
                delivery.next_attempt_at = now  # cancelled after its batch was fixed: the supplier has it, so cancel it there now
            elif delivery.state in (*STILL_TO_PLACE, DeliveryState.ON_HOLD.value):
                delivery.state = DeliveryState.PLACED.value
            delivery.supplier_order_id = po_number
            delivery.supplier_status = SupplierOrderStatus.PENDING.value
            delivery.placed_at = now
            delivery.last_error = None
            delivery.lease_owner = delivery.lease_until = None
            order = session.get(Order, delivery.order_id)
            record_event(session, order, "forwarded", "app", supplier=supplier_name, supplier_order_id=po_number, batch_file=batch.file_name)
            session.flush()
            _update_order_state(session, order.id)
        session.execute(delete(PoBatchWaiting).where(PoBatchWaiting.batch_id == batch_id))
        resolve_alert(session, f"po_batch_unwritten:{batch_id}")


def reslot_waiting(session, shop_domain: str, supplier_id: int, schedule: BatchSchedule | None) -> int:
    """The schedule changed: the orders still waiting go out at the new schedule's next slot (per order: at the next run); how many moved."""
    now = utcnow()
    if schedule is not None:
        timezone = session.scalar(select(Shop.iana_timezone).where(Shop.domain == shop_domain))
        now = schedule.next_slot(now, timezone)
    return session.execute(update(PoBatchWaiting).where(PoBatchWaiting.shop_domain == shop_domain, PoBatchWaiting.supplier_id == supplier_id,
                                                        PoBatchWaiting.batch_id.is_(None)).values(slot_at=now)
                           .execution_options(synchronize_session=False)).rowcount


# -- the admin --------------------------------------------------------------------------------------


def supplier_batching(session, supplier: Supplier, profile: dict | None = None) -> dict[str, Any]:
    """The supplier's batching status (the API's and the page's); `profile`: the shop profile a page has read already (else its time zone is read)."""
    try:
        schedule = parse_batching((supplier.settings or {}).get("po_batching"))
    except InvalidBatching:
        schedule = None
    timezone = profile.get("iana_timezone") if profile is not None else session.scalar(
        select(Shop.iana_timezone).where(Shop.domain == supplier.shop_domain))
    return batching_status(session, supplier.shop_domain, supplier.id, schedule, timezone)


def batching_status(session, shop_domain: str, supplier_id: int, schedule: BatchSchedule | None, timezone: str | None) -> dict[str, Any]:
    """What the supplier page shows: the schedule, the next slot, how many orders wait, the last batches."""
    count = session.scalar(select(func.count(PoBatchWaiting.id)).where(PoBatchWaiting.shop_domain == shop_domain, PoBatchWaiting.supplier_id == supplier_id))
    batches = session.scalars(select(PoBatch).where(PoBatch.shop_domain == shop_domain, PoBatch.supplier_id == supplier_id)
                              .order_by(PoBatch.id.desc()).limit(10)).all()
    return {
        "po_batching": schedule.as_json() if schedule else {"mode": "per_order"},
        "timezone": timezone or "UTC",
        "next_slot": _as_utc(schedule.next_slot(utcnow(), timezone)).isoformat() if schedule else None,
        "waiting_orders": count,
        "batches": [{"file_name": b.file_name, "slot": _as_utc(b.slot_at).isoformat(), "state": b.state, "orders": len(b.po_numbers or []),
                     "written_at": _as_utc(b.written_at).isoformat() if b.written_at and b.state == PoBatchState.WRITTEN else None,
                     "error": b.last_error} for b in batches],
    }
