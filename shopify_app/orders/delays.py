"""Late parcels: an ETA that passed without delivery becomes a delay event, an alert and one customer notice.

The notice is sent by shopify_app/notify/customer_notices.py, with the new estimate when the carrier has one.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..alerts import raise_alert
from ..models import utcnow
from ..suppliers.models import SupplierOrder, SupplierShipment
from .models import CustomerNotice, Order
from .timeline import record_event

def shipment_time(value: str | None) -> dt.datetime | None:
    """A supplier's shipped/ETA/delivered text as a UTC datetime (a bare date means the end of that day); None if unreadable."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:  # a bare date means the end of that day
        try:
            parsed = parsed.replace(tzinfo=dt.timezone.utc) + (dt.timedelta(days=1) if len(value) <= 10 else dt.timedelta())
        except OverflowError:  # "9999-12-31" from a supplier: no usable date, never a failed job
            return None
    return parsed


def detect_delays(session: Session, now: dt.datetime | None = None) -> int:
    """Find shipped parcels past their ETA and not delivered; queue one notice each. Returns new delays."""
    now = now or utcnow()
    found = 0
    rows = session.execute(
        select(SupplierShipment, SupplierOrder).join(SupplierOrder, SupplierOrder.id == SupplierShipment.supplier_order_id).where(SupplierShipment.estimated_delivery.is_not(None))
    )
    for shipment, delivery in rows:
        eta = shipment_time(shipment.estimated_delivery)
        if eta is None or eta > now or shipment.delivered_at:
            continue
        order = session.get(Order, delivery.order_id)
        if order.cancelled_at is not None:
            continue
        key = f"delay:{shipment.id}"
        try:
            with session.begin_nested():
                session.add(CustomerNotice(order_id=order.id, shop_domain=order.shop_domain, kind="delay", dedupe_key=key))
        except IntegrityError:
            continue  # already noticed
        found += 1
        record_event(session, order, "delayed", "app", shipment=shipment.shipment_id, eta=shipment.estimated_delivery)
        raise_alert(
            session, order.shop_domain, "delivery_problem", key,
            f"Order {order.name}: parcel {shipment.tracking_number or shipment.shipment_id} is past its ETA ({shipment.estimated_delivery}). Contact the carrier and the customer within 24 hours.",
            subject=order.name,
        )
    return found
