"""Orders as a checkout creates them: lines, customer, and fulfillment orders per assigned location.

Each line is routed to a location (its own `location_gid`, else the order's, else the
first active location stocking enough of the item) and the order gets one fulfillment
order per location. Gift cards get a fulfillment order of their own and are fulfilled
as soon as the order is paid (Shopify's default order processing). Stock is committed
at the fulfilling location for tracked items. `OrderMixin` is mixed into Store.
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from . import order_money, records
from .ids import gid_number, make_gid
from .records import Ref

if TYPE_CHECKING:
    from .store import ShopState


class OrderMixin:
    """Creating and changing orders (part of Store)."""

    def create_order(self, shop: str | ShopState, line_items: Iterable[Mapping[str, Any]], *, email: str | None = "customer@example.com", financial_status: str = "PAID", location_gid: str | None = None, created_at: str | None = None, commit_inventory: bool = True, **fields: Any) -> dict[str, Any]:
        """Create an order from line items {sku or variant_id, quantity, price?, location_gid?, requires_shipping?, gift_card?}.

        Money options (order_money.py): discount_code, tax_rate, taxes_included, shipping, tip,
        presentment_currency and presentment_rate.

        Queues no webhooks: SandboxShopify.place_order creates an order and sends them.
        """
        money_options = {key: fields.pop(key) for key in order_money.OPTIONS if key in fields}
        with self.lock:
            state = self.require_shop(shop)
            now = created_at or self.now_iso()
            currency = state.record["currencyCode"]
            state.order_number += 1
            order_gid = make_gid("Order", self.next_number())
            order = self._order_record(state, order_gid, f"#{state.order_number}", email, financial_status, currency, now)
            order["shippingAddress"] = records.mailing_address(make_gid("MailingAddress", self.next_number()))
            order["billingAddress"] = dict(order["shippingAddress"])
            order["displayAddress"] = order["shippingAddress"]
            customer = self.customer_for_email(state, email, order["shippingAddress"], now) if email else None
            order["customer"] = Ref(customer["id"]) if customer else None
            state.index(order)
            lines = [(self._add_line_item(state, order, spec), spec) for spec in line_items]
            total = sum((Decimal(line["originalUnitPriceSet"]["shopMoney"]["amount"]) * line["quantity"] for line, _ in lines), Decimal("0"))
            order.update(records.order_money_fields(total, currency))
            order["subtotalLineItemsQuantity"] = order["currentSubtotalLineItemsQuantity"] = sum(line["quantity"] for line, _ in lines)
            order["requiresShipping"] = any(line["requiresShipping"] for line, _ in lines)
            order.update(fields)
            self._assign_fulfillment_orders(state, order, lines, location_gid, commit_inventory)
            if money_options:
                every_line = [line for line, _ in lines]
                if money_options.get("tip"):
                    every_line.append(order_money.tip_line(self, state, order, money_options["tip"]))
                order_money.apply_order_money(self, state, order, every_line, money_options)
            return order

    def _order_record(self, state: ShopState, gid: str, name: str, email: str | None, financial_status: str, currency: str, now: str) -> dict[str, Any]:
        return {
            "__typename": "Order",
            "id": gid,
            "name": name,
            "email": email,
            "phone": None,
            "note": None,
            "tags": [],
            "test": False,
            "confirmed": True,
            "closed": False,
            "closedAt": None,
            "cancelledAt": None,
            "cancelReason": None,
            "cancellation": None,
            "currencyCode": currency,
            "presentmentCurrencyCode": currency,
            "customerLocale": "en",
            "displayFinancialStatus": financial_status,
            "displayFulfillmentStatus": "UNFULFILLED",
            "fullyPaid": financial_status == "PAID",
            "unpaid": financial_status in ("PENDING", "AUTHORIZED"),
            "canMarkAsPaid": financial_status in ("PENDING",),
            "canNotifyCustomer": email is not None,
            "capturable": financial_status == "AUTHORIZED",
            "refundable": financial_status == "PAID",
            "restockable": True,
            "fulfillable": True,
            "requiresShipping": True,
            "edited": False,
            "merchantEditable": True,
            "merchantEditableErrors": [],
            "taxesIncluded": False,
            "taxExempt": False,
            "dutiesIncluded": False,
            "estimatedTaxes": False,
            "hasTimelineComment": False,
            "customerAcceptsMarketing": False,
            "billingAddressMatchesShippingAddress": True,
            "returnStatus": "NO_RETURN",
            "sourceName": "web",
            "sourceIdentifier": None,
            "paymentGatewayNames": ["bogus"],
            "discountCodes": [],
            "discountCode": None,
            "customAttributes": [],
            "additionalFees": [],
            "alerts": [],
            "disputes": [],
            "taxLines": [],
            "currentTaxLines": [],
            "refunds": [],
            "fulfillments": [],
            "statusPageUrl": f"https://{state.domain}/orders/{gid_number(gid)}/authenticate",
            "currentTotalWeight": "0",
            "totalWeight": "0",
            "processedAt": now,
            "createdAt": now,
            "updatedAt": now,
            "lineItems": [],
            "fulfillmentOrders": [],
            "_skus": [],
            "_shopDomain": state.domain,
            "_fulfillmentCount": 0,
        }

    def _add_line_item(self, state: ShopState, order: dict[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
        variant = state.get(spec["variant_id"]) if spec.get("variant_id") else self.variant_by_sku(state, spec["sku"]) if spec.get("sku") else None
        if variant is None and spec.get("sku") is None:
            raise ValueError(f"line item needs a known variant_id or a sku: {dict(spec)}")
        product = state.deref(variant["product"]) if variant else None
        item = state.deref(variant["inventoryItem"]) if variant else None
        quantity = int(spec.get("quantity", 1))
        price = spec.get("price") or (variant["price"] if variant else "10.00")
        currency = state.record["currencyCode"]
        title = spec.get("title") or (product["title"] if product else spec["sku"])
        variant_title = variant["title"] if variant else None
        sku = variant.get("sku") if variant else spec["sku"]
        gift_card = bool(spec.get("gift_card", product["isGiftCard"] if product else False))
        # Gift cards are delivered by email; digital products say so on their inventory item.
        requires_shipping = False if gift_card else bool(spec.get("requires_shipping", item["requiresShipping"] if item else True))
        unit, line_total = records.money_bag(price, currency), records.money_bag(Decimal(str(price)) * quantity, currency)
        line = state.index({
            "__typename": "LineItem",
            "id": make_gid("LineItem", self.next_number()),
            "title": title,
            "name": f"{title} - {variant_title}" if variant_title and variant_title != "Default Title" else title,
            "variantTitle": variant_title,
            "sku": sku,
            "vendor": product.get("vendor") if product else None,
            "quantity": quantity,
            "currentQuantity": quantity,
            "unfulfilledQuantity": quantity,
            "refundableQuantity": quantity,
            "nonFulfillableQuantity": 0,
            "requiresShipping": requires_shipping,
            "taxable": not gift_card,
            "isGiftCard": gift_card,
            "merchantEditable": True,
            "restockable": not gift_card,
            "variant": Ref(variant["id"]) if variant else None,
            "product": Ref(product["id"]) if product else None,
            "originalUnitPriceSet": unit,
            "discountedUnitPriceSet": unit,
            "discountedUnitPriceAfterAllDiscountsSet": unit,
            "originalTotalSet": line_total,
            "discountedTotalSet": line_total,
            "unfulfilledOriginalTotalSet": line_total,
            "unfulfilledDiscountedTotalSet": line_total,
            "totalDiscountSet": records.money_bag(0, currency),
            "customAttributes": [],
            "discountAllocations": [],
            "duties": [],
            "taxLines": [],
            "_fulfilledQuantity": 0,
        })
        order["lineItems"].append(Ref(line["id"]))
        if sku:
            order["_skus"].append(sku)
        return line

    # -- fulfillment orders -----------------------------------------------------------------

    def _assign_fulfillment_orders(self, state: ShopState, order: dict[str, Any], lines: list[tuple[dict[str, Any], Mapping[str, Any]]], location_gid: str | None, commit_inventory: bool) -> None:
        by_location: dict[str, list[dict[str, Any]]] = {}
        gift_cards = []
        for line, spec in lines:
            if line["isGiftCard"]:
                gift_cards.append(line)
                continue
            location = self.route_line(state, line, spec.get("location_gid") or location_gid)
            if location is not None:
                by_location.setdefault(location["id"], []).append(line)
        for gid, group in by_location.items():
            self.add_fulfillment_order(state, order, state.get(gid), group, commit_inventory=commit_inventory)
        default = self._first_location(state, location_gid)
        if gift_cards and default is not None:
            fo = self.add_fulfillment_order(state, order, default, gift_cards, commit_inventory=False)
            if order["displayFinancialStatus"] == "PAID":
                pairs = [(fo_line, fo_line["remainingQuantity"]) for fo_line in state.deref(fo["lineItems"])]
                self._fulfill(state, [(fo, pairs)], [], gift_card=True)
                order["updatedAt"] = order["createdAt"]  # still the order as created

    def route_line(self, state: ShopState, line: Mapping[str, Any], location_gid: str | None = None) -> dict[str, Any] | None:
        """The location a line is fulfilled from: the one asked for, else the first active one with enough stock."""
        if location_gid:
            location = state.get(location_gid)
            if location is None or location["__typename"] != "Location":
                raise KeyError(f"unknown location {location_gid}")
            return location
        variant = state.deref(line["variant"]) if line.get("variant") else None
        if variant is not None:
            item_gid = variant["inventoryItem"].gid
            levels = {lvl["location"].gid: lvl for lvl in state.all("InventoryLevel") if lvl["item"].gid == item_gid}
            active = [loc for loc in state.all("Location") if loc["isActive"] and loc["id"] in levels]
            enough = [loc for loc in active if levels[loc["id"]]["_quantities"]["available"] >= line["quantity"]]
            if enough or active:
                return (enough or active)[0]
        return self._first_location(state, None)

    def _first_location(self, state: ShopState, location_gid: str | None) -> dict[str, Any] | None:
        if location_gid:
            return state.get(location_gid)
        locations = state.all("Location")
        active = [loc for loc in locations if loc["isActive"]]
        merchant_managed = [loc for loc in active if not loc.get("isFulfillmentService")]
        return (merchant_managed or active or locations or [None])[0]

    def add_fulfillment_order(self, state: ShopState, order: dict[str, Any], location: Mapping[str, Any], lines: Iterable[Mapping[str, Any]], *, commit_inventory: bool = True) -> dict[str, Any]:
        """A new OPEN fulfillment order of `order` at `location` for all of each line's quantity."""
        now = self.now_iso()
        address = location["address"]
        destination = dict(order["shippingAddress"], __typename="FulfillmentOrderDestination", id=make_gid("FulfillmentOrderDestination", self.next_number()), countryCode=order["shippingAddress"]["countryCodeV2"], email=order["email"], location=None)
        fulfillment_order = state.index({
            "__typename": "FulfillmentOrder",
            "id": make_gid("FulfillmentOrder", self.next_number()),
            "status": "OPEN",
            "requestStatus": "UNSUBMITTED",
            "order": Ref(order["id"]),
            "orderId": order["id"],
            "orderName": order["name"],
            "orderProcessedAt": order["processedAt"],
            "channelId": None,
            "fulfillAt": now,
            "fulfillBy": None,
            "assignedLocation": {
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
            },
            "destination": destination,
            "deliveryMethod": None,
            "internationalDuties": None,
            "fulfillmentHolds": [],
            "lineItems": [],
            "fulfillments": [],
            "merchantRequests": [],
            "locationsForMove": [],
            "fulfillmentOrdersForMerge": [],
            "createdAt": now,
            "updatedAt": now,
        })
        for line in lines:
            self.add_fulfillment_order_line(state, fulfillment_order, line, line["quantity"], commit_inventory=commit_inventory)
        order["fulfillmentOrders"].append(Ref(fulfillment_order["id"]))
        return fulfillment_order

    def add_fulfillment_order_line(self, state: ShopState, fulfillment_order: dict[str, Any], line: Mapping[str, Any], quantity: int, *, commit_inventory: bool = False) -> dict[str, Any]:
        """Put `quantity` units of an order line on a fulfillment order (committing tracked stock if asked)."""
        variant = state.deref(line["variant"]) if line["variant"] else None
        item = state.deref(variant["inventoryItem"]) if variant else None
        fo_line = state.index({
            "__typename": "FulfillmentOrderLineItem",
            "id": make_gid("FulfillmentOrderLineItem", self.next_number()),
            "lineItem": Ref(line["id"]),
            "variant": line["variant"],
            "inventoryItemId": item["id"] if item else None,
            "sku": line["sku"],
            "productTitle": line["title"],
            "variantTitle": line["variantTitle"],
            "vendor": line["vendor"],
            "totalQuantity": quantity,
            "remainingQuantity": quantity,
            "requiresShipping": line["requiresShipping"],
            "image": None,
            "weight": None,
            "warnings": [],
            "financialSummaries": [],
            "_committed": 0,
        })
        fulfillment_order["lineItems"].append(Ref(fo_line["id"]))
        if commit_inventory and item is not None and item["tracked"]:
            # A sale moves stock from available to committed; on_hand stays.
            location_gid = fulfillment_order["assignedLocation"]["location"].gid
            self.adjust_quantity(state, item["id"], location_gid, "available", -quantity)
            self.adjust_quantity(state, item["id"], location_gid, "committed", quantity)
            fo_line["_committed"] = quantity
        return fo_line

    # -- customers and changes --------------------------------------------------------------

    def customer_for_email(self, state: ShopState, email: str, address: Mapping[str, Any], now: str) -> dict[str, Any]:
        """The shop's customer with this email (created on the first order)."""
        for customer in state.all("Customer"):
            if customer["email"] == email:
                customer["numberOfOrders"] = str(int(customer["numberOfOrders"]) + 1)
                return customer
        default_address = dict(address, id=make_gid("MailingAddress", self.next_number()))
        currency = state.record["currencyCode"]
        return state.index({
            "__typename": "Customer",
            "id": make_gid("Customer", self.next_number()),
            "email": email,
            "firstName": address.get("firstName"),
            "lastName": address.get("lastName"),
            "displayName": address.get("name") or email,
            "phone": None,
            "note": None,
            "state": "DISABLED",
            "verifiedEmail": True,
            "validEmailAddress": True,
            "taxExempt": False,
            "taxExemptions": [],
            "tags": [],
            "locale": "en",
            "numberOfOrders": "1",
            "amountSpent": records.money(0, currency),
            "lifetimeDuration": "less than a minute",
            "canDelete": False,
            "dataSaleOptOut": False,
            "productSubscriberStatus": "NEVER_SUBSCRIBED",
            "defaultAddress": default_address,
            "addresses": [default_address],
            "createdAt": now,
            "updatedAt": now,
            "_currency": currency,
        })

    def update_order(self, shop: str | ShopState, order_gid: str, **fields: Any) -> dict[str, Any]:
        """Change fields of an order and bump its updatedAt."""
        with self.lock:
            order = self.require_shop(shop).get(order_gid)
            if order is None:
                raise KeyError(order_gid)
            order.update(fields)
            self.touch(order)
            return order
