"""JSON bodies exactly as Printful v2 shapes them (schemas in ../shared/suppliers/printful-v2/openapi.json)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Mapping

from .catalog import CatalogVariant
from .orders import FLAT_SHIPPING, SandboxOrder, ShipmentRecord

ADDRESS_FIELDS = ("name", "company", "address1", "address2", "city", "state_code", "state_name",
                  "country_code", "country_name", "zip", "phone", "email", "tax_number")
DASHBOARD_URL = "https://www.printful.com/dashboard/default/orders?order_id={order_id}"


def timestamp(moment: dt.datetime) -> str:
    """ISO 8601, UTC, `Z` suffix (Printful v2's format)."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(amount: Decimal) -> str:
    """A price string with two decimals."""
    return f"{amount.quantize(Decimal('0.01'))}"


def link(base_url: str, path: str) -> dict[str, str]:
    """A HATEOAS link."""
    return {"href": f"{base_url}{path}"}


# -- orders ------------------------------------------------------------------------------


def order_json(order: SandboxOrder, base_url: str, currency: str = "USD") -> dict[str, Any]:
    """The `Order` schema."""
    order_path = f"/v2/orders/{order.id}"
    subtotal = order.subtotal()
    return {
        "id": order.id,
        "external_id": order.external_id,
        "store_id": order.store_id,
        "shipping": order.shipping,
        "status": order.status,
        "created_at": timestamp(order.created_at),
        "updated_at": timestamp(order.updated_at),
        # AddressReadonly: every field present, strings ("" when not given).
        "recipient": {name: str(order.recipient.get(name) or "") for name in ADDRESS_FIELDS},
        "costs": {
            "calculation_status": "done", "currency": currency, "subtotal": money(subtotal), "discount": "0.00",
            "shipping": money(FLAT_SHIPPING), "digitization": "0.00", "additional_fee": "0.00",
            "fulfillment_fee": "0.00", "retail_delivery_fee": "0.00", "vat": "0.00", "tax": "0.00",
            "total": money(subtotal + FLAT_SHIPPING),
        },
        "retail_costs": retail_costs_json(order, currency),
        "order_items": [
            {
                "id": item.id, "type": "order_item", "source": "catalog", "catalog_variant_id": item.catalog_variant_id,
                "external_id": item.external_id, "quantity": item.quantity, "name": item.name, "price": item.price,
                "retail_price": item.retail_price or "0.00", "currency": currency,
                "retail_currency": order.retail_costs.get("currency") or currency,
                "_links": {"self": link(base_url, f"{order_path}/order-items/{item.id}")},
            }
            for item in order.items
        ],
        "_links": {
            "self": link(base_url, order_path),
            "order_confirmation": link(base_url, f"{order_path}/confirmation"),
            "order_invoices": link(base_url, f"{order_path}/invoices"),
            "order_items": link(base_url, f"{order_path}/order-items"),
            "shipments": link(base_url, f"{order_path}/shipments"),
        },
    }


def retail_costs_json(order: SandboxOrder, currency: str) -> dict[str, Any]:
    """The `RetailCosts` schema, from the retail prices and costs the caller sent."""
    given = order.retail_costs
    priced = [item for item in order.items if item.retail_price]
    subtotal = sum((Decimal(item.retail_price) * item.quantity for item in priced), Decimal("0")) if priced else None
    extras = {name: Decimal(given.get(name) or "0") for name in ("discount", "shipping", "tax")}
    total = None if subtotal is None else subtotal - extras["discount"] + extras["shipping"] + extras["tax"]
    return {
        "calculation_status": "done", "currency": given.get("currency") or currency,
        "subtotal": None if subtotal is None else money(subtotal),
        "discount": money(extras["discount"]), "shipping": money(extras["shipping"]), "vat": "0.00",
        "tax": money(extras["tax"]), "total": None if total is None else money(total),
    }


def order_links_for_confirmation(order: SandboxOrder, base_url: str) -> dict[str, Any]:
    """`_links` of the confirmation response."""
    order_path = f"/v2/orders/{order.id}"
    return {
        "self": link(base_url, f"{order_path}/confirmation"),
        "order": link(base_url, order_path),
        "order_items": link(base_url, f"{order_path}/order-items"),
        "shipments": link(base_url, f"{order_path}/shipments"),
    }


# -- shipments ---------------------------------------------------------------------------


def shipment_json(order: SandboxOrder, shipment: ShipmentRecord, base_url: str) -> dict[str, Any]:
    """The `Shipment` schema, exactly: no `tracking_number` (only the webhook's shipment data has one)."""
    eta_from = (shipment.shipped_at + dt.timedelta(days=3)).date().isoformat()
    eta_to = (shipment.estimated_delivery or (shipment.shipped_at + dt.timedelta(days=7)).date()).isoformat()
    order_path = f"/v2/orders/{order.id}"
    return {
        "id": shipment.id,
        "order_id": order.id,
        "order_external_id": order.external_id,
        "carrier": shipment.carrier,
        "service": shipment.service,
        "shipment_status": shipment.status,
        "shipped_at": timestamp(shipment.shipped_at),
        "delivery_status": "in_transit",
        "delivered_at": None,
        "departure_address": {"country_name": "United States", "country_code": "US", "state_code": "NC"},
        "is_reshipment": shipment.is_reshipment,
        "tracking_url": shipment.tracking_url,
        "tracking_events": [{"triggered_at": timestamp(shipment.shipped_at)}],
        "estimated_delivery": {"from_date": eta_from, "to_date": eta_to, "calculated_at": timestamp(shipment.created_at)},
        "shipment_items": [
            {
                "id": shipment.id * 100 + index, "order_item_id": item.id, "order_item_external_id": item.external_id,
                "order_item_name": item.name, "quantity": quantity,
                "_links": {"order_item": link(base_url, f"{order_path}/order-items/{item.id}")},
            }
            for index, (item, quantity) in enumerate(shipment.items, start=1)
        ],
        "_links": {"self": link(base_url, f"{order_path}/shipments"), "order": link(base_url, order_path)},
    }


# -- catalog -----------------------------------------------------------------------------


def variant_availability(variant: CatalogVariant, base_url: str, region: str | None) -> dict[str, Any]:
    """The `VariantStockAvailability` schema: stock per technique and selling region."""
    regions = [
        {"name": name, "availability": availability, "placement_option_availability": []}
        for name, availability in variant.stock.items()
        if region in (None, "all", name)
    ]
    return {
        "catalog_variant_id": variant.id,
        "techniques": [{"technique": variant.technique, "selling_regions": regions}],
        "_links": {"variant": link(base_url, f"/v2/catalog-variants/{variant.id}")},
    }


def product_availability_json(product_id: int, variants: list[CatalogVariant], base_url: str, region: str | None,
                              limit: int, offset: int) -> dict[str, Any]:
    """GetProductStockAvailabilityById: one page of the product's variants' stock."""
    path = f"/v2/catalog-products/{product_id}/availability"
    links: dict[str, Any] = {"self": link(base_url, f"{path}?limit={limit}&offset={offset}"),
                             "product": link(base_url, f"/v2/catalog-products/{product_id}")}
    if offset + limit < len(variants):
        links["next"] = link(base_url, f"{path}?limit={limit}&offset={offset + limit}")
    return {
        "data": [variant_availability(variant, base_url, region) for variant in variants[offset:offset + limit]],
        "paging": {"total": len(variants), "offset": offset, "limit": limit},
        "filter_settings": [{"name": "selling_region_name", "value": region or "worldwide"}],
        "_links": links,
    }


def availability_json(variant: CatalogVariant, base_url: str, region: str | None) -> dict[str, Any]:
    """GetVariantStockAvailabilityById: stock per technique and selling region."""
    variant_link = link(base_url, f"/v2/catalog-variants/{variant.id}")
    return {
        "data": variant_availability(variant, base_url, region),
        "filter_settings": [{"name": "selling_region_name", "value": region or "worldwide"}],
        "_links": {"self": link(base_url, f"/v2/catalog-variants/{variant.id}/availability"), "variant": variant_link},
    }


def variant_json(variant: CatalogVariant, base_url: str) -> dict[str, Any]:
    """GetVariantById: the `Variant` schema and its links (size and colour from the name)."""
    _, _, options = variant.name.partition(" | ")
    color, _, size = options.rpartition(" / ") if " / " in options else ("", "", options)
    variant_path = f"/v2/catalog-variants/{variant.id}"
    product_path = f"/v2/catalog-products/{variant.product_id}"
    links = {
        "self": link(base_url, variant_path),
        "product_details": link(base_url, product_path),
        "product_variants": link(base_url, f"{product_path}/catalog-variants"),
        "variant_prices": link(base_url, f"{variant_path}/prices"),
        "variant_images": link(base_url, f"{variant_path}/images"),
    }
    return {
        "data": {
            "id": variant.id, "catalog_product_id": variant.product_id, "name": variant.name, "size": size,
            "color": color or None, "color_code": None, "color_code2": None,
            "image": f"https://files.cdn.printful.com/products/{variant.product_id}/{variant.id}_1.jpg",
            "_links": {**links, "variant_availability": link(base_url, f"{variant_path}/availability")},
        },
        "_links": links,
    }


# -- errors ------------------------------------------------------------------------------

ERROR_REASONS: dict[int, Any] = {400: "BadRequest", 401: "Unauthorized", 403: 403, 404: "NotFound", 409: 409, 429: "TooManyRequests"}


def error_json(status: int, message: str) -> dict[str, Any]:
    """Printful's error bodies: `{code, result, error}` for 4xx, problem details for 5xx."""
    if status >= 500:
        return {"type": "https://developers.printful.com/docs/v2-beta/#section/Errors", "status": status,
                "title": "Internal Server Error" if status == 500 else "Service Unavailable", "details": message}
    return {"code": status, "result": message, "error": {"reason": ERROR_REASONS.get(status, "Error"), "message": message}}


# -- webhooks ----------------------------------------------------------------------------


def webhook_order_json(order: SandboxOrder) -> dict[str, Any]:
    """`WebhookOrderData`."""
    return {
        "id": order.id,
        "external_id": order.external_id or "",  # the schema says string, not nullable
        "status": order.status,
        "store_id": order.store_id,
        "dashboard_url": DASHBOARD_URL.format(order_id=order.id),
        "created_at": timestamp(order.created_at),
        "updated_at": timestamp(order.updated_at),
    }


def webhook_shipment_json(shipment: ShipmentRecord, store_id: int) -> dict[str, Any]:
    """`WebhookShipmentData`."""
    return {
        "id": shipment.id,
        "status": shipment.status,
        "store_id": store_id,
        "tracking_number": shipment.tracking_number,
        "tracking_url": shipment.tracking_url,
        "created_at": timestamp(shipment.created_at),
        "ship_date": shipment.shipped_at.date().isoformat(),
        "shipped_at": timestamp(shipment.shipped_at),
        "reshipment": shipment.is_reshipment,
    }


def webhook_event_json(event_type: str, store_id: int, occurred_at: dt.datetime, data: Any) -> dict[str, Any]:
    """The envelope every v2 event shares (`Webhook` schema) around its data."""
    return {"type": event_type, "occurred_at": timestamp(occurred_at), "retries": 0, "store_id": store_id, "data": data}


def order_event_data(event_type: str, order: SandboxOrder, extra: Mapping[str, Any]) -> Any:
    """`data` for an order or shipment event."""
    data: dict[str, Any] = {"order": webhook_order_json(order)}
    if "shipment" in extra:
        data["shipment"] = webhook_shipment_json(extra["shipment"], order.store_id)
    if event_type == "shipment_out_of_stock":
        data["is_out_of_stock"] = bool(extra.get("is_out_of_stock", True))
    if event_type in ("order_failed", "order_canceled", "order_put_hold", "order_remove_hold", "shipment_returned"):
        data["reason"] = str(extra.get("reason") or "")
    return data


def stock_event_data(variants: list[CatalogVariant]) -> list[dict[str, Any]]:
    """`data` for catalog_stock_updated: one entry per changed variant."""
    return [
        {"catalog_product_id": variant.product_id, "catalog_variant_id": variant.id, "techniques": [variant.technique],
         "availability": "in stock" if variant.in_stock else "out of stock"}
        for variant in variants
    ]
