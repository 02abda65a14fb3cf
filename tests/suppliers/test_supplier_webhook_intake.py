"""A supplier's webhook outside Flask (WebhookIntakeMiddleware): answered exactly as the Flask view answers it.

Each request is sent twice: through the app (the middleware's path) and straight to the Flask
app behind it (the view's path, as before the middleware took supplier webhooks); status,
body and headers must be the same, and the inbox must hold what the view would have stored.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import pytest
from sqlalchemy import select
from werkzeug.test import Client

from conftest import install_shop, printful_supplier
from shopify_app.models import WebhookDelivery
from shopify_app.suppliers.models import Supplier

SHOP, OTHER_SHOP = "demo.myshopify.com", "other.myshopify.com"
SECRET, OTHER_SECRET = "ab" * 16, "cd" * 16
REQUEST_ID = "req-12345678"


def event(**extra) -> bytes:
    return json.dumps({"type": "package_returned_unknown", "data": {}, "nonce": uuid.uuid4().hex, **extra}).encode()


def signed(body: bytes, secret: str = SECRET) -> dict:
    return {"x-pf-webhook-signature": hmac.new(bytes.fromhex(secret), body, hashlib.sha256).hexdigest(), "X-Request-Id": REQUEST_ID}


class Paths:
    """The app (middleware first) and the Flask app behind it, with a count of the requests the middleware passed on."""

    def __init__(self, app):
        middleware = app.wsgi_app
        flask_app = middleware.wsgi_app
        self.passed_on = 0

        def counting(environ, start_response):
            self.passed_on += 1
            return flask_app(environ, start_response)

        middleware.wsgi_app = counting
        self.lean, self.flask = app.test_client(), Client(flask_app)

    def both(self, path: str, body: bytes, headers: dict) -> tuple[tuple, tuple]:
        """(answer through the app, answer through the Flask view) to the same request."""
        return answer(self.lean.post(path, data=body, headers=headers)), answer(self.flask.post(path, data=body, headers=headers))


def answer(response) -> tuple:
    return (response.status, response.get_data(), response.headers.get("Content-Type"), response.headers.get("Content-Security-Policy"),
            response.headers.get("X-Request-Id"))


def stored(app) -> list[tuple[str, str, int]]:
    with app.extensions["services"].session_factory() as session:
        return session.execute(select(WebhookDelivery.shop_domain, WebhookDelivery.topic, WebhookDelivery.delivery_count).order_by(WebhookDelivery.id)).all()


@pytest.fixture
def world(app_factory, sqlite_url):
    app = app_factory(sqlite_url)
    install_shop(app, SHOP, OTHER_SHOP)
    return app, printful_supplier(app, SECRET, SHOP), printful_supplier(app, OTHER_SECRET, OTHER_SHOP), Paths(app)


def test_a_signed_event_is_recorded_once_and_its_redelivery_answered_alike(world):
    app, supplier_id, _, paths = world
    body = event()
    lean, flask = paths.both(f"/suppliers/{supplier_id}/webhooks", body, signed(body))
    assert lean == flask == ("200 OK", b"ok", "text/html; charset=utf-8", flask[3], REQUEST_ID) and flask[3]
    assert paths.lean.post(f"/suppliers/{supplier_id}/webhooks", data=body, headers=signed(body)).status_code == 200
    assert stored(app) == [(SHOP, "supplier/event", 3)]  # one row; the two redeliveries counted on it
    assert paths.passed_on == 0  # only the Flask client reached the view: the app took its own path both times


@pytest.mark.parametrize("case", ["bad signature", "another shop's supplier secret", "non-ASCII signature", "unknown supplier", "deleted supplier",
                                  "not JSON", "nested too deeply"])
def test_refusals_are_answered_as_the_view_answers_them_and_store_nothing(world, case):
    app, supplier_id, other_id, paths = world
    body = event()
    path, headers = f"/suppliers/{supplier_id}/webhooks", signed(body)
    if case == "bad signature":
        headers["x-pf-webhook-signature"] = "0" * 64
    elif case == "another shop's supplier secret":  # signed for the other shop's supplier, sent to this one's URL
        headers = signed(body, OTHER_SECRET)
    elif case == "non-ASCII signature":
        headers["x-pf-webhook-signature"] = "ünïcødé"
    elif case == "unknown supplier":
        path = f"/suppliers/{other_id + 100}/webhooks"
    elif case == "deleted supplier":
        with app.extensions["services"].session_factory.begin() as session:
            session.get(Supplier, supplier_id).deleted_at = session.get(Supplier, supplier_id).created_at
    elif case == "nested too deeply":  # signed, but json.loads raises RecursionError (not ValueError): it was a 500
        body = b'{"type": "package_shipped", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        headers = signed(body)
    else:
        body = b"not json"
        headers = signed(body)
    lean, flask = paths.both(path, body, headers)
    expected = {"unknown supplier": ("404 NOT FOUND", b"Unknown supplier"), "deleted supplier": ("404 NOT FOUND", b"Unknown supplier"),
                "not JSON": ("400 BAD REQUEST", b"Bad Request"), "nested too deeply": ("400 BAD REQUEST", b"Bad Request")}.get(case, ("401 UNAUTHORIZED", b"Unauthorized"))
    assert lean == flask and lean[:2] == expected
    assert stored(app) == []
    assert paths.passed_on == 0


def test_an_oversized_body_is_refused_as_before_and_stores_nothing(world):
    app, supplier_id, _, paths = world
    limit = app.extensions["services"].settings.webhook_max_bytes
    body = event(padding="x" * limit)
    lean, flask = paths.both(f"/suppliers/{supplier_id}/webhooks", body, signed(body))
    assert lean == flask and lean[:2] == ("413 REQUEST ENTITY TOO LARGE", b"Payload too large")
    assert stored(app) == []


def test_a_shop_in_the_query_reaches_the_csp_as_through_flask(world):
    _, supplier_id, _, paths = world
    body = event()
    lean, flask = paths.both(f"/suppliers/{supplier_id}/webhooks?shop={SHOP}", body, signed(body))
    assert lean == flask and f"https://{SHOP}" in lean[3]
    assert paths.passed_on == 0


def test_metrics_count_the_supplier_door_on_the_lean_path(world):
    from shopify_app.metrics.instruments import WEBHOOKS_RECEIVED

    _, supplier_id, _, paths = world
    recorded, refused = WEBHOOKS_RECEIVED.labels("supplier/event", "recorded"), WEBHOOKS_RECEIVED.labels("supplier/event", "401")
    before = recorded._value.get(), refused._value.get()
    body = event()
    assert paths.lean.post(f"/suppliers/{supplier_id}/webhooks", data=body, headers=signed(body)).status_code == 200
    assert paths.lean.post(f"/suppliers/{supplier_id}/webhooks", data=body, headers=signed(body, OTHER_SECRET)).status_code == 401
    assert (recorded._value.get(), refused._value.get()) == (before[0] + 1, before[1] + 1)
    assert paths.passed_on == 0


def test_the_raw_supplier_read_gives_the_core_row(app_factory, database_url):
    """live_supplier reads on the DBAPI connection: its row must equal _LIVE_SUPPLIER's through Core (JSON settings, encrypted bytes)."""
    from shopify_app.suppliers.webhooks import _LIVE_SUPPLIER, live_supplier

    app = app_factory(database_url)
    install_shop(app, SHOP)
    supplier_id = printful_supplier(app, SECRET, SHOP)
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        session.get(Supplier, supplier_id).settings = {"products": {"TEE": {"id": 4011}}, "note": "é", "n": 1.5}
    engine = services.read_session_factory.kw["bind"]
    with engine.connect() as connection:
        core = connection.execute(_LIVE_SUPPLIER, {"id": supplier_id}).first()
    raw = live_supplier(engine, supplier_id)
    assert tuple(raw) == tuple(core) and raw._fields == tuple(core._fields)
    assert raw.settings["products"] == {"TEE": {"id": 4011}} and isinstance(raw.credentials_enc, bytes)
    assert live_supplier(engine, supplier_id + 1000) is None
    with services.session_factory.begin() as session:
        session.get(Supplier, supplier_id).deleted_at = session.get(Supplier, supplier_id).created_at
    assert live_supplier(engine, supplier_id) is None


def test_supplier_webhooks_of_one_window_ring_the_way_back_once_after_they_all_committed(world, monkeypatch):
    """Each supplier webhook used to ring the way-back lane (a look per event); now the first of a window starts the ring's
    timer, the others share it, and the ring comes after every one of them is in the inbox (one look claims them all)."""
    import threading

    from shopify_app.suppliers import event_rings

    app, supplier_id, _, paths = world
    services = app.extensions["services"]
    monkeypatch.setattr(event_rings, "RING_WINDOW_SECONDS", 0.5)
    rang, rows_at_ring = threading.Event(), []

    def ring():
        rows_at_ring.append(len(stored(app)))
        rang.set()

    monkeypatch.setattr(services, "wake_way_back", ring)
    for _ in range(3):
        body = event()
        assert paths.lean.post(f"/suppliers/{supplier_id}/webhooks", data=body, headers=signed(body)).status_code == 200
    assert rang.wait(10)
    assert rows_at_ring == [3]  # one ring, after the three were committed
    rang.clear()
    body = event()  # a webhook after the window: a ring of its own
    assert paths.lean.post(f"/suppliers/{supplier_id}/webhooks", data=body, headers=signed(body)).status_code == 200
    assert rang.wait(10) and rows_at_ring == [3, 4]
