"""Credentials and settings that live: PATCH with merge patches, test connection, masked credentials, the audit trail, rotation without restart."""
from __future__ import annotations

import json

from conftest import API_KEY as APP_API_KEY, install_shop
from integrations.suppliers.base import CredentialsRejected
from rest_testkit import API_KEY, RestSandboxController, rest_sandbox, rest_sandbox_server, rest_webhook_receiver  # noqa: F401 (fixtures)
from shopify_app.suppliers.forwarding import adapter_from_record
from shopify_app.suppliers.models import Supplier
from supplier_contract import order_request

SHOP = "demo.myshopify.com"
WEBHOOK_SECRET = "whsec-rest-0123456789abcdef"


def auth(sandbox_shopify, shop=SHOP, user_id=None):
    return {"Authorization": f"Bearer {sandbox_shopify.mint_session_token(shop, APP_API_KEY, **({'user_id': user_id} if user_id else {}))}"}


def create_rest_supplier(client, headers, rest_sandbox, **extra):
    body = {"name": "Wholesale", "kind": "rest", "settings": {"preset": "sandbox-rest", "base_url": rest_sandbox.base_url}, "credentials": {"api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET}, **extra}
    created = client.post("/api/suppliers", json=body, headers=headers)
    assert created.status_code == 201, created.get_json()
    return created.get_json()["supplier"]


def test_credentials_are_masked_rotated_with_a_merge_patch_and_audited_without_secrets(sandboxed_app, sandbox_shopify, rest_sandbox):
    install_shop(sandboxed_app, SHOP)
    client, headers = sandboxed_app.test_client(), auth(sandbox_shopify)
    supplier = create_rest_supplier(client, headers, rest_sandbox)
    assert supplier["credentials"] == {"api_key": "…" + API_KEY[-4:], "webhook_secret": "…" + WEBHOOK_SECRET[-4:]}

    rotated = client.patch(f"/api/suppliers/{supplier['id']}", json={"credentials": {"api_key": "rotated-key-0000000042"}, "settings": {"timeout_seconds": 12}}, headers=headers)
    assert rotated.status_code == 200, rotated.get_json()
    shown = rotated.get_json()["supplier"]
    assert shown["credentials"] == {"api_key": "…0042", "webhook_secret": "…" + WEBHOOK_SECRET[-4:]}  # the other key kept
    assert shown["settings"] == {"preset": "sandbox-rest", "base_url": rest_sandbox.base_url, "timeout_seconds": 12}
    with sandboxed_app.extensions["services"].session_factory() as session:
        stored = json.loads(sandboxed_app.extensions["services"].box.decrypt(session.get(Supplier, supplier["id"]).credentials_enc))
    assert stored == {"api_key": "rotated-key-0000000042", "webhook_secret": WEBHOOK_SECRET}

    removed = client.patch(f"/api/suppliers/{supplier['id']}", json={"settings": {"timeout_seconds": None}, "priority": 5}, headers=headers)
    assert removed.get_json()["supplier"]["settings"] == {"preset": "sandbox-rest", "base_url": rest_sandbox.base_url}

    trail = client.get(f"/api/suppliers/{supplier['id']}/audit", headers=headers)
    assert trail.status_code == 200
    entries = trail.get_json()["audit"]
    assert [(e["action"], e["fields"]) for e in entries] == [
        ("updated", ["priority", "settings.timeout_seconds"]),
        ("updated", ["credentials.api_key", "settings.timeout_seconds"]),
        ("created", ["credentials.api_key", "credentials.webhook_secret", "settings.base_url", "settings.preset"]),
    ]
    assert all(e["actor"].startswith("user:") and e["actor"] != "user:unknown" for e in entries)
    text = trail.get_data(as_text=True) + rotated.get_data(as_text=True)
    assert API_KEY not in text and "rotated-key-0000000042" not in text and WEBHOOK_SECRET not in text


def test_settings_are_checked_on_save_and_a_refused_change_saves_nothing(sandboxed_app, sandbox_shopify, rest_sandbox):
    install_shop(sandboxed_app, SHOP)
    client, headers = sandboxed_app.test_client(), auth(sandbox_shopify)
    supplier = create_rest_supplier(client, headers, rest_sandbox)
    bad = client.patch(f"/api/suppliers/{supplier['id']}", json={"settings": {"endpoints": {"create_order": "FETCH /x"}}}, headers=headers)
    assert bad.status_code == 400 and bad.get_json()["fields"][0]["field"] == "settings"
    missing = client.patch(f"/api/suppliers/{supplier['id']}", json={"credentials": {"api_key": None}}, headers=headers)
    assert missing.status_code == 400 and "api_key" in missing.get_json()["fields"][0]["message"]
    unknown = client.patch(f"/api/suppliers/{supplier['id']}", json={"colour": "red"}, headers=headers)
    assert unknown.status_code == 400
    assert [e["action"] for e in client.get(f"/api/suppliers/{supplier['id']}/audit", headers=headers).get_json()["audit"]] == ["created"]


def test_test_connection_reports_success_and_wrong_credentials_as_json(sandboxed_app, sandbox_shopify, rest_sandbox):
    install_shop(sandboxed_app, SHOP)
    client, headers = sandboxed_app.test_client(), auth(sandbox_shopify)
    supplier = create_rest_supplier(client, headers, rest_sandbox)
    ok = client.post(f"/api/suppliers/{supplier['id']}/test-connection", headers=headers)
    assert ok.status_code == 200 and ok.get_json()["test"]["ok"] is True, ok.get_json()
    wrong = client.post(f"/api/suppliers/{supplier['id']}/test-connection", json={"credentials": {"api_key": "not-the-key-at-all"}}, headers=headers)
    result = wrong.get_json()["test"]
    assert wrong.status_code == 200 and result["ok"] is False and result["error_kind"] == "credentials" and "401" in result["error"]
    unreachable = client.post(f"/api/suppliers/{supplier['id']}/test-connection", json={"settings": {"base_url": "http://127.0.0.1:9"}}, headers=headers)
    assert unreachable.get_json()["test"]["error_kind"] == "transient"
    tested = [e for e in client.get(f"/api/suppliers/{supplier['id']}/audit", headers=headers).get_json()["audit"] if e["action"] == "connection_tested"]
    assert [(e["detail"]["ok"], e["detail"]["error_kind"], e["detail"]["tested"]) for e in tested] == [
        (False, "transient", "unsaved changes"), (False, "credentials", "unsaved changes"), (True, None, "saved settings")]


def test_a_failed_test_on_save_keeps_the_old_credentials_and_echoes_the_input(sandboxed_app, sandbox_shopify, rest_sandbox):
    install_shop(sandboxed_app, SHOP)
    client, headers = sandboxed_app.test_client(), auth(sandbox_shopify)
    supplier = create_rest_supplier(client, headers, rest_sandbox)
    refused = client.patch(f"/api/suppliers/{supplier['id']}?test=1", json={"credentials": {"api_key": "typo-in-the-new-key-99"}, "settings": {"timeout_seconds": 9}}, headers=headers)
    assert refused.status_code == 422
    body = refused.get_json()
    assert body["test"]["error_kind"] == "credentials"
    assert body["unsaved"] == {"settings": {"preset": "sandbox-rest", "base_url": rest_sandbox.base_url, "timeout_seconds": 9}, "credentials": {"api_key": "…y-99", "webhook_secret": "…" + WEBHOOK_SECRET[-4:]}}
    with sandboxed_app.extensions["services"].session_factory() as session:
        record = session.get(Supplier, supplier["id"])
        assert json.loads(sandboxed_app.extensions["services"].box.decrypt(record.credentials_enc))["api_key"] == API_KEY
        assert "timeout_seconds" not in record.settings
    saved = client.patch(f"/api/suppliers/{supplier['id']}?test=1", json={"settings": {"timeout_seconds": 9}}, headers=headers)
    assert saved.status_code == 200 and saved.get_json()["supplier"]["settings"]["timeout_seconds"] == 9


def test_rotation_takes_effect_without_restart(sandboxed_app, sandbox_shopify, rest_sandbox):
    install_shop(sandboxed_app, SHOP)
    services = sandboxed_app.extensions["services"]
    client, headers = sandboxed_app.test_client(), auth(sandbox_shopify)
    supplier = create_rest_supplier(client, headers, rest_sandbox)

    def adapter():
        with services.session_factory() as session:
            return adapter_from_record(session.get(Supplier, supplier["id"]), services.box)

    assert adapter().find_order("nope") is None  # the old key works
    rest_sandbox.api_key = "the-supplier-issued-a-new-key"  # the supplier rotates: the old key is refused
    try:
        try:
            adapter().find_order("nope")
            raise AssertionError("the old key still worked")
        except CredentialsRejected:
            pass
        assert client.patch(f"/api/suppliers/{supplier['id']}", json={"credentials": {"api_key": "the-supplier-issued-a-new-key"}}, headers=headers).status_code == 200
        placed = adapter().place_order(order_request(RestSandboxController(rest_sandbox, None), "so-rotated"))
        assert rest_sandbox.orders_created("so-rotated") == 1 and placed.supplier_order_id
    finally:
        rest_sandbox.api_key = API_KEY


def test_another_shop_cannot_patch_test_or_read_the_audit(sandboxed_app, sandbox_shopify, rest_sandbox):
    install_shop(sandboxed_app, SHOP, "other.myshopify.com")
    sandbox_shopify.add_shop("other.myshopify.com")
    client, headers = sandboxed_app.test_client(), auth(sandbox_shopify)
    supplier = create_rest_supplier(client, headers, rest_sandbox)
    other = auth(sandbox_shopify, "other.myshopify.com")
    assert client.patch(f"/api/suppliers/{supplier['id']}", json={"credentials": {"api_key": "x" * 20}}, headers=other).status_code == 404
    assert client.post(f"/api/suppliers/{supplier['id']}/test-connection", headers=other).status_code == 404
    assert client.get(f"/api/suppliers/{supplier['id']}/audit", headers=other).status_code == 404


def test_terms_and_mappings_changes_are_on_the_trail_too(sandboxed_app, sandbox_shopify, rest_sandbox):
    install_shop(sandboxed_app, SHOP)
    client, headers = sandboxed_app.test_client(), auth(sandbox_shopify)
    supplier = create_rest_supplier(client, headers, rest_sandbox)
    assert client.post(f"/api/suppliers/{supplier['id']}/mappings", json={"mappings": [{"sku": "TEE-S", "supplier_sku": "WIDGET-RED"}]}, headers=headers).status_code == 200
    assert client.put(f"/api/suppliers/{supplier['id']}/return-terms", json={"window_days": 30, "destination": "supplier"}, headers=headers).status_code == 200
    assert client.put(f"/api/suppliers/{supplier['id']}/inventory", json={"terms": {"safety_buffer": 2}}, headers=headers).status_code == 200
    trail = client.get(f"/api/suppliers/{supplier['id']}/audit", headers=headers).get_json()["audit"]
    assert [(e["action"], e["fields"]) for e in trail][:3] == [
        ("updated", ["inventory_terms.safety_buffer"]),
        ("updated", ["return_terms.destination", "return_terms.window_days"]),
        ("mappings_changed", ["mappings.TEE-S"]),
    ]
