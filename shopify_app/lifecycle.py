"""Shop lifecycle events that other parts (the scheduler) subscribe to."""
from __future__ import annotations

from typing import Callable

_uninstall_listeners: list[Callable[[str], None]] = []


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
