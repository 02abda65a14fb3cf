"""The parcel's estimated arrival, told to Shopify as a fulfillment event (PRODUCT.md step 5).

Shopify's shipping confirmation carries carrier and tracking but no ETA, and our own "shipped"
email is off by default (notify/notice_settings.py: no double emails). A fulfillment event with
`estimatedDeliveryAt` puts the supplier's ETA on the order status page and in Shopify's shipping
updates, with no second email. It is told after the fulfillment exists, once per ETA value:
`eta_told` records the value once Shopify accepted it. A crash between the call and the record
repeats the same event on the retry (the same estimate again, harmless), never skips it. A
failure never touches the fulfillment: the parcel stays fulfilled with its tracking, and the
push's retry or the reconciliation (`eta_not_told`) tells the ETA later.

The event's status never claims more than we know (the customer reads it as the parcel's state):
- the carrier's own latest progress, when Shopify has one, at the time it happened (repeated with
  our estimate, so the fulfillment's status never moves backwards, even for a later ETA);
- else a later ETA than the one told: DELAYED, now (it is: the promise moved);
- else CONFIRMED at the supplier's shipping time (never after now): Shopify's "default value when
  no other information is available". IN_TRANSIT would claim a carrier scan we have not seen.
An ETA more than 30 days past or a year ahead (a supplier's slip) is settled untold, like an unreadable one.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, bindparam, or_, select, update

from integrations.shopify.errors import ShopifyError, ShopifyUserError
from integrations.shopify.pacing import bucket_for

from ..alerts import raise_alert, resolve_alert
from ..db import read_only
from ..deliveries.models import FulfillmentDelivery
from ..models import Shop, utcnow
from .models import ShipmentState, SupplierOrder, SupplierShipment

log = logging.getLogger(__name__)

# Carrier statuses worth repeating with a new estimate. Not DELAYED: our own events come back as the
# fulfillment's latest status, and an ETA moved earlier is no longer a delay; delivered or failed parcels get no ETA.
# The carrier's progress, repeated with a new estimate at its own time: our event must never move the
# parcel's shown status backwards (out for delivery -> delayed would hide the carrier's word from the
# customer's page and from the out-for-delivery notice). Not CONFIRMED nor DELAYED: those are what we send
# ourselves (they come back as the fulfillment's latest status), and a later ETA over them is a delay.
CARRIER_STATUSES = frozenset({"ATTEMPTED_DELIVERY", "CARRIER_PICKED_UP", "IN_TRANSIT", "LABEL_PRINTED",
                              "LABEL_PURCHASED", "OUT_FOR_DELIVERY", "READY_FOR_PICKUP"})
# An ETA outside this range of now is a supplier's slip (a year 9999, a date long past): nothing to show a customer.
ETA_PAST, ETA_FUTURE = dt.timedelta(days=30), dt.timedelta(days=366)
LOCAL_NOON = dt.time(12)  # a bare date: noon in the shop's zone shows that same date wherever it is read
# Points an ETA costs: fulfillmentEventCreate (12 asked) and the read of the fulfillments/update it causes (24).
ETA_EVENT_COST = 36
# Below this share of the shop's bucket, ETAs wait: orders and fulfillments come first.
ETA_HEADROOM = 0.9


class EtaEvent(NamedTuple):
    """One fulfillment event to send: status, when it happened, the estimate (ISO 8601)."""

    status: str
    happened_at: str
    estimated_delivery_at: str


def eta_untold(estimated_delivery: str | None, eta_told: str | None, delivered_at: str | None) -> bool:
    """True when an undelivered parcel has an ETA Shopify has not been told."""
    return bool(estimated_delivery) and estimated_delivery != eta_told and not delivered_at


def eta_pending(state: str, estimated_delivery: str | None, eta_told: str | None, delivered_at: str | None) -> bool:
    """True when the parcel is a Shopify fulfillment and has an ETA Shopify has not been told."""
    return state == ShipmentState.FULFILLED.value and eta_untold(estimated_delivery, eta_told, delivered_at)


def eta_pending_where(shipment=SupplierShipment):
    """eta_pending as a SQL condition on the parcel's columns (the reconciliation finds with it what tell_eta would tell)."""
    return and_(shipment.state == ShipmentState.FULFILLED.value, shipment.estimated_delivery.is_not(None), shipment.estimated_delivery != "",
                or_(shipment.eta_told.is_(None), shipment.eta_told != shipment.estimated_delivery),
                or_(shipment.delivered_at.is_(None), shipment.delivered_at == ""))


def room_for_eta(shop_domain: str) -> bool:
    """False while the shop's Shopify cost bucket is not nearly full: the ETA is left to the reconciliation.

    An ETA can wait (Shopify's shipping confirmation has gone without it either way); a new order or a
    parcel's fulfillment cannot. Measured with bench/order_flow.py on one shop: at 5 orders/s, telling
    every ETA at once ran the bucket dry (the reconciliation's 745-point order read then reserved it
    for seconds) and the way back's p90 went from 0.04 s to 7.7 s; at 2 orders/s the bucket stays
    above this mark and every ETA is told at once with no change in latency.
    """
    status = bucket_for(shop_domain).status
    if status is None:
        return True
    return status.projected_available(time.monotonic()) >= ETA_EVENT_COST + status.maximum_available * ETA_HEADROOM


def eta_instant(value: str | None, zone: str | None = None) -> dt.datetime | None:
    """A supplier's ETA text as an aware UTC datetime (a bare date: noon in the shop's zone, else UTC); None if unreadable."""
    if not value:
        return None
    try:
        if len(value) <= 10:
            parsed = dt.datetime.combine(dt.date.fromisoformat(value), LOCAL_NOON, _zone(zone))
        else:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        # In UTC here, inside the guard: a year 1 or 9999 with an offset overflows the conversion.
        return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)
    except (ValueError, OverflowError):
        return None


def _zone(name: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(name) if name else dt.timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return dt.timezone.utc


def event_for(row, now: dt.datetime) -> EtaEvent | None:
    """The event that tells the parcel's ETA (see the module's docstring for the status); None when the ETA is unreadable or absurd."""
    eta = eta_instant(row.estimated_delivery, row.iana_timezone)
    if eta is None or not now - ETA_PAST <= eta <= now + ETA_FUTURE:
        return None
    told = eta_instant(row.eta_told, row.iana_timezone)
    carrier = (row.shipment_status or "").upper()
    if carrier in CARRIER_STATUSES and row.status_at is not None:
        status, happened = carrier, min(row.status_at, now)
    elif told is not None and eta > told:
        status, happened = "DELAYED", now
    else:
        shipped = eta_instant(row.shipped_at) if row.shipped_at and len(row.shipped_at) > 10 else None
        # Never after now: an event dated in the future would stay the newest and hide every carrier scan after it.
        status, happened = "CONFIRMED", min(shipped, now) if told is None and shipped is not None else now
    return EtaEvent(status, _iso(happened), _iso(eta))


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def tell_eta(session_factory, gateway, shipment_id: int) -> bool:
    """Tell Shopify the parcel's ETA on each of its fulfillments, once per value; True when told now.

    Read, call Shopify with no transaction open, then record the value told. Shopify's refusal is
    kept on the parcel with an alert (the reconciliation tries again); a transient error is raised
    for the caller's retry, after the parcel's fulfillment is safely recorded.
    """
    with read_only(session_factory)() as session:
        row = session.execute(_TO_TELL, {"shipment": shipment_id}).first()
    if row is None or not eta_pending(row.state, row.estimated_delivery, row.eta_told, row.delivered_at):
        return False
    fulfillment_ids = row.shopify_fulfillment_ids or ([row.shopify_fulfillment_id] if row.shopify_fulfillment_id else [])
    event = event_for(row, utcnow())
    if event is None or not fulfillment_ids:
        # Nothing Shopify could show (an ETA we cannot read, or the fulfillment is another's): said, then settled.
        # An earlier value's refusal is moot then (that value is no longer the parcel's): its alert is resolved.
        log.warning("shipment %s: ETA %r not told to Shopify (%s)", shipment_id, row.estimated_delivery, "unreadable" if event is None else "no fulfillment of ours")
        _record(session_factory, shipment_id, row.estimated_delivery, row.shop_domain)
        return False
    if row.eta_told and eta_instant(row.eta_told, row.iana_timezone) == eta_instant(row.estimated_delivery, row.iana_timezone):
        # The moment Shopify was told, spelled another way ("...T12:00:00Z" after "...T12:00:00+00:00"): nothing new
        # for the customer, so no event; the new spelling is recorded (a refusal's alert on another fulfillment stays).
        _record(session_factory, shipment_id, row.estimated_delivery, None)
        return False
    refused: list[ShopifyUserError] = []
    try:
        for fulfillment_id in fulfillment_ids:
            try:
                gateway.mutate("FulfillmentEventCreate", {"fulfillmentEvent": {
                    "fulfillmentId": fulfillment_id, "status": event.status, "happenedAt": event.happened_at,
                    "estimatedDeliveryAt": event.estimated_delivery_at}}, payload_key="fulfillmentEventCreate")
            except ShopifyUserError as exc:  # this fulfillment only (cancelled, gone): the others still hear it
                refused.append(exc)
    except ShopifyError as exc:
        with session_factory.begin() as session:
            session.execute(_SET_ERROR, {"shipment": shipment_id, "error": f"eta: {type(exc).__name__}"})
        raise
    if refused:
        # Told nowhere: kept pending for the reconciliation. Told on some: recorded, or every run would send
        # the accepted fulfillments the same event again; the alert names the refusal either way.
        told_somewhere = len(refused) < len(fulfillment_ids)
        with session_factory.begin() as session:
            session.execute(_SET_ERROR, {"shipment": shipment_id, "error": f"eta: {refused[0].codes}"[:1000]})
            then = ("It was told on the parcel's other fulfillments." if told_somewhere
                    else "The fulfillment and its tracking are in place; the estimate is tried again by the reconciliation.")
            raise_alert(session, row.shop_domain, "eta_refused", f"eta_refused:{shipment_id}",
                        f"Parcel {row.tracking_number or shipment_id}: Shopify refused its estimated arrival ({row.estimated_delivery}): {refused[0]}. {then}",
                        subject=row.tracking_number)
        if not told_somewhere:
            return False
        _record(session_factory, shipment_id, row.estimated_delivery, None)  # the refusal's alert stays open
        return True
    _record(session_factory, shipment_id, row.estimated_delivery, row.shop_domain)
    return True


def _record(session_factory, shipment_id: int, told: str, shop_domain: str | None) -> None:
    """The ETA value now in Shopify (an ETA reported meanwhile differs from it, so it is told next)."""
    with session_factory.begin() as session:
        session.execute(_SET_TOLD, {"shipment": shipment_id, "told": told, "now": utcnow()})
        if shop_domain is not None:
            resolve_alert(session, f"eta_refused:{shipment_id}")


# Built once: the parcel, its shop's zone and the carrier's latest word on its (first) fulfillment, in one read.
_ssh = SupplierShipment.__table__.c
_TO_TELL = (select(_ssh.state, _ssh.shopify_fulfillment_id, _ssh.shopify_fulfillment_ids, _ssh.estimated_delivery, _ssh.eta_told, _ssh.shipped_at,
                   _ssh.delivered_at, _ssh.tracking_number, SupplierOrder.shop_domain, Shop.iana_timezone, FulfillmentDelivery.shipment_status,
                   FulfillmentDelivery.status_at)
            .join(SupplierOrder, SupplierOrder.id == _ssh.supplier_order_id)
            .outerjoin(Shop, Shop.domain == SupplierOrder.shop_domain)
            .outerjoin(FulfillmentDelivery, and_(FulfillmentDelivery.shop_domain == SupplierOrder.shop_domain,
                                                 FulfillmentDelivery.fulfillment_gid == _ssh.shopify_fulfillment_id))
            .where(_ssh.id == bindparam("shipment")))
_SET_TOLD = update(SupplierShipment.__table__).where(_ssh.id == bindparam("shipment")).values(eta_told=bindparam("told"), updated_at=bindparam("now"))
_SET_ERROR = update(SupplierShipment.__table__).where(_ssh.id == bindparam("shipment")).values(last_error=bindparam("error"))
