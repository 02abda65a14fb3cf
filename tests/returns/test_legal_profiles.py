"""The statutory profiles: country to profile, and the lawful cancellation fee."""
from __future__ import annotations

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
