"""Named settings presets: a supplier record says {"preset": name, "base_url": ...} and overrides what differs.

`sandbox-rest` maps the adapter onto sandbox/supplier/rest_supplier.py (its API is documented
there). It doubles as a complete, working example of every setting the REST adapter reads.
Credentials for it: {"api_key": ..., "webhook_secret": ...}.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

from .config import InvalidRestSettings

SANDBOX_REST: dict[str, Any] = {
    "timeout_seconds": 30,
    "connect_timeout_seconds": 5,
    "auth": {"header": "X-Api-Key", "template": "{api_key}"},
    "endpoints": {
        "create_order": "POST /api/v1/orders",
        "get_order": "GET /api/v1/orders/{supplier_order_id}",
        "find_order": {"method": "GET", "path": "/api/v1/orders", "query": {"reference": "{external_id}"}, "returns": "list"},
        "cancel_order": "POST /api/v1/orders/{supplier_order_id}/cancel",
        "update_order": "PATCH /api/v1/orders/{supplier_order_id}",
        "get_shipments": "GET /api/v1/orders/{supplier_order_id}/shipments",
        "get_stock": {"method": "GET", "path": "/api/v1/stock", "query": {"skus": "{skus}"}},
        "create_return": "POST /api/v1/orders/{supplier_order_id}/returns",
    },
    "request": {
        "external_id": "reference",
        "shipping_method": "shipping_method",
        "currency": "currency",
        "note": "note",
        "address.name": "ship_to.name",
        "address.company": "ship_to.company",
        "address.address1": "ship_to.street1",
        "address.address2": "ship_to.street2",
        "address.city": "ship_to.city",
        "address.province_code": "ship_to.region",
        "address.zip": "ship_to.postcode",
        "address.country_code": "ship_to.country",
        "address.phone": "ship_to.phone",
        "address.email": "ship_to.email",
        "lines": "items",
        "line.line_ref": "line_ref",
        "line.supplier_sku": "sku",
        "line.quantity": "qty",
        "line.name": "title",
        "line.retail_price": "retail_price",
    },
    "response": {
        "order": "order",
        "order_list": "orders",
        "order.id": "id",
        "order.external_id": "reference",
        "order.status": "status",
        "order.cost": "total",
        "shipments": "shipments",
        "shipment.id": "id",
        "shipment.carrier": "carrier",
        "shipment.tracking_number": "tracking.number",
        "shipment.tracking_url": "tracking.url",
        "shipment.shipped_at": "shipped_at",
        "shipment.lines": "items",
        "shipment.line.line_ref": "line_ref",
        "shipment.line.supplier_sku": "sku",
        "shipment.line.quantity": "qty",
        "stock": "stock",
        "stock.sku": "sku",
        "stock.available": "available",
        "stock.in_stock": "in_stock",
        "error_message": "error.message",
        "return": "return",
        "return.rma_number": "rma",
        "return.status": "status",
        "return.label_url": "label_url",
        "return.address": "return_address",
        "return.note": "note",
    },
    "status_map": {
        "received": "acknowledged",
        "processing": "acknowledged",
        "on_hold": "on_hold",
        "partially_shipped": "partially_shipped",
        "shipped": "shipped",
        "cancelled": "cancelled",
        "failed": "failed",
    },
    "duplicate_statuses": [409],
    "cancel_refused_statuses": [409],
    "update_accepts": ["address", "lines"],
    "update_refused_statuses": [409],
    "webhook": {
        "signature_header": "X-Signature",
        "signature_encoding": "hex",
        "signature_prefix": "sha256=",
        "event_type": "type",
        "event_id": "id",
        "order": "order",
        "shipment": "shipment",
        "reason": "reason",
        "stock": "stock",
        "return": "return",
        "events": {
            "order.updated": "order_updated",
            "order.shipped": "shipment",
            "order.failed": "order_failed",
            "order.cancelled": "order_cancelled",
            "stock.updated": "stock_updated",
            "return.received": "return_updated",
        },
    },
}

CJ_API = "/api2.0/v1"

CJDROPSHIPPING: dict[str, Any] = {
    # CJdropshipping API 2.0, from its published documentation (the shapes, with sources, are in
    # sandbox/supplier/cj_spec.py; the local copy is sandbox/supplier/cj.py):
    #   https://developers.cjdropshipping.com/en/api/api2/standard/definition.html  envelope
    #   https://developers.cjdropshipping.com/en/api/api2/api/auth.html             tokens (15 days; refresh 180)
    #   https://developers.cjdropshipping.com/en/api/api2/api/shopping.html         createOrderV2, getOrderDetail, deleteOrder
    #   https://developers.cjdropshipping.com/en/api/api2/api/product.html          product/stock/queryByVid
    #   https://developers.cjdropshipping.com/en/api/api2/standard/limit.html       1 request/s at the free level
    # Credentials: {"api_key": "<CJ API key>"}; the token fields are filled in by the app.
    # base_url: https://developers.cjdropshipping.com. Override static_body.logisticName and
    # fromCountryCode for your shipping method and warehouse; rate_limit for your CJ level.
    "timeout_seconds": 30,
    "connect_timeout_seconds": 5,
    "auth": {"header": "CJ-Access-Token", "template": "{access_token}"},
    "token": {
        "endpoint": f"POST {CJ_API}/authentication/getAccessToken",
        "body": {"apiKey": "{api_key}"},
        "refresh_endpoint": f"POST {CJ_API}/authentication/refreshAccessToken",
        "refresh_body": {"refreshToken": "{refresh_token}"},
        "access_token": "data.accessToken",
        "refresh_token": "data.refreshToken",
        "expires_at": "data.accessTokenExpiryDate",
    },
    # Every answer is HTTP 200 {code, result, message, data}: result false is a refusal, sorted by code.
    "envelope": {
        "success": "result", "code": "code", "ok_codes": [200], "message": "message", "otherwise": "permanent",
        "codes": {"1600001": "credentials", "1600200": "transient", "1603001": "not_found", "1603002": "duplicate",
                  "1603101": "too_late", "1604001": "not_found"},
    },
    "rate_limit": {"requests_per_second": 1},
    "endpoints": {
        "create_order": f"POST {CJ_API}/shopping/order/createOrderV2",
        "get_order": {"method": "GET", "path": f"{CJ_API}/shopping/order/getOrderDetail", "query": {"orderId": "{supplier_order_id}"}},
        "find_order": {"method": "GET", "path": f"{CJ_API}/shopping/order/getOrderDetail", "query": {"orderId": "{external_id}"}},
        "cancel_order": {"method": "DELETE", "path": f"{CJ_API}/shopping/order/deleteOrder", "query": {"orderId": "{supplier_order_id}"}},
        "get_shipments": {"method": "GET", "path": f"{CJ_API}/shopping/order/getOrderDetail", "query": {"orderId": "{supplier_order_id}"}},
        "get_stock": {"method": "GET", "path": f"{CJ_API}/product/stock/queryByVid", "query": {"vid": "{sku}"}},
    },
    "static_body": {"logisticName": "CJPacket Ordinary", "fromCountryCode": "CN", "payType": 2, "platform": "shopify"},
    "request": {
        "external_id": "orderNumber",
        "shipping_method": "logisticName",
        "address.name": "shippingCustomerName",
        "address.address1": "shippingAddress",
        "address.address2": "shippingAddress2",
        "address.city": "shippingCity",
        "address.zip": "shippingZip",
        "address.country_code": "shippingCountryCode",
        "address.phone": "shippingPhone",
        "address.email": "email",
        "lines": "products",
        "line.supplier_sku": "vid",
        "line.quantity": "quantity",
        "line.line_ref": "storeLineItemId",
    },
    "compose": {
        "shippingCountry": {"country_name": "address.country_code"},  # CJ wants the name as well as the code
        "shippingProvince": {"format": "{address.province_code}"},  # required, may be empty
        "remark": {"join": ["external_id", "note"], "separator": " | ", "max_length": 500},  # our reference for CJ's agents
    },
    "response": {
        "order": "data",
        "order.id": "orderId",
        "order.external_id": "orderNum",
        "order.status": "orderStatus",
        "order.cost": "orderAmount",
        "shipments": "data",  # one parcel per order, on the order itself
        "shipment.id": "trackNumber",
        "shipment.tracking_number": "trackNumber",
        "shipment.carrier": "logisticName",
        "stock": "data",
        "stock.sku": "vid",
        "stock.available": "storageNum",
        "stock.warehouse_country": "countryCode",
        "error_message": "message",
    },
    "status_map": {
        "CREATED": "pending", "IN_CART": "pending", "UNPAID": "pending", "UNSHIPPED": "acknowledged",
        "SHIPPED": "shipped", "DELIVERED": "shipped", "CANCELLED": "cancelled",
    },
    # CN ships anywhere; a warehouse not listed ships within its own country.
    "stock_warehouses": {"ships_to": {"CN": ["*"]}},
    # deleteOrder works only before payment; with payType 2 (balance) an order is paid at once, so a
    # change is reported to the merchant (cancel it in CJ's dashboard or open a dispute) instead of tried.
    "cancellable_when": ["pending"],
}

SHIPBOB: dict[str, Any] = {
    # ShipBob API 1.0 (a fulfilment network holding the merchant's stock), from its published reference
    # (the shapes, with sources, are in sandbox/supplier/shipbob_spec.py; the local copy is sandbox/supplier/shipbob.py):
    #   https://developer.shipbob.com/v1.0/api/orders/create-order    POST /1.0/order (reference_id unique per account)
    #   https://developer.shipbob.com/v1.0/api/orders/get-orders      GET /1.0/order?ReferenceIds=
    #   https://developer.shipbob.com/v1.0/api/orders/get-order       GET /1.0/order/{orderId}
    #   https://developer.shipbob.com/v1.0/api/orders/get-all-shipments-for-order
    #   https://developer.shipbob.com/v1.0/api/orders/cancel-single-order-by-order-id
    #   https://developer.shipbob.com/guides/tracking  (tracking exists once a shipment is LabeledCreated/Completed)
    # Credentials: {"api_token": "<Personal Access Token>"}. Settings: base_url https://api.shipbob.com
    # (or https://sandbox-api.shipbob.com) and headers.shipbob_channel_id, your channel with write scope.
    "timeout_seconds": 30,
    "connect_timeout_seconds": 5,
    "auth": {"header": "Authorization", "template": "Bearer {api_token}"},
    "rate_limit": {"requests_per_second": 2},  # ShipBob allows 150 requests a minute
    "endpoints": {
        "create_order": "POST /1.0/order",
        "get_order": "GET /1.0/order/{supplier_order_id}",
        "find_order": {"method": "GET", "path": "/1.0/order", "query": {"ReferenceIds": "{external_id}"}, "returns": "list"},
        "cancel_order": "POST /1.0/order/{supplier_order_id}/cancel",
        "get_shipments": "GET /1.0/order/{supplier_order_id}/shipment",
    },
    "static_body": {"type": "DTC", "shipping_method": "Standard"},
    "request": {
        "external_id": "reference_id",
        "shipping_method": "shipping_method",
        "address.name": "recipient.name",
        "address.company": "recipient.address.company_name",
        "address.address1": "recipient.address.address1",
        "address.address2": "recipient.address.address2",
        "address.city": "recipient.address.city",
        "address.province_code": "recipient.address.state",
        "address.zip": "recipient.address.zip_code",
        "address.country_code": "recipient.address.country",
        "address.phone": "recipient.phone_number",
        "address.email": "recipient.email",
        "lines": "products",
        "line.supplier_sku": "reference_id",
        "line.quantity": "quantity",
        "line.name": "name",
    },
    "compose": {"order_number": {"format": "{external_id}", "max_length": 400}},
    "compose_line": {"name": {"join": ["line.name", "line.supplier_sku"], "separator": " / "}},  # ShipBob creates unknown products by name
    "response": {
        "order": "",
        "order_list": "",
        "order.id": "id",
        "order.external_id": "reference_id",
        "order.status": "status",
        "shipments": "",
        "shipment.id": "id",
        "shipment.status": "status",
        "shipment.carrier": "tracking.carrier",
        "shipment.tracking_number": "tracking.tracking_number",
        "shipment.tracking_url": "tracking.tracking_url",
        "shipment.shipped_at": "actual_fulfillment_date",
        "shipment.delivered_at": "delivery_date",
        "shipment.lines": "products",
        "shipment.line.supplier_sku": "reference_id",
        "shipment.line.quantity": "inventory_items.0.quantity",
        "error_message": "message",
    },
    "shipped_statuses": ["LabeledCreated", "Completed"],
    "status_map": {
        "Processing": "acknowledged", "ImportReview": "pending", "Exception": "on_hold", "PartiallyFulfilled": "partially_shipped",
        "Fulfilled": "shipped", "Cancelled": "cancelled",
    },
    "duplicate_statuses": [409],
    "duplicate_message_contains": ["already exists"],
    "cancel_refused_statuses": [400, 409, 422],
}

PRESETS: dict[str, Mapping[str, Any]] = {"sandbox-rest": SANDBOX_REST, "cjdropshipping": CJDROPSHIPPING, "shipbob": SHIPBOB}


def with_preset(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings with their named preset underneath (objects merge key by key; anything else replaces)."""
    if not isinstance(settings, Mapping):
        raise InvalidRestSettings("settings must be a JSON object")
    name = settings.get("preset")
    if name is None:
        return dict(settings)
    if name not in PRESETS:
        raise InvalidRestSettings(f"settings.preset {name!r} is not one of {', '.join(sorted(PRESETS))}")
    overrides = {key: value for key, value in settings.items() if key != "preset"}
    return _merged(copy.deepcopy(dict(PRESETS[name])), overrides)


def _merged(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = _merged(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base
