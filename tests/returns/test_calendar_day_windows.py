"""Return windows count whole calendar days in the shop's time zone, ending at the end of the last day.

EU Reg. 1182/71 art. 3, the Polish Civil Code art. 111 and Israel's "14 days from receipt"
count days, not 24-hour periods: a parcel delivered at 15:00 may be withdrawn until 23:59
of day 14, and a daylight-saving change inside the window moves nothing.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from shopify_app.returns import legal_profiles as lp
from shopify_app.returns.business_days import end_of_local_day
from shopify_app.returns.models import Decision
from shopify_app.returns.policy import LineFacts, ReturnPolicy, SupplierReturnTerms, decide


def at(zone: str, *when: int) -> dt.datetime:
    """A wall-clock time in `zone`, as the UTC moment the app stores and compares."""
    return dt.datetime(*when, tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(dt.timezone.utc)


def verdict(delivered: dt.datetime, now: dt.datetime, zone: str, profile=lp.NONE, reason="UNWANTED", **kw):
    line = LineFacts(reason=reason, quantity=1, returnable_quantity=1, delivered_at=delivered, profile=profile,
                     country=profile.key if profile.statutory and profile.key != "EU" else None, timezone=zone, **kw)
    return decide([line], ReturnPolicy(), now)[0]


@pytest.mark.parametrize(("profile", "zone"), [(lp.PL, "Europe/Warsaw"), (lp.IL, "Asia/Jerusalem")])
def test_a_withdrawal_runs_to_the_end_of_day_14_in_the_shops_zone(profile, zone) -> None:
    delivered = at(zone, 2026, 11, 8, 15, 0)
    late_on_day_14 = verdict(delivered, at(zone, 2026, 11, 22, 23, 0), zone, profile)
    assert late_on_day_14.decision == Decision.APPROVE, late_on_day_14.note
    early_on_day_15 = verdict(delivered, at(zone, 2026, 11, 23, 0, 30), zone, profile)
    assert (early_on_day_15.decision, early_on_day_15.decline_reason) == (Decision.DECLINE, "RETURN_PERIOD_ENDED")


def test_a_store_only_30_day_reason_counts_calendar_days_too() -> None:
    zone = "America/New_York"  # 23:00 in New York is already the next UTC date
    delivered = at(zone, 2026, 6, 1, 15, 0)
    assert verdict(delivered, at(zone, 2026, 7, 1, 23, 0), zone, reason="NOT_AS_DESCRIBED").decision == Decision.APPROVE
    assert verdict(delivered, at(zone, 2026, 7, 2, 0, 30), zone, reason="NOT_AS_DESCRIBED").decision == Decision.DECLINE


def test_a_daylight_saving_change_inside_the_window_moves_nothing() -> None:
    zone = "Europe/Warsaw"
    # Autumn (25 Oct 2026): the window holds 24 * 14 + 1 hours; day 14 late evening is 15 full UTC days on.
    autumn = at(zone, 2026, 10, 20, 0, 30)
    assert verdict(autumn, at(zone, 2026, 11, 3, 23, 30), zone, lp.PL).decision == Decision.APPROVE
    assert verdict(autumn, at(zone, 2026, 11, 4, 0, 10), zone, lp.PL).decision == Decision.DECLINE
    # Spring (29 Mar 2026): an hour shorter; day 15 just after midnight is exactly 14 UTC days on.
    spring = at(zone, 2026, 3, 20, 23, 30)
    assert verdict(spring, at(zone, 2026, 4, 3, 23, 50), zone, lp.PL).decision == Decision.APPROVE
    assert verdict(spring, at(zone, 2026, 4, 4, 0, 30), zone, lp.PL).decision == Decision.DECLINE


def test_the_suppliers_window_counts_the_same_calendar_days() -> None:
    zone = "Europe/Warsaw"
    terms = SupplierReturnTerms(window_days=7)
    delivered = at(zone, 2026, 11, 8, 15, 0)
    assert not verdict(delivered, at(zone, 2026, 11, 15, 23, 0), zone, lp.PL, supplier_terms=terms).supplier_window_passed
    assert verdict(delivered, at(zone, 2026, 11, 16, 0, 30), zone, lp.PL, supplier_terms=terms).supplier_window_passed


@pytest.mark.parametrize(
    ("requested", "due_utc"),
    [
        ((2026, 11, 8, 10, 0), dt.datetime(2026, 11, 22, 22, 59, 59, 999999, tzinfo=dt.timezone.utc)),  # CET: local midnight is 23:00 UTC
        ((2026, 10, 20, 10, 0), dt.datetime(2026, 11, 3, 22, 59, 59, 999999, tzinfo=dt.timezone.utc)),  # asked in summer time, due in winter time
        ((2026, 11, 8, 0, 30), dt.datetime(2026, 11, 22, 22, 59, 59, 999999, tzinfo=dt.timezone.utc)),  # 00:30 Warsaw is still 7 Nov in UTC
    ],
)
def test_a_deadline_in_days_ends_at_the_end_of_the_last_local_day(requested, due_utc) -> None:
    assert end_of_local_day(at("Europe/Warsaw", *requested), 14, "Europe/Warsaw") == due_utc
