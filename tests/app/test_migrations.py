"""The Alembic baseline builds exactly the models' schema, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from shopify_app.db import make_engine
from shopify_app.all_models import Base


def test_migrated_schema_matches_models(database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_sqlite_runs_in_wal_with_full_sync(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    engine.dispose()


def test_upgrading_a_database_that_holds_orders_and_suppliers_keeps_them(tmp_path):
    """0002 -> head on a database in use: new columns are added without rebuilding referenced tables."""
    from alembic import command

    from shopify_app.migrate import alembic_config, upgrade_to_head

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0002")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO suppliers (id, shop_domain, name, kind, settings, priority, fulfillment_model, active, created_at) "
                          "VALUES (1, 's.myshopify.com', 'Acme', 'rest', '{}', 100, 'merchant_managed', 1, '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO product_mappings (id, shop_domain, sku, supplier_id, supplier_sku, in_stock) VALUES (1, 's.myshopify.com', 'A', 1, 'A', 1)"))
    engine.dispose()
    upgrade_to_head(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name, inventory_terms, return_terms FROM suppliers")).one() == ("Acme", "{}", "{}")
        assert conn.execute(text("SELECT sku, stock_as_of, safety_buffer FROM product_mappings")).one() == ("A", None, None)
    engine.dispose()


def test_supplier_events_recorded_before_0007_keep_only_their_signature_headers(database_url):
    """Rows from before the fix held every request header (cookies, basic auth): 0007 scrubs them."""
    import json

    from alembic import command
    from sqlalchemy import insert, select

    from shopify_app.migrate import alembic_config, upgrade_to_head
    from shopify_app.models import WebhookDelivery, utcnow
    from shopify_app.suppliers.models import Supplier
    from shopify_app.db import make_session_factory

    command.downgrade(alembic_config(database_url), "0006")
    factory = make_session_factory(make_engine(database_url))
    leaked = {"Cookie": "session=s3cret", "Authorization": "Basic YWRtaW46cGFzcw=="}
    with factory.begin() as session:
        printful = Supplier(shop_domain="s.myshopify.com", name="P", kind="printful", settings={})
        rest = Supplier(shop_domain="s.myshopify.com", name="R", kind="rest", settings={"webhook": {"signature_header": "X-Signature"}})
        session.add_all([printful, rest])
        session.flush()
        # Core inserts naming their columns: the model has columns added after 0006 (hold_key, 0042).
        rows = [dict(webhook_id=f"supplier-{n}", shop_domain="s.myshopify.com", topic="supplier/event", received_at=utcnow(),
                     body=json.dumps({"supplier_id": supplier.id, "headers": {**leaked, **signature}, "body": "{}"}))
                for n, (supplier, signature) in enumerate([(printful, {"X-Pf-Webhook-Signature": "ab12"}), (rest, {"X-Signature": "cd34"})])]
        rows.append(dict(webhook_id="shopify-1", shop_domain="s.myshopify.com", topic="orders/create", received_at=utcnow(), body='{"id": 1}'))
        session.execute(insert(WebhookDelivery.__table__), rows)
    upgrade_to_head(database_url)
    with factory() as session:
        kept = {row.webhook_id: json.loads(row.body) for row in session.execute(select(WebhookDelivery.webhook_id, WebhookDelivery.body))}
    factory.kw["bind"].dispose()
    assert kept["supplier-0"]["headers"] == {"X-Pf-Webhook-Signature": "ab12"}
    assert kept["supplier-1"]["headers"] == {"X-Signature": "cd34"}
    assert kept["supplier-1"]["body"] == "{}" and kept["shopify-1"] == {"id": 1}


def test_supplier_orders_sent_before_0010_count_as_sent_to_the_current_address(database_url):
    """0010 marks what was already sent, so a later edit or address change is compared with it."""
    import json

    from alembic import command

    from shopify_app.migrate import alembic_config, upgrade_to_head
    from shopify_app.orders.changes import address_digest

    command.downgrade(alembic_config(database_url), "0009")
    engine = make_engine(database_url)
    address = {"name": "Ada Lovelace", "address1": "12 Analytical Way", "city": "London", "country_code": "GB"}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO suppliers (id, shop_domain, name, kind, settings, inventory_terms, return_terms, priority, fulfillment_model, active, created_at) "
                          "VALUES (1, 's.myshopify.com', 'Acme', 'rest', '{}', '{}', '{}', 100, 'merchant_managed', true, '2026-01-01 00:00:00'), "
                          "(2, 's.myshopify.com', 'Bolt', 'rest', '{}', '{}', '{}', 100, 'merchant_managed', true, '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO orders (id, shop_domain, shopify_id, shipping_address, state, created_at, updated_at) "
                          "VALUES (1, 's.myshopify.com', '1', :address, 'forwarded', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"), {"address": json.dumps(address)})
        conn.execute(text("INSERT INTO order_lines (id, order_id, shopify_line_id, quantity, requires_shipping, gift_card) VALUES (1, 1, '11', 2, true, false), (2, 1, '12', 1, true, false)"))
        for n, (state, supplier_order_id) in enumerate([("placed", "'PF-1'"), ("pending", "NULL")], start=1):
            conn.execute(text(f"INSERT INTO supplier_orders (id, shop_domain, order_id, supplier_id, idempotency_key, state, supplier_order_id, attempts, next_attempt_at, created_at) "
                              f"VALUES ({n}, 's.myshopify.com', 1, {n}, 'key-{n}', '{state}', {supplier_order_id}, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
            conn.execute(text(f"INSERT INTO supplier_order_lines (id, supplier_order_id, order_line_id, supplier_sku, quantity, shipped_quantity) VALUES ({n}, {n}, {n}, 'SKU-{n}', {3 - n}, 0)"))
    engine.dispose()
    upgrade_to_head(database_url)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        lines = dict(conn.execute(text("SELECT id, sent_quantity FROM supplier_order_lines")).all())
        digests = dict(conn.execute(text("SELECT id, sent_address_digest FROM supplier_orders")).all())
    engine.dispose()
    assert lines == {1: 2, 2: None}
    assert digests == {1: address_digest(address), 2: None}
