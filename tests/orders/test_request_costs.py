"""What a supplier gets as each line's unit cost: the merchant's mapped cost at that supplier, read with the lines (one statement)."""
from __future__ import annotations

from forwarding_kit import SHOP, add_printful_supplier, app, deliver, deliveries, paid_order_payload, sandbox, supplier_sandbox  # noqa: F401 - fixtures
from shopify_app.suppliers.forwarding import read_request
from shopify_app.suppliers.models import ProductMapping, Supplier


def test_each_line_gets_the_newest_cost_mapped_at_its_own_supplier_and_shop(app, sandbox):  # noqa: F811
    supplier_id = add_printful_supplier(app, sandbox, skus=("TSHIRT-BLK-S", "MUG-WHT-11"))  # both mapped at 4.00
    session_factory = app.extensions["services"].session_factory
    with session_factory.begin() as session:
        other = Supplier(shop_domain=SHOP, name="Other", kind="printful", settings={})
        session.add(other)
        session.flush()
        session.add_all([
            # Another of the shop's SKUs sent as the same supplier SKU, mapped later with another cost: the newest counts.
            ProductMapping(shop_domain=SHOP, sku="TSHIRT-BLK-S-BUNDLE", supplier_id=supplier_id, supplier_sku="TSHIRT-BLK-S", cost="3.10"),
            ProductMapping(shop_domain=SHOP, sku="MUG-NO-COST", supplier_id=supplier_id, supplier_sku="MUG-WHT-11", cost=None),  # no cost: not a cost
            ProductMapping(shop_domain=SHOP, sku="MUG-WHT-11", supplier_id=other.id, supplier_sku="MUG-WHT-11", cost="9.99"),  # another supplier's
            ProductMapping(shop_domain="other.myshopify.com", sku="MUG-WHT-11", supplier_id=supplier_id, supplier_sku="MUG-WHT-11", cost="8.88"),  # another shop's
        ])
    deliver(app, "orders/paid", paid_order_payload(skus=("TSHIRT-BLK-S", "MUG-WHT-11")))
    [delivery] = deliveries(app)
    with session_factory() as session:
        _, lines, request, _ = read_request(session, delivery.id)
    assert len(lines) == 2
    assert {line.supplier_sku: line.unit_cost for line in request.lines} == {"TSHIRT-BLK-S": "3.10", "MUG-WHT-11": "4.00"}


def test_a_line_without_a_mapped_cost_has_none(app, sandbox):  # noqa: F811
    supplier_id = add_printful_supplier(app, sandbox, skus=("TSHIRT-BLK-S", "MUG-WHT-11"))
    with app.extensions["services"].session_factory.begin() as session:
        for mapping in session.query(ProductMapping).filter_by(supplier_id=supplier_id, sku="MUG-WHT-11"):
            mapping.cost = None
    deliver(app, "orders/paid", paid_order_payload(skus=("TSHIRT-BLK-S", "MUG-WHT-11")))
    [delivery] = deliveries(app)
    with app.extensions["services"].session_factory() as session:
        _, _, request, _ = read_request(session, delivery.id)
    assert {line.supplier_sku: line.unit_cost for line in request.lines} == {"TSHIRT-BLK-S": "4.00", "MUG-WHT-11": None}
