"""the lookups that walked whole tables, indexed: a delivery's lines, a supplier's order by its id, an order's returns, a returned line, a supplier's mappings

Revision ID: 0049
Revises: 0048
Create Date: 2026-12-05 04:00:00

Neither database indexes a foreign key by itself, and these lookups had no index leading with
their column, so each read the whole table and grew with the shops' history (or, for mappings,
with every shop's catalog):
- supplier_order_lines by supplier_order_id: every placement (the lines to send, their sent
  quantities), every parcel and every amendment; and the cascade when a shop's data is erased;
- supplier_orders by the supplier's order id: every supplier event (a status, a parcel) finds its
  delivery by it or by our key (an OR that could use neither index while one side had none);
- return_cases by order_id: routing's exchange lines, the customer's order page, the
  reconciliation's per-order check, erasure;
- return_lines by order_line_id: a return's intake per line, and the SET NULL when a line goes;
- product_mappings by supplier (and supplier SKU): the cost a placement sends per line, a stock
  feed's and a restock's mappings, the inventory plan's join (the unique index leads with the shop
  and the Shopify SKU: a supplier's mappings were read from every shop's).
bench/history_lookups.py measures them at a long history, with and without these indexes.
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0049'
down_revision: Union[str, Sequence[str], None] = '0048'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES = (
    ('ix_supplier_order_lines_supplier_order', 'supplier_order_lines', ['supplier_order_id']),
    ('ix_supplier_orders_supplier_order', 'supplier_orders', ['supplier_order_id', 'supplier_id']),
    ('ix_return_cases_order', 'return_cases', ['order_id']),
    ('ix_return_lines_order_line', 'return_lines', ['order_line_id']),
    ('ix_product_mappings_supplier_sku', 'product_mappings', ['supplier_id', 'supplier_sku']),
)


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY, outside a transaction (as 0043/0044/0048): a plain build stops every write to the table meanwhile.
        with op.get_context().autocommit_block():
            for name, table, columns in INDEXES:
                op.create_index(name, table, columns, postgresql_concurrently=True)
    else:
        for name, table, columns in INDEXES:
            op.create_index(name, table, columns)


def downgrade() -> None:
    """Downgrade schema."""
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
