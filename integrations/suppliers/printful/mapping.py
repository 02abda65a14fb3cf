"""Translation between Printful v2 bodies and the supplier interface's values."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

from ..base import Address, Amendment, PlaceOrder, Shipment, ShipmentLine, SupplierOrder, SupplierOrderStatus

log = logging.getLogger(__name__)

# Printful's order statuses (Order.status in the spec) in our terms.
ORDER_STATUSES: dict[str, SupplierOrderStatus] = {
    "draft": SupplierOrderStatus.PENDING,  # created, not confirmed: place_order again confirms it
    "pending": SupplierOrderStatus.ACKNOWLEDGED,  # confirmed, waiting for production
    "inprocess": SupplierOrderStatus.ACKNOWLEDGED,  # in production, no longer cancellable
    "onhold": SupplierOrderStatus.ON_HOLD,
    "partial": SupplierOrderStatus.PARTIALLY_SHIPPED,
    "fulfilled": SupplierOrderStatus.SHIPPED,
    "canceled": SupplierOrderStatus.CANCELLED,
    "cancelled": SupplierOrderStatus.CANCELLED,
    "failed": SupplierOrderStatus.FAILED,
}
# Shipments that have left the facility; pending, packaged, onhold, outstock and canceled ones have not.
SHIPPED_SHIPMENT_STATUSES = {"shipped", "returned"}
IN_STOCK_AVAILABILITIES = {"in stock", "on demand"}


class MalformedResponse(ValueError):
    """A 2xx body that lacks what the spec promises."""


@dataclass(frozen=True)
class PrintfulProduct:
    """How one supplier SKU is ordered at Printful: its catalog variant and its print files."""

    catalog_variant_id: int
    placements: tuple[Mapping[str, Any], ...] = ()
    # Its catalog product, when known: stock is then read for up to 100 variants per request.
    catalog_product_id: int | None = None


def order_status(printful_status: Any) -> SupplierOrderStatus:
    """Our status for a Printful order status (an unknown one counts as pending, and is logged)."""
    status = ORDER_STATUSES.get(str(printful_status).lower())
    if status is None:
        log.warning("printful: unknown order status %r, treated as pending", printful_status)
        return SupplierOrderStatus.PENDING
    return status


def order_data(payload: Any) -> dict[str, Any]:
    """`data` of a GetOrderById / ConfirmOrderById body, checked for the fields we read."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("id"), int) or not isinstance(data.get("status"), str):
        raise MalformedResponse("order body without data.id and data.status")
    return data


def supplier_order(data: Mapping[str, Any]) -> SupplierOrder:
    """A Printful `Order` as our SupplierOrder."""
    costs = data.get("costs") if isinstance(data.get("costs"), dict) else {}
    return SupplierOrder(
        supplier_order_id=str(data["id"]),
        external_id=data.get("external_id"),
        status=order_status(data["status"]),
        cost=costs.get("total"),
        raw=data,
    )


def recipient_body(address: Address) -> dict[str, Any]:
    """A Printful `Address` (recipient) for our ship-to address."""
    return _without_none({
        "name": address.name, "company": address.company, "address1": address.address1, "address2": address.address2,
        "city": address.city, "state_code": address.province_code, "country_code": address.country_code,
        "zip": address.zip, "phone": address.phone, "email": address.email,
    })


def order_items_body(lines, products: Mapping[str, PrintfulProduct]) -> list[dict[str, Any]]:
    """Catalog items for our lines; each carries our line_ref as its external_id to match shipments."""
    items = []
    for line in lines:
        product = products[line.supplier_sku]
        item = {
            "source": "catalog", "catalog_variant_id": product.catalog_variant_id, "quantity": line.quantity,
            "external_id": line.line_ref, "name": line.name, "retail_price": line.retail_price,
            "placements": [dict(placement) for placement in product.placements],
        }
        items.append(_without_none(item))
    return items


def create_order_body(order: PlaceOrder, products: Mapping[str, PrintfulProduct]) -> dict[str, Any]:
    """POST /v2/orders body."""
    body: dict[str, Any] = {
        "external_id": order.external_id,
        "shipping": order.shipping_method or "STANDARD",
        "recipient": recipient_body(order.shipping_address),
        "order_items": order_items_body(order.lines, products),
    }
    if any(line.retail_price for line in order.lines):
        body["retail_costs"] = {"currency": order.currency}
    return body


def update_order_body(amendment: Amendment, products: Mapping[str, PrintfulProduct]) -> dict[str, Any]:
    """PATCH /v2/orders/{id} body: the whole item list as it should be (removed lines left out), and the new recipient."""
    body: dict[str, Any] = {"order_items": order_items_body([line for line in amendment.lines if line.quantity > 0], products)}
    if amendment.shipping_address is not None:
        body["recipient"] = recipient_body(amendment.shipping_address)
    return body


def shipments_page(payload: Any) -> tuple[list[dict[str, Any]], int]:
    """The shipments on one page of GetShipments and the total count."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise MalformedResponse("shipments body without a data list")
    return payload["data"], _total(payload)


def _total(payload: Mapping[str, Any]) -> int:
    # `paging.total` of a list body; without one, this page is all there is.
    paging = payload.get("paging") if isinstance(payload.get("paging"), dict) else {}
    total = paging.get("total")
    return total if isinstance(total, int) and not isinstance(total, bool) else len(payload["data"])


def has_left(shipment: Mapping[str, Any]) -> bool:
    """Whether a Printful shipment has actually been sent."""
    status = shipment.get("shipment_status")
    return status in SHIPPED_SHIPMENT_STATUSES if status else bool(shipment.get("shipped_at"))


def shipment(data: Mapping[str, Any]) -> Shipment:
    """A Printful `Shipment` as ours; lines are matched by the item external_id we sent (our line_ref)."""
    eta = data.get("estimated_delivery") if isinstance(data.get("estimated_delivery"), dict) else {}
    lines = tuple(
        ShipmentLine(quantity=int(item["quantity"]), line_ref=item.get("order_item_external_id"))
        for item in data.get("shipment_items") or ()
    )
    return Shipment(
        shipment_id=str(data["id"]),
        carrier=data.get("carrier"),
        # The spec's Shipment has no tracking_number (its webhook shipment data does); read it when present.
        tracking_number=data.get("tracking_number") or None,
        tracking_url=data.get("tracking_url") or None,
        lines=lines,
        shipped_at=data.get("shipped_at"),
        estimated_delivery=eta.get("to_date") or eta.get("from_date"),
        delivered_at=data.get("delivered_at"),
    )


def variant_in_stock(payload: Any, region: str) -> bool:
    """From GetVariantStockAvailabilityById: in stock in `region` (any region if it is not listed)."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise MalformedResponse("availability body without data")
    return techniques_in_stock(data, region)


def techniques_in_stock(availability: Mapping[str, Any], region: str) -> bool:
    """One `VariantStockAvailability`: in stock with some technique in `region` (any region if it is not listed)."""
    if not isinstance(availability.get("techniques"), list):
        raise MalformedResponse("availability without techniques")
    regions = [region_entry for technique in availability["techniques"] for region_entry in technique.get("selling_regions") or ()]
    chosen = [entry for entry in regions if entry.get("name") == region] or regions
    return any(entry.get("availability") in IN_STOCK_AVAILABILITIES for entry in chosen)


def product_availability_page(payload: Any) -> tuple[list[dict[str, Any]], int]:
    """The variants on one page of GetProductStockAvailabilityById and the total count."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list) or not all(
            isinstance(entry, dict) and isinstance(entry.get("catalog_variant_id"), int) for entry in payload["data"]):
        raise MalformedResponse("product availability body without a data list of variants")
    return payload["data"], _total(payload)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    # The schema's strings are not nullable: leave unknown fields out rather than send null.
    return {key: value for key, value in values.items() if value is not None}


def webhook_created(payload: Any) -> dict[str, Any]:
    """`result` of POST /v2/webhooks (`WebhookCreated`): the configuration and its keys."""
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, dict) or not isinstance(result.get("secret_key"), str) or not result["secret_key"]:
        raise MalformedResponse("webhook answer without result.secret_key")
    return result


def webhook_info(payload: Any) -> dict[str, Any]:
    """`result` of GET /v2/webhooks (`WebhookInfoResponse`)."""
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, dict) or not isinstance(result.get("events"), list):
        raise MalformedResponse("webhook answer without result.events")
    return result
