"""KPI targets in the units a merchant thinks in: rates as percent, times in hours (stored as fractions and hours)."""
from __future__ import annotations

from ..i18n import lazy_gettext
from .targets import DEFAULT_TARGETS, MAX_TARGET_HOURS, RATE_KEYS

PERCENT_DIGITS = 4  # 99.9999 %: finer than any target anyone sets, and 0.1 * 100 shows as 10, not 10.000000000000002
LABELS = {
    "return_rate_max": lazy_gettext("Return rate at most"),
    "on_time_min": lazy_gettext("On-time delivery at least"),
    "reply_hours": lazy_gettext("Answer customer questions within"),
    "damaged_hours": lazy_gettext("React to a damaged item within"),
    "out_of_stock_hours": lazy_gettext("React to an out-of-stock item within"),
    "delivery_problem_hours": lazy_gettext("React to a delivery problem within"),
    "forward_hours": lazy_gettext("Forward 9 orders in 10 to the supplier within"),
}


def unit_of(key: str) -> str:
    """'%' for rates, 'h' for times."""
    return "%" if key in RATE_KEYS else "h"


def to_human(key: str, stored: float) -> float:
    """The stored value as the merchant reads it (0.95 -> 95.0 %; hours unchanged)."""
    return round(stored * 100, PERCENT_DIGITS) if key in RATE_KEYS else round(stored, 2)


def from_human(key: str, shown: float) -> float:
    """What the merchant typed as the stored value (95 % -> 0.95; hours unchanged); ValueError when out of bounds."""
    if key not in DEFAULT_TARGETS:
        raise ValueError(f"unknown KPI target {key!r}")
    if key in RATE_KEYS:
        if not 0 <= shown <= 100:
            raise ValueError("a percentage from 0 to 100")
        return round(shown / 100, PERCENT_DIGITS + 2)
    if not 0 < shown <= MAX_TARGET_HOURS:
        raise ValueError(f"hours above 0 and at most {MAX_TARGET_HOURS}")
    return float(shown)


def human_targets(targets: dict[str, float]) -> list[dict]:
    """Every target for the settings form: key, label, unit, the shop's value and the default, in human units."""
    return [{"key": key, "label": str(LABELS.get(key, key)), "unit": unit_of(key), "value": to_human(key, targets[key]),
             "default": to_human(key, DEFAULT_TARGETS[key]), "max": 100 if key in RATE_KEYS else MAX_TARGET_HOURS}
            for key in DEFAULT_TARGETS]
