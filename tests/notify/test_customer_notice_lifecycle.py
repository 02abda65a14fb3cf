"""A whole order lifecycle through the sandbox Shopify, the REST supplier and a real SMTP server: each customer
notice arrives once, in the customer's language, with the shop's real name and the estimated arrival; the
follow-up and the review request go out on schedule (time injected); answers and review clicks are recorded."""
from __future__ import annotations

import datetime as dt
import threading
from urllib.parse import urlsplit

import pytest
from babel.dates import format_date
from sqlalchemy import select
from werkzeug.serving import make_server

from deliveries.delivery_world import SHOP, DeliveryWorld, days_ago
from notify.notice_kit import APP_SENDER, NoticeRun, links, smtp  # noqa: F401 (fixture)
from sandbox.supplier.rest_supplier import RestSandboxSupplier
from shopify_app.models import utcnow
from shopify_app.notify.customer_models import SatisfactionAnswer
from shopify_app.orders.models import CustomerNotice
from shopify_app.shop_profile import refresh_shop_profile

SHOP_NAME = "Sklep Ani & Co"
REVIEW_PAGE = "https://reviews.example.org/sklep-ani"
ALL_STEPS = {"order_received": True, "shipped": True, "out_for_delivery": True, "delivered": True, "delay": True, "follow_up": True, "review_request": True}


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    server = make_server("127.0.0.1", 0, sandboxed_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    supplier_server = RestSandboxSupplier()
    supplier_server.start()
    world = DeliveryWorld(sandboxed_app, sandbox_shopify, supplier_server, f"http://127.0.0.1:{server.server_port}")
    world.store.require_shop(SHOP).record["name"] = SHOP_NAME
    refresh_shop_profile(world.services, SHOP)  # as the profile job does at install
    yield world
    supplier_server.stop()
    server.shutdown()


def path_of(url: str) -> str:
    return urlsplit(url).path


@pytest.mark.parametrize("locale, lang", [("pl-PL", "pl"), ("he", "he")])
def test_each_notice_of_a_lifecycle_arrives_once_in_the_customers_language_with_the_eta(world, smtp, locale, lang):
    answer = world.api("put", "/api/notice-settings", json={"steps": ALL_STEPS, "follow_up_days": 7, "review_url": REVIEW_PAGE})
    assert answer.status_code == 200, answer.get_json()
    mailbox = NoticeRun(world.services, smtp)
    order = world.shopify.place_order(SHOP, [{"sku": "MUG-WHT", "quantity": 1}], email="buyer@example.com", customerLocale=locale)
    world.drain()
    from shopify_app.suppliers.forwarding import ForwardingWorker

    ForwardingWorker(world.services.session_factory, world.services.box).drain()
    [received] = mailbox.run()
    assert received["Content-Language"] == lang and received["To"] == "buyer@example.com"
    [sender] = received["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (SHOP_NAME, APP_SENDER)
    assert received["Reply-To"].addresses[0].addr_spec == f"owner@{SHOP}"  # the shop's contact email: its sender is not verified
    assert SHOP_NAME in received.get_content() and "Our shop" not in received.get_content()

    # The supplier ships; the carrier's first scan brings the estimated arrival.
    fulfillment = _ship(world, order)
    assert mailbox.run() == []  # no ETA yet: the shipped notice waits for the carrier's first scan
    eta = (utcnow() + dt.timedelta(days=4)).replace(microsecond=0)
    world.carrier_event(fulfillment, "IN_TRANSIT", days_ago(0.1), estimatedDeliveryAt=eta)
    world.drain()
    [shipped] = mailbox.run()
    body = shipped.get_content()
    assert format_date(eta.date(), "long", locale=lang) in body  # the ETA, written the customer's way (Babel's month names)
    assert shipped["Content-Language"] == lang and SHOP_NAME in body and "DHL" in body

    world.carrier_event(fulfillment, "OUT_FOR_DELIVERY", days_ago(0.05))
    world.drain()
    [out] = mailbox.run()
    world.carrier_event(fulfillment, "DELIVERED", days_ago(0.01))
    world.drain()
    [delivered] = mailbox.run()
    assert {out["Content-Language"], delivered["Content-Language"]} == {lang}
    assert mailbox.run() == []  # nothing is sent twice

    # Not yet: the follow-up goes seven days after delivery.
    assert mailbox.run(utcnow() + dt.timedelta(days=6)) == []
    [follow_up] = mailbox.run(utcnow() + dt.timedelta(days=7, hours=1))
    assert follow_up["Content-Language"] == lang and follow_up["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    good, bad, unsubscribe = links(follow_up.get_content())
    assert path_of(good).endswith("/good") and path_of(bad).endswith("/bad") and "/notices/unsubscribe/" in unsubscribe

    # The link opens a one-button page in the customer's language (right-to-left for Hebrew); the button records.
    page = world.app.test_client().get(path_of(good))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'lang="{lang}"' in html and ('dir="rtl"' in html) == (lang == "he") and 'method="post"' in html
    assert world.app.test_client().post(path_of(good)).status_code == 200
    with world.services.session_factory() as session:
        answers = session.scalars(select(SatisfactionAnswer)).all()
        assert [(a.answer, a.supplier_id) for a in answers] == [("good", world.supplier_id)]  # per order and supplier

    [review] = mailbox.run(utcnow() + dt.timedelta(days=7, hours=2))
    review_link = [link for link in links(review.get_content()) if "/notices/review/" in link][0]
    assert world.app.test_client().get(path_of(review_link)).status_code == 200  # a page with the button: a scanner's visit counts nothing
    redirect = world.app.test_client().post(path_of(review_link))
    assert (redirect.status_code, redirect.headers["Location"]) == (303, REVIEW_PAGE)
    with world.services.session_factory() as session:
        assert session.scalars(select(SatisfactionAnswer.review_clicked_at)).one() is not None
        kinds = sorted(n.kind for n in session.scalars(select(CustomerNotice).where(CustomerNotice.status == "sent")))
    assert kinds == sorted(["order_received", "shipped", "out_for_delivery", "delivered", "follow_up", "review_request"])
    assert mailbox.run(utcnow() + dt.timedelta(days=9)) == []  # and never a second time


def _ship(world, order) -> str:
    from shopify_app.orders.models import Order
    from shopify_app.suppliers.models import SupplierOrder
    from shopify_app.suppliers.polling import poll_shipments

    with world.services.session_factory() as session:
        ours = session.scalar(select(Order).where(Order.shopify_id == order["id"].rsplit("/", 1)[-1]))
        supplier_order_id = session.scalar(select(SupplierOrder.supplier_order_id).where(SupplierOrder.order_id == ours.id))
    world.supplier_server.ship(supplier_order_id, tracking_number="JD0001")
    poll_shipments(world.services)
    world.drain()
    [fulfillment] = [f for f in world.store.require_shop(SHOP).all("Fulfillment") if f["order"].gid == order["id"]]
    return fulfillment["id"]
