"""The arithmetic of what Shopify should show, case by case."""
from __future__ import annotations

import pytest

from shopify_app.inventory.availability import desired_quantity, supply_of, target_quantity


def test_supply_subtracts_the_buffer_and_never_goes_negative() -> None:
    assert supply_of(10, True, 2, 100) == 8
    assert supply_of(1, True, 3, 100) == 0
    assert supply_of(10, False, 0, 100) == 0  # out of stock whatever the count says


def test_a_supplier_that_only_says_in_stock_counts_as_the_configured_quantity() -> None:
    assert supply_of(None, True, 5, 40) == 35


def test_desired_sums_suppliers_each_capped_at_zero() -> None:
    # One supplier oversold (2 supply, 5 pending) must not eat another supplier's stock.
    assert desired_quantity([(2, 5), (10, 1)]) == 9
    assert desired_quantity([(0, 3)]) == 0


@pytest.mark.parametrize(
    ("case", "desired", "supply", "shown", "pushed", "pushed_supply", "expected"),
    [
        ("first push: the supplier's truth", 7, 7, 30, None, None, 7),
        ("order known and taken by Shopify", 8, 9, 8, 9, 9, 8),
        ("order taken by Shopify, webhook not processed yet: keep the sale", 9, 9, 8, 9, 9, 8),
        ("feed rose by 10 with an unprocessed order", 19, 19, 8, 9, 9, 18),
        ("feed rose by 10 and the order is known", 18, 19, 8, 9, 9, 18),
        ("someone typed a higher number in the admin", 9, 9, 14, 9, 9, 9),
        ("order cancelled and restocked by Shopify", 10, 9, 10, 9, 9, 10),
        ("never below zero", 0, 0, 0, 3, 3, 0),
    ],
)
def test_target_keeps_unexplained_decreases_and_overrides_unexplained_increases(case, desired, supply, shown, pushed, pushed_supply, expected) -> None:
    assert target_quantity(desired, supply, shown, pushed, pushed_supply) == expected, case
