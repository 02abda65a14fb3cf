"""return lines remember that the customer returned them past the supplier's window: no RMA, no supplier restock

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-04 18:45:00

The policy accepts a lawful return past the supplier's window, but the supplier no longer
takes the item back: the merchant handles the return and restocks at a merchant location.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0045'
down_revision: Union[str, Sequence[str], None] = '0044'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("return_lines") as batch:
        batch.add_column(sa.Column("supplier_window_passed", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("return_lines") as batch:
        batch.drop_column("supplier_window_passed")
