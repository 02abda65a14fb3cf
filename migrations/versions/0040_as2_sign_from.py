"""a new AS2 key pair can start signing on a later date: as2_identities.sign_from (session 29 part R)

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-04 16:00:00

A partner verifies our signatures with the certificate it has installed: until the agreed
switch date we keep signing (messages and MDNs) with the previous pair, and both pairs decrypt.
NULL: the newest pair signs already (every pair made before this revision).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0040'
down_revision: Union[str, Sequence[str], None] = '0039'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('as2_identities', sa.Column('sign_from', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('as2_identities', schema=None) as batch_op:
        batch_op.drop_column('sign_from')
