"""A whole customer journey in sandbox mode: a checkout in the sandbox Shopify (in Polish) reaches the app through
its webhooks; the customer follows the order on the store page, reports a damaged item with a photo, the merchant
answers in the admin, and the customer gets the reply by email in Polish (a real SMTP server) and sees it on the page."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from notify.notice_kit import NoticeRun, smtp  # noqa: F401 (fixture: a real SMTP server)
from proxy_kit import png_bytes, signed_query
from returns.returns_world import SHOP, serve_world
from shopify_app.cases.models import Case, CasePhoto
from shopify_app.orders.models import Order
from shopify_app.suppliers.forwarding import ForwardingWorker


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    yield from serve_world(sandboxed_app, sandbox_shopify)


def test_a_polish_customer_follows_the_order_reports_a_broken_mug_and_reads_the_answer(world, smtp) -> None:
    mailbox = NoticeRun(world.services, smtp)
    placed = world.shopify.place_order(SHOP, [{"sku": "MUG-WHT", "quantity": 1}], email="ola@example.pl", customerLocale="pl-PL")
    world.drain()
    ForwardingWorker(world.services.session_factory, world.services.box).drain()  # sent to the supplier: the page says so
    with world.services.session_factory() as session:
        order = session.scalar(select(Order).where(Order.shop_domain == SHOP, Order.shopify_id == placed["id"].rsplit("/", 1)[-1]))
        assert order.customer_locale == "pl-PL"
        number = order.name

    # The store page, as Shopify's proxy forwards it; the browser asks for English, the order was placed in Polish.
    client = app_client = world.app.test_client()
    headers = {"X-Forwarded-For": "192.0.2.7", "Accept-Language": "en-US,en;q=0.8"}
    page = client.post(f"/proxy/lookup?{signed_query()}", data={"order": number, "email": "OLA@example.pl"}, headers=headers)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'lang="pl"' in html and number in html
    assert 'data-step="sent_to_supplier"' in html
    token = re.search(r'name="t" value="([^"]+)"', html).group(1)

    reported = client.post(f"/proxy/report?{signed_query()}", content_type="multipart/form-data", headers=headers,
                           data={"t": token, "kind": "damaged", "message": "Kubek przyszedł pęknięty.", "photos": [(io.BytesIO(png_bytes()), "kubek.png")]})
    assert reported.status_code == 200 and 'id="dso-notice"' in reported.get_data(as_text=True)
    with world.services.session_factory() as session:
        case = session.scalars(select(Case).where(Case.shop_domain == SHOP)).one()
        assert (case.kind, case.status, case.order_id) == ("damaged", "open", order.id)
        assert session.scalar(select(CasePhoto.content_type)) in ("image/png", "image/jpeg")
        case_id = case.id

    # The merchant answers from the admin (the case page's JSON action, with a session token from the sandbox).
    answered = world.api("post", f"/api/cases/{case_id}/reply", json={"body": "Przepraszamy! Nowy kubek wysyłamy dziś.", "owner": "Maja"})
    assert answered.status_code == 201, answered.get_json()

    [reply] = mailbox.run()
    assert reply["To"] == "ola@example.pl" and reply["Content-Language"] == "pl"
    body = reply.get_content()
    assert "Przepraszamy! Nowy kubek wysyłamy dziś." in body and number in reply["Subject"]
    assert "Dzień dobry" in body and "Hello" not in body  # worded in Polish (the catalog's greeting)
    assert mailbox.run() == []  # one email

    shown = app_client.get(f"/proxy/order?{signed_query(t=token)}", headers=headers).get_data(as_text=True)
    assert 'lang="pl"' in shown and "Przepraszamy! Nowy kubek wysyłamy dziś." in shown and 'data-author="merchant"' in shown
    assert "Kubek przyszedł pęknięty." in shown and re.search(r'<img src="/apps/orders/photo/\d+\?', shown)
