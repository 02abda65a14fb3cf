"""A full run in real mode logs JSON lines with context, and no planted secret or customer data anywhere in them."""
from __future__ import annotations

import json
import logging
import time

import httpx
import pytest

from conftest import API_KEY, API_SECRET, FERNET_KEY, OLD_SECRET, make_settings
from production_server_kit import ServerProcess, free_port, real_mode_env

SHOP = "demo.myshopify.com"
SUPPLIER_TOKEN = "sup-planted-token-7f3a9c1e5b"
CUSTOMER = {
    "email": "zofia.plantedska@example.org",
    "phone": "+48601555019",
    "first": "Zofia",
    "last": "Plantedska",
    "street": "742 Evergreen Terrace",
    "city": "Plantedville",
    "zip": "PL-00-950",
}


@pytest.fixture
def world(sqlite_url):
    from sandbox.shopify.server import SandboxShopify
    from sandbox.supplier.printful import SandboxSupplier
    from shopify_app.webhooks.subscriptions import declared_topics

    port = free_port()
    shopify = SandboxShopify()
    shopify.start()
    supplier = SandboxSupplier(token=SUPPLIER_TOKEN)
    supplier.start()
    settings = make_settings(sqlite_url, sandbox_shopify_url=shopify.base_url, app_url=f"http://127.0.0.1:{port}")
    shopify.register_app(API_KEY, API_SECRET, settings.app_url, settings.scopes, webhook_topics=declared_topics())
    yield shopify, supplier, settings, port
    supplier.stop()
    shopify.stop()


def test_full_real_mode_run_logs_json_without_planted_secrets_or_pii(tmp_path, sqlite_url, world):
    from sandbox.shopify import records
    from shopify_app.devserver import seed_sandbox_install
    from shopify_app.services import build_services

    shopify, supplier, settings, port = world
    env = real_mode_env(sqlite_url, port, SANDBOX_SHOPIFY_URL=shopify.base_url, SHOPIFY_API_SECRET_OLD=OLD_SECRET, LOG_LEVEL="DEBUG")
    server = ServerProcess(["run"], env, tmp_path / "run.log", port).start()
    session_tokens: list[str] = []
    try:
        server.wait_http()
        # The merchant opens the app in the admin: session token in the query, token exchange.
        opened = httpx.get(f"{shopify.base_url}/admin/apps/{API_KEY}?shop={SHOP}", follow_redirects=True, timeout=30)
        assert opened.status_code == 200, opened.text
        # The merchant connects a supplier with its API token (as the demo seeds it).
        services = build_services(settings)
        try:
            seed_sandbox_install(services, shopify, supplier)
            access_token = services.tokens.access_token(SHOP)
        finally:
            services.close()
        supplier.auto_ship(after_seconds=0.5, poll_seconds=0.2)
        address = records.mailing_address(
            "gid://shopify/MailingAddress/990001", firstName=CUSTOMER["first"], lastName=CUSTOMER["last"], name=f"{CUSTOMER['first']} {CUSTOMER['last']}",
            address1=CUSTOMER["street"], city=CUSTOMER["city"], zip=CUSTOMER["zip"], phone=CUSTOMER["phone"], country="Poland", countryCodeV2="PL", province=None, provinceCode=None,
        )
        sku = sorted(supplier.variant_ids_by_sku())[0]
        shopify.place_order(SHOP, [{"sku": sku, "quantity": 1}], email=CUSTOMER["email"], phone=CUSTOMER["phone"], shippingAddress=address)
        state, orders, deadline = None, [], time.monotonic() + 60
        while state != "shipped" and time.monotonic() < deadline:
            token = shopify.mint_session_token(SHOP, API_KEY)
            session_tokens.append(token)
            orders = httpx.get(f"{server.url}/api/orders", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["orders"]
            state = orders[0]["state"] if orders else None
            time.sleep(0.3)
        assert state == "shipped", orders  # the whole loop ran: intake, routing, supplier order, tracking, fulfillment
        # A call with a bad token and a query-string token: rejected, and their values not logged either.
        httpx.get(f"{server.url}/api/orders?id_token={session_tokens[0]}", headers={"Authorization": "Bearer not-a-jwt-planted-bearer"}, timeout=10)
    finally:
        assert server.terminate() == 0
        server.kill()
    output = server.output()
    lines = [line for line in output.splitlines() if line.strip()]
    records_ = [json.loads(line) for line in lines]  # every line is one JSON object
    assert len(records_) > 20
    assert any(r.get("logger") == "gunicorn.access" for r in records_)
    assert any(r.get("request_id") and r.get("shop") == SHOP and r.get("topic") for r in records_), "webhook intake lines carry request id, shop and topic"
    assert any(r.get("delivery_id") and r.get("shop") == SHOP and r.get("topic") for r in records_), "inbox worker lines carry the delivery, shop and topic"
    assert any(r.get("supplier_order_id") and r.get("supplier_id") and r.get("order_id") and r.get("shop") == SHOP for r in records_), "forwarding lines carry supplier order, supplier, order and shop"
    planted = {
        "API secret": API_SECRET, "old API secret": OLD_SECRET, "encryption key": FERNET_KEY, "supplier token": SUPPLIER_TOKEN,
        "shop access token": access_token, "bad bearer": "not-a-jwt-planted-bearer",
        **{f"customer {key}": value for key, value in CUSTOMER.items()},
        **{f"session token {n}": token for n, token in enumerate(session_tokens)},
    }
    leaked = {name: value for name, value in planted.items() if value.lower() in output.lower()}
    assert not leaked, f"found in the logs: {leaked}"


def test_redaction_filter_masks_what_slips_through(caplog):
    from shopify_app.server.logs import ContextFilter, RedactFilter, bound

    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "customer %s at %s, phone %s, call with Authorization: Bearer %s and ?access_token=%s",
                               ("jane@example.com", "742 Evergreen Terrace", "+1 613-555-0111", "shpat_0123456789abcdef", "abc123"), None)
    with bound(shop=SHOP, supplier_order_id=7):
        ContextFilter().filter(record)
    RedactFilter().filter(record)
    message = record.getMessage()
    for value in ("jane@example.com", "742 Evergreen", "613-555-0111", "shpat_0123456789abcdef", "abc123"):
        assert value not in message, message
    assert "[email]" in message and "[address]" in message and "[phone]" in message
    assert record.shop == SHOP and record.supplier_order_id == 7


SECRET_KEY_NAMES = ("webhook_secret_key", "secret_key", "imap_password", "access_token", "refresh_token", "client_secret", "password")


@pytest.mark.parametrize("name", SECRET_KEY_NAMES)
def test_secret_names_inside_identifiers_are_redacted_in_lines_json_and_sentry_values(name):
    from shopify_app.server.logs import redact, redact_value

    value = "s3cr3tV4lue99"
    for line in (f"{name}={value}", f'{{"{name}": "{value}"}}', f"saving {name}: {value} now"):
        assert value not in redact(line), line
    assert redact_value({name: value, "nested": {name.upper(): value}}) == {name: "[redacted]", "nested": {name.upper(): "[redacted]"}}


def test_names_that_only_contain_a_secret_word_are_left_alone():
    from shopify_app.server.logs import redact, redact_value

    assert redact("status_code=502 token_count=3") == "status_code=502 token_count=3"
    assert redact_value({"token_count": 3}) == {"token_count": 3}
