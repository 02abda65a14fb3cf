"""The return policy: windows from delivery per reason, final sale, review cases, supplier terms."""
from __future__ import annotations

import datetime as dt

import pytest

from shopify_app.returns.models import Decision
from shopify_app.returns.policy import (
    LineFacts,
    ReturnPolicy,
    SupplierReturnTerms,
    decide,
    policy_from,
    validate_policy,
    validate_supplier_terms,
    window_warnings,
)

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.timezone.utc)


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def line(reason="UNWANTED", delivered=days_ago(5), **kw) -> LineFacts:
    return LineFacts(reason=reason, quantity=kw.pop("quantity", 1), returnable_quantity=kw.pop("returnable", 1), delivered_at=delivered, **kw)


@pytest.mark.parametrize(
    ("reason", "age", "expected"),
    [
        ("UNWANTED", 13.9, Decision.APPROVE),
        ("UNWANTED", 14.1, Decision.APPROVE),  # delivered 8 Nov 09:36, NOW 22 Nov 12:00: day 14 on the calendar, still inside
        ("UNWANTED", 15, Decision.DECLINE),  # day 15: the 14-day default ended at the end of day 14
        ("DEFECTIVE", 3.1, Decision.APPROVE),  # delivered Thursday: 3 business days run to Tuesday (NOW is a Sunday)
        ("DEFECTIVE", 6, Decision.DECLINE),  # delivered Monday: the 3 business days ended on Thursday
        ("SIZE_TOO_SMALL", 15, Decision.DECLINE),
        ("NOT_AS_DESCRIBED", 29, Decision.APPROVE),  # 30 days for "not as described"
        ("NOT_AS_DESCRIBED", 31, Decision.DECLINE),
    ],
)
def test_windows_count_from_delivery_per_reason(reason, age, expected) -> None:
    verdict, _ = decide([line(reason, days_ago(age))], ReturnPolicy(), NOW)
    assert verdict.decision == expected
    if expected == Decision.DECLINE:
        assert verdict.decline_reason == "RETURN_PERIOD_ENDED"


def test_final_sale_by_tag_or_product_is_declined_as_final_sale() -> None:
    verdict, _ = decide([line(product_tags=("Final-Sale", "summer"))], ReturnPolicy(), NOW)
    assert (verdict.decision, verdict.decline_reason) == (Decision.DECLINE, "FINAL_SALE")
    verdict, _ = decide([line(product_id="gid://shopify/Product/9")], ReturnPolicy(final_sale_product_ids=("gid://shopify/Product/9",)), NOW)
    assert verdict.decline_reason == "FINAL_SALE"


def test_what_the_rules_cannot_settle_goes_to_review() -> None:
    assert decide([line(delivered=None)], ReturnPolicy(), NOW)[0].decision == Decision.REVIEW
    assert decide([line(quantity=3, returnable=2)], ReturnPolicy(), NOW)[0].decision == Decision.REVIEW
    assert decide([line("COLOR")], ReturnPolicy(review_reasons=("COLOR",)), NOW)[0].decision == Decision.REVIEW
    mixed, per_line = decide([line(), line(delivered=days_ago(40))], ReturnPolicy(), NOW)
    assert mixed.decision == Decision.REVIEW and [v.decision for v in per_line] == [Decision.APPROVE, Decision.DECLINE]
    assert decide([line()], ReturnPolicy(auto_decide=False), NOW)[0].decision == Decision.REVIEW


def test_a_store_window_longer_than_the_suppliers_still_honours_the_customer_but_says_so() -> None:
    terms = SupplierReturnTerms(window_days=7)
    verdict, _ = decide([line(delivered=days_ago(10), supplier_terms=terms)], ReturnPolicy(), NOW)
    assert verdict.decision == Decision.APPROVE and verdict.supplier_window_passed
    warnings = window_warnings(ReturnPolicy(), "Acme", terms)
    assert warnings and "30 days" in warnings[0] and "Acme only within 7" in warnings[0]
    assert window_warnings(ReturnPolicy(), "Acme", SupplierReturnTerms(window_days=45)) == []


def test_a_deleted_supplier_does_not_block_the_customer() -> None:
    verdict, _ = decide([line(supplier_known=False)], ReturnPolicy(), NOW)
    assert verdict.decision == Decision.APPROVE and "no longer connected" in verdict.note


def test_stored_policies_merge_with_defaults_and_are_validated() -> None:
    policy = policy_from({"window_days": 30, "reason_windows": {"DEFECTIVE": 5}})
    assert policy.window_for("UNWANTED") == 30 and policy.window_for("DEFECTIVE") == 5 and policy.window_for("NOT_AS_DESCRIBED") == 30
    with pytest.raises(ValueError, match="14"):
        validate_policy({"window_days": 7})  # below the legal minimum
    with pytest.raises(ValueError, match="unknown return reason"):
        validate_policy({"reason_windows": {"BORED": 3}})
    with pytest.raises(ValueError, match="merchant_location_gid"):
        validate_supplier_terms({"destination": "merchant"})
    assert validate_supplier_terms({"window_days": 30, "restocking_fee_percent": 15}) == {"window_days": 30, "restocking_fee_percent": 15}


def test_a_refund_to_store_credit_is_recorded_as_store_credit() -> None:
    from shopify_app.returns.restock import refund_outcome

    assert refund_outcome({"transactions": [{"gateway": "shopify_store_credit", "kind": "refund"}]}) == "store_credit"
    assert refund_outcome({"transactions": [{"gateway": "bogus", "kind": "refund"}]}) == "refund"
    assert refund_outcome({"transactions": []}) == "refund"
