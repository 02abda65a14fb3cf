"""KPI targets: PRODUCT.md's defaults, overridden per shop by the ShopSetting "kpi_targets"."""
from __future__ import annotations

import math

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import ShopSetting

TARGETS_KEY = "kpi_targets"

# From PRODUCT.md's KPI targets; forward_hours is our reading of "forwarded within hours".
DEFAULT_TARGETS: dict[str, float] = {
    "return_rate_max": 0.10,  # return rate below 10 %
    "on_time_min": 0.95,  # on-time delivery above 95 %
    "reply_hours": 24.0,  # customer questions answered within 24 h (not recorded yet: never evaluated)
    "damaged_hours": 24.0,  # complaint "damaged": react within 24 h
    "out_of_stock_hours": 12.0,  # complaint "out of stock": tell the customer within 12 h
    "delivery_problem_hours": 24.0,  # complaint "delivery problem": react within 24 h
    "forward_hours": 4.0,  # 90 % of orders (p90) placed with the supplier within this long after the order
}

RATE_KEYS = frozenset({"return_rate_max", "on_time_min"})
MAX_TARGET_HOURS = 365 * 24  # hour targets are in (0, a year]; rates in [0, 1]


def get_targets(session: Session, shop_domain: str) -> dict[str, float]:
    """The shop's targets: its stored values over the defaults (unknown or broken stored values are ignored)."""
    stored = _stored(session, shop_domain)
    merged = dict(DEFAULT_TARGETS)
    for key, value in ((stored.value or {}) if stored else {}).items():
        try:
            merged[key] = _check(key, value)
        except ValueError:
            continue  # a hand-edited row must not break the KPI page or the daily check
    return merged


def set_targets(session: Session, shop_domain: str, values: dict) -> dict[str, float]:
    """Validate and store some targets (the others keep their value); returns the shop's targets. Raises ValueError."""
    if not isinstance(values, dict) or not values:
        raise ValueError("give the targets to change as an object, e.g. {\"on_time_min\": 0.95}")
    clean = {key: _check(key, value) for key, value in values.items()}
    row = _stored(session, shop_domain)
    if row is None:
        row = ShopSetting(shop_domain=shop_domain, key=TARGETS_KEY, value={})
        session.add(row)
    row.value = {**(row.value or {}), **clean}  # a new dict, so the JSON column sees the change
    session.flush()
    session.info.pop("damaged_targets", None)  # returns.deadlines.damaged_target's per-session read is stale now
    return get_targets(session, shop_domain)


def _stored(session: Session, shop_domain: str) -> ShopSetting | None:
    return session.scalar(select(ShopSetting).where(ShopSetting.shop_domain == shop_domain, ShopSetting.key == TARGETS_KEY))


def _check(key: str, value) -> float:
    """One target's value as a float, or ValueError saying what is wrong."""
    if key not in DEFAULT_TARGETS:
        raise ValueError(f"unknown KPI target {key!r}; known: {', '.join(sorted(DEFAULT_TARGETS))}")
    # bool is an int in Python, but True is not a target anyone meant.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key} must be a number, got {value!r}")
    value = float(value)
    if key in RATE_KEYS and not 0 <= value <= 1:
        raise ValueError(f"{key} is a rate between 0 and 1 (0.95 for 95 %), got {value}")
    if key not in RATE_KEYS and not 0 < value <= MAX_TARGET_HOURS:
        raise ValueError(f"{key} is a number of hours above 0 and at most {MAX_TARGET_HOURS}, got {value}")
    return value
