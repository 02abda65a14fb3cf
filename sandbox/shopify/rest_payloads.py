"""Webhook payloads in Shopify's REST shape (snake_case, numeric ids, `admin_graphql_api_id`), built from stored objects.

The keys follow Shopify's 2025-01 samples (orders/create, fulfillments/create,
fulfillment_orders/*); ids are exact Python ints taken from the GIDs, never floats.
Timestamps carry the shop's offset (+00:00: sandbox shops run on UTC) like REST does.
"""
from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Mapping

from .ids import gid_number

if TYPE_CHECKING:
    from .store import ShopState

# FulfillmentOrder statuses whose remaining quantities can still be fulfilled.
FULFILLABLE_FO_STATUSES = ("OPEN", "IN_PROGRESS", "ON_HOLD", "SCHEDULED", "INCOMPLETE")


def rest_time(value: str | None) -> str | None:
    """'2025-01-02T03:04:05Z' -> '2025-01-02T03:04:05+00:00' (REST's offset form)."""
    return value[:-1] + "+00:00" if value and value.endswith("Z") else value


def money_set(bag: Mapping[str, Any]) -> dict[str, Any]:
    """A GraphQL MoneyBag as REST's price set."""
    def money(m: Mapping[str, Any]) -> dict[str, Any]:
        return {"amount": m["amount"], "currency_code": m["currencyCode"]}

    return {"shop_money": money(bag["shopMoney"]), "presentment_money": money(bag["presentmentMoney"])}


def _amount(bag: Mapping[str, Any]) -> str:
    return bag["shopMoney"]["amount"]


def address_payload(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A MailingAddress as REST's address."""
    if address is None:
        return None
    return {
        "first_name": address.get("firstName"),
        "address1": address.get("address1"),
        "phone": address.get("phone"),
        "city": address.get("city"),
        "zip": address.get("zip"),
        "province": address.get("province"),
        "country": address.get("country"),
        "last_name": address.get("lastName"),
        "address2": address.get("address2"),
        "company": address.get("company"),
        "latitude": address.get("latitude"),
        "longitude": address.get("longitude"),
        "name": address.get("name"),
        "country_code": address.get("countryCodeV2") or address.get("countryCode"),
        "province_code": address.get("provinceCode"),
    }


def customer_payload(shop: ShopState, customer: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A Customer as the `customer` object of an order payload."""
    if customer is None:
        return None
    customer_id = gid_number(customer["id"])
    address = shop.deref(customer.get("defaultAddress"))
    default_address = None
    if address is not None:
        default_address = dict(address_payload(address), id=gid_number(address["id"]), customer_id=customer_id, country_name=address.get("country"), default=True)
    return {
        "id": customer_id,
        "email": customer.get("email"),
        "created_at": rest_time(customer.get("createdAt")),
        "updated_at": rest_time(customer.get("updatedAt")),
        "first_name": customer.get("firstName"),
        "last_name": customer.get("lastName"),
        "state": (customer.get("state") or "DISABLED").lower(),
        "note": customer.get("note"),
        "verified_email": customer.get("verifiedEmail", True),
        "multipass_identifier": None,
        "tax_exempt": customer.get("taxExempt", False),
        "phone": customer.get("phone"),
        "currency": customer.get("_currency", "USD"),
        "tax_exemptions": [],
        "admin_graphql_api_id": customer["id"],
        "default_address": default_address,
    }


def _fulfillment_order_lines_of(shop: ShopState, order: Mapping[str, Any], line_gid: str) -> list[tuple[dict, dict]]:
    """(fulfillment order, its line) pairs for one order line."""
    pairs = []
    for fo in shop.deref(order.get("fulfillmentOrders") or []):
        for fo_line in shop.deref(fo["lineItems"]):
            if fo_line["lineItem"].gid == line_gid:
                pairs.append((fo, fo_line))
    return pairs


def _service_handle(shop: ShopState, location_gid: str | None) -> str:
    location = shop.get(location_gid) if location_gid else None
    service = shop.deref(location.get("fulfillmentService")) if location else None
    return service["handle"] if service else "manual"


def line_fulfillment_status(line: Mapping[str, Any]) -> str | None:
    """REST's per-line status: null, 'partial' or 'fulfilled'."""
    fulfilled = line.get("_fulfilledQuantity", 0)
    if fulfilled <= 0:
        return None
    return "fulfilled" if fulfilled >= line["quantity"] else "partial"


def line_item_payload(shop: ShopState, order: Mapping[str, Any], line: Mapping[str, Any], quantity: int | None = None) -> dict[str, Any]:
    """A LineItem as REST's line item (quantity overridable: a fulfillment lists what it shipped)."""
    variant = shop.deref(line.get("variant"))
    product = shop.deref(line.get("product"))
    item = shop.deref(variant["inventoryItem"]) if variant else None
    pairs = _fulfillment_order_lines_of(shop, order, line["id"])
    fulfillable = sum(fo_line["remainingQuantity"] for fo, fo_line in pairs if fo["status"] in FULFILLABLE_FO_STATUSES)
    if line.get("isGiftCard"):
        service = "gift_card"
    else:
        service = _service_handle(shop, pairs[0][0]["assignedLocation"]["location"].gid if pairs else None)
    weight = (item or {}).get("measurement", {}).get("weight") or {}
    grams = int(Decimal(str(weight.get("value") or 0)) * 1000) if weight.get("unit") == "KILOGRAMS" else int(weight.get("value") or 0)
    return {
        "id": gid_number(line["id"]),
        "admin_graphql_api_id": line["id"],
        "attributed_staffs": [],
        "current_quantity": line["currentQuantity"],
        "fulfillable_quantity": fulfillable,
        "fulfillment_service": service,
        "fulfillment_status": line_fulfillment_status(line),
        "gift_card": bool(line.get("isGiftCard")),
        "grams": grams,
        "name": line["name"],
        "price": _amount(line["originalUnitPriceSet"]),
        "price_set": money_set(line["originalUnitPriceSet"]),
        "product_exists": product is not None,
        "product_id": gid_number(product["id"]) if product else None,
        "properties": [],
        "quantity": line["quantity"] if quantity is None else quantity,
        "requires_shipping": bool(line["requiresShipping"]),
        "sku": line.get("sku"),
        "taxable": line.get("taxable", True),
        "title": line["title"],
        "total_discount": _amount(line["totalDiscountSet"]),
        "total_discount_set": money_set(line["totalDiscountSet"]),
        "variant_id": gid_number(variant["id"]) if variant else None,
        "variant_inventory_management": "shopify" if item and item.get("tracked") else None,
        "variant_title": line.get("variantTitle"),
        "vendor": line.get("vendor"),
        "tax_lines": [tax_line_payload(tax) for tax in line.get("taxLines") or []],
        "duties": [],
        "discount_allocations": [
            {"amount": _amount(a["allocatedAmountSet"]), "amount_set": money_set(a["allocatedAmountSet"]), "discount_application_index": 0}
            for a in line.get("discountAllocations") or []
        ],
        "sales_line_item_group_id": None,
        **({"tip_payment_gateway": "shopify_payments", "tip_payment_method": "card"} if line.get("_tip") else {}),
    }


def tax_line_payload(tax: Mapping[str, Any]) -> dict[str, Any]:
    """A TaxLine as REST's tax line."""
    return {"channel_liable": bool(tax.get("channelLiable")), "price": _amount(tax["priceSet"]), "price_set": money_set(tax["priceSet"]),
            "rate": tax.get("rate"), "title": tax.get("title")}


def discount_application_payload(application: Mapping[str, Any]) -> dict[str, Any]:
    """A DiscountApplication as REST's discount application."""
    value = application.get("value") or {}
    percentage = value.get("__typename") == "PricingPercentageValue"
    payload = {
        "target_type": application["targetType"].lower(),
        "type": {"DiscountCodeApplication": "discount_code", "AutomaticDiscountApplication": "automatic",
                 "ManualDiscountApplication": "manual", "ScriptDiscountApplication": "script"}[application["__typename"]],
        "value": str(value["percentage"]) if percentage else value.get("amount"),
        "value_type": "percentage" if percentage else "fixed_amount",
        "allocation_method": application["allocationMethod"].lower(),
        "target_selection": application["targetSelection"].lower(),
    }
    if "code" in application:
        payload["code"] = application["code"]
    else:
        payload["title"] = application.get("title")
        payload["description"] = application.get("description")
    return payload


def shipping_line_payload(line: Mapping[str, Any]) -> dict[str, Any]:
    """A ShippingLine as REST's shipping line."""
    return {
        "id": gid_number(line["id"]), "carrier_identifier": line.get("carrierIdentifier"), "code": line.get("code"),
        "discounted_price": _amount(line["discountedPriceSet"]), "discounted_price_set": money_set(line["discountedPriceSet"]),
        "is_removed": bool(line.get("isRemoved")), "phone": line.get("phone"), "price": _amount(line["originalPriceSet"]),
        "price_set": money_set(line["originalPriceSet"]), "requested_fulfillment_service_id": None, "source": line.get("source"),
        "title": line.get("title"), "tax_lines": [tax_line_payload(tax) for tax in line.get("taxLines") or []], "discount_allocations": [],
    }


def fulfillment_payload(shop: ShopState, fulfillment: Mapping[str, Any]) -> dict[str, Any]:
    """A Fulfillment as REST's fulfillment (fulfillments/create and /update, and inside orders)."""
    order = shop.deref(fulfillment["order"])
    tracking = fulfillment.get("trackingInfo") or []
    lines = []
    for fli in shop.deref(fulfillment["fulfillmentLineItems"]):
        lines.append(line_item_payload(shop, order, shop.deref(fli["lineItem"]), fli["quantity"]))
    location = shop.deref(fulfillment.get("location"))
    service = "gift_card" if fulfillment.get("_giftCard") else _service_handle(shop, location["id"] if location else None)
    return {
        "id": gid_number(fulfillment["id"]),
        "admin_graphql_api_id": fulfillment["id"],
        "created_at": rest_time(fulfillment["createdAt"]),
        "destination": address_payload(order.get("shippingAddress")),
        "email": order.get("email"),
        "line_items": lines,
        "location_id": gid_number(location["id"]) if location else None,
        "name": fulfillment["name"],
        "order_id": gid_number(order["id"]),
        "origin_address": None,
        "receipt": {},
        "service": service,
        "shipment_status": fulfillment.get("_shipmentStatus"),  # the newest fulfillment event's status
        "status": fulfillment["status"].lower(),
        "tracking_company": tracking[0]["company"] if tracking else None,
        "tracking_number": tracking[0]["number"] if tracking else None,
        "tracking_numbers": [t["number"] for t in tracking if t.get("number")],
        "tracking_url": tracking[0]["url"] if tracking else None,
        "tracking_urls": [t["url"] for t in tracking if t.get("url")],
        "updated_at": rest_time(fulfillment["updatedAt"]),
    }


def order_fulfillment_status(order: Mapping[str, Any]) -> str | None:
    """REST's order-level fulfillment_status: null, 'partial' or 'fulfilled'."""
    return {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial", "RESTOCKED": "restocked"}.get(order["displayFulfillmentStatus"])


def _code_type(order: Mapping[str, Any], code: str) -> str:
    for application in order.get("discountApplications") or []:
        if application.get("code") == code:
            return "percentage" if (application.get("value") or {}).get("__typename") == "PricingPercentageValue" else "fixed_amount"
    return "fixed_amount"


def order_webhook_payload(shop: ShopState, order: Mapping[str, Any]) -> dict[str, Any]:
    """An Order as the orders/* webhooks carry it (orders/create, /paid, /updated, /cancelled, /fulfilled...)."""
    number = gid_number(order["id"])
    order_number = int(order["name"].lstrip("#"))
    lines = [line_item_payload(shop, order, line) for line in shop.deref(order["lineItems"])]
    fulfillments = [fulfillment_payload(shop, f) for f in shop.deref(order.get("fulfillments") or [])]
    zero = {"shopMoney": {"amount": "0.00", "currencyCode": order["currencyCode"]}, "presentmentMoney": {"amount": "0.00", "currencyCode": order["currencyCode"]}}
    # The lines' prices before discounts (the tip line is not one of them).
    products = [line for line in shop.deref(order["lineItems"]) if not line.get("_tip")]
    line_total = {side: {"amount": str(sum((Decimal(l["originalUnitPriceSet"][side]["amount"]) * l["quantity"] for l in products), Decimal("0.00"))),
                         "currencyCode": order["currencyCode"] if side == "shopMoney" else order["presentmentCurrencyCode"]}
                  for side in ("shopMoney", "presentmentMoney")}
    weight = sum(line["grams"] * line["quantity"] for line in lines)
    token = hashlib.sha256(order["id"].encode()).hexdigest()[:32]  # stable per order, like Shopify's
    return {
        "id": number,
        "admin_graphql_api_id": order["id"],
        "app_id": None,
        "billing_address": address_payload(order.get("billingAddress")),
        "browser_ip": None,
        "buyer_accepts_marketing": bool(order.get("customerAcceptsMarketing")),
        "cancel_reason": order["cancelReason"].lower() if order.get("cancelReason") else None,
        "cancelled_at": rest_time(order.get("cancelledAt")),
        "cart_token": None,
        "checkout_id": None,
        "checkout_token": None,
        "client_details": None,
        "closed_at": rest_time(order.get("closedAt")),
        "confirmation_number": None,
        "confirmed": bool(order.get("confirmed", True)),
        "contact_email": order.get("email"),
        "created_at": rest_time(order["createdAt"]),
        "currency": order["currencyCode"],
        "current_shipping_price_set": money_set(order["currentShippingPriceSet"]),
        "current_subtotal_price": _amount(order["currentSubtotalPriceSet"]),
        "current_subtotal_price_set": money_set(order["currentSubtotalPriceSet"]),
        "current_total_additional_fees_set": None,
        "current_total_discounts": _amount(order["currentTotalDiscountsSet"]),
        "current_total_discounts_set": money_set(order["currentTotalDiscountsSet"]),
        "current_total_duties_set": None,
        "current_total_price": _amount(order["currentTotalPriceSet"]),
        "current_total_price_set": money_set(order["currentTotalPriceSet"]),
        "current_total_tax": _amount(order["currentTotalTaxSet"]),
        "current_total_tax_set": money_set(order["currentTotalTaxSet"]),
        "customer": customer_payload(shop, shop.deref(order.get("customer"))),
        "customer_locale": order.get("customerLocale") or "en",
        "device_id": None,
        "discount_applications": [discount_application_payload(a) for a in order.get("discountApplications") or []],
        "discount_codes": [
            {"code": code, "amount": _amount(order["totalDiscountsSet"]), "type": _code_type(order, code)} for code in order.get("discountCodes") or []
        ],
        "duties_included": bool(order.get("dutiesIncluded")),
        "email": order.get("email"),
        "estimated_taxes": bool(order.get("estimatedTaxes")),
        "financial_status": (order.get("displayFinancialStatus") or "PENDING").lower(),
        "fulfillment_status": order_fulfillment_status(order),
        "fulfillments": fulfillments,
        "landing_site": None,
        "landing_site_ref": None,
        "line_items": lines,
        "location_id": None,
        "merchant_business_entity_id": None,
        "merchant_of_record_app_id": None,
        "name": order["name"],
        "note": order.get("note"),
        "note_attributes": [],
        "number": order_number - 1000,
        "order_number": order_number,
        "order_status_url": order.get("statusPageUrl"),
        "original_total_additional_fees_set": None,
        "original_total_duties_set": None,
        "payment_gateway_names": list(order.get("paymentGatewayNames") or []),
        "payment_terms": None,
        "phone": order.get("phone"),
        "po_number": None,
        "presentment_currency": order["presentmentCurrencyCode"],
        "processed_at": rest_time(order["processedAt"]),
        "reference": None,
        "referring_site": None,
        "refunds": [],
        "returns": [],
        "shipping_address": address_payload(order.get("shippingAddress")),
        "shipping_lines": [shipping_line_payload(line) for line in order.get("shippingLines") or []],
        "source_identifier": order.get("sourceIdentifier"),
        "source_name": order.get("sourceName", "web"),
        "source_url": None,
        "subtotal_price": _amount(order["subtotalPriceSet"]),
        "subtotal_price_set": money_set(order["subtotalPriceSet"]),
        "tags": ", ".join(order.get("tags") or []),
        "tax_exempt": bool(order.get("taxExempt")),
        "tax_lines": [tax_line_payload(tax) for tax in order.get("taxLines") or []],
        "taxes_included": bool(order.get("taxesIncluded")),
        "test": bool(order.get("test")),
        "token": token,
        "total_cash_rounding_payment_adjustment_set": money_set(zero),
        "total_cash_rounding_refund_adjustment_set": money_set(zero),
        "total_discounts": _amount(order["totalDiscountsSet"]),
        "total_discounts_set": money_set(order["totalDiscountsSet"]),
        "total_line_items_price": _amount(line_total),
        "total_line_items_price_set": money_set(line_total),
        "total_outstanding": _amount(order["totalOutstandingSet"]),
        "total_price": _amount(order["totalPriceSet"]),
        "total_price_set": money_set(order["totalPriceSet"]),
        "total_shipping_price_set": money_set(order["totalShippingPriceSet"]),
        "total_tax": _amount(order["totalTaxSet"]),
        "total_tax_set": money_set(order["totalTaxSet"]),
        "total_tip_received": _amount(order["totalTipReceivedSet"]),
        "total_weight": weight,
        "updated_at": rest_time(order["updatedAt"]),
        "user_id": None,
    }


def fulfillment_order_summary(fo: Mapping[str, Any], *, request_status: str | None = None, status: str | None = None) -> dict[str, Any]:
    """`{id, request_status, status}` as the fulfillment_orders/* payloads name a fulfillment order."""
    return {
        "id": fo["id"],
        "request_status": (request_status or fo["requestStatus"]).lower(),
        "status": (status or fo["status"]).lower(),
    }


def merchant_request_summary(request: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`{id, message}` of a FulfillmentOrderMerchantRequest."""
    return None if request is None else {"id": request["id"], "message": request.get("message")}
