"""The arithmetic of what Shopify should show: pure functions, no database.

supply    = supplier stock - safety buffer           (what the supplier can still ship for us)
desired   = max(0, supply - pending)                  (pending: units ordered with the supplier
                                                       after its last stock figure)
target    = what we actually set, given what Shopify shows now (see `target_quantity`)
"""
from __future__ import annotations


def supply_of(stock: int | None, in_stock: bool, buffer: int, in_stock_quantity: int) -> int:
    """Units the supplier can ship beyond the buffer; a supplier that only says "in stock" counts as `in_stock_quantity`."""
    if not in_stock:
        return 0
    count = in_stock_quantity if stock is None else stock
    return max(0, count - max(0, buffer))


def desired_quantity(supplies_and_pending: list[tuple[int, int]]) -> int:
    """Available at one location fed by one or more suppliers: each supplier's supply less its pending units, summed."""
    return sum(max(0, supply - pending) for supply, pending in supplies_and_pending)


def target_quantity(desired: int, supply: int, shown: int, pushed: int | None, pushed_supply: int | None) -> int:
    """The value to set when Shopify shows `shown`, given what we last set.

    Shopify lowers `available` itself when it takes an order, possibly before our order
    webhook has been processed, so a decrease we cannot explain yet is kept: we only raise
    Shopify's figure above what it shows by as much as the supplier's supply has risen
    since our last push. An unexplained increase (someone typed a number in the admin) is
    overwritten by the supplier's truth. Before our first push, the supplier's truth wins.
    """
    if pushed is None or pushed_supply is None:
        return max(0, desired)
    headroom = max(0, supply - pushed_supply)
    return max(0, min(desired, shown + headroom))
