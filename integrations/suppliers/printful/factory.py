"""Builds a PrintfulAdapter from a supplier record (credentials are decrypted by the caller), and checks settings before they are saved."""
from __future__ import annotations

from typing import Any

from ..registry import adapter_kind, settings_check
from ..runtime import SupplierRef
from ..settings_checks import check_base_url, check_timeouts
from .adapter import PrintfulAdapter


class InvalidPrintfulConfig(ValueError):
    """A Printful supplier's credentials or settings are missing a key or have the wrong type (message names the key)."""


def check_printful_config(credentials: Any, settings: Any) -> None:
    """The keys the adapter needs, with the types it needs; InvalidPrintfulConfig naming the first that is wrong."""
    if not isinstance(credentials, dict) or not isinstance(credentials.get("token"), str) or not credentials["token"].strip():
        raise InvalidPrintfulConfig("credentials.token is required (the Printful API token)")
    if credentials.get("webhook_secret_key") is not None and not isinstance(credentials["webhook_secret_key"], str):
        raise InvalidPrintfulConfig("credentials.webhook_secret_key must be a string")
    if not isinstance(settings, dict):
        raise InvalidPrintfulConfig("settings must be an object")
    products = settings.get("products")
    if products is not None and (not isinstance(products, dict) or not all(
            isinstance(sku, str) and _variant_id(variant) for sku, variant in products.items())):
        raise InvalidPrintfulConfig("settings.products must map SKUs to Printful catalog variant ids (positive whole numbers)")
    store_id = settings.get("store_id")
    if store_id is not None and (isinstance(store_id, bool) or not isinstance(store_id, (str, int))):
        raise InvalidPrintfulConfig("settings.store_id must be a string or a whole number")


def _variant_id(value: Any) -> bool:
    """A catalog variant id: a positive whole number, or its decimal digits."""
    if isinstance(value, str):
        return value.isascii() and value.isdigit() and 0 < len(value) <= 19 and int(value) > 0
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63  # a 64-bit id, as Printful stores them


@adapter_kind("printful")
def printful_from_record(credentials: dict[str, Any], settings: dict[str, Any], owner: SupplierRef | None = None) -> PrintfulAdapter:
    """credentials: token, webhook_secret_key; settings: base_url, store_id, products {sku: variant id}, timeout_seconds (capped)."""
    check_printful_config(credentials, settings)  # a record saved before the check existed fails with a clear error, not a KeyError
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
