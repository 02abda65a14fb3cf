"""What a return may cost the customer: the supplier's restocking and return-shipping fees, where the law allows them.

The supplier's terms say what the merchant would like to keep (restocking_fee_percent, and
return shipping when `return_shipping_paid_by` is "customer"); the customer's legal profile
says what the law lets the merchant keep:
- a defect or a mismatch (DEFECTIVE, NOT_AS_DESCRIBED, WRONG_ITEM) never costs a fee
  wherever the profile says so (every statutory profile);
- a withdrawal costs no restocking fee where the profile forbids it (EU/EEA, Poland,
  Israel) and no return shipping where the profile forbids that (Israel);
- Israel instead allows a cancellation fee of at most 5 % of the price or 100 NIS,
  whichever is lower (`cancellation_fee_limit`): the supplier's fee is kept up to that cap.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from .legal_profiles import LegalProfile, cancellation_fee_limit
from .policy import SupplierReturnTerms

CENT = Decimal("0.01")
# Reasons that mean the goods were not as sold: the customer pays nothing for sending them back.
DEFECT_REASONS = frozenset({"DEFECTIVE", "NOT_AS_DESCRIBED", "WRONG_ITEM"})


@dataclass(frozen=True)
class FeeLine:
    """One returned line: its value (what the customer paid for the units coming back), reason, and its supplier's terms."""

    value: Decimal
    reason: str
    terms: SupplierReturnTerms


@dataclass
class FeeResult:
    """What is kept back and what the customer gets, with the reasons (for the timeline and the merchant)."""

    goods: Decimal
    restocking_fee: Decimal = Decimal("0")
    return_shipping_fee: Decimal = Decimal("0")
    notes: list[str] = field(default_factory=list)

    @property
    def amount(self) -> Decimal:
        """What the customer gets back (never below zero)."""
        return max(Decimal("0"), self.goods - self.restocking_fee - self.return_shipping_fee)


def money(value) -> Decimal:
    """A money amount rounded to cents."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def is_defect(reason: str) -> bool:
    """True when the reason is a defect or a mismatch with what was sold (no fee may be charged then)."""
    return reason in DEFECT_REASONS


def return_fees(profile: LegalProfile, lines: list[FeeLine], currency: str, return_shipping_cost: Decimal = Decimal("0")) -> FeeResult:
    """The fees the law lets the merchant keep for these lines, and the amount due to the customer.

    `return_shipping_cost`: the cost of sending the parcel back (Shopify's return shipping fee
    on the return, else the supplier's stated fee), kept only when the supplier's terms make
    the customer pay it and the law allows it.
    """
    result = FeeResult(goods=money(sum((line.value for line in lines), Decimal("0"))))
    withdrawal = [line for line in lines if not is_defect(line.reason)]
    defects = [line for line in lines if is_defect(line.reason)]
    wanted = {id(line): money(line.value * Decimal(str(line.terms.restocking_fee_percent)) / 100) for line in lines}
    if defects and any(wanted[id(line)] for line in defects):
        if profile.fees_on_defect:
            result.restocking_fee += sum(wanted[id(line)] for line in defects)
            result.notes.append("restocking fee kept on a defect (no statutory protection)")
        else:
            result.notes.append("no fee on a defect or mismatch (the law forbids it)")
    withdrawal_fee = sum((wanted[id(line)] for line in withdrawal), Decimal("0"))
    if withdrawal_fee:
        if profile.restocking_fee_on_withdrawal:
            result.restocking_fee += withdrawal_fee
            result.notes.append("restocking fee from the supplier's terms")
        elif profile.cancellation_fee_percent is not None:
            value = sum((line.value for line in withdrawal), Decimal("0"))
            limit = cancellation_fee_limit(profile, value, currency, defect=False) or Decimal("0")
            kept = min(withdrawal_fee, limit)
            result.restocking_fee += kept
            result.notes.append(f"cancellation fee capped at the lawful {limit} {currency}" if kept < withdrawal_fee else "cancellation fee within the lawful cap")
        else:
            result.notes.append("no restocking fee on a withdrawal (the law forbids it)")
    result.return_shipping_fee = _return_shipping(profile, lines, withdrawal, money(return_shipping_cost), result.notes)
    # Never keep more than the goods are worth.
    result.restocking_fee = min(result.restocking_fee, result.goods)
    result.return_shipping_fee = min(result.return_shipping_fee, result.goods - result.restocking_fee)
    return result


def _return_shipping(profile: LegalProfile, lines: list[FeeLine], withdrawal: list[FeeLine], cost: Decimal, notes: list[str]) -> Decimal:
    if not cost or not any(line.terms.return_shipping_paid_by == "customer" for line in lines):
        return Decimal("0")
    if len(withdrawal) < len(lines) and not profile.fees_on_defect:
        notes.append("no return shipping charged: the parcel holds a defect or mismatch")
        return Decimal("0")
    if profile.statutory and not profile.return_shipping_on_withdrawal:
        notes.append("no return shipping charged on a withdrawal (the law forbids it)")
        return Decimal("0")
    notes.append("return shipping paid by the customer (supplier's terms)")
    return cost
