"""Builds a PrintfulAdapter from a supplier record (credentials are decrypted by the caller), and checks settings before they are saved."""
from __future__ import annotations

from typing import Any, Callable

from ..base import REFRESHED_CREDENTIAL_KEYS
from ..registry import InvalidSupplierSettings, adapter_kind, settings_check
from ..runtime import SupplierRef
from ..settings_checks import check_base_url, check_timeouts
from .adapter import PrintfulAdapter
from .mapping import PrintfulProduct
from .oauth import OAuthTokens

OAUTH_KEYS = ("access_token", "refresh_token", "client_id", "client_secret")
# Where refreshed OAuth credentials go (the app stores them encrypted on the supplier); None: kept in memory only.
# Called with the refreshed token fields only and the refresh token they replace (the writer merges them over the
# current record, so keys stored or rotated since this adapter was built are kept).
CredentialsWriter = Callable[[SupplierRef, dict[str, Any], str], None]
_credentials_writer: CredentialsWriter | None = None


def set_credentials_writer(writer: CredentialsWriter | None) -> CredentialsWriter | None:
    """Install the function that saves a supplier's refreshed credentials; returns the previous one."""
    global _credentials_writer
    previous, _credentials_writer = _credentials_writer, writer
    return previous


class InvalidPrintfulConfig(ValueError):
    """A Printful supplier's credentials or settings are missing a key or have the wrong type (message names the key)."""


def check_printful_config(credentials: Any, settings: Any) -> None:
    """The keys the adapter needs, with the types it needs; InvalidPrintfulConfig naming the first that is wrong."""
    if not isinstance(credentials, dict):
        raise InvalidPrintfulConfig("credentials must be an object")
    oauth = [key for key in OAUTH_KEYS if credentials.get(key) is not None]
    if oauth:
        missing = [key for key in OAUTH_KEYS if not isinstance(credentials.get(key), str) or not credentials[key].strip()]
        if missing:
            raise InvalidPrintfulConfig(f"credentials.{missing[0]} is required for an OAuth connection ({', '.join(OAUTH_KEYS)})")
        expires_at = credentials.get("expires_at")
        if expires_at is not None and (isinstance(expires_at, bool) or not isinstance(expires_at, (int, float))):
            raise InvalidPrintfulConfig("credentials.expires_at must be a Unix time in seconds")
    elif not isinstance(credentials.get("token"), str) or not credentials["token"].strip():
        raise InvalidPrintfulConfig("credentials.token is required (the Printful API token), or access_token, refresh_token, client_id and client_secret for OAuth")
    for key in ("webhook_secret_key", "webhook_public_key", "webhook_expires_at"):
        if credentials.get(key) is not None and not isinstance(credentials[key], str):
            raise InvalidPrintfulConfig(f"credentials.{key} must be a string")
    if not isinstance(settings, dict):
        raise InvalidPrintfulConfig("settings must be an object")
    products = settings.get("products")
    if products is not None and (not isinstance(products, dict) or not all(
            isinstance(sku, str) and _product_entry(variant) for sku, variant in products.items())):
        raise InvalidPrintfulConfig("settings.products must map SKUs to Printful catalog variant ids (positive whole numbers), "
                                    "or to {catalog_variant_id, catalog_product_id}")
    store_id = settings.get("store_id")
    if store_id is not None and (isinstance(store_id, bool) or not isinstance(store_id, (str, int))):
        raise InvalidPrintfulConfig("settings.store_id must be a string or a whole number")


def _product_entry(value: Any) -> bool:
    """A variant id, or {catalog_variant_id, catalog_product_id (optional)} with ids."""
    if isinstance(value, dict):
        return set(value) <= {"catalog_variant_id", "catalog_product_id"} and _variant_id(value.get("catalog_variant_id")) and (
            value.get("catalog_product_id") is None or _variant_id(value["catalog_product_id"]))
    return _variant_id(value)


def product_from_setting(value: Any) -> PrintfulProduct:
    """A checked settings.products entry as a PrintfulProduct."""
    if isinstance(value, dict):
        product_id = value.get("catalog_product_id")
        return PrintfulProduct(int(value["catalog_variant_id"]), catalog_product_id=int(product_id) if product_id is not None else None)
    return PrintfulProduct(int(value))


def _variant_id(value: Any) -> bool:
    """A catalog variant id: a positive whole number, or its decimal digits."""
    if isinstance(value, str):
        return value.isascii() and value.isdigit() and 0 < len(value) <= 19 and int(value) > 0
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63  # a 64-bit id, as Printful stores them


@adapter_kind("printful")
def printful_from_record(credentials: dict[str, Any], settings: dict[str, Any], owner: SupplierRef | None = None) -> PrintfulAdapter:
    """credentials: token (or OAuth tokens), webhook keys; settings: base_url, store_id, products, timeout_seconds (capped)."""
    check_printful_config(credentials, settings)  # a record saved before the check existed fails with a clear error, not a KeyError
    options: dict[str, Any] = {
        "products": {sku: product_from_setting(value) for sku, value in (settings.get("products") or {}).items()},
        "store_id": settings.get("store_id"),
        "webhook_secret_key": credentials.get("webhook_secret_key"),
        "webhook_public_key": credentials.get("webhook_public_key"),
    }
    if credentials.get("refresh_token"):
        replaced = {"refresh_token": credentials["refresh_token"]}  # the token this adapter's next refresh trades in

        def save(new_credentials: dict[str, Any]) -> None:
            previous, replaced["refresh_token"] = replaced["refresh_token"], new_credentials["refresh_token"]
            if _credentials_writer is not None and owner is not None:
                _credentials_writer(owner, {key: new_credentials[key] for key in REFRESHED_CREDENTIAL_KEYS if key in new_credentials}, previous)
        options["oauth"] = OAuthTokens(credentials, on_refresh=save, **({"token_url": settings["token_url"]} if settings.get("token_url") else {}))
    if settings.get("base_url"):
        options["base_url"] = settings["base_url"]
    if settings.get("timeout_seconds"):
        options["timeout"] = float(settings["timeout_seconds"])  # the client caps it at the operator's maximum
    return PrintfulAdapter(credentials.get("token") or credentials["access_token"], **options)


@settings_check("printful")
def check_printful_settings(settings: dict[str, Any], policy: Any, timeout_max_seconds: float) -> None:
    """A base_url and token_url (when given) pass the egress policy; timeout_seconds is within the operator's cap."""
    check_base_url(settings, policy, required=False)
    if settings.get("token_url") is not None:
        if not isinstance(settings["token_url"], str):
            raise InvalidSupplierSettings("settings.token_url must be an https:// URL")
        policy.check_url(settings["token_url"], what="settings.token_url")
    check_timeouts(settings, ("timeout_seconds",), timeout_max_seconds)
