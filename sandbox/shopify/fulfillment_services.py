"""Fulfillment services: an app registers one and Shopify gives it a location of its own.

Fulfillment orders assigned to that location are the service's to accept and fulfil;
requests reach it at `<callbackUrl>/fulfillment_order_notification`.
`FulfillmentServiceMixin` is mixed into Store.
"""
from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import urlsplit

from . import records
from .fulfillment_state import FINISHED_STATUSES, location_gid_of
from .ids import is_gid, make_gid
from .records import Ref
from .user_errors import ShopifyUserError

if TYPE_CHECKING:
    from .store import ShopState


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def callback_url_error(url: str | None) -> ShopifyUserError | None:
    """Why a callback URL is refused (http only to loopback, so local receivers work), or None."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ShopifyUserError(["callbackUrl"], "Callback url is invalid")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return ShopifyUserError(["callbackUrl"], "Callback url protocol http:// is not supported")
    return None


class FulfillmentServiceMixin:
    """Registering, changing and removing fulfillment services (part of Store)."""

    def create_fulfillment_service(self, shop: str | ShopState, client_id: str | None, name: str, callback_url: str | None, *, tracking_support: bool = False, inventory_management: bool = False) -> dict[str, Any]:
        """fulfillmentServiceCreate: the service and its new location, owned by the calling app."""
        with self.lock:
            state = self.require_shop(shop)
            name = (name or "").strip()
            if not name:
                raise ShopifyUserError(["name"], "Name can't be blank")
            if any(s["serviceName"].lower() == name.lower() for s in state.all("FulfillmentService")):
                raise ShopifyUserError(["name"], "Name has already been taken")
            # Optional since 2026-01: a service without one gets no requests posted, only webhooks.
            error = callback_url_error(callback_url) if callback_url is not None else None
            if error:
                raise error
            # Shopify's fulfillment service ids carry an `?id=true` tail.
            service_gid = make_gid("FulfillmentService", self.next_number(), "id=true")
            location = self.add_location(state, name, isFulfillmentService=True, fulfillmentService=Ref(service_gid), deactivatable=False)
            return state.index({
                "__typename": "FulfillmentService",
                "id": service_gid,
                "serviceName": name,
                "handle": records.handleize(name),
                "callbackUrl": callback_url.strip().rstrip("/") if callback_url is not None else None,
                "trackingSupport": bool(tracking_support),
                "inventoryManagement": bool(inventory_management),
                "permitsSkuSharing": True,
                "fulfillmentOrdersOptIn": True,
                "type": "THIRD_PARTY",
                "location": Ref(location["id"]),
                "_clientId": client_id,
            })

    def fulfillment_service_for_app(self, shop: str | ShopState, gid: str, client_id: str | None) -> dict[str, Any]:
        """The service with this id if the calling app owns it; Shopify's error otherwise."""
        with self.lock:
            state = self.require_shop(shop)
            service = state.get(gid) if is_gid(gid) else None
            if service is None or service["__typename"] != "FulfillmentService" or (client_id is not None and service["_clientId"] != client_id):
                raise ShopifyUserError(["id"], "Fulfillment service could not be found.")
            return service

    def update_fulfillment_service(self, shop: str | ShopState, client_id: str | None, gid: str, **changes: Any) -> dict[str, Any]:
        """fulfillmentServiceUpdate: name, callbackUrl, trackingSupport, inventoryManagement (None = unchanged)."""
        with self.lock:
            state = self.require_shop(shop)
            service = self.fulfillment_service_for_app(state, gid, client_id)
            if changes.get("callbackUrl") is not None:
                error = callback_url_error(changes["callbackUrl"])
                if error:
                    raise error
                service["callbackUrl"] = changes["callbackUrl"].strip().rstrip("/")
            if changes.get("name") is not None:
                service["serviceName"] = changes["name"].strip()
                state.deref(service["location"])["name"] = service["serviceName"]
            for key in ("trackingSupport", "inventoryManagement"):
                if changes.get(key) is not None:
                    service[key] = bool(changes[key])
            return service

    def delete_fulfillment_service(self, shop: str | ShopState, client_id: str | None, gid: str, *, destination_location_id: str | None = None, inventory_action: str | None = None) -> str:
        """fulfillmentServiceDelete: its open fulfillment orders move to another location and its location is deactivated."""
        with self.lock:
            state = self.require_shop(shop)
            service = self.fulfillment_service_for_app(state, gid, client_id)
            location = state.deref(service["location"])
            destination = self._destination_location(state, location, destination_location_id)
            for fo in state.all("FulfillmentOrder"):
                if location_gid_of(fo) == location["id"] and fo["status"] not in FINISHED_STATUSES:
                    self.reassign_fulfillment_order(state, fo, destination)
            self._settle_service_inventory(state, location, destination, inventory_action or "DELETE")
            location.update(isActive=False, deactivatedAt=self.now_iso(), fulfillsOnlineOrders=False, fulfillmentService=None)
            self.touch(location)
            state.remove(service["id"])
            return service["id"]

    def _destination_location(self, state: ShopState, leaving: Mapping[str, Any], destination_gid: str | None) -> dict[str, Any]:
        if destination_gid is not None:
            destination = state.get(destination_gid) if is_gid(destination_gid) else None
            if destination is None or destination["__typename"] != "Location" or destination["id"] == leaving["id"]:
                raise ShopifyUserError(["destinationLocationId"], "Location could not be found.")
            return destination
        merchant_locations = [loc for loc in state.all("Location") if loc["isActive"] and not loc.get("isFulfillmentService")]
        if not merchant_locations:
            raise ShopifyUserError(["destinationLocationId"], "Location could not be found.")
        return merchant_locations[0]

    def _settle_service_inventory(self, state: ShopState, location: Mapping[str, Any], destination: Mapping[str, Any], action: str) -> None:
        levels = [lvl for lvl in state.all("InventoryLevel") if lvl["location"].gid == location["id"]]
        for level in levels:
            if action == "TRANSFER" and level["_quantities"]["available"] > 0:
                self.adjust_quantity(state, level["item"].gid, destination["id"], "available", level["_quantities"]["available"])
            if action in ("TRANSFER", "DELETE"):
                state.remove(level["id"])

    def reassign_fulfillment_order(self, state: ShopState, fo: dict[str, Any], location: Mapping[str, Any]) -> None:
        """Point a fulfillment order at another location (a move): unsubmitted, open again."""
        leaving = location_gid_of(fo)
        for line in state.deref(fo["lineItems"]):
            committed = line.get("_committed", 0)
            if committed:  # the sale's reservation moves with the units
                self.adjust_quantity(state, line["inventoryItemId"], leaving, "committed", -committed)
                self.adjust_quantity(state, line["inventoryItemId"], leaving, "available", committed)
                self.adjust_quantity(state, line["inventoryItemId"], location["id"], "available", -committed)
                self.adjust_quantity(state, line["inventoryItemId"], location["id"], "committed", committed)
        address = location["address"]
        fo["assignedLocation"] = {
            "__typename": "FulfillmentOrderAssignedLocation",
            "name": location["name"],
            "location": Ref(location["id"]),
            "address1": address["address1"],
            "address2": address["address2"],
            "city": address["city"],
            "province": address["province"],
            "zip": address["zip"],
            "countryCode": address["countryCode"],
            "phone": address["phone"],
        }
        fo["requestStatus"] = "UNSUBMITTED"
        if fo["status"] == "IN_PROGRESS" and all(line["remainingQuantity"] == line["totalQuantity"] for line in state.deref(fo["lineItems"])):
            fo["status"] = "OPEN"
        self.touch(fo)
