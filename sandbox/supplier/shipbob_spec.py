"""ShipBob API 1.0 shapes, as JSON Schemas written from ShipBob's published reference (the part this app uses).

Sources (read 2026-12):
  create order   https://developer.shipbob.com/v1.0/api/orders/create-order  (POST /1.0/order, header
                 shipbob_channel_id; reference_id unique per account; recipient, products, shipping_method)
  get orders     https://developer.shipbob.com/v1.0/api/orders/get-orders   (GET /1.0/order?ReferenceIds=)
  get order      https://developer.shipbob.com/v1.0/api/orders/get-order    (GET /1.0/order/{orderId})
  shipments      https://developer.shipbob.com/v1.0/api/orders/get-all-shipments-for-order
                 (GET /1.0/order/{orderId}/shipment; a shipment has tracking once "LabeledCreated",
                 then "Completed": https://developer.shipbob.com/guides/tracking)
  cancel         https://developer.shipbob.com/v1.0/api/orders/cancel-single-order-by-order-id
                 (POST /1.0/order/{orderId}/cancel)
  auth, limits   https://developer.shipbob.com/auth (Personal Access Token as a Bearer token),
                 https://developer.shipbob.com/rate-limit
Fields the reference lists but this app never sends are allowed and ignored.
"""
from __future__ import annotations

STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
ADDRESS = {"type": "object", "required": ["address1", "city", "country"], "properties": {
    "address1": {"type": "string", "minLength": 1}, "address2": NSTR, "company_name": NSTR, "city": {"type": "string", "minLength": 1},
    "state": NSTR, "country": {"type": "string", "minLength": 2}, "zip_code": NSTR}}

CREATE_ORDER = {
    "type": "object",
    "required": ["products", "recipient", "reference_id", "shipping_method"],
    "properties": {
        "reference_id": {"type": "string", "minLength": 1, "maxLength": 300},
        "order_number": {"type": ["string", "null"], "maxLength": 400},
        "shipping_method": {"type": "string", "minLength": 1},
        "type": {"enum": ["DTC", "DropShip", "B2B"]},
        "gift_message": {"type": ["string", "null"], "maxLength": 500},
        "recipient": {"type": "object", "required": ["name", "address"], "properties": {
            "name": {"type": "string", "minLength": 1}, "address": ADDRESS, "email": NSTR, "phone_number": NSTR}},
        "products": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["quantity"], "properties": {
            "reference_id": STR, "name": STR, "quantity": {"type": "integer", "minimum": 1}, "external_line_id": {"type": "integer"}}}},
    },
}

SHIPMENT = {
    "type": "object",
    "required": ["id", "order_id", "status"],
    "properties": {
        "id": {"type": "integer"}, "order_id": {"type": "integer"}, "reference_id": NSTR,
        "status": {"enum": ["None", "Processing", "Completed", "Exception", "OnHold", "Cancelled", "CleanSweeped", "LabeledCreated"]},
        "tracking": {"type": ["object", "null"], "properties": {"carrier": NSTR, "tracking_number": NSTR, "carrier_service": NSTR, "tracking_url": NSTR, "shipping_date": NSTR}},
        "actual_fulfillment_date": NSTR, "delivery_date": NSTR,
        "products": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}, "reference_id": STR, "name": STR, "sku": NSTR,
                                                                                  "inventory_items": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}, "name": STR, "quantity": {"type": "integer"}}}}}}},
    },
}

ORDER = {
    "type": "object",
    "required": ["id", "reference_id", "status"],
    "properties": {
        "id": {"type": "integer"}, "reference_id": STR, "order_number": NSTR, "created_date": NSTR, "purchase_date": NSTR,
        "status": {"enum": ["Processing", "Exception", "PartiallyFulfilled", "Fulfilled", "Cancelled", "ImportReview"]},
        "type": STR, "shipping_method": STR, "channel": {"type": "object"}, "recipient": {"type": "object"},
        "products": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}, "reference_id": STR, "quantity": {"type": "integer"}, "external_line_id": {"type": ["integer", "null"]}}}},
        "shipments": {"type": "array", "items": SHIPMENT},
        "financials": {"type": "object"},
    },
}

RESPONSES = {
    "create_order": ORDER,
    "get_order": ORDER,
    "get_orders": {"type": "array", "items": ORDER},
    "get_shipments": {"type": "array", "items": SHIPMENT},
}
