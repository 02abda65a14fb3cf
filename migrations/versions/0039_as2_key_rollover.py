"""a shop's AS2 key pair can be rolled: the previous pair is kept for incoming messages until it expires (issue 19 part R)

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-04 13:00:00

Our self-signed AS2 certificate is valid for three years. When the merchant makes a new pair,
partners still encrypt to the old certificate until they have installed the new one: the
previous key decrypts what they send meanwhile.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0039'
down_revision: Union[str, Sequence[str], None] = '0038'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

When = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('as2_identities', sa.Column('previous_certificate_pem', sa.Text(), nullable=True))
    op.add_column('as2_identities', sa.Column('previous_private_key_enc', sa.LargeBinary(), nullable=True))
    op.add_column('as2_identities', sa.Column('previous_not_after', When, nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('as2_identities', schema=None) as batch_op:
        batch_op.drop_column('previous_not_after')
        batch_op.drop_column('previous_private_key_enc')
        batch_op.drop_column('previous_certificate_pem')
