"""What a return may cost the customer, per legal profile: restocking, cancellation and return-shipping fees."""
from __future__ import annotations

from decimal import Decimal

import pytest

from shopify_app.returns.fees import FeeLine, return_fees
from shopify_app.returns.legal_profiles import EU, IL, NONE, PL
from shopify_app.returns.policy import SupplierReturnTerms

TEN_PERCENT = SupplierReturnTerms(restocking_fee_percent=10, return_shipping_paid_by="customer")


def line(value: str, reason: str = "UNWANTED", terms: SupplierReturnTerms = TEN_PERCENT) -> FeeLine:
    return FeeLine(Decimal(value), reason, terms)


@pytest.mark.parametrize("profile", [EU, PL])
def test_eu_and_poland_keep_no_restocking_fee_on_a_withdrawal_but_may_charge_return_shipping(profile) -> None:
    result = return_fees(profile, [line("100.00")], "EUR", Decimal("6.50"))
    assert (result.restocking_fee, result.return_shipping_fee, result.amount) == (Decimal("0"), Decimal("6.50"), Decimal("93.50"))


@pytest.mark.parametrize("profile", [EU, PL, IL])
def test_a_defect_costs_nothing_in_a_statutory_profile(profile) -> None:
    result = return_fees(profile, [line("100.00", "DEFECTIVE"), line("50.00", "UNWANTED")], "EUR", Decimal("6.50"))
    assert result.return_shipping_fee == 0  # one parcel holding a defect: the customer does not pay to send it
    assert result.restocking_fee == (Decimal("2.50") if profile is IL else 0)  # IL: capped cancellation fee on the withdrawn line only


def test_israel_caps_the_cancellation_fee_at_five_percent_or_100_nis() -> None:
    assert return_fees(IL, [line("1000.00")], "ILS").restocking_fee == Decimal("50.00")  # 10 % wanted, 5 % lawful
    big = SupplierReturnTerms(restocking_fee_percent=20)
    assert return_fees(IL, [line("5000.00", terms=big)], "ILS").restocking_fee == Decimal("100")  # 5 % = 250 > 100 NIS
    assert return_fees(IL, [line("5000.00", terms=big)], "USD").restocking_fee == Decimal("250.00")  # the NIS cap binds only in ILS
    assert return_fees(IL, [line("1000.00")], "ILS", Decimal("30")).return_shipping_fee == 0  # no return shipping on a cancellation
    assert return_fees(IL, [line("1000.00", "NOT_AS_DESCRIBED")], "ILS").restocking_fee == 0


def test_no_statutory_right_keeps_the_suppliers_fees_even_on_a_defect() -> None:
    result = return_fees(NONE, [line("18.00"), line("12.00", "DEFECTIVE")], "USD", Decimal("5.00"))
    assert (result.restocking_fee, result.return_shipping_fee, result.amount) == (Decimal("3.00"), Decimal("5.00"), Decimal("22.00"))


def test_fees_never_exceed_the_goods_and_nothing_is_kept_when_the_merchant_pays_shipping() -> None:
    huge = SupplierReturnTerms(restocking_fee_percent=100, return_shipping_paid_by="customer")
    result = return_fees(NONE, [line("10.00", terms=huge)], "USD", Decimal("8.00"))
    assert (result.restocking_fee, result.return_shipping_fee, result.amount) == (Decimal("10.00"), Decimal("0.00"), Decimal("0"))
    merchant_pays = SupplierReturnTerms(return_shipping_paid_by="merchant")
    assert return_fees(NONE, [line("10.00", terms=merchant_pays)], "USD", Decimal("8.00")).return_shipping_fee == 0
