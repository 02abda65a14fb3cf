"""Apply what Shopify says about a fulfillment's delivery: status, timestamps, timeline, alerts.

The source is the fulfillment as read through GraphQL when the webhook is handled (its
events, `deliveredAt`, `inTransitAt`, `estimatedDeliveryAt`), or the webhook's REST payload
when the read found nothing. Webhooks arrive late, twice or out of order, so nothing here
moves backwards: an older snapshot (by Shopify's `updatedAt`) changes nothing, the status is
the newest event's, a timestamp once known is kept, and each event reaches the timeline once
(only events newer than the status we hold are new).
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..alerts import raise_alert, resolve_alert
from ..orders.models import Order
from ..orders.payloads import PayloadError, checked_id, checked_text, parse_time
from ..orders.timeline import record_event
from ..suppliers.models import SupplierOrder, SupplierShipment
from .models import FulfillmentDelivery

log = logging.getLogger(__name__)

FULFILLMENT_PREFIX = "gid://shopify/Fulfillment/"
DELIVERED = "delivered"
FAILURE = "failure"
APP_ETA_STATUSES = frozenset({"confirmed", "delayed"})  # what suppliers/eta_events.py sends with the supplier's ETA
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class CarrierEvent:
    """One FulfillmentEvent: status (lower case), when it happened, the estimate it gave."""

    status: str
    happened_at: dt.datetime
    estimated_delivery_at: dt.datetime | None = None
    message: str | None = None


@dataclass
class FulfillmentState:
    """A fulfillment as Shopify holds it, from GraphQL or (fallback) the REST payload."""

    fulfillment_gid: str
    order_gid: str | None = None
    name: str | None = None
    fulfillment_status: str | None = None
    display_status: str | None = None
    updated_at: dt.datetime | None = None
    in_transit_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    estimated_delivery_at: dt.datetime | None = None
    events: list[CarrierEvent] = field(default_factory=list)  # oldest first
    payload_status: str | None = None  # shipment_status of a REST payload (no events known)


def fulfillment_gid_of(payload: Any) -> str:
    """The fulfillment a fulfillments/* payload is about, as a GID; PayloadError when it names none."""
    if not isinstance(payload, dict):
        raise PayloadError("the payload is not an object")
    number = checked_id(payload.get("admin_graphql_api_id") or payload.get("id"), "fulfillment id")
    if number is None:
        raise PayloadError("the payload names no fulfillment")
    return FULFILLMENT_PREFIX + number


def _time(value: Any, what: str) -> dt.datetime | None:
    try:
        return parse_time(value)
    except (ValueError, OverflowError, TypeError):
        raise PayloadError(f"{what} is not an ISO 8601 time") from None


def _message(value: Any) -> str | None:
    # A carrier's free text: cut to the column rather than refuse the whole fulfillment.
    return value[:MAX_MESSAGE] if isinstance(value, str) and value else None


def _lower(value: Any) -> str | None:
    return str(value).lower()[:32] if value else None


def state_from_graphql(node: dict) -> FulfillmentState:
    """FulfillmentDeliveryStatus's `fulfillment` -> FulfillmentState (events oldest first)."""
    events = []
    for event in ((node.get("events") or {}).get("nodes") or []):
        happened = _time(event.get("happenedAt"), "happenedAt")
        if happened is None or not event.get("status"):
            continue
        events.append(CarrierEvent(str(event["status"]).lower(), happened, _time(event.get("estimatedDeliveryAt"), "estimatedDeliveryAt"),
                                   _message(event.get("message"))))
    events.sort(key=lambda e: e.happened_at)  # stable: Shopify's order breaks ties
    return FulfillmentState(
        fulfillment_gid=node["id"], order_gid=(node.get("order") or {}).get("id"), name=checked_text(node.get("name"), "name", 64),
        fulfillment_status=_lower(node.get("status")), display_status=_lower(node.get("displayStatus")),
        updated_at=_time(node.get("updatedAt"), "updatedAt"), in_transit_at=_time(node.get("inTransitAt"), "inTransitAt"),
        delivered_at=_time(node.get("deliveredAt"), "deliveredAt"), estimated_delivery_at=_time(node.get("estimatedDeliveryAt"), "estimatedDeliveryAt"),
        events=events,
    )


def state_from_payload(payload: dict) -> FulfillmentState:
    """A fulfillments/create|update REST payload -> FulfillmentState (no events: its shipment_status at updated_at)."""
    order_number = checked_id(payload.get("order_id"), "order_id")
    return FulfillmentState(
        fulfillment_gid=fulfillment_gid_of(payload), order_gid=f"gid://shopify/Order/{order_number}" if order_number else None,
        name=checked_text(payload.get("name"), "name", 64), fulfillment_status=_lower(payload.get("status")),
        updated_at=_time(payload.get("updated_at"), "updated_at"), payload_status=_lower(payload.get("shipment_status")),
    )


def apply_fulfillment_state(session: Session, shop_domain: str, state: FulfillmentState) -> FulfillmentDelivery:
    """Record the fulfillment's delivery status (never backwards); timeline, alerts and our parcel follow."""
    row = _row(session, shop_domain, state.fulfillment_gid)
    order = _order(session, shop_domain, state.order_gid)
    if order is not None and row.order_id is None:
        row.order_id, row.order_gid = order.id, state.order_gid
    row.order_gid = row.order_gid or state.order_gid
    if row.shopify_updated_at and state.updated_at and state.updated_at < row.shopify_updated_at:
        log.info("fulfillment %s: an older snapshot arrived late, ignored", state.fulfillment_gid)
        return row
    row.shopify_updated_at = max(filter(None, (row.shopify_updated_at, state.updated_at)), default=None)
    row.name = state.name or row.name
    row.fulfillment_status = state.fulfillment_status or row.fulfillment_status
    row.display_status = state.display_status or row.display_status
    events = state.events or _payload_event(state)
    new = [e for e in events if row.status_at is None or e.happened_at > row.status_at]
    row.events_seen = max(row.events_seen or 0, len(state.events))
    parcel = our_parcel(session, shop_domain, row.fulfillment_gid)
    for event in new:
        _on_event(session, row, order, event, "app" if _told_by_app(session, shop_domain, parcel, event) else "carrier")
    # Shopify's summary fields win when it has them; what we learnt from events stays otherwise.
    row.in_transit_at = state.in_transit_at or row.in_transit_at or _first(events, "in_transit")
    row.delivered_at = state.delivered_at or row.delivered_at or _first(events, DELIVERED)
    estimates = [e.estimated_delivery_at for e in events if e.estimated_delivery_at]
    row.estimated_delivery_at = state.estimated_delivery_at or (estimates[-1] if estimates else None) or row.estimated_delivery_at
    row.first_estimated_delivery_at = row.first_estimated_delivery_at or (estimates[0] if estimates else None) or state.estimated_delivery_at
    _update_our_parcel(session, parcel, row)
    session.flush()
    return row


def _told_by_app(session: Session, shop_domain: str, parcel: SupplierShipment | None, event: CarrierEvent) -> bool:
    """Whether the event is the supplier's ETA the app told Shopify (suppliers/eta_events.py), not the carrier's word.

    Shopify does not say who created an event: ours are the statuses eta_events sends, on our
    parcel, with the estimate it sent (the value being told, or the one told already).
    """
    if parcel is None or event.estimated_delivery_at is None or event.status not in APP_ETA_STATUSES:
        return False
    from ..models import Shop
    from ..suppliers.eta_events import eta_instant

    zone = session.scalar(select(Shop.iana_timezone).where(Shop.domain == shop_domain))
    return event.estimated_delivery_at in {eta_instant(value, zone) for value in (parcel.estimated_delivery, parcel.eta_told) if value}


def _payload_event(state: FulfillmentState) -> list[CarrierEvent]:
    if state.payload_status and state.updated_at:
        return [CarrierEvent(state.payload_status, state.updated_at)]
    return []


def _first(events: list[CarrierEvent], status: str) -> dt.datetime | None:
    return next((e.happened_at for e in events if e.status == status), None)


def _on_event(session: Session, row: FulfillmentDelivery, order: Order | None, event: CarrierEvent, actor: str = "carrier") -> None:
    """One new event, in order: the row's status; on a change of status the order's timeline (by `actor`) and the failure alert."""
    changed = event.status != row.shipment_status
    row.shipment_status, row.status_at = event.status, event.happened_at
    if not changed:
        return  # the carrier repeating itself (e.g. in transit again, with a new estimate)
    if order is not None:
        kind = DELIVERED if event.status == DELIVERED else f"delivery_{event.status}"
        record_event(session, order, kind, actor, fulfillment=row.name or row.fulfillment_gid, status=event.status, at=event.happened_at.isoformat())
    key = failure_alert_key(row.shop_domain, row.fulfillment_gid)
    if event.status == FAILURE:
        row.failed_at, row.failure_message = event.happened_at, event.message
        what = f"Order {order.name}" if order is not None else f"Fulfillment {row.name or row.fulfillment_gid}"
        raise_alert(session, row.shop_domain, "delivery_failed", key,
                    f"{what}: the carrier reports a failed delivery of {row.name or 'a parcel'}{': ' + event.message if event.message else ''}. "
                    "Contact the carrier and the customer within 24 hours.",
                    severity="critical", subject=order.name if order is not None else row.name)
    elif event.status == DELIVERED:
        resolve_alert(session, key)  # delivered after all


def failure_alert_key(shop_domain: str, fulfillment_gid: str) -> str:
    """Dedupe key of a fulfillment's delivery-failure alert."""
    return f"delivery_failed:{shop_domain}:{fulfillment_gid}"


def _row(session: Session, shop_domain: str, fulfillment_gid: str) -> FulfillmentDelivery:
    query = select(FulfillmentDelivery).where(FulfillmentDelivery.shop_domain == shop_domain, FulfillmentDelivery.fulfillment_gid == fulfillment_gid)
    row = session.scalar(query)
    if row is not None:
        return row
    row = FulfillmentDelivery(shop_domain=shop_domain, fulfillment_gid=fulfillment_gid, events_seen=0)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another worker recorded it first (fulfillments/create and /update together)
        row = session.scalar(query)
    return row


def _order(session: Session, shop_domain: str, order_gid: str | None) -> Order | None:
    number = order_gid.rsplit("/", 1)[-1] if order_gid else None
    if not number:
        return None
    return session.scalar(select(Order).where(Order.shop_domain == shop_domain, Order.shopify_id == number))


def our_parcel(session: Session, shop_domain: str, fulfillment_gid: str) -> SupplierShipment | None:
    """The supplier parcel the app turned into this fulfillment, if it is ours."""
    return session.scalar(_OUR_PARCEL, {"shop": shop_domain, "gid": fulfillment_gid})


def is_our_parcel(session: Session, shop_domain: str, fulfillment_gid: str) -> bool:
    """True when the fulfillment is one our shipment push created in this shop (no row loaded)."""
    return bool(session.execute(_IS_OUR_PARCEL, {"shop": shop_domain, "gid": fulfillment_gid}).scalar())


# Built once (issue 20: statement building cost more than running it). Scoped to the shop.
_OURS = (SupplierOrder.id == SupplierShipment.supplier_order_id, SupplierOrder.shop_domain == bindparam("shop"),
         SupplierShipment.shopify_fulfillment_id == bindparam("gid"))
_OUR_PARCEL = select(SupplierShipment).join(SupplierOrder, _OURS[0]).where(*_OURS[1:])
_IS_OUR_PARCEL = select(exists().where(*_OURS))


def _update_our_parcel(session: Session, parcel: SupplierShipment | None, row: FulfillmentDelivery) -> None:
    """The carrier's delivery date (and first estimate, when the supplier gave none) on our parcel.

    So the delay detector stops at a delivered parcel and the returns policy finds the date
    there too; the supplier's own figures are never overwritten.
    """
    if parcel is None:
        return
    if row.delivered_at and not parcel.delivered_at:
        parcel.delivered_at = row.delivered_at.isoformat()
    if row.delivered_at:
        resolve_alert(session, f"delay:{parcel.id}")  # orders/delays.py's "past its ETA": it arrived
    if row.first_estimated_delivery_at and not parcel.estimated_delivery:
        parcel.estimated_delivery = row.first_estimated_delivery_at.isoformat()
