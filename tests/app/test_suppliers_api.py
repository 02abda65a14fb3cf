"""Suppliers API: session token required, one shop's data only, credentials write-only."""
from __future__ import annotations

from sqlalchemy import select

from conftest import API_KEY, install_shop
from shopify_app.suppliers.models import ProductMapping, Supplier

SHOP = "demo.myshopify.com"


def auth(sandbox, shop=SHOP):
    return {"Authorization": f"Bearer {sandbox.mint_session_token(shop, API_KEY)}"}


def install(app, sandbox, shop=SHOP):
    """Install the app on the shop with a real sandbox-issued token (the API serves installed shops only)."""
    token = sandbox.issue_access_token(shop, API_KEY)
    app.extensions["services"].tokens.save(shop, token["access_token"], None, None, None, token.get("scope"))


def test_create_list_map_and_delete_a_supplier(sandboxed_app, sandbox_shopify):
    install_shop(sandboxed_app, SHOP, "other.myshopify.com")
    client = sandboxed_app.test_client()
    install(sandboxed_app, sandbox_shopify)
    assert client.get("/api/suppliers").status_code == 401
    created = client.post("/api/suppliers", json={"name": "Printful", "kind": "printful", "credentials": {"token": "pf-secret-token"}, "settings": {"base_url": "http://127.0.0.1:1"}}, headers=auth(sandbox_shopify))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()["supplier"]
    assert body["has_credentials"] is True and "pf-secret-token" not in created.get_data(as_text=True)
    supplier_id = body["id"]
    with sandboxed_app.extensions["services"].session_factory() as session:
        stored = session.get(Supplier, supplier_id)
        assert b"pf-secret-token" not in stored.credentials_enc
    assert client.post("/api/suppliers", json={"name": "Printful", "kind": "printful", "credentials": {"token": "pf-other"}}, headers=auth(sandbox_shopify)).status_code == 409
    assert client.post("/api/suppliers", json={"name": "X", "kind": "carrier-pigeon"}, headers=auth(sandbox_shopify)).status_code == 400
    bad_rows = client.post(f"/api/suppliers/{supplier_id}/mappings", json={"mappings": [{"sku": "A"}]}, headers=auth(sandbox_shopify))
    assert bad_rows.status_code == 400 and bad_rows.get_json() == {"error": "invalid request", "fields": [{"field": "mappings[0].supplier_sku", "message": "is required"}]}
    assert client.post(f"/api/suppliers/{supplier_id}/mappings", json={"mappings": [{"sku": "TEE-S", "supplier_sku": "PF-1", "cost": "4.10"}]}, headers=auth(sandbox_shopify)).status_code == 200
    with sandboxed_app.extensions["services"].session_factory() as session:
        assert [(m.sku, m.supplier_sku) for m in session.scalars(select(ProductMapping))] == [("TEE-S", "PF-1")]
    # Another shop's session token neither sees nor touches it.
    sandbox_shopify.add_shop("other.myshopify.com")
    install(sandboxed_app, sandbox_shopify, "other.myshopify.com")
    assert client.get("/api/suppliers", headers=auth(sandbox_shopify, "other.myshopify.com")).get_json()["suppliers"] == []
    assert client.delete(f"/api/suppliers/{supplier_id}", headers=auth(sandbox_shopify, "other.myshopify.com")).status_code == 404
    assert client.delete(f"/api/suppliers/{supplier_id}", headers=auth(sandbox_shopify)).status_code == 200
    assert client.get("/api/suppliers", headers=auth(sandbox_shopify)).get_json()["suppliers"] == []
