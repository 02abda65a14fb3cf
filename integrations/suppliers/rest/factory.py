"""Builds a RestAdapter from a supplier record (credentials are decrypted by the caller), and checks settings before they are saved."""
from __future__ import annotations

from typing import Any

from ..registry import adapter_kind, settings_check
from ..runtime import SupplierRef
from ..settings_checks import check_base_url, check_timeouts
from .adapter import RestAdapter
from .config import parse_settings
from .presets import with_preset


@adapter_kind("rest")
def rest_from_record(credentials: dict[str, Any], settings: dict[str, Any], owner: SupplierRef | None = None) -> RestAdapter:
    """settings: the API description (config.py; may start from a preset); credentials: auth values, webhook_secret."""
    return RestAdapter(parse_settings(with_preset(settings)), credentials)


@settings_check("rest")
def check_rest_settings(settings: dict[str, Any], policy: Any, timeout_max_seconds: float) -> None:
    """The base URL passes the egress policy; timeouts are within the operator's cap."""
    check_base_url(with_preset(settings), policy, required=False)
    check_timeouts(settings, ("timeout_seconds", "connect_timeout_seconds"), timeout_max_seconds)
