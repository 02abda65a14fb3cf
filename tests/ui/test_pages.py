"""The admin pages render the shop's real data, server-side, behind session tokens; CSV exports match the pages."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from conftest import API_KEY
from shopify_app.models import ShopSetting, WebhookDelivery
from shopify_app.reconcile.models import Desync
from shopify_app.suppliers.models import Supplier
from ui.ui_world import SHOP, serve

PAGES = ("/", "/orders", "/suppliers", "/inventory", "/returns", "/problems", "/settings")


@pytest.fixture
def shop(sandboxed_app, sandbox_shopify):
    yield from serve(sandboxed_app, sandbox_shopify)


def bearer(shop) -> dict:
    return {"Authorization": f"Bearer {shop.shopify.mint_session_token(SHOP, API_KEY)}"}


def test_every_page_renders_the_shops_data(shop) -> None:
    html = {path: shop.page(path) for path in PAGES}
    assert {path: r.status_code for path, r in html.items()} == {path: 200 for path in PAGES}
    text = {path: r.get_data(as_text=True) for path, r in html.items()}
    assert all(r.headers["Content-Security-Policy"].endswith(f"frame-ancestors https://{SHOP} https://admin.shopify.com;") for r in html.values())
    names = [o["name"] for o in shop.shipped] + [shop.stuck["name"]]
    assert all(name in text["/orders"] for name in names)
    assert 'data-state="shipped">2<' in text["/"] and 'data-state="placed">1<' in text["/"]  # two shipped, one sitting at the supplier
    assert "Rest sandbox" in text["/suppliers"] and "MUG-WHT" in text["/suppliers"]
    assert shop.review.name in text["/returns"] and "not as described" in text["/returns"]
    assert 'data-desync="stuck_at_supplier"' in text["/problems"] and "returns/request" in text["/problems"]
    assert 'name="window_days"' in text["/settings"]
    # Links between pages keep the shop, never the short-lived token.
    assert f'href="/orders?shop={SHOP.replace(".", ".")}' in text["/"] and "id_token=" not in text["/"].split("<main>")[0]


def test_an_order_page_shows_its_timeline_and_parcels_and_refuses_other_shops(shop) -> None:
    with shop.services.session_factory() as session:
        from shopify_app.orders.models import Order

        order = session.scalar(select(Order).where(Order.name == shop.shipped[1]["name"]))
    page = shop.page(f"/orders/{order.id}").get_data(as_text=True)
    assert "Timeline" in page and "Rest sandbox" in page and "Parcel" in page
    shop.shopify.add_shop("other.myshopify.com")
    token = shop.shopify.mint_session_token("other.myshopify.com", API_KEY)
    assert shop.app.test_client().get(f"/orders/{order.id}?shop=other.myshopify.com&id_token={token}").status_code in (404, 302)


def test_orders_filter_by_state_supplier_and_problem(shop) -> None:
    stuck = shop.page("/orders?state=forwarded").get_data(as_text=True)
    assert shop.stuck["name"] in stuck and shop.shipped[0]["name"] not in stuck
    with_desync = shop.page("/orders?problem=desync").get_data(as_text=True)
    assert shop.stuck["name"] in with_desync and shop.shipped[0]["name"] not in with_desync
    with shop.services.session_factory() as session:
        supplier_id = session.scalar(select(Supplier.id))
    assert shop.shipped[0]["name"] in shop.page(f"/orders?supplier={supplier_id}").get_data(as_text=True)
    assert "No orders match" in shop.page(f"/orders?supplier={supplier_id + 99}").get_data(as_text=True)


def test_a_page_opened_without_a_token_bounces_through_the_sandbox_patch_page(shop) -> None:
    response = shop.app.test_client().get(f"/problems?shop={SHOP}&host=abc&embedded=1")
    assert response.status_code == 302 and "/auth/patch-id-token" in response.headers["Location"]
    bounce = shop.app.test_client().get(response.headers["Location"]).get_data(as_text=True)
    assert "sandbox-bridge.js" in bounce and "cdn.shopify.com" not in bounce


def test_csv_exports_hold_the_rows_the_pages_show(shop) -> None:
    client = shop.app.test_client()
    assert client.get("/api/export/orders.csv").status_code == 401
    rows = list(csv.DictReader(io.StringIO(client.get("/api/export/orders.csv", headers=bearer(shop)).get_data(as_text=True))))
    assert sorted(r["order"] for r in rows) == sorted([o["name"] for o in shop.shipped] + [shop.stuck["name"]])
    problems = list(csv.DictReader(io.StringIO(client.get("/api/export/problems.csv", headers=bearer(shop)).get_data(as_text=True))))
    assert {(r["type"], r["kind"]) for r in problems} >= {("desync", "stuck_at_supplier"), ("dead_letter", "returns/request")}
    returns = list(csv.DictReader(io.StringIO(client.get("/api/export/returns.csv", headers=bearer(shop)).get_data(as_text=True))))
    assert [r["return"] for r in returns] == [shop.review.name]
    for table in ("suppliers", "inventory", "kpis"):
        assert client.get(f"/api/export/{table}.csv", headers=bearer(shop)).status_code == 200
    assert client.get("/api/export/secrets.csv", headers=bearer(shop)).status_code == 404


def test_resolving_a_desync_and_editing_a_supplier_sla(shop) -> None:
    client = shop.app.test_client()
    with shop.services.session_factory() as session:
        desync_id = session.scalar(select(Desync.id).where(Desync.kind == "stuck_at_supplier"))
        supplier_id = session.scalar(select(Supplier.id))
    assert client.post(f"/api/desyncs/{desync_id}/resolve", headers=bearer(shop)).status_code == 200
    assert 'data-desync="stuck_at_supplier"' not in shop.page("/problems").get_data(as_text=True)
    assert client.patch(f"/api/suppliers/{supplier_id}", json={"sla_hours": 0}, headers=bearer(shop)).status_code == 400
    assert client.patch(f"/api/suppliers/{supplier_id}", json={"sla_hours": 48}, headers=bearer(shop)).status_code == 200
    with shop.services.session_factory() as session:
        assert session.get(Supplier, supplier_id).settings["sla_hours"] == 48
    with shop.services.session_factory() as session:
        assert session.scalar(select(WebhookDelivery.status).where(WebhookDelivery.topic == "returns/request", WebhookDelivery.status == "dead")) == "dead"
        assert session.scalar(select(ShopSetting.value).where(ShopSetting.key == "return_policy")) == {"auto_decide": False}
