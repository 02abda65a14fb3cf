"""product mappings at catalog scale (issue 18, part M)

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-03 21:30:00

catalog_variants.title and .barcode (the variant's displayName and GTIN, for the mappings
table's search and for matching supplier catalogs by barcode), with indexes for paging a
shop's variants by id and finding them by barcode. supplier_catalog_items: what each
supplier sells (catalog files, stock feeds). mapping_proposals: matches by SKU or barcode
waiting for the merchant. Written by hand for SQLite and PostgreSQL.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0021'
down_revision: Union[str, Sequence[str], None] = '0019'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('catalog_variants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title', sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column('barcode', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_catalog_variants_shop_id', ['shop_domain', 'id'], unique=False)
        batch_op.create_index('ix_catalog_variants_barcode', ['shop_domain', 'barcode'], unique=False)

    op.create_table('supplier_catalog_items',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('supplier_id', BIG_ID, nullable=False),
    sa.Column('supplier_sku', sa.String(length=255), nullable=False),
    sa.Column('barcode', sa.String(length=64), nullable=True),
    sa.Column('title', sa.String(length=255), nullable=True),
    sa.Column('cost', sa.String(length=32), nullable=True),
    sa.Column('stock', sa.Integer(), nullable=True),
    sa.Column('seen_at', WHEN, nullable=False),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_supplier_catalog_items_supplier_id_suppliers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_catalog_items')),
    sa.UniqueConstraint('supplier_id', 'supplier_sku', name='uq_supplier_catalog_items_sku')
    )
    with op.batch_alter_table('supplier_catalog_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supplier_catalog_items_shop_domain'), ['shop_domain'], unique=False)
        batch_op.create_index('ix_supplier_catalog_items_barcode', ['supplier_id', 'barcode'], unique=False)

    op.create_table('mapping_proposals',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('supplier_id', BIG_ID, nullable=False),
    sa.Column('variant_gid', sa.String(length=128), nullable=False),
    sa.Column('sku', sa.String(length=255), nullable=False),
    sa.Column('supplier_sku', sa.String(length=255), nullable=False),
    sa.Column('matched_by', sa.String(length=16), nullable=False),
    sa.Column('cost', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', WHEN, nullable=False),
    sa.Column('decided_at', WHEN, nullable=True),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_mapping_proposals_supplier_id_suppliers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mapping_proposals')),
    sa.UniqueConstraint('shop_domain', 'supplier_id', 'sku', name='uq_mapping_proposals_sku')
    )
    with op.batch_alter_table('mapping_proposals', schema=None) as batch_op:
        batch_op.create_index('ix_mapping_proposals_status', ['shop_domain', 'status', 'id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('mapping_proposals')
    op.drop_table('supplier_catalog_items')
    with op.batch_alter_table('catalog_variants', schema=None) as batch_op:
        batch_op.drop_index('ix_catalog_variants_barcode')
        batch_op.drop_index('ix_catalog_variants_shop_id')
        batch_op.drop_column('barcode')
        batch_op.drop_column('title')
