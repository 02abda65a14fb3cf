"""The supplier page and its JSON API show the breaker over time, retries per order and time waited for the breaker vs backoff."""
from __future__ import annotations

import jsonschema
import pytest
from sqlalchemy import select

from conftest import API_KEY, install_shop
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import Supplier, SupplierOrder
from shopify_app.suppliers.resilience import CircuitBreaker
from shopify_app.web.openapi import build_document
from ui.ui_world import SHOP, serve


@pytest.fixture
def shop(sandboxed_app, sandbox_shopify):
    yield from serve(sandboxed_app, sandbox_shopify)


def bearer(shop, domain=SHOP) -> dict:
    return {"Authorization": f"Bearer {shop.shopify.mint_session_token(domain, API_KEY)}"}


def test_a_flaky_supplier_shows_its_breaker_retries_and_waits(shop) -> None:
    order = shop.shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 1}], email="flaky@example.com")
    shop.drain()
    shop.supplier_server.fail_next(503, count=2)  # the place, then its lookup
    worker = ForwardingWorker(shop.services.session_factory, shop.services.box, breaker=CircuitBreaker(window=2, open_ratio=1.0, cooldown=60))
    assert worker.drain().retrying == 1
    with shop.services.session_factory.begin() as session:  # its retry is due: the lookup fails too, the breaker opens
        delivery = session.scalar(select(SupplierOrder).where(SupplierOrder.state == "unknown"))
        delivery.next_attempt_at = delivery.created_at
    worker.drain()
    with shop.services.session_factory() as session:
        supplier_id = session.scalar(select(Supplier.id).where(Supplier.shop_domain == SHOP))
        delivery = session.scalar(select(SupplierOrder).where(SupplierOrder.state == "unknown"))
    assert delivery.attempts == 2 and delivery.backoff_wait_ms > 0

    client = shop.app.test_client()
    answer = client.get(f"/api/suppliers/{supplier_id}/reliability", headers=bearer(shop))
    assert answer.status_code == 200
    body = answer.get_json()
    document = build_document()
    schema = dict(document["components"]["schemas"]["SupplierReliability"], components=document["components"])
    jsonschema.validate(body, schema)  # the published answer, checked by an independent validator
    assert body["breaker"]["state"] == "open" and body["breaker"]["opened_last_24h"] == 1
    assert [(c["from"], c["to"]) for c in body["breaker"]["changes"]] == [("closed", "open")]
    assert "2 of the last 2 calls failed" in body["breaker"]["changes"][0]["reason"]
    assert body["orders"]["retried"] == 1 and body["orders"]["retries_max"] == 1
    assert body["orders"]["backoff_wait_seconds"] == pytest.approx(delivery.backoff_wait_ms / 1000, abs=0.1)
    assert body["orders"]["breaker_wait_seconds"] == 0
    assert [o["order"] for o in body["waited_longest"]] == [order["name"]]

    # Another shop sees nothing of it.
    shop.shopify.add_shop("other.myshopify.com")
    install_shop(shop.app, "other.myshopify.com")
    assert client.get(f"/api/suppliers/{supplier_id}/reliability", headers=bearer(shop, "other.myshopify.com")).status_code == 404
    assert client.get(f"/api/suppliers/{supplier_id}/reliability").status_code == 401

    page = shop.page("/suppliers").get_data(as_text=True)
    section = page.split(f'id="reliability-{supplier_id}"', 1)[1].split("</div>", 1)[0]
    assert '<strong data-breaker-state="open">open: sending paused</strong>' in section
    assert "2 of the last 2 calls failed" in section and order["name"] in section
    assert f'<span data-wait="backoff">{body["orders"]["backoff_wait_seconds"]}</span>' in section
