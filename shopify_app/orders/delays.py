"""Late parcels: an ETA that passed without delivery becomes a delay event, an alert and one customer notice.

The notice is sent by shopify_app/notify/customer_notices.py, with the new estimate when the carrier has one.

The job runs every 5 minutes for every shop at once, so it reads only the parcels that could be late now:
recorded in the last DELAY_WATCH, with an ETA, not delivered, of an order not cancelled, not noticed yet.
It used to read every parcel with an ETA ever recorded (and load each late one's order again on every run,
noticed or not): a cost growing with every shop's history, past its 5-minute slot at a thousand shops.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import String, cast, exists, literal, select
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


# A parcel recorded longer ago than this is no longer watched for a passed ETA: carriers' estimates lie
# within weeks of shipping, and a supplier that never reports deliveries would otherwise keep every parcel
# it ever shipped in the job's read.
DELAY_WATCH = dt.timedelta(days=90)


def _candidates(now: dt.datetime):
    """Parcels that may have passed their ETA now (the ETA itself is text in suppliers' formats: read in Python)."""
    noticed = exists().where(CustomerNotice.dedupe_key == literal("delay:") + cast(SupplierShipment.id, String))
    return (select(SupplierShipment.id, SupplierShipment.shipment_id, SupplierShipment.tracking_number, SupplierShipment.estimated_delivery,
                   SupplierOrder.order_id)
            .join(SupplierOrder, SupplierOrder.id == SupplierShipment.supplier_order_id)
            .join(Order, Order.id == SupplierOrder.order_id)
            .where(SupplierShipment.created_at >= now - DELAY_WATCH, SupplierShipment.estimated_delivery.is_not(None),
                   SupplierShipment.estimated_delivery != "", SupplierShipment.delivered_at.is_(None),  # (0051 made "" NULL; its partial index)
                   Order.cancelled_at.is_(None), ~noticed))


def detect_delays(session: Session, now: dt.datetime | None = None) -> int:
    """Find shipped parcels past their ETA and not delivered; queue one notice each. Returns new delays."""
    now = now or utcnow()
    found = 0
    for shipment in session.execute(_candidates(now)).all():
        eta = shipment_time(shipment.estimated_delivery)
        if eta is None or eta > now:
            continue
        found += notice_delay(session, session.get(Order, shipment.order_id), shipment)
    return found


def notice_delay(session: Session, order: Order, shipment) -> bool:
    """Queue the late parcel's one customer notice, its timeline event and alert; False when it was noticed already."""
    key = f"delay:{shipment.id}"
    try:
        with session.begin_nested():
            session.add(CustomerNotice(order_id=order.id, shop_domain=order.shop_domain, kind="delay", dedupe_key=key))
    except IntegrityError:
        return False  # already noticed (another run's, meanwhile)
    record_event(session, order, "delayed", "app", shipment=shipment.shipment_id, eta=shipment.estimated_delivery)
    raise_alert(
        session, order.shop_domain, "delivery_problem", key,
        f"Order {order.name}: parcel {shipment.tracking_number or shipment.shipment_id} is past its ETA ({shipment.estimated_delivery}). Contact the carrier and the customer within 24 hours.",
        subject=order.name,
    )
    return True
