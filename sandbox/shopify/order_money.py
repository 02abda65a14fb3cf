"""An order's money as Shopify computes it: a discount code, taxes, shipping, a tip, and two currencies.

`create_order(..., discount_code=..., tax_rate=..., shipping=..., tip=..., presentment_currency=...)`
applies these after the lines exist:

- a discount code (`{"code", "value", "value_type": "percentage"|"fixed_amount"}`) is one
  DiscountCodeApplication (target line_item, allocation "across") whose amount is allocated
  over the product lines in proportion to their totals (the last line takes the rounding);
- tax at `tax_rate` is charged per line on its discounted total and on shipping; with
  `taxes_included` the prices already hold it (tax = amount - amount / (1 + rate));
- shipping is one shipping line; a tip is a line item of its own ("Tip": no product, nothing to
  ship, not taxable), as Shopify records tips, and totalTipReceived;
- amounts are in the shop's currency; with a `presentment_currency` the customer's amounts are
  the shop's times `presentment_rate`, rounded to cents, in every MoneyBag's presentmentMoney.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Mapping

from .ids import make_gid
from .records import Ref

if TYPE_CHECKING:
    from .store import ShopState

CENT = Decimal("0.01")
OPTIONS = ("discount_code", "tax_rate", "taxes_included", "shipping", "tip", "presentment_currency", "presentment_rate")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class Money:
    """Builds MoneyBags in the order's two currencies."""

    def __init__(self, shop_currency: str, presentment_currency: str | None, rate: Decimal):
        self.shop_currency = shop_currency
        self.presentment_currency = presentment_currency or shop_currency
        self.rate = rate if presentment_currency and presentment_currency != shop_currency else Decimal(1)

    def bag(self, amount: Decimal) -> dict[str, Any]:
        """A MoneyBag: the amount in the shop's currency and converted into the customer's."""
        return {
            "__typename": "MoneyBag",
            "shopMoney": {"__typename": "MoneyV2", "amount": str(_cents(amount)), "currencyCode": self.shop_currency},
            "presentmentMoney": {"__typename": "MoneyV2", "amount": str(_cents(amount * self.rate)), "currencyCode": self.presentment_currency},
        }


def _tax_of(amount: Decimal, rate: Decimal, included: bool) -> Decimal:
    return _cents(amount - amount / (1 + rate)) if included else _cents(amount * rate)


def _tax_line(money: Money, amount: Decimal, rate: Decimal) -> dict[str, Any]:
    return {"__typename": "TaxLine", "title": "VAT" if rate else "Tax", "rate": float(rate), "ratePercentage": float(rate * 100),
            "priceSet": money.bag(amount), "channelLiable": False, "source": "Shopify"}


def apply_order_money(store, state: ShopState, order: dict[str, Any], lines: list[dict[str, Any]], options: Mapping[str, Any]) -> None:
    """Set discounts, taxes, shipping, a tip and the presentment currency on a freshly created order and its lines."""
    money = Money(order["currencyCode"], options.get("presentment_currency"), Decimal(str(options.get("presentment_rate", "1"))))
    rate = Decimal(str(options.get("tax_rate") or "0"))
    included = bool(options.get("taxes_included"))
    products = [line for line in lines if not line.get("_tip")]
    totals = {line["id"]: Decimal(line["originalUnitPriceSet"]["shopMoney"]["amount"]) * line["quantity"] for line in products}
    gross = sum(totals.values(), Decimal(0))

    # The discount code, allocated across the product lines.
    allocations = {line["id"]: Decimal(0) for line in products}
    applications = []
    code = options.get("discount_code")
    if code:
        value = Decimal(str(code["value"]))
        percentage = code.get("value_type", "percentage") == "percentage"
        amount = min(gross, _cents(gross * value / 100) if percentage else value)
        application = {
            "__typename": "DiscountCodeApplication", "code": code["code"], "allocationMethod": "ACROSS", "targetSelection": "ALL",
            "targetType": "LINE_ITEM", "index": 0,
            "value": {"__typename": "PricingPercentageValue", "percentage": float(value)} if percentage
            else {"__typename": "MoneyV2", "amount": str(_cents(value)), "currencyCode": money.shop_currency},
        }
        applications.append(application)
        left = amount
        for n, line in enumerate(products):
            share = left if n == len(products) - 1 else _cents(amount * totals[line["id"]] / gross) if gross else Decimal(0)
            allocations[line["id"]] = share
            left -= share
        order["discountCodes"], order["discountCode"] = [code["code"]], code["code"]
    order["discountApplications"] = applications

    lines_tax = Decimal(0)
    for line in lines:
        quantity = line["quantity"]
        unit = Decimal(line["originalUnitPriceSet"]["shopMoney"]["amount"])
        line["originalUnitPriceSet"] = money.bag(unit)
        line["originalTotalSet"] = line["unfulfilledOriginalTotalSet"] = money.bag(unit * quantity)
        discount = allocations.get(line["id"], Decimal(0))
        discounted = unit * quantity - discount
        line["discountAllocations"] = [
            {"__typename": "DiscountAllocation", "allocatedAmountSet": money.bag(discount), "discountApplication": applications[0]}
        ] if discount and applications else []
        line["totalDiscountSet"] = money.bag(discount)
        line["discountedTotalSet"] = line["unfulfilledDiscountedTotalSet"] = money.bag(discounted)
        line["discountedUnitPriceAfterAllDiscountsSet"] = money.bag(discounted / quantity if quantity else Decimal(0))
        taxable = line.get("taxable", True) and not line.get("_tip") and rate > 0
        tax = _tax_of(discounted, rate, included) if taxable else Decimal(0)
        line["taxLines"] = [_tax_line(money, tax, rate)] if taxable else []
        lines_tax += tax

    shipping = Decimal(str(options.get("shipping") or "0"))
    shipping_tax = _tax_of(shipping, rate, included) if shipping and rate else Decimal(0)
    if shipping:
        shipping_line = {
            "__typename": "ShippingLine", "id": make_gid("ShippingLine", store.next_number()), "title": "Standard", "code": "Standard",
            "source": "shopify", "custom": False, "isRemoved": False, "carrierIdentifier": None, "deliveryCategory": None, "phone": None,
            "shippingRateHandle": None, "originalPriceSet": money.bag(shipping), "discountedPriceSet": money.bag(shipping),
            "currentDiscountedPriceSet": money.bag(shipping), "discountAllocations": [],
            "taxLines": [_tax_line(money, shipping_tax, rate)] if shipping_tax else [],
        }
        order["shippingLines"], order["shippingLine"] = [shipping_line], shipping_line
    tip = Decimal(str(options.get("tip") or "0"))
    tax = lines_tax + shipping_tax
    subtotal = gross - sum(allocations.values(), Decimal(0))  # holds the tax when prices include it
    total = subtotal + shipping + (Decimal(0) if included else tax) + tip
    order.update({
        "presentmentCurrencyCode": money.presentment_currency,
        "taxesIncluded": included,
        "subtotalPriceSet": money.bag(subtotal), "currentSubtotalPriceSet": money.bag(subtotal),
        "totalDiscountsSet": money.bag(gross - subtotal), "currentTotalDiscountsSet": money.bag(gross - subtotal),
        "cartDiscountAmountSet": money.bag(gross - subtotal), "currentCartDiscountAmountSet": money.bag(gross - subtotal),
        "totalShippingPriceSet": money.bag(shipping), "currentShippingPriceSet": money.bag(shipping),
        "totalTaxSet": money.bag(tax), "currentTotalTaxSet": money.bag(tax),
        "taxLines": [_tax_line(money, tax, rate)] if tax else [], "currentTaxLines": [_tax_line(money, tax, rate)] if tax else [],
        "totalTipReceivedSet": money.bag(tip),
        "totalPriceSet": money.bag(total), "currentTotalPriceSet": money.bag(total), "originalTotalPriceSet": money.bag(total),
        "totalReceivedSet": money.bag(total) if order.get("displayFinancialStatus") == "PAID" else money.bag(Decimal(0)),
        "netPaymentSet": money.bag(total) if order.get("displayFinancialStatus") == "PAID" else money.bag(Decimal(0)),
    })


def tip_line(store, state: ShopState, order: dict[str, Any], amount: Any) -> dict[str, Any]:
    """The tip as Shopify records it: a line item with no product, nothing to ship, not taxable."""
    currency = state.record["currencyCode"]
    unit = {"__typename": "MoneyBag", "shopMoney": {"__typename": "MoneyV2", "amount": str(_cents(Decimal(str(amount)))), "currencyCode": currency},
            "presentmentMoney": {"__typename": "MoneyV2", "amount": str(_cents(Decimal(str(amount)))), "currencyCode": currency}}
    line = state.index({
        "__typename": "LineItem", "id": make_gid("LineItem", store.next_number()), "title": "Tip", "name": "Tip", "variantTitle": None,
        "sku": None, "vendor": None, "quantity": 1, "currentQuantity": 1, "unfulfilledQuantity": 0, "refundableQuantity": 1,
        "nonFulfillableQuantity": 1, "requiresShipping": False, "taxable": False, "isGiftCard": False, "merchantEditable": False,
        "restockable": False, "variant": None, "product": None, "originalUnitPriceSet": unit, "discountedUnitPriceSet": unit,
        "discountedUnitPriceAfterAllDiscountsSet": unit, "originalTotalSet": unit, "discountedTotalSet": unit,
        "unfulfilledOriginalTotalSet": unit, "unfulfilledDiscountedTotalSet": unit,
        "customAttributes": [], "discountAllocations": [], "duties": [], "taxLines": [], "_fulfilledQuantity": 0, "_tip": True,
    })
    order["lineItems"].append(Ref(line["id"]))
    return line
