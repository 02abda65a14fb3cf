"""Builds a PrintfulAdapter from a supplier record (credentials are decrypted by the caller)."""
from __future__ import annotations

from typing import Any

from ..registry import adapter_kind
from .adapter import PrintfulAdapter


@adapter_kind("printful")
def printful_from_record(credentials: dict[str, Any], settings: dict[str, Any]) -> PrintfulAdapter:
    """credentials: token, webhook_secret_key; settings: base_url, store_id, products {sku: variant id}."""
    options: dict[str, Any] = {
        "products": settings.get("products") or {},
        "store_id": settings.get("store_id"),
        "webhook_secret_key": credentials.get("webhook_secret_key"),
    }
    if settings.get("base_url"):
        options["base_url"] = settings["base_url"]
    if settings.get("timeout_seconds"):
        options["timeout"] = float(settings["timeout_seconds"])
    return PrintfulAdapter(credentials["token"], **options)
