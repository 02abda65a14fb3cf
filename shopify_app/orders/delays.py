"""Late parcels: an ETA that passed without delivery becomes a delay event, an alert and one customer notice."""
from __future__ import annotations

import datetime as dt
import logging
import smtplib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integrations.suppliers.links import http_link

from ..alerts import raise_alert
from ..db import read_only
from ..models import utcnow
from ..notify.email import SmtpSettings, render, send_email
from ..notify.notice_contexts import context_for
from ..suppliers.models import SupplierOrder, SupplierShipment
from .models import CustomerNotice, Order
from .timeline import record_event

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 5


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
                session.add(CustomerNotice(order_id=order.id, kind="delay", dedupe_key=key))
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


@dataclass
class NoticeReport:
    """What one sending pass did."""

    sent: int = 0
    failed: int = 0
    waiting: int = 0


def send_pending_notices(session_factory, smtp: SmtpSettings | None, shop_name: str = "Our shop") -> NoticeReport:
    """Send every pending customer notice; SMTP failures are retried on the next pass, then given up."""
    report = NoticeReport()
    with session_factory() as session:
        ids = session.scalars(select(CustomerNotice.id).where(CustomerNotice.status == "pending").order_by(CustomerNotice.id)).all()
    if smtp is None:
        report.waiting = len(ids)
        return report
    for notice_id in ids:
        try:
            _send_notice(session_factory, smtp, shop_name, notice_id, report)
        except Exception as exc:  # noqa: BLE001 - one broken notice must not stop the others
            log.warning("notice %s could not be sent: %s", notice_id, type(exc).__name__)
    return report


def _send_notice(session_factory, smtp: SmtpSettings, shop_name: str, notice_id: int, report: NoticeReport) -> None:
    """Render on a read-only session, send with no transaction open (SMTP has its own timeout), then record the outcome."""
    with read_only(session_factory)() as session:
        notice = session.get(CustomerNotice, notice_id)
        order = session.get(Order, notice.order_id)
        to, order_id = order.email, order.id
        if to:
            shipment = _shipment_for(session, notice)
            subject, body = render(
                f"{notice.kind}_notice.txt",
                order_name=order.name or order.shopify_id,
                customer_name=(order.shipping_address or {}).get("first_name"),
                carrier=shipment.carrier if shipment else None,
                tracking_number=shipment.tracking_number if shipment else None,
                tracking_url=http_link(shipment.tracking_url) if shipment else None,  # rows stored before the check may hold any scheme
                expected=shipment.estimated_delivery if shipment else None,
                shop_name=shop_name,
                **context_for(session, notice),
            )
    error = "no customer email"
    if to:
        try:
            send_email(smtp, to, subject, body)
            error = None
        except (smtplib.SMTPException, OSError) as exc:
            error = type(exc).__name__
    with session_factory.begin() as session:
        notice = session.get(CustomerNotice, notice_id)
        if not to:
            notice.status, notice.last_error = "failed", error
            report.failed += 1
            return
        notice.attempts += 1
        if error is not None:
            notice.last_error = error
            if notice.attempts >= MAX_SEND_ATTEMPTS:
                notice.status = "failed"
                report.failed += 1
            return
        notice.status, notice.sent_at = "sent", utcnow()
        record_event(session, session.get(Order, order_id), "customer_notified", "app", notice=notice.kind)
        report.sent += 1


def _shipment_for(session: Session, notice: CustomerNotice) -> SupplierShipment | None:
    kind, _, ref = notice.dedupe_key.partition(":")
    return session.get(SupplierShipment, int(ref)) if kind == "delay" and ref.isdigit() else None
