"""Fulfillment services: registered by apps, each with a location of its own."""
from __future__ import annotations

from typing import Any

from ..ids import check_gid
from ..registry import resolver
from ..user_errors import ShopifyUserError
from .common import mutation_payload

WRITE_FULFILLMENTS = ("write_fulfillments",)
READ_FULFILLMENTS = ("read_fulfillments",)


@resolver("Mutation", "fulfillmentServiceCreate", scopes=WRITE_FULFILLMENTS)
def fulfillment_service_create(root: Any, info, name: str, callbackUrl: str | None = None, trackingSupport: bool | None = None, inventoryManagement: bool | None = None, fulfillmentOrdersOptIn: bool | None = None, requiresShippingMethod: bool | None = None) -> dict:
    """Register the calling app as a fulfillment service (and give it a location)."""
    ctx = info.context
    try:
        service = ctx.store.create_fulfillment_service(ctx.shop, ctx.client_id, name, callbackUrl, tracking_support=bool(trackingSupport), inventory_management=bool(inventoryManagement))
    except ShopifyUserError as error:
        return mutation_payload("FulfillmentServiceCreatePayload", error, fulfillmentService=None)
    return mutation_payload("FulfillmentServiceCreatePayload", fulfillmentService=service)


@resolver("Mutation", "fulfillmentServiceUpdate", scopes=WRITE_FULFILLMENTS)
def fulfillment_service_update(root: Any, info, id: str, name: str | None = None, callbackUrl: str | None = None, trackingSupport: bool | None = None, inventoryManagement: bool | None = None, fulfillmentOrdersOptIn: bool | None = None, requiresShippingMethod: bool | None = None) -> dict:
    """Change one of the calling app's fulfillment services."""
    ctx = info.context
    try:
        service = ctx.store.update_fulfillment_service(ctx.shop, ctx.client_id, check_gid(id), name=name, callbackUrl=callbackUrl, trackingSupport=trackingSupport, inventoryManagement=inventoryManagement)
    except ShopifyUserError as error:
        return mutation_payload("FulfillmentServiceUpdatePayload", error, fulfillmentService=None)
    return mutation_payload("FulfillmentServiceUpdatePayload", fulfillmentService=service)


@resolver("Mutation", "fulfillmentServiceDelete", scopes=WRITE_FULFILLMENTS)
def fulfillment_service_delete(root: Any, info, id: str, destinationLocationId: str | None = None, inventoryAction: str | None = None) -> dict:
    """Remove one of the calling app's fulfillment services; its open work moves to another location."""
    ctx = info.context
    try:
        deleted = ctx.store.delete_fulfillment_service(ctx.shop, ctx.client_id, check_gid(id), destination_location_id=destinationLocationId, inventory_action=inventoryAction)
    except ShopifyUserError as error:
        return mutation_payload("FulfillmentServiceDeletePayload", error, deletedId=None)
    return mutation_payload("FulfillmentServiceDeletePayload", deletedId=deleted)


@resolver("Query", "fulfillmentService", scopes=READ_FULFILLMENTS)
def fulfillment_service(root: Any, info, id: str) -> dict | None:
    """A fulfillment service by id (null if unknown)."""
    service = info.context.shop.get(check_gid(id))
    return service if service is not None and service["__typename"] == "FulfillmentService" else None


@resolver("Shop", "fulfillmentServices")
def shop_fulfillment_services(shop: dict, info) -> list[dict]:
    """Every fulfillment service registered on the shop."""
    return info.context.shop.all("FulfillmentService")
