"""The first-run checklist: each step's state comes from the shop's data, links to the page that does it, and the checklist stays until
every step is done; in sandbox mode the test order is placed in the sandbox Shopify and travels the real path to the supplier."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from conftest import API_KEY, install_shop
from shopify_app.suppliers.models import SupplierOrder
from ui.setup_world import SHOP, serve_fresh

STEPS = ("connect_supplier", "map_products", "return_policy", "test_order")


@pytest.fixture
def shop(sandboxed_app, sandbox_shopify):
    for fresh in serve_fresh(sandboxed_app, sandbox_shopify):
        fresh.install()
        yield fresh


def checklist(html: str) -> dict[str, bool]:
    return {key: done == "true" for key, done in re.findall(r'<li data-step="(\w+)" data-done="(true|false)">', html)}


def step_html(html: str, key: str) -> str:
    return html.split(f'<li data-step="{key}"', 1)[1].split("</li>", 1)[0]


def test_a_fresh_shop_sees_every_step_to_do_with_a_link_to_where_it_is_done(shop) -> None:
    html = shop.page("/").get_data(as_text=True)
    assert checklist(html) == dict.fromkeys(STEPS, False)
    assert "0 of 4 steps done" in html
    assert 'href="/suppliers/new?shop=demo.myshopify.com&amp;host=abc&amp;embedded=1"' in step_html(html, "connect_supplier")
    assert 'href="/settings?shop=demo.myshopify.com&amp;host=abc&amp;embedded=1#policy"' in step_html(html, "return_policy")
    assert "id_token" not in html.split('id="onboarding"', 1)[1].split("</ol>", 1)[0]  # links never carry the session token
    # Nothing mapped yet: no test order can be placed, and the API says why.
    assert "/api/onboarding/test-order" not in html
    refused = shop.api("post", "/api/onboarding/test-order")
    assert refused.status_code == 409 and "Map a product" in refused.get_json()["error"]


def test_the_steps_follow_the_data_until_the_checklist_is_gone(shop) -> None:
    supplier_id = shop.api("post", "/api/suppliers", json=shop.rest_supplier_body()).get_json()["supplier"]["id"]
    html = shop.page("/").get_data(as_text=True)
    assert checklist(html)["connect_supplier"] is False  # added, not yet shown to work
    assert f'href="/suppliers/{supplier_id}?shop=' in step_html(html, "connect_supplier")
    # "Map products" goes to the mappings page (search, auto-match, import), filtered to that supplier, keeping the language.
    assert f'href="/mappings?shop=demo.myshopify.com&amp;host=abc&amp;embedded=1&amp;supplier={supplier_id}"' in step_html(html, "map_products")
    in_polish = shop.page("/?locale=pl").get_data(as_text=True)
    assert "locale=pl" in step_html(in_polish, "map_products") and f"supplier={supplier_id}" in step_html(in_polish, "map_products")
    # A failed test does not count; a passing one does.
    shop.supplier_server.api_key = "changed-by-the-supplier"
    assert shop.api("post", f"/api/suppliers/{supplier_id}/test-connection").get_json()["test"]["ok"] is False
    assert checklist(shop.page("/").get_data(as_text=True))["connect_supplier"] is False
    shop.supplier_server.api_key = "sandbox-rest-key"
    assert shop.api("post", f"/api/suppliers/{supplier_id}/test-connection").get_json()["test"]["ok"] is True
    assert checklist(shop.page("/").get_data(as_text=True)) == {"connect_supplier": True, "map_products": False, "return_policy": False, "test_order": False}

    assert shop.api("post", f"/api/suppliers/{supplier_id}/mappings", json={"mappings": [{"sku": "MUG-WHT", "supplier_sku": "MUG-WHT", "cost": "4.00"}]}).status_code == 200
    html = shop.page("/").get_data(as_text=True)
    assert checklist(html)["map_products"] is True and "1 mapped so far" in step_html(html, "map_products")
    assert 'data-action="POST /api/onboarding/test-order"' in step_html(html, "test_order")  # sandbox mode: one click

    assert shop.api("put", "/api/settings/return-policy", json={"window_days": 30}).status_code == 200
    assert checklist(shop.page("/").get_data(as_text=True))["return_policy"] is True

    placed = shop.api("post", "/api/onboarding/test-order")
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()["order"]
    assert order["sku"] == "MUG-WHT"
    # The sandbox Shopify holds a paid order and sent its webhooks: the app takes it in and forwards it.
    assert shop.store.require_shop(SHOP).get(order["id"])["displayFinancialStatus"] == "PAID"
    shop.drain()
    assert checklist(shop.page("/").get_data(as_text=True))["test_order"] is False  # in, not yet at the supplier
    shop.forward()
    with shop.services.session_factory() as session:
        [placed_with] = session.scalars(select(SupplierOrder.supplier_order_id).where(SupplierOrder.order_id == shop.order_id(order["id"]))).all()
    assert shop.supplier_server.order(placed_with).items[0].sku == "MUG-WHT"  # the supplier has it
    html = shop.page("/").get_data(as_text=True)
    assert 'id="onboarding"' not in html and checklist(html) == {}  # done: the checklist is gone


def test_a_deactivated_suppliers_mappings_do_not_count(shop) -> None:
    supplier_id = shop.api("post", "/api/suppliers", json=shop.rest_supplier_body()).get_json()["supplier"]["id"]
    shop.api("post", f"/api/suppliers/{supplier_id}/mappings", json={"mappings": [{"sku": "MUG-WHT", "supplier_sku": "MUG-WHT"}]})
    assert checklist(shop.page("/").get_data(as_text=True))["map_products"] is True
    shop.api("patch", f"/api/suppliers/{supplier_id}", json={"active": False})
    assert checklist(shop.page("/").get_data(as_text=True))["map_products"] is False
    assert shop.api("post", "/api/onboarding/test-order").status_code == 409


def test_in_real_mode_the_test_order_step_explains_the_bogus_gateway(app_factory, sqlite_url, sandbox_shopify) -> None:
    app = app_factory(sqlite_url)  # no sandbox Shopify: a real shop
    install_shop(app, SHOP)
    token = sandbox_shopify.mint_session_token(SHOP, API_KEY)  # signed with the app's secret, as Shopify's are
    html = app.test_client().get(f"/?shop={SHOP}&host=abc&embedded=1&id_token={token}").get_data(as_text=True)
    assert "Bogus gateway" in step_html(html, "test_order") and "/api/onboarding/test-order" not in html
    answer = app.test_client().post("/api/onboarding/test-order", headers={"Authorization": f"Bearer {sandbox_shopify.mint_session_token(SHOP, API_KEY)}"})
    assert answer.status_code == 409 and "Bogus gateway" in answer.get_json()["error"]
