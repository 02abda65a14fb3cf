"""A notice at every step of the order's life, derived from the records by a job (never from webhook handlers).

Reconciliation-style: each pass reads what changed recently through indexed times (new orders,
new parcels, recent carrier statuses, deliveries due a follow-up, follow-up answers) and queues
the notices that are due. Every notice has a dedupe key per order, parcel or step
('shipped:<parcel>', 'follow_up:<order>'), unique in the outbox, so a pass can run any number of
times, concurrently or after a crash, and each notice is still queued once.

Only recent records are read (RECENT): orders imported by an install backfill or parcels from
months ago never email anyone, and the pass stays cheap however large the history grows.
"""
from __future__ import annotations

import datetime as dt
import math

from flask import g
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integrations.suppliers.links import http_link

from ..deliveries.models import FulfillmentDelivery
from ..models import Shop, ShopStatus, utcnow
from ..orders.delays import shipment_time
from ..orders.models import CustomerNotice, Order, OrderLine, OrderState
from ..returns.business_days import last_business_day, local_date
from ..suppliers.models import Supplier, SupplierOrder, SupplierShipment
from .customer_models import SatisfactionAnswer
from .notice_contexts import notice_context
from .notice_links import ANSWERS, feedback_url, review_url
from .notice_settings import MARKETING_STEPS, is_unsubscribed, notice_settings, step_on

RECENT = dt.timedelta(days=3)
FOLLOW_UP_WINDOW = dt.timedelta(days=14)  # a follow-up the job could not send in time is dropped after this
REVIEW_WINDOW = dt.timedelta(days=30)
SHIPPED_ETA_WAIT = dt.timedelta(hours=12)  # a shipped notice waits this long for an ETA, then goes without
DEFAULT_SLA_HOURS = 72
# Orders that are ours to tell the customer about (not history from before the install, not someone else's).
LIVE_STATES = (OrderState.ROUTED.value, OrderState.FORWARDED.value, OrderState.PARTIALLY_SHIPPED.value, OrderState.SHIPPED.value)
NOT_OURS = (OrderState.FULFILLED_BEFORE_INSTALL.value, OrderState.NOT_OURS.value, OrderState.NOTHING_TO_SHIP.value, OrderState.CANCELLED.value)


class _Queue:
    """Queues notices once per dedupe key, with the shops' settings read once per pass."""

    def __init__(self, session: Session):
        self.session = session
        self.settings: dict[str, dict] = {}
        self.queued = 0

    def shop_settings(self, shop: str) -> dict:
        if shop not in self.settings:
            self.settings[shop] = notice_settings(self.session, shop)
        return self.settings[shop]

    def seen(self, kind: str, ref: int) -> bool:
        """Whether that notice is queued already (a lookup on the unique dedupe key)."""
        return self.session.scalar(select(CustomerNotice.id).where(CustomerNotice.dedupe_key == f"{kind}:{ref}")) is not None

    def add(self, order: Order, kind: str, ref: int) -> None:
        settings = self.shop_settings(order.shop_domain)
        if not step_on(settings, kind) or order.cancelled_at is not None or order.state in NOT_OURS:
            return
        if kind in MARKETING_STEPS and is_unsubscribed(self.session, order.shop_domain, order.email or order.customer_email):
            return
        if self.seen(kind, ref):
            return
        key = f"{kind}:{ref}"
        try:
            with self.session.begin_nested():
                self.session.add(CustomerNotice(order_id=order.id, shop_domain=order.shop_domain, kind=kind, dedupe_key=key))
        except IntegrityError:
            return  # another pass queued it first
        self.queued += 1


def queue_due_notices(session: Session, now: dt.datetime | None = None) -> int:
    """Queue every lifecycle notice that is due and not yet queued; returns how many were queued."""
    now = now or utcnow()
    queue = _Queue(session)
    since = now - RECENT
    for order in session.scalars(select(Order).where(Order.created_at >= since, Order.state.in_(LIVE_STATES))):
        queue.add(order, "order_received", order.id)
    parcels = session.execute(select(SupplierShipment, SupplierOrder.order_id, SupplierOrder.shop_domain).join(SupplierOrder, SupplierOrder.id == SupplierShipment.supplier_order_id)
                              .where(SupplierShipment.created_at >= since))
    for parcel, order_id, shop in parcels:
        if queue.seen("shipped", parcel.id):
            continue
        # The estimated arrival is the point of this email: give the carrier's first scan a while to bring one.
        if _aware(parcel.created_at) > now - SHIPPED_ETA_WAIT and _parcel_values(session, shop, parcel, None)["eta"] is None:
            continue
        queue.add(session.get(Order, order_id), "shipped", parcel.id)
    statuses = select(FulfillmentDelivery).where(FulfillmentDelivery.status_at >= now - RECENT, FulfillmentDelivery.order_id.is_not(None))
    for fd in session.scalars(statuses):
        if fd.delivered_at is not None:
            queue.add(session.get(Order, fd.order_id), "delivered", fd.id)
        elif fd.shipment_status == "out_for_delivery":
            queue.add(session.get(Order, fd.order_id), "out_for_delivery", fd.id)
    for shop in session.scalars(select(Shop.domain).where(Shop.status == ShopStatus.INSTALLED.value)):
        _follow_ups(session, queue, shop, now)
        _review_requests(session, queue, shop, now)
    return queue.queued


def _follow_ups(session: Session, queue: _Queue, shop: str, now: dt.datetime) -> None:
    settings = queue.shop_settings(shop)
    if not step_on(settings, "follow_up"):
        return
    due_by = now - dt.timedelta(days=settings["follow_up_days"])
    delivered = (select(FulfillmentDelivery.order_id).where(FulfillmentDelivery.shop_domain == shop, FulfillmentDelivery.delivered_at > due_by - FOLLOW_UP_WINDOW,
                                                             FulfillmentDelivery.delivered_at <= due_by, FulfillmentDelivery.order_id.is_not(None)).distinct())
    for order_id in session.scalars(delivered):
        # Every parcel of the order has arrived (the last one long enough ago): ask about the whole order once.
        last, open_parcels = session.execute(select(func.max(FulfillmentDelivery.delivered_at), func.count().filter(FulfillmentDelivery.delivered_at.is_(None)))
                                             # A parcel whose status Shopify did not send (NULL) is still a parcel: `!=` would drop it.
                                             .where(FulfillmentDelivery.order_id == order_id, FulfillmentDelivery.fulfillment_status.is_distinct_from("cancelled"))).one()
        if open_parcels == 0 and last is not None and _aware(last) <= due_by:
            queue.add(session.get(Order, order_id), "follow_up", order_id)


def _review_requests(session: Session, queue: _Queue, shop: str, now: dt.datetime) -> None:
    settings = queue.shop_settings(shop)
    if not settings["review_url"] or not step_on(settings, "review_request"):
        return
    # Every customer who answers the follow-up is asked for a review, whatever the answer. Asking
    # only the happy ones ("review gating") is what Google's review policy forbids ("don't ...
    # selectively solicit positive reviews from customers"; reviews collected so are removed) and
    # what Trustpilot's guidelines and consumer authorities call misleading: the shop's public
    # rating would hide exactly the customers its next buyers should hear from.
    answered = select(SatisfactionAnswer.order_id).where(SatisfactionAnswer.shop_domain == shop, SatisfactionAnswer.answered_at >= now - REVIEW_WINDOW).distinct()
    for order_id in session.scalars(answered):
        queue.add(session.get(Order, order_id), "review_request", order_id)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def expected_dispatch(session: Session, order: Order) -> dt.date | None:
    """The day the slowest of the order's suppliers should ship by: its SLA in business days of the delivery country, from the shop's date of the order."""
    hours = [((s or {}).get("sla_hours") or DEFAULT_SLA_HOURS) for s in session.scalars(
        select(Supplier.settings).join(SupplierOrder, SupplierOrder.supplier_id == Supplier.id).where(SupplierOrder.order_id == order.id))]
    if not hours:
        return None
    start = _aware(order.shopify_created_at or order.created_at)
    country = (order.shipping_address or {}).get("country_code")
    # The shop's calendar day, not UTC's: an order at 00:30 in Warsaw on a Friday was placed on Friday (a day later than UTC says).
    timezone = session.scalar(select(Shop.iana_timezone).where(Shop.domain == order.shop_domain))
    return last_business_day(local_date(start, timezone), max(1, math.ceil(max(float(h) for h in hours) / 24)), country)


def _shop_of(session: Session, notice) -> str:
    return session.get(Order, notice.order_id).shop_domain


def _ref(notice) -> int | None:
    ref = notice.dedupe_key.rpartition(":")[2]
    return int(ref) if ref.isdigit() else None


def _fulfillment_of(session: Session, shop: str, parcel: SupplierShipment | None) -> FulfillmentDelivery | None:
    # By shop and GID: the unique index of fulfillment_deliveries (a GID alone would scan the table).
    if parcel is None or not parcel.shopify_fulfillment_id:
        return None
    return session.scalar(select(FulfillmentDelivery).where(FulfillmentDelivery.shop_domain == shop, FulfillmentDelivery.fulfillment_gid == parcel.shopify_fulfillment_id))


def _parcel_values(session: Session, shop: str, parcel: SupplierShipment | None, fd: FulfillmentDelivery | None) -> dict:
    """Carrier, tracking and the estimated arrival: the supplier's ETA, else the carrier's."""
    if fd is None:
        fd = _fulfillment_of(session, shop, parcel)
    eta = None
    if parcel is not None and parcel.estimated_delivery:
        eta = parcel.estimated_delivery[:10] if len(parcel.estimated_delivery) <= 10 else shipment_time(parcel.estimated_delivery)
    if eta is None and fd is not None:
        eta = fd.estimated_delivery_at
    return {"carrier": parcel.carrier if parcel else None, "tracking_number": parcel.tracking_number if parcel else None,
            "tracking_url": http_link(parcel.tracking_url) if parcel else None, "eta": eta,
            "delivered_at": fd.delivered_at if fd is not None else None}


@notice_context("order_received")
def order_received_context(session: Session, notice) -> dict:
    """The order's items, total and the expected dispatch day."""
    order = session.get(Order, notice.order_id)
    lines = [(line.title or line.sku or "", line.quantity) for line in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)) if line.shippable]
    return {"lines": lines, "expected_dispatch": expected_dispatch(session, order)}


@notice_context("shipped")
def shipped_context(session: Session, notice) -> dict:
    """The parcel's carrier, tracking and estimated arrival."""
    ref = _ref(notice)
    return _parcel_values(session, _shop_of(session, notice), session.get(SupplierShipment, ref) if ref else None, None)


@notice_context("delay")
def delay_context(session: Session, notice) -> dict:
    """The late parcel, and the new estimate (the carrier's latest, when it is still ahead)."""
    ref = _ref(notice)
    parcel = session.get(SupplierShipment, ref) if ref else None
    shop = _shop_of(session, notice)
    values = _parcel_values(session, shop, parcel, None)
    fd = _fulfillment_of(session, shop, parcel)
    new_estimate = fd.estimated_delivery_at if fd is not None and fd.estimated_delivery_at and _aware(fd.estimated_delivery_at) > utcnow() else None
    return {**values, "expected": parcel.estimated_delivery if parcel else None, "new_estimate": new_estimate}


def _fulfillment_values(session: Session, notice) -> dict:
    ref = _ref(notice)
    fd = session.get(FulfillmentDelivery, ref) if ref else None
    parcel = session.scalar(select(SupplierShipment).where(SupplierShipment.shopify_fulfillment_id == fd.fulfillment_gid)) if fd is not None else None
    return _parcel_values(session, fd.shop_domain if fd is not None else "", parcel, fd)


notice_context("out_for_delivery")(_fulfillment_values)
notice_context("delivered")(_fulfillment_values)


@notice_context("follow_up")
def follow_up_context(session: Session, notice) -> dict:
    """The one-click answer links."""
    settings = g.get("app_settings")
    return {f"{answer}_url": feedback_url(settings, notice.order_id, answer) for answer in ANSWERS}


@notice_context("review_request")
def review_request_context(session: Session, notice) -> dict:
    """The review link (through the app, which counts the click and redirects to the merchant's page)."""
    return {"review_link": review_url(g.get("app_settings"), notice.order_id)}
