"""order changes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 15:00:00

Order changes (quantities, lines, address) passed on to suppliers:
supplier_order_lines.sent_quantity and supplier_orders.sent_address_digest (what the
supplier was last sent), and supplier_order_amendments (one row per change passed on).
Columns are added in place (no table rebuild), so referenced tables keep their rows.
"""
import hashlib
import json
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
ADDRESS_FIELDS = ("name", "first_name", "last_name", "company", "address1", "address2", "city", "province_code", "country_code", "zip", "phone")


def _address_digest(address) -> str:
    """shopify_app.orders.changes.address_digest as of this revision (frozen here: migrations never import app code that may change)."""
    fields = {name: ((address or {}).get(name) or "").strip() for name in ADDRESS_FIELDS}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('supplier_order_lines', sa.Column('sent_quantity', sa.Integer(), nullable=True))
    op.add_column('supplier_orders', sa.Column('sent_address_digest', sa.String(length=64), nullable=True))
    # Supplier orders sent (or in flight) before this revision were sent what their lines say,
    # to the order's address as it is now: a later change is compared with that.
    sent = "SELECT id FROM supplier_orders WHERE supplier_order_id IS NOT NULL OR state IN ('unknown', 'placed', 'partially_shipped', 'shipped', 'cancel_requested')"
    op.execute(f"UPDATE supplier_order_lines SET sent_quantity = quantity WHERE supplier_order_id IN ({sent})")
    bind = op.get_bind()
    rows = bind.execute(sa.text(f"SELECT s.id, o.shipping_address FROM supplier_orders s JOIN orders o ON o.id = s.order_id WHERE s.id IN ({sent})")).all()
    for delivery_id, address in rows:
        bind.execute(sa.text("UPDATE supplier_orders SET sent_address_digest = :digest WHERE id = :id"),
                     {"digest": _address_digest(json.loads(address) if isinstance(address, str) else address), "id": delivery_id})
    op.create_table('supplier_order_amendments',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('supplier_order_id', BIG_ID, nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=True),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('address_digest', sa.String(length=64), nullable=True),
    sa.Column('replaced_supplier_order_id', sa.String(length=128), nullable=True),
    sa.Column('replaced_idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['supplier_order_id'], ['supplier_orders.id'], name=op.f('fk_supplier_order_amendments_supplier_order_id_supplier_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_order_amendments')),
    sa.UniqueConstraint('supplier_order_id', 'number', name='uq_supplier_order_amendments_delivery_number')
    )
    with op.batch_alter_table('supplier_order_amendments', schema=None) as batch_op:
        batch_op.create_index('ix_supplier_order_amendments_due', ['state', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('supplier_order_amendments', schema=None) as batch_op:
        batch_op.drop_index('ix_supplier_order_amendments_due')
    op.drop_table('supplier_order_amendments')
    with op.batch_alter_table('supplier_orders', schema=None) as batch_op:
        batch_op.drop_column('sent_address_digest')
    with op.batch_alter_table('supplier_order_lines', schema=None) as batch_op:
        batch_op.drop_column('sent_quantity')
