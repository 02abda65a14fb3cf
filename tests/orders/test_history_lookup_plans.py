"""Lookups by a parent row or a foreign id read through an index, not the whole table (migration 0049).

Neither database indexes a foreign key by itself: a placement's lines and mapped costs, a supplier
event's delivery, a supplier's mappings, an order's returns and a returned line each read the whole
table, so their cost grew with the shops' history (bench/history_lookups.py measures it).
"""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text

from shopify_app.returns.models import ReturnCase, ReturnLine
from shopify_app.suppliers.forwarding_sql import LINES_TO_SEND
from shopify_app.suppliers.events import _FIND_DELIVERY_ROW
from shopify_app.suppliers.models import ProductMapping, SupplierOrder, SupplierOrderLine

ROWS = 5_000


def _plan(engine, statement, params: dict) -> str:
    state = statement.compile(engine).construct_expanded_state(params)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + state.statement, tuple(state.parameters[name] for name in state.positiontup)).all()
    return "\n".join(row[-1] for row in rows)


@pytest.fixture
def history(sqlite_url):
    """A SQLite database holding a long history (no parent rows: foreign keys are not enforced on this raw engine), analyzed."""
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:  # through the tables: their Python-side defaults fill the other columns
        conn.execute(SupplierOrderLine.__table__.insert(), [{"supplier_order_id": n // 2, "order_line_id": n, "supplier_sku": f"SKU-{n % 300}", "quantity": 1}
                                                             for n in range(ROWS)])
        conn.execute(ProductMapping.__table__.insert(), [{"shop_domain": f"shop-{n % 50}.myshopify.com", "sku": f"SKU-{n}", "supplier_id": n % 50,
                                                          "supplier_sku": f"SKU-{n}", "cost": "4.00"} for n in range(ROWS)])
        conn.execute(SupplierOrder.__table__.insert(), [{"shop_domain": "big.myshopify.com", "order_id": n, "supplier_id": 1, "idempotency_key": f"do-{n}",
                                                         "supplier_order_id": str(100_000 + n), "state": "placed"} for n in range(ROWS)])
        conn.execute(ReturnCase.__table__.insert(), [{"shop_domain": "big.myshopify.com", "return_gid": f"gid://shopify/Return/{n}", "order_id": n}
                                                     for n in range(ROWS)])
        conn.execute(ReturnLine.__table__.insert(), [{"return_case_id": n, "return_line_item_gid": f"gid://shopify/ReturnLineItem/{n}", "order_line_id": n,
                                                      "quantity": 1} for n in range(ROWS)])
        conn.execute(text("ANALYZE"))
    yield engine
    engine.dispose()


def test_a_placements_lines_and_their_costs_are_found_by_index(history):
    plan = _plan(history, LINES_TO_SEND, {"delivery": 7, "shop": "shop-1.myshopify.com", "supplier": 1})
    assert "SCAN supplier_order_lines" not in plan and "ix_supplier_order_lines_supplier_order" in plan, plan
    assert "ix_product_mappings_supplier_sku" in plan, plan  # it searched all the shop's mappings per line


def test_a_supplier_events_delivery_and_a_suppliers_mappings_are_found_by_index(history):
    """Every supplier event finds its delivery by the supplier's order id or our key; a stock feed reads its supplier's mappings."""
    plan = _plan(history, _FIND_DELIVERY_ROW[(True, True)], {"supplier": 1, "order": "100007", "key": "do-7"})
    assert "SCAN supplier_orders" not in plan and "ix_supplier_orders_supplier_order" in plan, plan  # an OR no index could serve
    plan = _plan(history, _FIND_DELIVERY_ROW[(True, False)], {"supplier": 1, "order": "100007"})
    assert "ix_supplier_orders_supplier_order" in plan, plan
    plan = _plan(history, select(ProductMapping.id, ProductMapping.supplier_sku).where(ProductMapping.supplier_id == 3), {})
    assert "SCAN product_mappings" not in plan and "ix_product_mappings_supplier_sku" in plan, plan  # every shop's mappings


def test_an_orders_returns_and_a_lines_returns_are_found_by_index(history):
    plan = _plan(history, select(ReturnCase.id).where(ReturnCase.order_id == 7), {})
    assert "ix_return_cases_order" in plan, plan
    plan = _plan(history, select(ReturnLine.id).where(ReturnLine.order_line_id == 7), {})
    assert "ix_return_lines_order_line" in plan, plan
