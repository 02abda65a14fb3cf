"""A supplier's inventory terms (Supplier.inventory_terms), with defaults and validation."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

OUT_OF_STOCK_POLICIES = ("zero", "deny")  # show 0 | show 0 and stop selling past zero (DENY)


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
    """The terms stored on a supplier, defaults filled in (stored values were validated on the way in)."""
    known = {f.name for f in fields(InventoryTerms)}
    return InventoryTerms(**{k: v for k, v in (raw or {}).items() if k in known})


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
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a whole number >= 0")
        clean[name] = value
    return clean
