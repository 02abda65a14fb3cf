"""customers/redact finds the customer's values however they are spelled, on SQLite and PostgreSQL.

A security review found values that survived redaction: an upper-case accented name (SQLite's
lower() folds ASCII only; JSON escapes such as `\\u00cb` are not folded by any database), the
percent-encoded email and name in a URL or a message, and in the request sent to a supplier
for the customer's own order a postcode without its space and a street in capitals without
its accent, under keys (`postcode`, `street`) the key lists did not name.
"""
from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from shopify_app.alerts import raise_alert
from shopify_app.orders.models import Order
from shopify_app.reconcile.models import Desync
from shopify_app.suppliers.models import DeliveryAttempt, SupplierOrder
from test_privacy_complete import GRACE, SHOP_A, Person, add_supplier, database_hits, deliver, drain, handled, order_payload, redact_request

ZOE = Person("Zoë", "Ünal", "zoe.unal@example.net", "+1 613-555-0177", "+16135550177", "12 Église Rue", "Québec", "G1R 4P5", 9100009, 7100000009, "#7009")


@pytest.fixture
def app(app_factory, database_url, tmp_path, monkeypatch):
    folder = tmp_path / "instance"
    (folder / "email-po").mkdir(parents=True)
    monkeypatch.setattr("shopify_app.config.INSTANCE_DIR", folder)
    app = app_factory(database_url)
    app.extensions["services"].tokens.save(SHOP_A, "shpat_test", None, None, None, "read_orders")
    deliver(app, "orders/create", order_payload(ZOE), SHOP_A)
    deliver(app, "orders/create", order_payload(GRACE), SHOP_A)  # another customer of the shop: left as she was
    drain(app)
    return app


def _delivery(session, person: Person, supplier_id: int) -> SupplierOrder:
    order = session.scalar(select(Order).where(Order.shopify_id == str(person.order_id)))
    delivery = SupplierOrder(shop_domain=SHOP_A, order_id=order.id, supplier_id=supplier_id, idempotency_key=f"k-{person.order_id}",
                             supplier_order_id=f"PO-{person.order_id}", state="placed")
    session.add(delivery)
    session.flush()
    return delivery


def _redact(app, person: Person = ZOE) -> None:
    body = redact_request(person)
    deliver(app, "customers/redact", body, SHOP_A)
    drain(app)


def _row(app, model, *where):
    with app.extensions["services"].session_factory() as session:
        return session.scalars(select(model).where(*where)).one()


def test_an_upper_case_accented_name_is_found_in_rows_not_linked_to_the_order(app):
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        raise_alert(session, SHOP_A, "returned", "returned:" + uuid.uuid4().hex, "Parcel for ZOË ÜNAL came back")
        # JSON keeps `\u00cb`: lower() of either database leaves the escape as it is.
        session.add(Desync(shop_domain=SHOP_A, kind="notice_bounced", ref="mail:x", subject="bounce", evidence={"to": "ZOË ÜNAL"}))
        handled(session, SHOP_A, "supplier/event", {"supplier_id": 0, "body": json.dumps({"type": "returned", "data": {"recipient": {"name": "ZOË ÜNAL"}}})})
    grace_before = database_hits(services.engine, GRACE.searched())
    _redact(app)
    assert database_hits(services.engine, ["ZOË ÜNAL", "Zoë Ünal", "\\u00cb"]) == []
    assert database_hits(services.engine, GRACE.searched()) == grace_before
    assert _row(app, Desync, Desync.ref == "mail:x").evidence == {"to": "[redacted]"}


def test_percent_encoded_values_are_redacted(app):
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        delivery = _delivery(session, ZOE, add_supplier(session, SHOP_A, "Mail"))
        session.add(DeliveryAttempt(supplier_order_id=delivery.id, action="place", outcome="ok", request={"external_id": "k"},
                                    response={"id": "PO-1", "tracking_url": "https://track.example/?email=zoe.unal%40example.net&name=Zo%C3%AB%20%C3%9Cnal"}))
        raise_alert(session, SHOP_A, "bounce", "bounce:" + uuid.uuid4().hex, "Bounce from zoe.unal%40example.net")
        raise_alert(session, SHOP_A, "bounce", "bounce:" + uuid.uuid4().hex, "Form post name=Zo%C3%AB+%C3%9Cnal&phone=%2B1%20613-555-0177")
    _redact(app)
    assert database_hits(services.engine, ["zoe.unal", "Zo%C3%AB", "555-0177"]) == []
    attempt = _row(app, DeliveryAttempt, DeliveryAttempt.supplier_order_id == delivery.id)
    assert attempt.response["id"] == "PO-1" and attempt.response["tracking_url"].startswith("https://track.example/?email=[redacted]&name=[redacted]")


def test_rows_of_the_customers_order_are_redacted_by_key_and_spelling_variants_everywhere(app):
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        supplier = add_supplier(session, SHOP_A, "Rest")
        delivery = _delivery(session, ZOE, supplier)
        grace_delivery = _delivery(session, GRACE, supplier)
        ship_to = {"fullname": "Z. U.", "street1": "12 EGLISE RUE", "street2": "Apt 4", "postcode": "G1R4P5", "region": "QC", "country": "CA",
                   "mail": "someone@else.example", "phoneNumber": "0177"}
        session.add(DeliveryAttempt(supplier_order_id=delivery.id, action="place", outcome="ok",
                                    request={"external_id": "k", "ship_to": ship_to, "items": [{"sku": "IPOD2008PINK", "qty": 2, "retail_price": "9.50"}],
                                             "recipient": {"name": "Z U", "address1": "x", "state_code": "QC", "country_code": "CA", "tax_number": "TX-1"}},
                                    response={"id": "PO-9", "status": "pending"}))
        session.add(DeliveryAttempt(supplier_order_id=grace_delivery.id, action="place", outcome="ok", request={"ship_to": {"street1": "1 Other St", "postcode": "K1A0A1"}}))
        # Not linked to her order: found by the stripped spellings of her values.
        raise_alert(session, SHOP_A, "label", "label:" + uuid.uuid4().hex, "Returned from 12 EGLISE RUE, QUEBEC G1R4P5 for ZoeUnal")
    _redact(app)
    assert database_hits(services.engine, ["EGLISE", "G1R4P5", "ZoeUnal", "Église"]) == []
    request = _row(app, DeliveryAttempt, DeliveryAttempt.supplier_order_id == delivery.id).request
    assert request["ship_to"] == {"fullname": "[redacted]", "street1": "[redacted]", "street2": "[redacted]", "postcode": "[redacted]", "region": "[redacted]",
                                  "country": "CA", "mail": "[redacted]", "phoneNumber": "[redacted]"}
    assert request["recipient"] == {"name": "[redacted]", "address1": "[redacted]", "state_code": "[redacted]", "country_code": "CA", "tax_number": "[redacted]"}
    assert request["items"] == [{"sku": "IPOD2008PINK", "qty": 2, "retail_price": "9.50"}] and request["external_id"] == "k"
    assert _row(app, DeliveryAttempt, DeliveryAttempt.supplier_order_id == grace_delivery.id).request == {"ship_to": {"street1": "1 Other St", "postcode": "K1A0A1"}}
