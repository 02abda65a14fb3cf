"""EDI X12 partners: control-number counters, documents we wrote, interchanges we read, advised stock (issue 15 part E)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-04 00:30:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0029'
down_revision: Union[str, Sequence[str], None] = '0028'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _supplier() -> sa.Column:
    return sa.Column('supplier_id', BigId, sa.ForeignKey('suppliers.id', ondelete='CASCADE'), nullable=False)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'edi_control_counters',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('shop_domain', sa.String(255), nullable=False),
        _supplier(),
        sa.Column('interchange', sa.BigInteger(), nullable=False),
        sa.Column('group', sa.BigInteger(), nullable=False),
        sa.Column('transaction_set', sa.BigInteger(), nullable=False),
        sa.UniqueConstraint('supplier_id', name='uq_edi_control_counters_supplier'),
    )
    op.create_index('ix_edi_control_counters_shop_domain', 'edi_control_counters', ['shop_domain'])
    op.create_table(
        'edi_documents',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('shop_domain', sa.String(255), nullable=False),
        _supplier(),
        sa.Column('kind', sa.String(8), nullable=False),
        sa.Column('reference', sa.String(120), nullable=False),
        sa.Column('file_name', sa.String(200), nullable=False),
        sa.Column('body', sa.LargeBinary(), nullable=False),
        sa.Column('interchange_control', sa.BigInteger(), nullable=False),
        sa.Column('group_control', sa.BigInteger(), nullable=False),
        sa.Column('set_control', sa.BigInteger(), nullable=False),
        sa.Column('state', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('acknowledged', sa.String(1), nullable=True),
        sa.UniqueConstraint('supplier_id', 'kind', 'reference', name='uq_edi_documents_supplier_kind_reference'),
    )
    op.create_index('ix_edi_documents_shop_domain', 'edi_documents', ['shop_domain'])
    op.create_index('ix_edi_documents_group_control', 'edi_documents', ['group_control'])
    op.create_table(
        'edi_interchanges',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('shop_domain', sa.String(255), nullable=False),
        _supplier(),
        sa.Column('file_name', sa.String(200), nullable=False),
        sa.Column('checksum', sa.String(64), nullable=False),
        sa.Column('sender_id', sa.String(40), nullable=True),
        sa.Column('control', sa.String(9), nullable=True),
        sa.Column('outcome', sa.String(20), nullable=False),
        sa.Column('sets_accepted', sa.Integer(), nullable=False),
        sa.Column('sets_rejected', sa.Integer(), nullable=False),
        sa.Column('reasons', sa.JSON(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('supplier_id', 'sender_id', 'control', name='uq_edi_interchanges_supplier_sender_control'),
    )
    op.create_index('ix_edi_interchanges_shop_domain', 'edi_interchanges', ['shop_domain'])
    op.create_index('ix_edi_interchanges_supplier_id', 'edi_interchanges', ['supplier_id'])
    op.create_table(
        'edi_stock_levels',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('shop_domain', sa.String(255), nullable=False),
        _supplier(),
        sa.Column('sku', sa.Text(), nullable=False),
        sa.Column('available', sa.BigInteger(), nullable=True),
        sa.Column('in_stock', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('supplier_id', 'sku', name='uq_edi_stock_levels_supplier_sku'),
    )
    op.create_index('ix_edi_stock_levels_shop_domain', 'edi_stock_levels', ['shop_domain'])


def downgrade() -> None:
    """Downgrade schema."""
    for table in ('edi_stock_levels', 'edi_interchanges', 'edi_documents', 'edi_control_counters'):
        op.drop_table(table)
