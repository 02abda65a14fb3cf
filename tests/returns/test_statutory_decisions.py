"""The decision under each legal profile, the policy's raises in the consumer's favour only, and business days per country."""
from __future__ import annotations

import datetime as dt

import pytest

from shopify_app.returns import legal_profiles as lp
from shopify_app.returns.business_days import last_business_day, within_business_days
from shopify_app.returns.models import Decision
from shopify_app.returns.policy import LineFacts, PolicyError, ReturnPolicy, decide, policy_from, validate_policy

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.timezone.utc)  # a Sunday


def claim(reason: str, age: float, profile=lp.NONE, country=None, **kw) -> LineFacts:
    return LineFacts(reason=reason, quantity=1, returnable_quantity=1, delivered_at=NOW - dt.timedelta(days=age), profile=profile, country=country, **kw)


@pytest.mark.parametrize(
    ("reason", "age", "profile", "decision", "complaint"),
    [
        ("DEFECTIVE", 20, lp.PL, Decision.REVIEW, True),  # inside the 2-year guarantee: a complaint, never declined
        ("DEFECTIVE", 10, lp.PL, Decision.APPROVE, False),  # inside the 14-day withdrawal: no reason needed
        ("NOT_AS_DESCRIBED", 200, lp.EU, Decision.REVIEW, True),
        ("WRONG_ITEM", 300, lp.IL, Decision.REVIEW, True),  # Israel: a year of warranty
        ("WRONG_ITEM", 400, lp.IL, Decision.DECLINE, False),
        ("DEFECTIVE", 800, lp.PL, Decision.DECLINE, False),  # past the guarantee
        ("UNWANTED", 13.9, lp.PL, Decision.APPROVE, False),
        ("UNWANTED", 14.1, lp.EU, Decision.APPROVE, False),  # day 14 on the calendar (NOW is 12:00): the withdrawal period runs to its end
        ("UNWANTED", 15, lp.EU, Decision.DECLINE, False),  # a withdrawal is not a complaint
        ("DEFECTIVE", 20, lp.NONE, Decision.DECLINE, False),  # no statutory right: the store's 3 business days
    ],
)
def test_the_profile_decides_what_a_late_claim_becomes(reason, age, profile, decision, complaint) -> None:
    verdict, _ = decide([claim(reason, age, profile)], ReturnPolicy(), NOW)
    assert (verdict.decision, verdict.complaint) == (decision, complaint)


def test_final_sale_never_takes_away_the_guarantee_but_still_ends_a_withdrawal() -> None:
    policy = ReturnPolicy(final_sale_tags=("custom-made",))
    verdict, _ = decide([claim("DEFECTIVE", 40, lp.PL, product_tags=("Custom-Made",))], policy, NOW)
    assert verdict.complaint
    verdict, _ = decide([claim("UNWANTED", 3, lp.PL, product_tags=("custom-made",))], policy, NOW)
    assert verdict.decline_reason == "FINAL_SALE"


def test_one_complaint_line_makes_the_whole_request_a_complaint() -> None:
    verdict, per_line = decide([claim("UNWANTED", 5, lp.PL), claim("DEFECTIVE", 30, lp.PL)], ReturnPolicy(), NOW)
    assert verdict.decision == Decision.REVIEW and verdict.complaint and [v.decision for v in per_line] == [Decision.APPROVE, Decision.REVIEW]


def test_a_store_raise_applies_and_a_lowering_is_ignored_even_when_stored() -> None:
    raised = lp.with_overrides(lp.PL, {"withdrawal_days": 30, "complaint_answer_days": 7})
    assert (raised.withdrawal_days, raised.complaint_answer_days, raised.guarantee_days) == (30, 7, 730)
    lowered = lp.with_overrides(lp.PL, {"withdrawal_days": 7, "complaint_answer_days": 30, "guarantee_days": 1095})
    assert (lowered.withdrawal_days, lowered.complaint_answer_days, lowered.guarantee_days) == (14, 14, 1095)
    # None in the law: any answer deadline is a promise; any withdrawal period in the US is the store's gift.
    assert lp.with_overrides(lp.EU, {"complaint_answer_days": 21}).complaint_answer_days == 21
    assert lp.override_errors("NONE", {"withdrawal_days": 5}) == []
    assert decide([claim("UNWANTED", 20, raised)], ReturnPolicy(), NOW)[0].decision == Decision.APPROVE


def test_policy_errors_name_each_field_and_its_reason() -> None:
    with pytest.raises(PolicyError) as refused:
        validate_policy({"window_days": 10, "reason_windows": {"SIZE_TOO_SMALL": 7, "DEFECTIVE": 1, "BORED": 3},
                         "legal_overrides": {"IL": {"refund_deadline_days": 30}, "XX": {}}, "colour": "red"})
    fields = dict(refused.value.fields)
    assert set(fields) == {"colour", "window_days", "reason_windows.SIZE_TOO_SMALL", "reason_windows.BORED", "legal_overrides.IL.refund_deadline_days", "legal_overrides.XX"}
    assert "at most 14" in fields["legal_overrides.IL.refund_deadline_days"]
    assert validate_policy({"reason_windows": {"DEFECTIVE": 1}, "legal_overrides": {"IL": {"guarantee_days": 730}}})
    assert policy_from({"reason_windows": {"UNWANTED": 3, "DEFECTIVE": 1}}).reason_windows["UNWANTED"] == 14  # stored before the floor


@pytest.mark.parametrize(
    ("start", "days", "country", "last"),
    [
        (dt.date(2026, 11, 10), 1, "PL", dt.date(2026, 11, 12)),  # 11 November is Poland's Independence Day
        (dt.date(2026, 11, 10), 1, "US", dt.date(2026, 11, 12)),  # Veterans Day
        (dt.date(2026, 11, 10), 1, "DE", dt.date(2026, 11, 11)),
        (dt.date(2026, 12, 3), 3, "IL", dt.date(2026, 12, 8)),  # Israel rests on Friday and Saturday
        (dt.date(2026, 12, 3), 3, "PL", dt.date(2026, 12, 8)),
        (dt.date(2026, 12, 30), 3, "PL", dt.date(2027, 1, 5)),  # New Year, a weekend, across the year
        (dt.date(2026, 12, 3), 1, None, dt.date(2026, 12, 4)),  # unknown country: Monday to Friday
    ],
)
def test_business_days_follow_each_countrys_calendar(start, days, country, last) -> None:
    assert last_business_day(start, days, country) == last


def test_a_business_day_promise_counts_in_the_customers_country() -> None:
    delivered = dt.datetime(2026, 12, 3, 15, tzinfo=dt.timezone.utc)  # Thursday
    monday = dt.datetime(2026, 12, 7, 9, tzinfo=dt.timezone.utc)
    assert within_business_days(delivered, 2, "PL", monday)  # Friday, Monday
    assert not within_business_days(delivered, 2, "IL", dt.datetime(2026, 12, 8, 9, tzinfo=dt.timezone.utc))  # Sunday, Monday
