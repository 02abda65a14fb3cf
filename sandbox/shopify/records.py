"""Builders for the plain-dict objects the store holds (camelCase keys, `__typename`, GIDs).

Keys are the schema's field names, so the default resolver can answer most fields by
lookup. Keys starting with `_` are the sandbox's own bookkeeping and never reach a
response. A `Ref` value points at another stored object and is followed on read.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# Shopify's inventory quantity names (InventoryLevel.quantities(names:)).
QUANTITY_NAMES = ("available", "on_hand", "committed", "incoming", "reserved", "damaged", "safety_stock", "quality_control")
# Names that are part of on_hand but not available.
UNAVAILABLE_NAMES = ("committed", "reserved", "damaged", "safety_stock", "quality_control")


@dataclass(frozen=True)
class Ref:
    """A reference to another stored object by GID, resolved when a query reads it."""

    gid: str


def money(amount: Any, currency: str = "USD") -> dict[str, Any]:
    """A MoneyV2."""
    return {"__typename": "MoneyV2", "amount": str(Decimal(str(amount)).quantize(Decimal("0.01"))), "currencyCode": currency}


def money_bag(amount: Any, currency: str = "USD") -> dict[str, Any]:
    """A MoneyBag with the same amount in shop and presentment currency."""
    return {"__typename": "MoneyBag", "shopMoney": money(amount, currency), "presentmentMoney": money(amount, currency)}


def handleize(title: str) -> str:
    """'Blue Mug (large)' -> 'blue-mug-large', like Shopify's handles."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "product"


def shop_record(gid: str, domain: str, name: str, currency: str, plan, now: str) -> dict[str, Any]:
    """The Shop object."""
    return {
        "__typename": "Shop",
        "id": gid,
        "name": name,
        "myshopifyDomain": domain,
        "email": f"owner@{domain}",
        "contactEmail": f"owner@{domain}",
        "shopOwnerName": "Sandbox Owner",
        "currencyCode": currency,
        "enabledPresentmentCurrencies": [currency],
        "ianaTimezone": "Etc/UTC",
        "timezoneAbbreviation": "UTC",
        "timezoneOffset": "+0000",
        "timezoneOffsetMinutes": 0,
        "url": f"https://{domain}",
        "primaryDomain": {"__typename": "Domain", "id": gid.replace("/Shop/", "/Domain/"), "host": domain, "url": f"https://{domain}", "sslEnabled": True,
                          "localization": {"__typename": "DomainLocalization", "defaultLocale": "en", "alternateLocales": [], "country": None}},
        "plan": plan_record(plan),
        "billingAddress": {
            "__typename": "ShopAddress", "id": gid.replace("/Shop/", "/ShopAddress/"), "company": name,
            "address1": "1 Sandbox Way", "address2": None, "city": "Ottawa", "province": "Ontario", "provinceCode": "ON",
            "country": "Canada", "countryCodeV2": "CA", "zip": "K1A 0A1", "phone": None, "latitude": None, "longitude": None,
            "coordinatesValidated": False, "formattedArea": "Ottawa ON, Canada", "formatted": ["1 Sandbox Way", "Ottawa ON K1A 0A1", "Canada"],
        },
        "resourceLimits": {"__typename": "ShopResourceLimits", "locationLimit": 1000, "maxProductOptions": 3, "maxProductVariants": 2048, "redirectLimitReached": False},
        "customerAccounts": "OPTIONAL",
        "weightUnit": "KILOGRAMS",
        "unitSystem": "METRIC_SYSTEM",
        "taxesIncluded": False,
        "taxShipping": False,
        "checkoutApiSupported": True,
        "setupRequired": False,
        "transactionalSmsDisabled": False,
        "marketingSmsConsentEnabledAtCheckout": False,
        "orderNumberFormatPrefix": "#",
        "orderNumberFormatSuffix": "",
        "shipsToCountries": ["CA", "US"],
        "richTextEditorUrl": f"https://{domain}/admin/rich_text_editor",
        "createdAt": now,
        "updatedAt": now,
    }


def plan_record(plan) -> dict[str, Any]:
    """Shop.plan for a cost.Plan."""
    return {"__typename": "ShopPlan", "displayName": plan.display_name, "publicDisplayName": plan.display_name, "partnerDevelopment": False, "shopifyPlus": plan.shopify_plus}


def location_record(gid: str, name: str, now: str, **fields: Any) -> dict[str, Any]:
    """A Location (an active warehouse that fulfils online orders)."""
    address = {
        "__typename": "LocationAddress",
        "address1": "1 Sandbox Way",
        "address2": None,
        "city": "Ottawa",
        "province": "Ontario",
        "provinceCode": "ON",
        "country": "Canada",
        "countryCode": "CA",
        "zip": "K1A 0A1",
        "phone": None,
        "latitude": None,
        "longitude": None,
        "formatted": ["1 Sandbox Way", "Ottawa ON K1A 0A1", "Canada"],
    }
    record = {
        "__typename": "Location",
        "id": gid,
        "name": name,
        "isActive": True,
        "activatable": False,
        "deactivatable": True,
        "deletable": False,
        "deactivatedAt": None,
        "fulfillsOnlineOrders": True,
        "hasActiveInventory": True,
        "hasUnfulfilledOrders": False,
        "isFulfillmentService": False,
        "fulfillmentService": None,
        "shipsInventory": True,
        "addressVerified": True,
        "address": address,
        "suggestedAddresses": [],
        "createdAt": now,
        "updatedAt": now,
    }
    record.update(fields)
    return record


def product_record(gid: str, title: str, now: str, **fields: Any) -> dict[str, Any]:
    """A Product without variants (the store adds them)."""
    record = {
        "__typename": "Product",
        "id": gid,
        "title": title,
        "handle": handleize(title),
        "status": "ACTIVE",
        "vendor": "Sandbox Supplies",
        "productType": "",
        "tags": [],
        "description": "",
        "descriptionHtml": "",
        "isGiftCard": False,
        "requiresSellingPlan": False,
        "tracksInventory": True,
        "hasVariantsThatRequiresComponents": False,
        "publishedAt": now,
        "publishedOnCurrentPublication": True,
        "templateSuffix": None,
        "giftCardTemplateSuffix": None,
        "onlineStoreUrl": None,
        "seo": {"__typename": "SEO", "title": None, "description": None},
        "variants": [],
        "options": [],
        "_skus": [],
        "createdAt": now,
        "updatedAt": now,
    }
    record.update(fields)
    return record


def variant_record(gid: str, product: dict, item_gid: str, title: str, sku: str | None, price: Any, position: int, now: str, **fields: Any) -> dict[str, Any]:
    """A ProductVariant."""
    record = {
        "__typename": "ProductVariant",
        "id": gid,
        "title": title,
        "displayName": f"{product['title']} - {title}",
        "sku": sku,
        "barcode": None,
        "price": str(Decimal(str(price)).quantize(Decimal("0.01"))),
        "compareAtPrice": None,
        "position": position,
        "inventoryPolicy": "DENY",
        "taxable": True,
        "taxCode": None,
        "availableForSale": True,
        "requiresComponents": False,
        "selectedOptions": [],
        "product": Ref(product["id"]),
        "inventoryItem": Ref(item_gid),
        "createdAt": now,
        "updatedAt": now,
    }
    record.update(fields)
    return record


def inventory_item_record(gid: str, variant_gid: str, sku: str | None, now: str, currency: str = "USD") -> dict[str, Any]:
    """An InventoryItem (tracked, ships)."""
    return {
        "__typename": "InventoryItem",
        "id": gid,
        "sku": sku,
        "tracked": True,
        "requiresShipping": True,
        "countryCodeOfOrigin": None,
        "provinceCodeOfOrigin": None,
        "harmonizedSystemCode": None,
        "inventoryHistoryUrl": None,
        "unitCost": money("5.00", currency),
        "measurement": {"__typename": "InventoryItemMeasurement", "id": gid.replace("/InventoryItem/", "/InventoryItemMeasurement/"), "weight": {"__typename": "Weight", "unit": "KILOGRAMS", "value": 0.5}},
        "trackedEditable": {"__typename": "EditableProperty", "locked": False, "reason": None},
        "variant": Ref(variant_gid),
        "createdAt": now,
        "updatedAt": now,
    }


def inventory_level_record(gid: str, item_gid: str, location_gid: str, now: str) -> dict[str, Any]:
    """An InventoryLevel with every quantity at zero."""
    return {
        "__typename": "InventoryLevel",
        "id": gid,
        "item": Ref(item_gid),
        "location": Ref(location_gid),
        "canDeactivate": True,
        "deactivationAlert": None,
        "_quantities": {name: 0 for name in QUANTITY_NAMES},
        "createdAt": now,
        "updatedAt": now,
    }


def mailing_address(gid: str, **fields: Any) -> dict[str, Any]:
    """A MailingAddress (defaults: a Canadian test customer)."""
    address = {
        "__typename": "MailingAddress",
        "id": gid,
        "firstName": "Sam",
        "lastName": "Sandbox",
        "name": "Sam Sandbox",
        "company": None,
        "address1": "100 Test Street",
        "address2": None,
        "city": "Toronto",
        "province": "Ontario",
        "provinceCode": "ON",
        "country": "Canada",
        "countryCodeV2": "CA",
        "zip": "M5V 2T6",
        "phone": None,
        "latitude": None,
        "longitude": None,
        "timeZone": None,
        "coordinatesValidated": False,
        "formattedArea": "Toronto ON, Canada",
    }
    address.update(fields)
    address["formatted"] = [p for p in (address["address1"], f"{address['city']} {address['provinceCode'] or ''} {address['zip'] or ''}".strip(), address["country"]) if p]
    return address


def order_money_fields(total: Decimal, currency: str) -> dict[str, Any]:
    """The many MoneyBag fields of an unrefunded, fully paid order without tax or shipping."""
    zero = Decimal("0")
    values = {
        "totalPriceSet": total, "subtotalPriceSet": total, "currentTotalPriceSet": total, "currentSubtotalPriceSet": total,
        "originalTotalPriceSet": total, "totalReceivedSet": total, "netPaymentSet": total,
        "totalTaxSet": zero, "currentTotalTaxSet": zero, "totalShippingPriceSet": zero, "currentShippingPriceSet": zero,
        "totalDiscountsSet": zero, "currentTotalDiscountsSet": zero, "currentCartDiscountAmountSet": zero,
        "totalRefundedSet": zero, "totalRefundedShippingSet": zero, "totalOutstandingSet": zero, "totalCapturableSet": zero,
        "totalTipReceivedSet": zero, "refundDiscrepancySet": zero, "cartDiscountAmountSet": zero,
    }
    return {key: money_bag(value, currency) for key, value in values.items()}
