"""Batched POs waiting for their slot hold the ship-to address (encrypted): listed in an export, deleted by a customers/redact."""
from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..orders.privacy import customer_orders
from ..privacy import CustomerDataSource, CustomerRef, customer_data_source
from .models import DeliveryState, SupplierOrder
from .po_batch_models import PoBatchWaiting
from .po_batches import STILL_TO_PLACE


def _order_ids(session: Session, ref: CustomerRef) -> list[int]:
    return [order.id for order in customer_orders(session, ref)]


def _export(session: Session, ref: CustomerRef) -> list[dict]:
    ids = _order_ids(session, ref)
    if not ids:
        return []
    rows = session.scalars(select(PoBatchWaiting).where(PoBatchWaiting.shop_domain == ref.shop_domain, PoBatchWaiting.order_id.in_(ids)))
    return [{"purchase_order": row.po_number, "waiting_for_batch_at": row.slot_at.isoformat()} for row in rows]


def _redact(session: Session, ref: CustomerRef) -> int:
    ids = _order_ids(session, ref)
    if not ids:
        return 0
    waiting = session.scalars(select(PoBatchWaiting.po_number).where(PoBatchWaiting.shop_domain == ref.shop_domain, PoBatchWaiting.order_id.in_(ids))).all()
    # Their supplier orders never left: stopped, so that the redacted order is not queued again (it would ship to "[redacted]").
    session.execute(update(SupplierOrder).where(
        SupplierOrder.shop_domain == ref.shop_domain, SupplierOrder.idempotency_key.in_(waiting), SupplierOrder.state.in_(STILL_TO_PLACE),
    ).values(state=DeliveryState.FAILED.value, last_error="customer data redacted before its PO batch left").execution_options(synchronize_session=False))
    return session.execute(delete(PoBatchWaiting).where(PoBatchWaiting.shop_domain == ref.shop_domain, PoBatchWaiting.order_id.in_(ids))).rowcount


customer_data_source(CustomerDataSource("po_batches_waiting", _export, _redact))
