"""supplier credentials and rest presets (issue 14, part E)

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-03 17:40:00

supplier_audit: every change to a supplier record (created, settings or credentials updated,
credentials refreshed by the app, connection tested, deleted): who, when, which fields; never
the secret values.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0016'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'supplier_audit',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('shop_domain', sa.String(length=255), nullable=False),
        sa.Column('supplier_id', BIG_ID, nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=255), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('fields', sa.JSON(), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_supplier_audit_supplier_id_suppliers'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_audit')),
    )
    op.create_index(op.f('ix_supplier_audit_shop_domain'), 'supplier_audit', ['shop_domain'], unique=False)
    op.create_index('ix_supplier_audit_supplier_at', 'supplier_audit', ['supplier_id', 'at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_supplier_audit_supplier_at', table_name='supplier_audit')
    op.drop_index(op.f('ix_supplier_audit_shop_domain'), table_name='supplier_audit')
    op.drop_table('supplier_audit')
