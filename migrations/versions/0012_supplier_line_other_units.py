"""supplier line other units

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 16:30:00

supplier_order_lines.other_quantity: units of the order line that are not this supplier's
(at a location the app does not manage, or fulfilled before the app saw the order), kept so
an order edit moves the supplier's share and never hands it the other units.
Added in place (no table rebuild): existing rows get 0, what they were sent before.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('supplier_order_lines', sa.Column('other_quantity', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('supplier_order_lines', schema=None) as batch_op:
        batch_op.drop_column('other_quantity')
