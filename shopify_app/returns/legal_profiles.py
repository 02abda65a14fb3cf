"""Consumers' statutory rights by the customer's shipping country: the floor no store policy may go below.

Sources (the README's returns section repeats them):
- EU/EEA: Directive 2011/83/EU (consumer rights) art. 9 (14 days to withdraw from a distance
  sale, counted from delivery, no reason needed), art. 13 (refund within 14 days of the
  withdrawal; it may wait until the goods are back), art. 14 (the consumer bears only the
  direct cost of sending the goods back, and only when told beforehand: no restocking fee),
  art. 13(1)-(2) (a withdrawal from the whole contract refunds the delivery cost too, but
  not the extra for a delivery more expensive than the least expensive standard one);
  Directive (EU) 2019/771 art. 10 (legal guarantee: 2 years from delivery for a lack of conformity).
- Poland: Ustawa o prawach konsumenta (Dz.U. 2014 poz. 827) art. 27 ff. (withdrawal) and
  art. 7a (a complaint the seller does not answer within 14 days counts as accepted).
- Israel: Consumer Protection Law 5741-1981 s. 14C (distance sale cancelled within 14 days
  of receiving the goods) and the Consumer Protection (Cancellation of Transaction)
  Regulations 5771-2010 (a cancellation fee of at most 5 % of the price or 100 NIS, whichever
  is lower; none when the cancellation is due to a defect or a mismatch with what was sold);
  s. 14E: a cancellation for a defect, a mismatch, a late delivery or another breach returns
  everything the consumer paid (the delivery cost included) with no fee, whereas a
  cancellation for no reason returns the price of the goods less the fee: the delivery the
  consumer received is not refunded. Either way the dealer refunds within 14 days of
  receiving the cancellation notice; the consumer's duty to return (or make available) the
  goods is a separate one, and unlike Directive 2011/83 art. 13(3) the Law gives the dealer
  no right to hold the refund until the goods are back. (The Cancellation of Transaction
  Regulations 5771-2010 condition their own right, for goods bought in a shop, on the goods
  being returned (reg. 2); that right is not the distance-sale one of s. 14C.)
  Consumer Protection (Warranty and Service after Sale) Regulations 5766-2006 (at least one
  year of warranty for the goods they list).
- Anywhere else (e.g. the US): no statutory right to return a distance purchase; the store
  policy alone applies.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal
from typing import Any, Mapping

from ..i18n import gettext as _

EU_EEA = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split()
)


@dataclass(frozen=True)
class LegalProfile:
    """The statutory floor for one group of countries (None: the law sets nothing)."""

    key: str
    name: str
    withdrawal_days: int | None  # days from delivery to withdraw without a reason
    refund_deadline_days: int | None  # days from the withdrawal to the refund
    refund_may_wait_for_goods: bool  # the refund may be held until the goods are back
    guarantee_days: int | None  # legal guarantee for defects, days from delivery
    complaint_answer_days: int | None  # the seller's deadline to answer a complaint (defect claim)
    complaint_silence_accepts: bool  # unanswered by the deadline: accepted by law
    restocking_fee_on_withdrawal: bool  # may a withdrawal cost the consumer a restocking fee
    return_shipping_on_withdrawal: bool  # may the consumer pay the direct cost of sending it back
    cancellation_fee_percent: Decimal | None  # a statutory cancellation fee cap as % of the price
    cancellation_fee_cap: tuple[Decimal, str] | None  # ... and as an absolute amount, currency
    fees_on_defect: bool = False  # a defect or mismatch never costs the consumer a fee
    delivery_refund_on_withdrawal: bool = False  # a withdrawal from the whole order refunds the standard delivery cost
    delivery_refund_on_defect: bool = False  # a defect cancelling the whole order refunds the delivery cost paid

    @property
    def statutory(self) -> bool:
        """True when the law gives a right to withdraw (the profile is a floor, not just the store's policy)."""
        return self.withdrawal_days is not None


EU = LegalProfile(
    key="EU", name="EU/EEA consumer law", withdrawal_days=14, refund_deadline_days=14, refund_may_wait_for_goods=True,
    guarantee_days=730, complaint_answer_days=None, complaint_silence_accepts=False,
    restocking_fee_on_withdrawal=False, return_shipping_on_withdrawal=True,
    cancellation_fee_percent=None, cancellation_fee_cap=None, delivery_refund_on_withdrawal=True, delivery_refund_on_defect=True,
)
PL = LegalProfile(
    key="PL", name="Poland (EU law and the consumer rights act)", withdrawal_days=14, refund_deadline_days=14,
    refund_may_wait_for_goods=True, guarantee_days=730, complaint_answer_days=14, complaint_silence_accepts=True,
    restocking_fee_on_withdrawal=False, return_shipping_on_withdrawal=True,
    cancellation_fee_percent=None, cancellation_fee_cap=None, delivery_refund_on_withdrawal=True, delivery_refund_on_defect=True,
)
IL = LegalProfile(
    key="IL", name="Israel (Consumer Protection Law)", withdrawal_days=14, refund_deadline_days=14,
    # s. 14E: the refund is due 14 days from the cancellation notice, whether or not the goods are back.
    refund_may_wait_for_goods=False, guarantee_days=365, complaint_answer_days=None, complaint_silence_accepts=False,
    restocking_fee_on_withdrawal=False, return_shipping_on_withdrawal=False,
    cancellation_fee_percent=Decimal("5"), cancellation_fee_cap=(Decimal("100"), "ILS"), delivery_refund_on_defect=True,
)
NONE = LegalProfile(
    key="NONE", name="No statutory right (store policy only)", withdrawal_days=None, refund_deadline_days=None,
    refund_may_wait_for_goods=True, guarantee_days=None, complaint_answer_days=None, complaint_silence_accepts=False,
    restocking_fee_on_withdrawal=True, return_shipping_on_withdrawal=True,
    cancellation_fee_percent=None, cancellation_fee_cap=None, fees_on_defect=True,
)
PROFILES = {p.key: p for p in (EU, PL, IL, NONE)}

# Reasons that claim the goods do not conform to the contract: inside the guarantee period
# they are complaints under the legal guarantee, never "returns" a window can end.
CONFORMITY_REASONS = frozenset({"DEFECTIVE", "NOT_AS_DESCRIBED", "WRONG_ITEM"})

# What a store's policy may change per profile, and which way is better for the consumer:
# "longer" fields may only grow, "shorter" ones only shrink. None means "the law gives no
# right" for a longer field (any figure is an improvement) and "no time limit" for a
# shorter one (any figure is a promise the law did not require).
LONGER_IS_BETTER = ("withdrawal_days", "guarantee_days")
SHORTER_IS_BETTER = ("refund_deadline_days", "complaint_answer_days")
OVERRIDABLE = LONGER_IS_BETTER + SHORTER_IS_BETTER
MAX_OVERRIDE_DAYS = 3650


def override_errors(key: str, overrides: Any) -> list[tuple[str, str]]:
    """(field, reason) for each override that is not a whole number of days or would lower the profile's figure."""
    profile = PROFILES.get(key)
    if profile is None:
        return [(key, _("unknown legal profile; use one of %(keys)s", keys=", ".join(PROFILES)))]
    if not isinstance(overrides, Mapping):
        return [(key, _("must map a profile field to days"))]
    errors = []
    for name, value in overrides.items():
        field = f"{key}.{name}"
        if name not in OVERRIDABLE:
            errors.append((field, _("cannot be changed; use one of %(names)s", names=", ".join(OVERRIDABLE))))
        elif isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_OVERRIDE_DAYS:
            errors.append((field, _("must be a whole number of days from 1 to %(maximum)s", maximum=MAX_OVERRIDE_DAYS)))
        elif (floor := getattr(profile, name)) is not None:
            if name in LONGER_IS_BETTER and value < floor:
                errors.append((field, _("must be at least %(days)s days: the law gives the customer %(days)s", days=floor)))
            elif name in SHORTER_IS_BETTER and value > floor:
                errors.append((field, _("must be at most %(days)s days: the law requires %(days)s or sooner", days=floor)))
    return errors


def with_overrides(profile: LegalProfile, overrides: Mapping[str, Any] | None) -> LegalProfile:
    """The profile with the store's promises applied, only where they favour the consumer (stored values are re-checked)."""
    if not isinstance(overrides, Mapping) or not overrides:
        return profile
    refused = {field.partition(".")[2] for field, _reason in override_errors(profile.key, overrides)}
    return replace(profile, **{name: overrides[name] for name in OVERRIDABLE if name in overrides and name not in refused})


def profile_for_country(country_code: str | None) -> LegalProfile:
    """The profile for an ISO 3166-1 alpha-2 shipping country (unknown or missing: store policy only)."""
    code = (country_code or "").strip().upper()
    if code == "PL":
        return PL
    if code == "IL":
        return IL
    if code in EU_EEA:
        return EU
    return NONE


def cancellation_fee_limit(profile: LegalProfile, price: Decimal, currency: str, *, defect: bool) -> Decimal | None:
    """The most a cancellation may cost the consumer under the profile (None: the law sets no cap).

    Zero on a defect or mismatch wherever the profile forbids fees then. The absolute cap
    applies only in its own currency: converting would need an exchange rate the app does
    not hold, so a foreign-currency order keeps the percentage cap alone.
    """
    if defect and not profile.fees_on_defect:
        return Decimal("0")
    if profile.cancellation_fee_percent is None:
        return None
    limit = (Decimal(price) * profile.cancellation_fee_percent / 100).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    if profile.cancellation_fee_cap is not None and profile.cancellation_fee_cap[1] == currency.upper():
        limit = min(limit, profile.cancellation_fee_cap[0])
    return limit
