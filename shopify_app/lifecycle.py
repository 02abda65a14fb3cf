"""Shop lifecycle: what completing an install does, and uninstall events other parts (the scheduler) subscribe to."""
from __future__ import annotations

from typing import Callable

_uninstall_listeners: list[Callable[[str], None]] = []


def complete_install(session, shop_domain: str, backfill_days: int) -> dict:
    """In the transaction that stores the shop's first offline token: queue the webhooks that waited for it and arm the order backfill.

    Both happen in that one transaction, so an install is never complete without them.
    """
    from .orders.backfill import request_install_backfill
    from .webhooks.inbox import release_waiting_deliveries

    released = release_waiting_deliveries(session, shop_domain)
    backfill = request_install_backfill(session, shop_domain, backfill_days)
    return {"released": released, "backfill_days": backfill.window_days if backfill else 0}


def on_shop_uninstalled(listener: Callable[[str], None]) -> Callable[[str], None]:
    """Call listener(shop_domain) after a shop uninstalls (e.g. to stop its jobs)."""
    if listener not in _uninstall_listeners:
        _uninstall_listeners.append(listener)
    return listener


def shop_uninstalled(shop_domain: str) -> None:
    """Tell every listener that the shop is gone."""
    for listener in list(_uninstall_listeners):
        listener(shop_domain)


def forget_listener(listener: Callable[[str], None]) -> None:
    """Stop calling a listener (a scheduler that shut down)."""
    if listener in _uninstall_listeners:
        _uninstall_listeners.remove(listener)
