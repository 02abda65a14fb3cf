"""Save-time checks shared by the adapter kinds: tenant URLs through the egress policy, timeouts under the operator's cap."""
from __future__ import annotations

from typing import Any, Iterable

from .registry import InvalidSupplierSettings


def check_base_url(settings: dict[str, Any], policy: Any, *, required: bool) -> None:
    """settings.base_url, when given (or required), is a URL the egress policy would contact."""
    value = settings.get("base_url")
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise InvalidSupplierSettings("settings.base_url must be an https:// URL")
    policy.check_url(value, what="settings.base_url")


def check_timeouts(settings: dict[str, Any], names: Iterable[str], timeout_max_seconds: float) -> None:
    """Each named timeout, when given, is a positive number of seconds at most the operator's cap."""
    for name in names:
        if name not in settings:
            continue
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= timeout_max_seconds:
            raise InvalidSupplierSettings(f"settings.{name} must be a number of seconds above 0 and at most {timeout_max_seconds:g}")
