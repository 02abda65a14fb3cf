"""A supplier's inventory terms (Supplier.inventory_terms), with defaults and validation."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from ..bounds import bounded_int, bounded_number

OUT_OF_STOCK_POLICIES = ("zero", "deny")  # show 0 | show 0 and stop selling past zero (DENY)

# Inclusive bounds of the whole-number terms (the API schema uses the same numbers): checked
# when saved, and clamped when read, so a stored absurd value cannot break a job.
MAX_UNITS = 1_000_000
WHOLE_NUMBER_BOUNDS = {
    "safety_buffer": (0, MAX_UNITS),
    "pull_every_minutes": (0, 7 * 24 * 60),  # at most weekly; 0: never pull
    "stale_after_minutes": (0, 30 * 24 * 60),  # at most 30 days
    "in_stock_quantity": (0, MAX_UNITS),
    "guard_min_skus": (0, MAX_UNITS),
}
GUARD_SHARE_BOUNDS = (0.0, 1.0)  # exclusive of 0


@dataclass(frozen=True)
class InventoryTerms:
    """How a supplier's stock becomes Shopify's available quantity."""

    safety_buffer: int = 0  # units held back from what the supplier reports
    out_of_stock_policy: str = "zero"
    pull_every_minutes: int = 60  # 0: never pull (feeds come by webhook or file only)
    stale_after_minutes: int = 180  # no successful feed for this long: alert
    # Suppliers that only say in/out of stock (print on demand): show this many when in stock.
    in_stock_quantity: int = 100
    # The bad-feed guard: hold a feed that would take more than this share of the supplier's
    # SKUs out of stock (and at least `guard_min_skus` of them) until the merchant confirms.
    guard_share: float = 0.3
    guard_min_skus: int = 3

    @property
    def stale_after(self) -> dt.timedelta:
        """How old the last good feed may get."""
        return dt.timedelta(minutes=self.stale_after_minutes)

    def as_dict(self) -> dict[str, Any]:
        """For JSON."""
        return asdict(self)


def inventory_terms(raw: Mapping[str, Any] | None) -> InventoryTerms:
    """The terms stored on a supplier, defaults filled in, every number within its bounds whatever is stored."""
    defaults = InventoryTerms()
    stored = raw if isinstance(raw, Mapping) else {}
    values: dict[str, Any] = {}
    for name, (low, high) in WHOLE_NUMBER_BOUNDS.items():
        if name in stored:
            values[name] = bounded_int(stored[name], low, high, getattr(defaults, name))
    if "guard_share" in stored:
        share = bounded_number(stored["guard_share"], *GUARD_SHARE_BOUNDS, defaults.guard_share)
        values["guard_share"] = share if share > 0 else defaults.guard_share
    if stored.get("out_of_stock_policy") in OUT_OF_STOCK_POLICIES:
        values["out_of_stock_policy"] = stored["out_of_stock_policy"]
    return InventoryTerms(**values)


def validate_inventory_terms(raw: Any) -> dict[str, Any]:
    """Check terms sent by the merchant; raise ValueError with a clear message."""
    if not isinstance(raw, Mapping):
        raise ValueError("inventory_terms must be an object")
    known = {f.name: f for f in fields(InventoryTerms)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ValueError(f"unknown inventory term(s): {', '.join(unknown)}")
    clean: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "out_of_stock_policy":
            if value not in OUT_OF_STOCK_POLICIES:
                raise ValueError(f"out_of_stock_policy must be one of {', '.join(OUT_OF_STOCK_POLICIES)}")
        elif name == "guard_share":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise ValueError("guard_share must be a number in (0, 1]")
            value = float(value)
        else:
            low, high = WHOLE_NUMBER_BOUNDS[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number from {low} to {high}")
        clean[name] = value
    return clean
