"""Business-day promises count the shop's calendar dates (its time zone), not UTC dates, with the country's weekend."""
from __future__ import annotations

import datetime as dt

from shopify_app.returns.business_days import local_date, within_business_days
from shopify_app.returns.legal_profiles import NONE
from shopify_app.returns.policy import LineFacts, judge_line, policy_from

UTC = dt.timezone.utc


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_a_delivery_just_after_midnight_in_warsaw_counts_from_that_warsaw_date() -> None:
    delivered = at(2026, 12, 3, 23, 30)  # Thursday 23:30 UTC is Friday 00:30 in Warsaw
    assert local_date(delivered, "Europe/Warsaw") == dt.date(2026, 12, 4)
    monday = at(2026, 12, 7, 9)
    # One business day after Friday is Monday in Warsaw; UTC dates would have ended it on Friday.
    assert within_business_days(delivered, 1, "PL", monday, "Europe/Warsaw")
    assert not within_business_days(delivered, 1, "PL", monday)


def test_the_last_day_ends_at_midnight_in_the_shops_zone_not_in_utc() -> None:
    delivered = at(2026, 12, 4, 10)  # Friday
    late_monday = at(2026, 12, 7, 23, 30)  # still Monday in UTC, already Tuesday 00:30 in Warsaw
    assert within_business_days(delivered, 1, "PL", late_monday)
    assert not within_business_days(delivered, 1, "PL", late_monday, "Europe/Warsaw")


def test_jerusalem_counts_its_own_dates_and_rests_on_friday_and_saturday() -> None:
    delivered = at(2026, 12, 2, 22, 30)  # Wednesday 22:30 UTC is Thursday 00:30 in Jerusalem
    sunday = at(2026, 12, 6, 7)  # Sunday 09:00 in Jerusalem: the next Israeli working day after Thursday
    assert within_business_days(delivered, 1, "IL", sunday, "Asia/Jerusalem")
    assert not within_business_days(delivered, 1, "IL", sunday)  # in UTC dates the day was Thursday
    # Friday and Saturday are not working days in Israel, whereas Poland's Friday is.
    friday = at(2026, 12, 4, 7)
    assert within_business_days(at(2026, 12, 3, 7), 1, "IL", at(2026, 12, 6, 7), "Asia/Jerusalem")
    assert not within_business_days(at(2026, 12, 3, 7), 1, "PL", at(2026, 12, 6, 7), "Europe/Warsaw")
    assert within_business_days(at(2026, 12, 3, 7), 1, "PL", friday, "Europe/Warsaw")


def test_an_unknown_zone_falls_back_to_utc_dates() -> None:
    assert local_date(at(2026, 12, 3, 23, 30), "Not/AZone") == dt.date(2026, 12, 3)
    assert local_date(dt.datetime(2026, 12, 3, 23, 30), None) == dt.date(2026, 12, 3)  # stored naive UTC


def test_the_policys_business_day_window_uses_the_shops_time_zone() -> None:
    policy = policy_from({"reason_windows": {"DEFECTIVE": 1}, "business_day_reasons": ["DEFECTIVE"]})
    facts = dict(reason="DEFECTIVE", quantity=1, returnable_quantity=1, delivered_at=at(2026, 12, 3, 23, 30), profile=NONE, country="PL")
    monday = at(2026, 12, 7, 9)
    assert judge_line(LineFacts(**facts, timezone="Europe/Warsaw"), policy, monday).decision == "approve"
    assert judge_line(LineFacts(**facts), policy, monday).decision == "decline"
