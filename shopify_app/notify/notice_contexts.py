"""What each kind of customer notice's template needs beyond the order: providers registered by kind prefix.

A part that adds a notice kind (returns, cases, lifecycle steps) writes a provider in its own
module and lists that module in PROVIDER_MODULES; the sender merges every matching provider's
values into the template context, so the sender never grows a branch per kind.
"""
from __future__ import annotations

import importlib
from typing import Callable

from sqlalchemy.orm import Session

# Modules that register providers; imported on first use so that no import order can leave a kind without its values.
PROVIDER_MODULES: tuple[str, ...] = (
    "shopify_app.returns.notice_context",
    "shopify_app.notify.lifecycle_notices",  # issue 17 part N: order received, shipped, delivered, delay, follow-up, review
    "shopify_app.cases.notice_context",  # issue 17 part P: case_reply, out_of_stock
)

Provider = Callable[[Session, object], dict]
_providers: list[tuple[str, Provider]] = []
_loaded = False


def notice_context(prefix: str) -> Callable[[Provider], Provider]:
    """Register fn(session, notice) -> dict for every notice whose kind starts with `prefix`."""
    def register(fn: Provider) -> Provider:
        _providers.append((prefix, fn))
        return fn
    return register


def context_for(session: Session, notice) -> dict:
    """The merged template values of every provider whose prefix matches the notice's kind."""
    global _loaded
    if not _loaded:
        for name in PROVIDER_MODULES:
            importlib.import_module(name)
        _loaded = True
    merged: dict = {}
    for prefix, fn in _providers:
        if notice.kind.startswith(prefix):
            merged.update(fn(session, notice))
    return merged
