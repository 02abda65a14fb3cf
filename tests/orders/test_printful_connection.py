"""A Printful connection that stays alive: webhooks registered with Printful and renewed, OAuth tokens refreshed and stored, tracking never blanked by a poll."""
from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from sqlalchemy import select

from forwarding_kit import SHOP, add_printful_supplier, deliver, deliveries, paid_order_payload, with_primary_location_shopify
from integrations.suppliers.base import PermanentSupplierError, Shipment, ShipmentLine
from integrations.suppliers.printful import PrintfulAdapter
from integrations.suppliers.printful.oauth import OAuthTokens
from integrations.suppliers.printful.pacing import LeakyBucket
from sandbox.supplier.printful import SandboxSupplier
from sandbox.supplier.webhooks import sign
from shopify_app.suppliers.forwarding import ForwardingWorker, adapter_from_record
from shopify_app.suppliers.models import Alert, Supplier, SupplierShipment
from shopify_app.suppliers.polling import poll_shipments
from shopify_app.suppliers.printful_connect import RENEW_BEFORE, maintain_printful_connections
from shopify_app.suppliers.tracking import record_shipment


@pytest.fixture(scope="module")
def printful():
    sandbox = SandboxSupplier()
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(printful):
    printful.reset()
    return printful


@pytest.fixture
def app(app_factory, sqlite_url):
    app = app_factory(sqlite_url)
    app.extensions["services"].tokens.save(SHOP, "shpat_x", None, None, None, "read_orders")
    return with_primary_location_shopify(app)


def credentials_of(app, supplier_id: int) -> dict:
    services = app.extensions["services"]
    with services.session_factory() as session:
        return json.loads(services.box.decrypt(session.get(Supplier, supplier_id).credentials_enc))


def raw_credentials(app, supplier_id: int) -> bytes:
    with app.extensions["services"].session_factory() as session:
        return session.get(Supplier, supplier_id).credentials_enc


def posts_to_webhooks(sandbox) -> int:
    return sum(1 for method, path, _ in sandbox.received if (method, path) == ("POST", "/v2/webhooks"))


# -- webhook registration ------------------------------------------------------------------------


def test_connecting_registers_our_webhook_url_and_stores_the_keys_encrypted(app, sandbox, sandbox_shopify):
    from conftest import API_KEY

    supplier_id = add_printful_supplier(app, sandbox)
    token = sandbox_shopify.mint_session_token(SHOP, API_KEY)
    answer = app.test_client().post(f"/api/suppliers/{supplier_id}/printful-webhooks", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.get_json()["webhooks"]["registered"] is True

    config = sandbox.webhooks.config
    assert config.default_url == f"http://127.0.0.1:9/suppliers/{supplier_id}/webhooks"
    assert {"shipment_sent", "order_failed", "order_canceled"} <= set(config.events)
    expires = dt.datetime.fromisoformat(config.expires_at.replace("Z", "+00:00"))
    assert expires - dt.datetime.now(dt.timezone.utc) > dt.timedelta(days=20)
    stored = credentials_of(app, supplier_id)
    assert (stored["webhook_secret_key"], stored["webhook_public_key"]) == (config.secret_key, config.public_key)
    assert config.secret_key.encode() not in raw_credentials(app, supplier_id)  # encrypted at rest

    # From now on the app verifies Printful's webhooks with the new keys, and refuses the old ones.
    body = json.dumps({"type": "order_updated", "occurred_at": "2026-01-01T00:00:00Z", "retries": 0, "store_id": 1,
                       "data": {"order": {"id": 1, "external_id": "x", "status": "pending", "store_id": 1}}}).encode()
    client = app.test_client()
    assert client.post(f"/suppliers/{supplier_id}/webhooks", data=body, headers=config.headers(body)).status_code == 200
    forged = {**config.headers(body), "x-pf-webhook-signature": sign(body, "ab" * 64)}
    assert client.post(f"/suppliers/{supplier_id}/webhooks", data=body, headers=forged).status_code == 401


def test_creating_a_printful_supplier_registers_its_webhooks_in_the_background(app, sandbox, sandbox_shopify):
    from conftest import API_KEY
    from scheduler.embedded import EmbeddedScheduler

    services = app.extensions["services"]
    ran = []

    class Clock:  # EmbeddedScheduler.soon, run on the spot (the test app runs no scheduler)
        def soon(self, job_id, fn, *args):
            ran.append(job_id)
            fn(*args)

    assert hasattr(EmbeddedScheduler, "soon")
    services.scheduler = Clock()
    token = sandbox_shopify.mint_session_token(SHOP, API_KEY)
    created = app.test_client().post("/api/suppliers", headers={"Authorization": f"Bearer {token}"}, json={
        "name": "Printful", "kind": "printful", "credentials": {"token": sandbox.token}, "settings": {"base_url": sandbox.base_url}})
    services.scheduler = None
    assert created.status_code == 201
    supplier_id = created.get_json()["supplier"]["id"]
    assert ran == [f"printful-connect:{supplier_id}"] and posts_to_webhooks(sandbox) == 1
    assert credentials_of(app, supplier_id)["webhook_secret_key"] == sandbox.webhooks.config.secret_key


def test_the_job_registers_new_connections_then_leaves_fresh_ones_alone(app, sandbox):
    supplier_id = add_printful_supplier(app, sandbox)
    services = app.extensions["services"]
    assert maintain_printful_connections(services) == 1
    assert posts_to_webhooks(sandbox) == 1 and credentials_of(app, supplier_id)["webhook_secret_key"] == sandbox.webhooks.config.secret_key
    maintain_printful_connections(services)
    assert posts_to_webhooks(sandbox) == 1  # fresh and still ours: only read back, not registered again


def test_the_job_renews_before_expiry_and_takes_back_a_replaced_configuration(app, sandbox):
    supplier_id = add_printful_supplier(app, sandbox)
    services = app.extensions["services"]
    maintain_printful_connections(services)
    first_secret = sandbox.webhooks.config.secret_key

    soon = (dt.datetime.now(dt.timezone.utc) + RENEW_BEFORE - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with services.session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        credentials = json.loads(services.box.decrypt(supplier.credentials_enc)) | {"webhook_expires_at": soon}
        supplier.credentials_enc = services.box.encrypt(json.dumps(credentials))
    maintain_printful_connections(services)
    assert posts_to_webhooks(sandbox) == 2 and sandbox.webhooks.config.secret_key != first_secret
    assert credentials_of(app, supplier_id)["webhook_secret_key"] == sandbox.webhooks.config.secret_key

    sandbox.configure_webhooks("https://someone-else.example/hook")  # Printful keeps one configuration per token
    maintain_printful_connections(services)
    assert posts_to_webhooks(sandbox) == 3 and sandbox.webhooks.config.default_url.endswith(f"/suppliers/{supplier_id}/webhooks")


def test_a_failed_registration_is_alerted_then_cleared_when_it_works(app, sandbox):
    supplier_id = add_printful_supplier(app, sandbox)
    services = app.extensions["services"]
    sandbox.fail_next(503, route="POST /v2/webhooks")
    maintain_printful_connections(services)
    with services.session_factory() as session:
        [alert] = session.scalars(select(Alert)).all()
        assert alert.kind == "printful_webhooks" and alert.resolved_at is None
    maintain_printful_connections(services)
    with services.session_factory() as session:
        assert session.scalars(select(Alert)).one().resolved_at is not None
    assert credentials_of(app, supplier_id)["webhook_secret_key"] == sandbox.webhooks.config.secret_key


def test_a_broken_supplier_is_alerted_and_does_not_stop_the_job_for_the_others(app, sandbox):
    services = app.extensions["services"]
    broken = add_printful_supplier(app, sandbox)
    with services.session_factory.begin() as session:  # saved before check_printful_config existed
        row = session.get(Supplier, broken)
        row.credentials_enc = services.box.encrypt(json.dumps({"token": ""}))
        row.name = "Printful (old)"
    healthy = add_printful_supplier(app, sandbox)
    assert maintain_printful_connections(services) == 2
    assert credentials_of(app, healthy)["webhook_secret_key"] == sandbox.webhooks.config.secret_key
    with services.session_factory() as session:
        [alert] = session.scalars(select(Alert).where(Alert.kind == "job_failed")).all()
        assert alert.shop_domain == SHOP and alert.dedupe_key.endswith(f":supplier:{broken}")


# -- OAuth ------------------------------------------------------------------------------------------


def test_an_expiring_oauth_token_is_refreshed_before_the_call(sandbox):
    connection = sandbox.oauth.issue(lifetime=60)  # inside the refresh margin already
    saved = []
    tokens = OAuthTokens({"access_token": connection.access_token, "refresh_token": connection.refresh_token,
                          "client_id": connection.client_id, "client_secret": connection.client_secret,
                          "expires_at": connection.expires_at}, token_url=f"{sandbox.base_url}/oauth/token", on_refresh=saved.append)
    adapter = PrintfulAdapter("unused", base_url=sandbox.base_url, oauth=tokens, bucket=LeakyBucket(), products={"TSHIRT-BLK-S": 4011})
    assert adapter.get_stock(["TSHIRT-BLK-S"])[0].in_stock is True
    assert connection.refreshes == 1 and saved and saved[0]["access_token"] == connection.access_token
    assert saved[0]["refresh_token"] == connection.refresh_token  # rotated, and kept


def test_a_token_revoked_early_is_refreshed_once_after_the_401(sandbox):
    connection = sandbox.oauth.issue(lifetime=3600)
    tokens = OAuthTokens({"access_token": "revoked", "refresh_token": connection.refresh_token, "client_id": connection.client_id,
                          "client_secret": connection.client_secret, "expires_at": connection.expires_at},
                         token_url=f"{sandbox.base_url}/oauth/token")
    adapter = PrintfulAdapter("unused", base_url=sandbox.base_url, oauth=tokens, bucket=LeakyBucket(), products={"TSHIRT-BLK-S": 4011})
    assert adapter.get_stock(["TSHIRT-BLK-S"])[0].in_stock is True and connection.refreshes == 1


def test_a_refused_refresh_tells_the_merchant_to_reconnect(sandbox):
    tokens = OAuthTokens({"access_token": "a", "refresh_token": "spent", "client_id": "c", "client_secret": "s", "expires_at": 0},
                         token_url=f"{sandbox.base_url}/oauth/token")
    with pytest.raises(PermanentSupplierError, match="reconnect Printful"):
        tokens.access_token()


def test_refreshed_oauth_tokens_are_stored_encrypted_on_the_supplier(app, sandbox):
    connection = sandbox.oauth.issue(lifetime=60)
    services = app.extensions["services"]
    supplier_id = add_printful_supplier(app, sandbox)
    with services.session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        supplier.credentials_enc = services.box.encrypt(json.dumps({
            "access_token": connection.access_token, "refresh_token": connection.refresh_token, "client_id": connection.client_id,
            "client_secret": connection.client_secret, "expires_at": connection.expires_at}))
        supplier.settings = {**supplier.settings, "token_url": f"{sandbox.base_url}/oauth/token", "register_webhooks": False}
    with services.session_factory() as session:
        adapter = adapter_from_record(session.get(Supplier, supplier_id), services.box)
    assert adapter.get_stock(["TSHIRT-BLK-S"])  # refreshes first (the token expires within the margin)
    stored = credentials_of(app, supplier_id)
    assert (stored["access_token"], stored["refresh_token"]) == (connection.access_token, connection.refresh_token)
    assert connection.refresh_token.encode() not in raw_credentials(app, supplier_id)


def _oauth_supplier(app, sandbox, connection, **extra) -> int:
    services = app.extensions["services"]
    supplier_id = add_printful_supplier(app, sandbox)
    with services.session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        supplier.credentials_enc = services.box.encrypt(json.dumps({
            "access_token": connection.access_token, "refresh_token": connection.refresh_token, "client_id": connection.client_id,
            "client_secret": connection.client_secret, "expires_at": connection.expires_at, **extra}))
        supplier.settings = {**supplier.settings, "token_url": f"{sandbox.base_url}/oauth/token", "register_webhooks": False}
    return supplier_id


def audit_actions(app, supplier_id: int) -> list[str]:
    from shopify_app.suppliers.audit import SupplierAuditEntry
    with app.extensions["services"].session_factory() as session:
        return list(session.scalars(select(SupplierAuditEntry.action).where(SupplierAuditEntry.supplier_id == supplier_id)))


def test_a_refresh_keeps_webhook_keys_stored_since_the_adapter_was_built_and_is_audited(app, sandbox):
    connection = sandbox.oauth.issue(lifetime=60)
    services = app.extensions["services"]
    supplier_id = _oauth_supplier(app, sandbox, connection, webhook_secret_key="OLDSECRET")
    with services.session_factory() as session:
        adapter = adapter_from_record(session.get(Supplier, supplier_id), services.box)  # e.g. cached in another process
    with services.session_factory.begin() as session:  # meanwhile: new webhook keys (or a merchant's rotation)
        supplier = session.get(Supplier, supplier_id)
        supplier.credentials_enc = services.box.encrypt(json.dumps(json.loads(services.box.decrypt(supplier.credentials_enc)) | {"webhook_secret_key": "NEWSECRET"}))
    adapter.get_stock(["TSHIRT-BLK-S"])  # the old adapter refreshes its expiring token
    stored = credentials_of(app, supplier_id)
    assert stored["webhook_secret_key"] == "NEWSECRET" and stored["access_token"] == connection.access_token
    assert "credentials_refreshed" in audit_actions(app, supplier_id)


def test_a_refresh_does_not_overwrite_tokens_the_merchant_replaced_meanwhile(app, sandbox):
    connection = sandbox.oauth.issue(lifetime=60)
    services = app.extensions["services"]
    supplier_id = _oauth_supplier(app, sandbox, connection)
    with services.session_factory() as session:
        adapter = adapter_from_record(session.get(Supplier, supplier_id), services.box)
    with services.session_factory.begin() as session:  # the merchant switched to an API token
        session.get(Supplier, supplier_id).credentials_enc = services.box.encrypt(json.dumps({"token": "merchant-token"}))
    adapter.get_stock(["TSHIRT-BLK-S"])
    assert credentials_of(app, supplier_id) == {"token": "merchant-token"}


def test_storing_webhook_keys_keeps_a_rotation_saved_meanwhile_and_is_audited(app, sandbox):
    from shopify_app.suppliers import printful_connect

    services = app.extensions["services"]
    supplier_id = add_printful_supplier(app, sandbox)
    real = printful_connect.adapter_from_record

    def build_then_rotate(record, box):
        adapter = real(record, box)
        with services.session_factory.begin() as session:  # the merchant rotates while Printful answers
            supplier = session.get(Supplier, supplier_id)
            supplier.credentials_enc = box.encrypt(json.dumps(json.loads(box.decrypt(supplier.credentials_enc)) | {"token": "rotated"}))
        return adapter

    printful_connect.adapter_from_record = build_then_rotate
    try:
        assert printful_connect.register_webhooks(services, supplier_id)["registered"] is True
    finally:
        printful_connect.adapter_from_record = real
    stored = credentials_of(app, supplier_id)
    assert stored["token"] == "rotated" and stored["webhook_secret_key"] == sandbox.webhooks.config.secret_key
    assert "webhooks_registered" in audit_actions(app, supplier_id)


# -- polls never erase what a webhook brought ----------------------------------------------------------


def test_a_poll_without_a_tracking_number_keeps_the_one_the_webhook_brought(app, sandbox):
    add_printful_supplier(app, sandbox)
    deliver(app, "orders/paid", paid_order_payload())
    services = app.extensions["services"]
    ForwardingWorker(services.session_factory, services.box, rng=random.Random(3)).drain()
    [delivery] = deliveries(app)
    parcel = sandbox.ship(delivery.supplier_order_id, tracking_number="1ZWEBHOOK", carrier="UPS")
    with services.session_factory.begin() as session:  # what the shipment_sent webhook recorded
        row = record_shipment(session, session.get(type(delivery), delivery.id),
                              Shipment(str(parcel.id), "UPS", "1ZWEBHOOK", parcel.tracking_url, (ShipmentLine(1, supplier_sku="TSHIRT-BLK-S"),)))
        row.tracking_synced = True

    poll_shipments(services)  # Printful's polled Shipment has no tracking_number
    assert any(path.endswith("/shipments") for _, path, _ in sandbox.received)
    with services.session_factory() as session:
        [stored] = session.scalars(select(SupplierShipment)).all()
        assert (stored.tracking_number, stored.carrier, stored.tracking_url) == ("1ZWEBHOOK", "UPS", parcel.tracking_url)
        assert stored.tracking_synced is True  # nothing changed, so Shopify is not told again
