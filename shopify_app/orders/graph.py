"""Turning a GraphQL `Order` (OrderForSync) into the REST webhook shape that sync reads."""
from __future__ import annotations

from typing import Any


def _amount(money: dict | None) -> str | None:
    return ((money or {}).get("shopMoney") or {}).get("amount")


def order_payload_from_graphql(order: dict[str, Any]) -> dict[str, Any]:
    """Map OrderForSync's result to the fields parse_order() reads."""
    address = order.get("shippingAddress")
    shipping_address = None
    if address:
        shipping_address = {
            "name": address.get("name"),
            "first_name": address.get("firstName"),
            "last_name": address.get("lastName"),
            "company": address.get("company"),
            "address1": address.get("address1"),
            "address2": address.get("address2"),
            "city": address.get("city"),
            "province_code": address.get("provinceCode"),
            "country_code": address.get("countryCodeV2"),
            "zip": address.get("zip"),
            "phone": address.get("phone"),
        }
    return {
        "admin_graphql_api_id": order["id"],
        "name": order.get("name"),
        "email": order.get("email"),
        "created_at": order.get("createdAt"),
        "updated_at": order.get("updatedAt"),
        "cancelled_at": order.get("cancelledAt"),
        "financial_status": (order.get("displayFinancialStatus") or "").lower() or None,
        "fulfillment_status": (order.get("displayFulfillmentStatus") or "").lower() or None,
        "currency": order.get("currencyCode"),
        "total_price": _amount(order.get("totalPriceSet")),
        "customer": {"admin_graphql_api_id": order["customer"]["id"]} if order.get("customer") else None,
        "shipping_address": shipping_address,
        "line_items": [
            {
                "admin_graphql_api_id": item["id"],
                "sku": item.get("sku"),
                "title": item.get("title"),
                "vendor": item.get("vendor"),
                "quantity": item.get("quantity"),
                "current_quantity": item.get("currentQuantity"),
                "requires_shipping": item.get("requiresShipping", True),
                "gift_card": item.get("isGiftCard", False),
                "variant_id": (item.get("variant") or {}).get("id"),
                "product_id": (item.get("product") or {}).get("id"),
                "price": _amount(item.get("originalUnitPriceSet")),
            }
            for item in (order.get("lineItems") or {}).get("nodes", [])
        ],
    }
