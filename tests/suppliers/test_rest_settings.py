"""Garbage REST settings and credentials are refused when the adapter is built, naming the key at fault."""
from __future__ import annotations

import copy

import pytest

from integrations.suppliers.registry import build_adapter, known_kinds
from integrations.suppliers.rest import InvalidRestSettings, RestAdapter, parse_settings, with_preset
from integrations.suppliers.rest.presets import SANDBOX_REST

BASE = "https://supplier.test/v1"


def valid() -> dict:
    return {**copy.deepcopy(SANDBOX_REST), "base_url": BASE}


def changed(path: str, value) -> dict:
    """The valid settings with one key set (value None deletes it); `/` separates levels, as field names hold dots."""
    settings = valid()
    *parents, last = path.split("/")
    target = settings
    for part in parents:
        target = target[part]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return settings


def test_the_preset_builds_through_the_registry():
    assert {"rest", "email", "printful"} <= set(known_kinds())
    adapter = build_adapter("rest", {"api_key": "k", "webhook_secret": "s"}, {"preset": "sandbox-rest", "base_url": BASE})
    assert isinstance(adapter, RestAdapter) and adapter.settings.base_url == BASE
    assert adapter.settings.endpoints["get_order"].path == "/api/v1/orders/{supplier_order_id}"


def test_overrides_merge_into_the_preset_key_by_key():
    merged = with_preset({"preset": "sandbox-rest", "base_url": BASE, "request": {"note": "comments"}})
    assert merged["request"]["note"] == "comments" and merged["request"]["external_id"] == "reference"
    assert SANDBOX_REST["request"]["note"] == "note"  # the preset itself is untouched


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ([], "JSON object"),
        (changed("base_url", None), "base_url is required"),
        (changed("base_url", "ftp://supplier.test"), "http(s) URL"),
        (changed("base_url", "https://supplier.test/?key=1"), "without query"),
        (changed("enpoints", {}), "unknown key(s) 'enpoints'"),
        (changed("endpoints/find_order", None), "lacks find_order"),
        (changed("endpoints/get_order", "FETCH /orders/{supplier_order_id}"), "method must be one of"),
        (changed("endpoints/get_order", "GET orders/{supplier_order_id}"), "starting with /"),
        (changed("endpoints/get_order", "GET /orders/{order}"), "uses {order}"),
        (changed("endpoints/get_order", "GET /orders"), "must use {supplier_order_id}"),
        (changed("endpoints/find_order", "GET /orders"), "must use {external_id}"),
        (changed("endpoints/get_order", "GET /orders/{supplier_order_id"), "malformed"),
        (changed("endpoints/get_stock", {"method": "GET", "path": "/stock/{sku}", "query": {"all": "{skus}"}}), "exactly one of"),
        (changed("endpoints/get_order", {"method": "GET", "path": "/o/{supplier_order_id}", "returns": "list"}), "for find_order only"),
        (changed("response/order.external_id", None), "order.external_id when endpoints.find_order returns a list"),
        (changed("response/order.id", None), "lacks order.id"),
        (changed("response/order.status", "status..value"), "empty segment"),
        (changed("response/stock.sku", None), "stock.sku"),
        (changed("request/line.qty", "qty"), "unknown key(s) 'line.qty'"),
        (changed("request/line.quantity", None), "lacks line.quantity"),
        (changed("request/lines", 7), "map names to strings"),
        (changed("status_map", {}), "status_map is required"),
        (changed("status_map/received", "accepted"), "'accepted' is not one of"),
        (changed("auth", {"header": "X-Api-Key", "template": "static"}), "must name a credential"),
        (changed("timeout_seconds", 0), "positive number"),
        (changed("timeout_seconds", "30"), "positive number"),
        (changed("duplicate_statuses", [500]), "4xx status codes"),
        (changed("webhook/signature_encoding", "base32"), '"hex" or "base64"'),
        (changed("webhook/events/order.shipped", "parcel"), "'parcel' is not one of"),
        (changed("webhook/signature_header", ""), "signature_header is required"),
        ({"preset": "nope", "base_url": BASE}, "preset 'nope'"),
    ],
)
def test_garbage_settings_are_refused_with_the_key_named(settings, complaint):
    with pytest.raises(InvalidRestSettings) as caught:
        build_adapter("rest", {"api_key": "k"}, settings)
    assert complaint in str(caught.value)


def test_missing_credentials_are_named_never_shown():
    with pytest.raises(InvalidRestSettings, match="credentials lack api_key"):
        build_adapter("rest", {"token": "super-secret-value"}, valid())
    with pytest.raises(InvalidRestSettings) as caught:
        build_adapter("rest", {"api_key": ""}, valid())
    assert "super-secret" not in str(caught.value)


def test_the_shorthand_and_the_full_endpoint_forms_mean_the_same():
    short = parse_settings(changed("endpoints/get_order", "get /api/v1/orders/{supplier_order_id}")).endpoints["get_order"]
    full = parse_settings(changed("endpoints/get_order", {"method": "GET", "path": "/api/v1/orders/{supplier_order_id}"})).endpoints["get_order"]
    assert short == full


def test_order_updates_are_what_the_settings_declare():
    credentials = {"api_key": "k", "webhook_secret": "s"}
    both = build_adapter("rest", credentials, valid())
    assert (both.can_update_address, both.can_update_lines) == (True, True)
    address_only = build_adapter("rest", credentials, changed("update_accepts", ["address"]))
    assert (address_only.can_update_address, address_only.can_update_lines) == (True, False)
    no_endpoint = build_adapter("rest", credentials, changed("endpoints/update_order", None))
    assert (no_endpoint.can_update_address, no_endpoint.can_update_lines) == (False, False)
    with pytest.raises(InvalidRestSettings, match="update_accepts"):
        parse_settings(changed("update_accepts", ["address", "colour"]))
    with pytest.raises(InvalidRestSettings, match="update_order"):
        parse_settings(changed("endpoints/update_order", "PATCH /api/v1/orders/{external_id}"))
