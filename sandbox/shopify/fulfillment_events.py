"""Fulfillment events: the carrier's progress on a fulfillment (in transit, out for delivery, delivered...).

`FulfillmentEventMixin` is mixed into Store. An event is recorded on its fulfillment the
way Shopify does it: the fulfillment's `displayStatus` follows its newest event (by
`happenedAt`, so an older event recorded late changes nothing), `inTransitAt` and
`deliveredAt` take the time of the first IN_TRANSIT and DELIVERED events, an event's
`estimatedDeliveryAt` becomes the fulfillment's, and Shopify sends `fulfillment_events/create`
and `fulfillments/update` (whose REST `shipment_status` is the newest event's status).
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Mapping

from .ids import gid_number, make_gid
from .records import Ref
from .rest_payloads import fulfillment_payload, rest_time
from .search import parse_datetime

if TYPE_CHECKING:
    from .store import ShopState

EVENT_STATUSES = (
    "ATTEMPTED_DELIVERY", "CARRIER_PICKED_UP", "CONFIRMED", "DELAYED", "DELIVERED", "FAILURE", "IN_TRANSIT",
    "LABEL_PRINTED", "LABEL_PURCHASED", "OUT_FOR_DELIVERY", "READY_FOR_PICKUP",
)
LOCATION_FIELDS = ("address1", "city", "province", "country", "zip", "latitude", "longitude")


def _normalized(value: str | None) -> str | None:
    """A DateTime input as Shopify answers it (UTC, second precision, Z)."""
    parsed = parse_datetime(value) if value else None
    return parsed.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if parsed else None


def _instant(value: str | None) -> float:
    parsed = parse_datetime(value) if value else None
    return parsed.timestamp() if parsed else 0.0


def newest_event(shop: ShopState, fulfillment: Mapping[str, Any]) -> dict[str, Any] | None:
    """The fulfillment's event that happened last (ties: the one recorded last)."""
    events = shop.deref(fulfillment.get("events") or [])
    if not events:
        return None
    return max(enumerate(events), key=lambda pair: (_instant(pair[1]["happenedAt"]), pair[0]))[1]


def shipment_status(shop: ShopState, fulfillment: Mapping[str, Any]) -> str | None:
    """REST's `shipment_status`: the newest event's status in lower case, null before any event."""
    event = newest_event(shop, fulfillment)
    return event["status"].lower() if event else None


class FulfillmentEventMixin:
    """fulfillmentEventCreate (part of Store)."""

    def create_fulfillment_event(self, shop: str | ShopState, fulfillment_gid: str, status: str, *, happened_at: str | None = None,
                                 estimated_delivery_at: str | None = None, message: str | None = None, client_id: str | None = None,
                                 **location: Any) -> dict[str, Any]:
        """fulfillmentEventCreate: record a carrier event on a fulfillment (ShopifyUserError when refused)."""
        if status not in EVENT_STATUSES:
            raise ValueError(f"unknown fulfillment event status {status!r}")
        with self.lock:
            state = self.require_shop(shop)
            fulfillment = self._fulfillment_for_app(state, fulfillment_gid, client_id, ["fulfillmentEvent", "fulfillmentId"])
            now = self.now_iso()
            event = state.index({
                "__typename": "FulfillmentEvent",
                "id": make_gid("FulfillmentEvent", self.next_number()),
                "status": status,
                "happenedAt": _normalized(happened_at) or now,
                "createdAt": now,
                "estimatedDeliveryAt": _normalized(estimated_delivery_at),
                "message": message,
                **{name: location.get(name) for name in LOCATION_FIELDS},
                "_fulfillment": Ref(fulfillment["id"]),
            })
            fulfillment.setdefault("events", []).append(Ref(event["id"]))
            self._follow_events(state, fulfillment, event)
            self.touch(fulfillment)
            self.publish(state, "fulfillment_events/create", self.fulfillment_event_payload(state, fulfillment, event))
            self.publish(state, "fulfillments/update", fulfillment_payload(state, fulfillment))
            return event

    def _follow_events(self, state: ShopState, fulfillment: dict[str, Any], event: Mapping[str, Any]) -> None:
        """The fulfillment's summary fields after a new event."""
        newest = newest_event(state, fulfillment)
        fulfillment["_shipmentStatus"] = newest["status"].lower()  # REST's shipment_status
        if fulfillment["status"] != "CANCELLED":
            fulfillment["displayStatus"] = newest["status"]
        moment = _instant(event["happenedAt"])
        if event["status"] == "IN_TRANSIT" and (fulfillment.get("inTransitAt") is None or moment < _instant(fulfillment["inTransitAt"])):
            fulfillment["inTransitAt"] = event["happenedAt"]
        if event["status"] == "DELIVERED" and (fulfillment.get("deliveredAt") is None or moment < _instant(fulfillment["deliveredAt"])):
            fulfillment["deliveredAt"] = event["happenedAt"]
        if event.get("estimatedDeliveryAt"):
            fulfillment["estimatedDeliveryAt"] = event["estimatedDeliveryAt"]

    def fulfillment_event_payload(self, state: ShopState, fulfillment: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
        """fulfillment_events/create payload (REST's fulfillment_event)."""
        return {
            "id": gid_number(event["id"]), "admin_graphql_api_id": event["id"], "fulfillment_id": gid_number(fulfillment["id"]),
            "order_id": gid_number(fulfillment["order"].gid), "shop_id": gid_number(state.record["id"]), "status": event["status"].lower(),
            "message": event["message"], "happened_at": rest_time(event["happenedAt"]), "estimated_delivery_at": rest_time(event["estimatedDeliveryAt"]),
            **{name: event.get(name) for name in LOCATION_FIELDS},
            "created_at": rest_time(event["createdAt"]), "updated_at": rest_time(event["createdAt"]),
        }
