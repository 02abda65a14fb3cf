"""The delivery cost a return refunds: the law's rule for a withdrawal from, or a defect cancelling, the whole order.

- EU/EEA and Poland (Directive 2011/83/EU art. 13(1)-(2)): a withdrawal from the whole order
  refunds the original delivery cost, up to the least expensive standard delivery the shop
  offered (the extra for express delivery stays with the merchant); a partial withdrawal
  refunds none.
- Israel (Consumer Protection Law s. 14E): a cancellation for no reason refunds no delivery;
  one for a defect or mismatch returns everything paid, the delivery cost included.
- A defect in a statutory profile that ends the whole order refunds the delivery paid.
- No statutory right: the store policy alone, which refunds no delivery.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .fees import money
from .legal_profiles import LegalProfile

ZERO = Decimal("0")


@dataclass(frozen=True)
class DeliveryRefund:
    """How much delivery cost to refund, and why (for the outcome's notes; no personal data)."""

    amount: Decimal
    note: str | None = None


def delivery_refund(profile: LegalProfile, *, defect: bool, whole_order: bool, refundable: Decimal, standard_price: Decimal | None) -> DeliveryRefund:
    """The delivery cost due back: `refundable` is what the order's delivery has left to refund,
    `standard_price` the shop's least expensive standard delivery (None: not stated, so all paid is standard)."""
    refundable = max(ZERO, money(refundable))
    if refundable <= 0:
        return DeliveryRefund(ZERO)
    if not whole_order:
        return DeliveryRefund(ZERO, "no delivery cost refunded: only part of the order was returned") if profile.statutory else DeliveryRefund(ZERO)
    if defect and profile.delivery_refund_on_defect:
        return DeliveryRefund(refundable, "delivery cost refunded: a defect ends the whole order")
    if defect or not profile.delivery_refund_on_withdrawal:
        return DeliveryRefund(ZERO, "no delivery cost refunded on a withdrawal (the law does not require it)") if profile.statutory else DeliveryRefund(ZERO)
    if standard_price is not None and refundable > standard_price:
        return DeliveryRefund(money(standard_price), "standard delivery cost refunded; the extra for a faster delivery is not")
    return DeliveryRefund(refundable, "delivery cost refunded: a withdrawal from the whole order")
