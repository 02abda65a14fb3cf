"""return outcomes carried out, and exchange deliveries (issue 16, part O)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 21:30:00

return_outcomes: one row per return whose refund, store credit or exchange is carried out in
Shopify (returnProcess), with its idempotency key and state (pending -> sent -> done/unknown).
supplier_orders.exchange_key: "" for an order's own lines, the return's GID for an exchange's
replacement, so the replacement is its own delivery; the unique key becomes (order, supplier,
exchange_key).
"""
import contextlib
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0019'
down_revision: Union[str, Sequence[str], None] = '0018'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


@contextlib.contextmanager
def _sqlite_foreign_keys_off():
    """SQLite rebuilds a table to change a constraint, and dropping the old copy would cascade
    into supplier_order_lines, attempts and shipments: foreign keys go off around the rebuild.
    The pragma only takes effect outside a transaction, so the migration's transaction is
    committed, the pragma set, and a new one begun (the app's engine emits BEGIN itself)."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        yield
        return
    bind.exec_driver_sql('COMMIT')
    bind.exec_driver_sql('PRAGMA foreign_keys=OFF')
    bind.exec_driver_sql('BEGIN IMMEDIATE')
    try:
        yield
        problems = bind.exec_driver_sql('PRAGMA foreign_key_check').fetchall()
        if problems:
            raise RuntimeError(f'foreign keys broken by the rebuild: {problems[:5]}')
    finally:
        bind.exec_driver_sql('COMMIT')
        bind.exec_driver_sql('PRAGMA foreign_keys=ON')
        bind.exec_driver_sql('BEGIN IMMEDIATE')


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('return_outcomes',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('return_case_id', BIG_ID, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('goods_amount', sa.String(length=32), nullable=True),
    sa.Column('restocking_fee', sa.String(length=32), nullable=True),
    sa.Column('return_shipping_fee', sa.String(length=32), nullable=True),
    sa.Column('amount', sa.String(length=32), nullable=True),
    sa.Column('fee_notes', sa.JSON(), nullable=False),
    sa.Column('legal_profile', sa.String(length=8), nullable=True),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('refund_gid', sa.String(length=128), nullable=True),
    sa.Column('exchange_line_gids', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('requested_by', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('routed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['return_case_id'], ['return_cases.id'], name=op.f('fk_return_outcomes_return_case_id_return_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_outcomes')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_return_outcomes_idempotency_key')),
    sa.UniqueConstraint('return_case_id', name='uq_return_outcomes_case'),
    )
    with op.batch_alter_table('return_outcomes', schema=None) as batch_op:
        batch_op.create_index('ix_return_outcomes_due', ['state', 'next_attempt_at'], unique=False)
    with _sqlite_foreign_keys_off(), op.batch_alter_table('supplier_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exchange_key', sa.String(length=128), server_default='', nullable=False))
        batch_op.drop_constraint('uq_supplier_orders_order_supplier', type_='unique')
        batch_op.create_unique_constraint('uq_supplier_orders_order_supplier_exchange', ['order_id', 'supplier_id', 'exchange_key'])


def downgrade() -> None:
    """Downgrade schema."""
    with _sqlite_foreign_keys_off(), op.batch_alter_table('supplier_orders', schema=None) as batch_op:
        batch_op.drop_constraint('uq_supplier_orders_order_supplier_exchange', type_='unique')
        batch_op.create_unique_constraint('uq_supplier_orders_order_supplier', ['order_id', 'supplier_id'])
        batch_op.drop_column('exchange_key')
    with op.batch_alter_table('return_outcomes', schema=None) as batch_op:
        batch_op.drop_index('ix_return_outcomes_due')
    op.drop_table('return_outcomes')
