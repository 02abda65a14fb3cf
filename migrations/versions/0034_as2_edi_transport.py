"""AS2 for EDI partners: shop key pairs, partner endpoint tokens, AS2 messages (issue 15, session 27 part A)

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-04 05:40:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0034'
down_revision: Union[str, Sequence[str], None] = '0033'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def _supplier() -> sa.Column:
    return sa.Column('supplier_id', BigId, sa.ForeignKey('suppliers.id', ondelete='CASCADE'), nullable=False)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'as2_identities',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('shop_domain', sa.String(255), nullable=False),
        sa.Column('certificate_pem', sa.Text(), nullable=False),
        sa.Column('private_key_enc', sa.LargeBinary(), nullable=False),
        sa.Column('not_after', When, nullable=False),
        sa.Column('created_at', When, nullable=False),
        sa.UniqueConstraint('shop_domain', name='uq_as2_identities_shop'),
    )
    op.create_table(
        'as2_endpoints',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('shop_domain', sa.String(255), nullable=False),
        _supplier(),
        sa.Column('token', sa.String(64), nullable=False),
        sa.Column('created_at', When, nullable=False),
        sa.UniqueConstraint('supplier_id', name='uq_as2_endpoints_supplier'),
        sa.UniqueConstraint('token', name='uq_as2_endpoints_token'),
    )
    op.create_index('ix_as2_endpoints_shop_domain', 'as2_endpoints', ['shop_domain'])
    op.create_table(
        'as2_messages',
        sa.Column('id', BigId, primary_key=True, autoincrement=True),
        sa.Column('shop_domain', sa.String(255), nullable=False),
        _supplier(),
        sa.Column('direction', sa.String(3), nullable=False),
        sa.Column('message_id', sa.String(255), nullable=False),
        sa.Column('folder', sa.String(200), nullable=False),
        sa.Column('file_name', sa.String(200), nullable=False),
        sa.Column('payload', sa.LargeBinary(), nullable=True),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('mic', sa.String(200), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', When, nullable=False),
        sa.Column('updated_at', When, nullable=False),
        sa.UniqueConstraint('supplier_id', 'direction', 'message_id', name='uq_as2_messages_supplier_direction_message'),
    )
    op.create_index('ix_as2_messages_shop_domain', 'as2_messages', ['shop_domain'])
    op.create_index('ix_as2_messages_supplier_folder', 'as2_messages', ['supplier_id', 'direction', 'folder'])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('as2_messages')
    op.drop_table('as2_endpoints')
    op.drop_table('as2_identities')
