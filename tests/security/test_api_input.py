"""Bad input to the JSON API answers 400/404/415 naming the failing field, never 500 (issue 12, item 7).

Each finding of the issue is sent as the attacker sent it: a numeric supplier name, priority
"high" and 10**30, dict SKUs, 1e400 KPI targets (json.loads makes it inf), huge ids in paths,
10**30-day return windows. The OpenAPI document that publishes the same schemas is checked too.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from conftest import API_KEY, install_shop
from shopify_app.suppliers.models import Supplier

SHOP = "demo.myshopify.com"
REPO = Path(__file__).resolve().parents[2]
HUGE = 10**30


@pytest.fixture
def client(sandboxed_app, sandbox_shopify):
    install_shop(sandboxed_app, SHOP)
    client = sandboxed_app.test_client()
    client.token = lambda: {"Authorization": f"Bearer {sandbox_shopify.mint_session_token(SHOP, API_KEY)}"}
    return client


@pytest.fixture
def supplier_id(sandboxed_app):
    with sandboxed_app.extensions["services"].session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="Acme", kind="printful", settings={})
        session.add(supplier)
        session.flush()
        return supplier.id


def send(client, method: str, path: str, body=None, *, raw: bytes | None = None, content_type: str = "application/json"):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    return client.open(path, method=method, data=data, headers={**client.token(), "Content-Type": content_type})


def refused(response, field: str, status: int = 400) -> str:
    """The response is a 400 naming `field`; its message."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "invalid request", body
    messages = {f["field"]: f["message"] for f in body["fields"]}
    assert field in messages, body
    return messages[field]


def test_a_numeric_supplier_name_is_refused_naming_the_field(client):
    assert refused(send(client, "POST", "/api/suppliers", {"name": 12345, "kind": "printful"}), "name") == "must be a string"
    assert refused(send(client, "POST", "/api/suppliers", {"name": "   ", "kind": "printful"}), "name") == "must not be blank"
    assert refused(send(client, "POST", "/api/suppliers", {"kind": "printful"}), "name") == "is required"


@pytest.mark.parametrize("priority", ["high", HUGE, -1, True, 1.5])
def test_a_priority_that_is_not_a_bounded_whole_number_is_refused(client, supplier_id, priority):
    refused(send(client, "POST", "/api/suppliers", {"name": "New", "kind": "printful", "priority": priority}), "priority")
    refused(send(client, "PATCH", f"/api/suppliers/{supplier_id}", {"priority": priority}), "priority")


def test_dict_skus_in_mappings_are_refused_per_row(client, supplier_id):
    response = send(client, "POST", f"/api/suppliers/{supplier_id}/mappings",
                    {"mappings": [{"sku": "OK", "supplier_sku": "S-1"}, {"sku": {"$gt": ""}, "supplier_sku": ["x"]}]})
    assert refused(response, "mappings[1].sku") == "must be a string"
    assert refused(response, "mappings[1].supplier_sku") == "must be a string"
    refused(send(client, "POST", f"/api/suppliers/{supplier_id}/mappings", {"mappings": [{"sku": "A", "supplier_sku": "B", "safety_buffer": HUGE}]}), "mappings[0].safety_buffer")
    refused(send(client, "POST", f"/api/suppliers/{supplier_id}/mappings", {"mappings": []}), "mappings")


@pytest.mark.parametrize("raw", [b'{"on_time_min": 1e400}', b'{"forward_hours": 1e400}', b'{"forward_hours": -1e400}'])
def test_infinite_kpi_targets_are_refused(client, raw):
    field = json.loads(raw).popitem()[0]
    assert refused(send(client, "PUT", "/api/settings/kpi-targets", raw=raw), field) == "must be a finite number"
    assert send(client, "GET", "/api/settings/kpi-targets").get_json()["targets"][field] < 1000  # nothing was stored


def test_nan_and_infinity_literals_are_malformed_json(client):
    for raw in (b'{"on_time_min": NaN}', b'{"on_time_min": Infinity}'):
        assert refused(send(client, "PUT", "/api/settings/kpi-targets", raw=raw), "(body)").startswith("malformed JSON")


@pytest.mark.parametrize("raw, field", [(rb'{"name": "X\udc80Y"}', "name"), (rb'{"name": "ok", "settings": {"\ud800": 1}}', "settings")])
def test_a_lone_surrogate_escape_is_refused_not_a_500(client, sandboxed_app, supplier_id, raw, field):
    # JSON's \uD800-\uDFFF escapes outside a pair parse to text no database driver can encode (it was a 500 on both).
    message = refused(send(client, "PATCH", f"/api/suppliers/{supplier_id}", raw=raw), field)
    assert message.startswith("must be Unicode text") or message.startswith("keys must be Unicode text")
    with sandboxed_app.extensions["services"].session_factory() as session:
        assert (session.get(Supplier, supplier_id).name, session.get(Supplier, supplier_id).settings) == ("Acme", {})  # nothing was stored


@pytest.mark.parametrize("number", [str(2**63), str(2**64), "9" * 40, "9" * 5000, "0"])
def test_path_ids_outside_64_bits_are_404_not_500(client, number):
    for method, path in (("GET", f"/api/orders/{number}"), ("DELETE", f"/api/suppliers/{number}"), ("PATCH", f"/api/suppliers/{number}"), ("POST", f"/api/returns/{number}/receive"),
                         ("POST", f"/api/dead-letters/{number}/retry"), ("PUT", f"/api/suppliers/{number}/return-terms")):
        response = send(client, method, path, {"lines": [{"line_id": 1, "received": 1}]} if path.endswith("receive") else {})
        assert (response.status_code, response.get_json()) == (404, {"error": "not found"}), (method, path)


def test_the_largest_64_bit_id_is_looked_up_and_not_found(client):
    """2**63-1 is a valid id: it reaches the database (SQLite and PostgreSQL) and simply names nothing."""
    biggest = 2**63 - 1
    assert send(client, "GET", f"/api/orders/{biggest}").status_code == 404
    assert send(client, "POST", f"/api/returns/{biggest}/receive", {"lines": [{"line_id": biggest, "received": 1}]}).status_code == 404


def test_return_windows_of_absurd_length_are_refused(client, supplier_id):
    assert refused(send(client, "PUT", "/api/settings/return-policy", {"window_days": HUGE}), "window_days") == "must be at most 365"
    refused(send(client, "PUT", "/api/settings/return-policy", {"reason_windows": {"DEFECTIVE": HUGE}}), "reason_windows.DEFECTIVE")
    refused(send(client, "PUT", f"/api/suppliers/{supplier_id}/return-terms", {"window_days": HUGE}), "window_days")
    assert send(client, "GET", "/api/settings/return-policy").get_json()["policy"]["window_days"] == 14  # unchanged


def test_inventory_terms_that_would_overflow_a_job_are_refused(client, supplier_id):
    for term in ("pull_every_minutes", "stale_after_minutes", "safety_buffer"):
        refused(send(client, "PUT", f"/api/suppliers/{supplier_id}/inventory", {"terms": {term: HUGE}}), f"terms.{term}")
    refused(send(client, "PUT", f"/api/suppliers/{supplier_id}/inventory", raw=b'{"terms": {"guard_share": 1e400}}'), "terms.guard_share")


def test_malformed_json_and_wrong_content_types(client, supplier_id):
    assert refused(send(client, "PUT", "/api/settings/kpi-targets", raw=b'{"on_time_min": '), "(body)").startswith("malformed JSON")
    assert refused(send(client, "PUT", "/api/settings/kpi-targets", raw=b"[" * 100_000 + b"]" * 100_000), "(body)").startswith("malformed JSON")
    assert refused(send(client, "PUT", "/api/settings/kpi-targets", raw=b'{"on_time_min": 1' + b"0" * 5000 + b"}"), "(body)").startswith("malformed JSON")
    assert refused(send(client, "PUT", "/api/settings/kpi-targets", raw=b"\xff\xfe\x00garbage"), "(body)").startswith("malformed JSON")
    assert refused(send(client, "PUT", "/api/settings/kpi-targets", [1, 2]), "(body)") == "must be an object"
    form = send(client, "PUT", "/api/settings/kpi-targets", raw=b"on_time_min=0.9", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415 and form.get_json()["error"] == "unsupported media type"
    assert send(client, "PATCH", f"/api/suppliers/{supplier_id}", raw=b"").status_code == 400  # a body is required here
    assert send(client, "POST", "/api/reconcile", raw=b"").status_code == 200  # ... and optional there
    refused(send(client, "POST", "/api/reconcile", {"shop": "other.myshopify.com"}), "shop")


def test_nul_characters_never_reach_the_database(client, supplier_id):
    """PostgreSQL refuses NUL in text (a 500 before): refused up front, even inside free-form settings."""
    refused(send(client, "POST", "/api/suppliers", {"name": "A\x00B", "kind": "printful"}), "name")
    refused(send(client, "POST", "/api/suppliers", {"name": "A", "kind": "printful", "settings": {"store_id": "1\x00"}}), "settings.store_id")


def test_an_adapter_config_error_is_a_400_with_its_message(client):
    response = send(client, "POST", "/api/suppliers", {"name": "Rest", "kind": "rest", "settings": {"base_url": "https://api.example.com", "colour": "red"}})
    message = refused(response, "settings")
    assert "colour" in message


def test_valid_bodies_still_work(client, supplier_id):
    assert send(client, "PATCH", f"/api/suppliers/{supplier_id}", {"priority": 5, "sla_hours": 48}).get_json()["supplier"]["priority"] == 5
    mapped = send(client, "POST", f"/api/suppliers/{supplier_id}/mappings", {"mappings": [{"sku": "TEE", "supplier_sku": "T-1", "variant_id": 42, "cost": 4.1}]})
    assert mapped.get_json() == {"mapped": 1}
    assert send(client, "PUT", "/api/settings/kpi-targets", {"forward_hours": 6}).get_json()["targets"]["forward_hours"] == 6.0
    assert send(client, "PUT", "/api/settings/return-policy", {"window_days": 30, "reason_windows": {"DEFECTIVE": 5}}).status_code == 200


# -- the OpenAPI document ---------------------------------------------------------------------------


def test_the_openapi_document_is_public_valid_and_the_committed_copy_is_current(sandboxed_app):
    served = sandboxed_app.test_client().get("/api/openapi.json")
    assert served.status_code == 200
    document = served.get_json()
    validate(document)  # openapi-spec-validator, independent of our code
    assert document["components"]["securitySchemes"]["sessionToken"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "The App Bridge session token (ID token) of the shop."}
    generated = subprocess.run([sys.executable, "-m", "shopify_app.cli", "openapi"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert json.loads(generated) == document
    committed = (REPO / "docs" / "openapi.json").read_text()
    assert committed == generated, "docs/openapi.json is stale: python -m shopify_app.cli openapi > docs/openapi.json"


def test_every_api_route_of_the_app_is_documented_with_the_schema_it_enforces(sandboxed_app):
    from shopify_app.web.openapi import build_document

    paths = build_document()["paths"]
    documented = {(path, method) for path, ops in paths.items() for method in ops}
    seen = set()
    for rule in sandboxed_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        spec = getattr(sandboxed_app.view_functions[rule.endpoint], "body_spec", None)
        for method in sorted(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}):
            seen.add((path, method))
            operation = paths[path][method]
            if method in ("post", "put", "patch"):
                assert spec is not None and spec.applies_to(method), f"{method} {path} takes a body without a schema"
            if spec is not None and spec.applies_to(method):
                assert operation["requestBody"]["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{spec.schema}"}
    assert seen == documented


def test_a_body_over_the_request_cap_answers_413_before_it_is_read(client, supplier_id):
    from shopify_app.factory import REQUEST_MAX_BYTES

    response = send(client, "POST", f"/api/suppliers/{supplier_id}/stock-feed", raw=b"x" * (REQUEST_MAX_BYTES + 1), content_type="text/csv")
    assert response.status_code == 413


def test_the_order_page_answers_404_for_ids_beyond_64_bits(sandboxed_app, sandbox_shopify):
    install_shop(sandboxed_app, SHOP)
    token = sandbox_shopify.mint_session_token(SHOP, API_KEY)
    response = sandboxed_app.test_client().get(f"/orders/{2**64}?shop={SHOP}&id_token={token}")
    assert response.status_code == 404


@pytest.mark.parametrize(("credentials", "settings", "field"), [
    ({}, {}, "credentials.token"),
    ({"webhook_secret_key": "ab"}, {}, "credentials.token"),
    ({"token": 5}, {}, "credentials.token"),
    ({"token": "pf"}, {"products": "x"}, "settings.products"),
    ({"token": "pf"}, {"products": {"TEE": {"id": 1}}}, "settings.products"),
    ({"token": "pf"}, {"store_id": {"a": 1}}, "settings.store_id"),
])
def test_a_printful_supplier_without_what_its_adapter_needs_is_refused(client, credentials, settings, field):
    """Found in review: such a supplier was saved (201) and every webhook to it answered 500."""
    message = refused(send(client, "POST", "/api/suppliers", {"name": "PF", "kind": "printful", "credentials": credentials, "settings": settings}), "credentials" if field.startswith("credentials") else "settings")
    assert field in message


def test_the_supplier_webhook_route_answers_4xx_for_huge_ids_and_suppliers_that_cannot_verify(sandboxed_app, supplier_id):
    """A public route: ids beyond 64 bits and a supplier saved without credentials (before the check) are 404, never 500."""
    anonymous = sandboxed_app.test_client()
    for huge in (str(2**63), "9" * 20):
        assert anonymous.post(f"/suppliers/{huge}/webhooks", data=b"{}").status_code == 404
    assert anonymous.post(f"/suppliers/{supplier_id}/webhooks", data=b"{}", headers={"X-Pf-Webhook-Signature": "ab"}).status_code == 404


def test_an_out_of_range_supplier_filter_matches_nothing(client, sandboxed_app, sandbox_shopify):
    """Found in review: ?supplier=9223372036854775808 overflowed the query (500) on the orders page and CSV."""
    for value in (str(2**63), "-" + str(2**63 + 1), "9" * 30):
        assert send(client, "GET", f"/api/export/orders.csv?supplier={value}").status_code == 200
        token = sandbox_shopify.mint_session_token(SHOP, API_KEY)
        assert sandboxed_app.test_client().get(f"/orders?shop={SHOP}&id_token={token}&supplier={value}").status_code == 200


def test_managed_locations_refuse_another_shops_supplier_huge_ids_and_foreign_gids(client, sandboxed_app):
    """Issue 13's location mapping, as an attacker with a merchant account would send it."""
    with sandboxed_app.extensions["services"].session_factory.begin() as session:
        other = Supplier(shop_domain="other.myshopify.com", name="Theirs", kind="printful", settings={})
        session.add(other)
        session.flush()
        other_id = other.id
    location = "gid://shopify/Location/1"
    refused(send(client, "PUT", "/api/locations", {"locations": [{"location_gid": location, "supplier_ids": [other_id]}]}), "locations[0].supplier_ids")
    refused(send(client, "PUT", "/api/locations", {"locations": [{"location_gid": location, "supplier_ids": [HUGE]}]}), "locations[0].supplier_ids[0]")
    for gid in ("../../etc/passwd", "gid://shopify/Order/1", "http://169.254.169.254/", "gid://shopify/Location/" + "9" * 300):
        refused(send(client, "PUT", "/api/locations", {"locations": [{"location_gid": gid}]}), "locations[0].location_gid")
    refused(send(client, "PUT", "/api/locations", {"locations": [{"location_gid": location}] * 2}), "locations")
    assert send(client, "GET", "/api/locations").get_json() == {"locations": [], "primary_location_default": True}  # nothing was saved


def test_registering_another_shops_or_a_huge_supplier_as_a_fulfillment_service_is_404(client, sandboxed_app):
    with sandboxed_app.extensions["services"].session_factory.begin() as session:
        other = Supplier(shop_domain="other.myshopify.com", name="Theirs", kind="printful", settings={})
        session.add(other)
        session.flush()
        other_id = other.id
    for supplier in (other_id, HUGE, 2**63):
        assert send(client, "POST", f"/api/suppliers/{supplier}/fulfillment-service").status_code == 404
    with sandboxed_app.extensions["services"].session_factory() as session:
        assert session.get(Supplier, other_id).location_gid is None
