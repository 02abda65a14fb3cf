"""email-PO sent log in the database

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 09:00:00

email_po_sent_log: the purchase orders an email supplier's SMTP server took, one row per
(supplier, PO number), with the shop's domain so shop erasure reaches it. Replaces the
JSON file whose path a tenant could choose (settings.sent_log_path).
Written by hand for SQLite and PostgreSQL.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('email_po_sent_log',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('supplier_id', BIG_ID, nullable=False),
    sa.Column('po_number', sa.String(length=100), nullable=False),
    sa.Column('record', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_email_po_sent_log_supplier_id_suppliers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_po_sent_log')),
    sa.UniqueConstraint('supplier_id', 'po_number', name='uq_email_po_sent_log_supplier_po')
    )
    with op.batch_alter_table('email_po_sent_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_po_sent_log_shop_domain'), ['shop_domain'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('email_po_sent_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_po_sent_log_shop_domain'))
    op.drop_table('email_po_sent_log')
