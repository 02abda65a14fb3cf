"""orderCreate (2026-10) as Shopify runs it for orders made outside a checkout (a replacement, an import).

Checked first, as Shopify refuses them: no line items, an unknown variant, a quantity below
one, a price in another currency than the shop's. Then the order is created like a checkout's
(lines routed to a stocking location, one fulfillment order per location, stock committed)
with the given price (0 for a free replacement), financial status, email, shipping address,
tags, note and source identifier, and orders/create (and orders/paid when PAID) is sent.
Not @idempotent in 2026-10: a second call creates a second order.
"""
from __future__ import annotations

from typing import Any, Mapping

from . import records
from .ids import make_gid
from .user_errors import ShopifyUserError

ADDRESS_FIELDS = {"firstName": "firstName", "lastName": "lastName", "company": "company", "address1": "address1", "address2": "address2", "city": "city",
                  "province": "province", "provinceCode": "provinceCode", "zip": "zip", "phone": "phone", "country": "country"}


def _line_specs(state, items: list[Mapping[str, Any]], currency: str) -> list[dict[str, Any]]:
    if not items:
        raise ShopifyUserError(["order", "lineItems"], "Line items must have at least one line item.", "INVALID")
    specs = []
    for index, item in enumerate(items):
        field = ["order", "lineItems", str(index)]
        variant = state.get(item["variantId"]) if item.get("variantId") else None
        if item.get("variantId") and (variant is None or variant["__typename"] != "ProductVariant"):
            raise ShopifyUserError(field + ["variantId"], "Variant does not exist.", "INVALID")
        if variant is None and not item.get("title"):
            raise ShopifyUserError(field + ["title"], "A line item without a variant needs a title.", "INVALID")
        quantity = int(item.get("quantity") or 0)
        if quantity < 1:
            raise ShopifyUserError(field + ["quantity"], "Quantity must be greater than or equal to 1.", "GREATER_THAN_OR_EQUAL_TO")
        spec: dict[str, Any] = {"quantity": quantity}
        if variant is not None:
            spec["variant_id"] = variant["id"]
        else:
            spec.update(sku=item.get("sku") or item["title"], title=item["title"])
        money = ((item.get("priceSet") or {}).get("shopMoney")) or None
        if money is not None:
            if money["currencyCode"] != currency:
                raise ShopifyUserError(field + ["priceSet", "shopMoney", "currencyCode"], f"Currency must be the shop's currency ({currency}).", "INVALID")
            spec["price"] = str(money["amount"])
        specs.append(spec)
    return specs


def create_order_from_input(store, shop, spec: Mapping[str, Any]) -> dict[str, Any]:
    """orderCreate: the created Order (webhooks queued)."""
    with store.lock:
        state = store.require_shop(shop)
        lines = _line_specs(state, list(spec.get("lineItems") or []), state.record["currencyCode"])
        fields: dict[str, Any] = {"tags": list(spec.get("tags") or []), "note": spec.get("note"), "sourceIdentifier": spec.get("sourceIdentifier"),
                                  "sourceName": spec.get("sourceName") or "api"}
        address = spec.get("shippingAddress")
        if address:
            values = {ours: address.get(theirs) for theirs, ours in ADDRESS_FIELDS.items() if address.get(theirs) is not None}
            if address.get("countryCode"):
                values["countryCodeV2"] = address["countryCode"]
            fields["shippingAddress"] = records.mailing_address(make_gid("MailingAddress", store.next_number()), **values)
    order = store.create_order(shop, lines, email=spec.get("email"), financial_status=spec.get("financialStatus") or "PENDING", **fields)
    with store.lock:
        state = store.require_shop(shop)
        store.publish_order(state, order, "orders/create", *(("orders/paid",) if order["displayFinancialStatus"] == "PAID" else ()))
    return order
