"""Builds a PrintfulAdapter from a supplier record (credentials are decrypted by the caller), and checks settings before they are saved."""
from __future__ import annotations

from typing import Any

from ..registry import adapter_kind, settings_check
from ..runtime import SupplierRef
from ..settings_checks import check_base_url, check_timeouts
from .adapter import PrintfulAdapter


@adapter_kind("printful")
def printful_from_record(credentials: dict[str, Any], settings: dict[str, Any], owner: SupplierRef | None = None) -> PrintfulAdapter:
    """credentials: token, webhook_secret_key; settings: base_url, store_id, products {sku: variant id}, timeout_seconds (capped)."""
    options: dict[str, Any] = {
        "products": settings.get("products") or {},
        "store_id": settings.get("store_id"),
        "webhook_secret_key": credentials.get("webhook_secret_key"),
    }
    if settings.get("base_url"):
        options["base_url"] = settings["base_url"]
    if settings.get("timeout_seconds"):
        options["timeout"] = float(settings["timeout_seconds"])  # the client caps it at the operator's maximum
    return PrintfulAdapter(credentials["token"], **options)


@settings_check("printful")
def check_printful_settings(settings: dict[str, Any], policy: Any, timeout_max_seconds: float) -> None:
    """A base_url (when given) passes the egress policy; timeout_seconds is within the operator's cap."""
    check_base_url(settings, policy, required=False)
    check_timeouts(settings, ("timeout_seconds",), timeout_max_seconds)
