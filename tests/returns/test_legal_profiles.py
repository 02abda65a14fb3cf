"""The statutory profiles: country to profile, and the lawful cancellation fee."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from shopify_app.returns import legal_profiles as lp


@pytest.mark.parametrize("country, key", [("PL", "PL"), ("pl", "PL"), ("DE", "EU"), ("NO", "EU"), ("IL", "IL"), ("US", "NONE"), (None, "NONE"), ("", "NONE")])
def test_profile_for_country(country, key):
    assert lp.profile_for_country(country).key == key


def test_statutory_profiles_give_at_least_14_days():
    for profile in (lp.EU, lp.PL, lp.IL):
        assert profile.statutory and profile.withdrawal_days >= 14
    assert not lp.NONE.statutory


def test_israeli_fee_is_the_lower_of_5_percent_and_100_nis_and_none_for_a_defect():
    assert lp.cancellation_fee_limit(lp.IL, Decimal("400"), "ILS", defect=False) == Decimal("20.00")
    assert lp.cancellation_fee_limit(lp.IL, Decimal("5000"), "ILS", defect=False) == Decimal("100")
    assert lp.cancellation_fee_limit(lp.IL, Decimal("5000"), "ILS", defect=True) == Decimal("0")
    assert lp.cancellation_fee_limit(lp.IL, Decimal("5000"), "USD", defect=False) == Decimal("250.00")


def test_eu_sets_no_fee_cap_but_no_fee_on_a_defect():
    assert lp.cancellation_fee_limit(lp.PL, Decimal("100"), "PLN", defect=False) is None
    assert lp.cancellation_fee_limit(lp.PL, Decimal("100"), "PLN", defect=True) == Decimal("0")


def test_goods_back_late_move_an_eu_refund_deadline_but_never_an_israeli_one() -> None:
    from shopify_app.returns.deadlines import RECEIPT_GRACE, refund_due
    from shopify_app.returns.models import ReturnCase

    due = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)
    back = due + dt.timedelta(days=3)
    assert refund_due(ReturnCase(refund_due_at=due, received_at=back, status="open", country_code="PL")) == back + RECEIPT_GRACE
    assert refund_due(ReturnCase(refund_due_at=due, received_at=back, status="open", country_code="IL")) == due  # s. 14E: from the notice
    assert refund_due(ReturnCase(refund_due_at=due, received_at=None, status="open", country_code="IL")) == due
    assert refund_due(ReturnCase(refund_due_at=due, received_at=None, status="open", country_code="PL")) is None
