"""shop profile: name, currency, time zone and primary domain from Shopify's shop query (issue 18 part I)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 21:30:00

The admin shows money in the shop's currency and dates in the shop's time zone; these
columns hold what Shopify's `shop { name currencyCode ianaTimezone primaryDomain }` said,
refreshed once a day (shopify_app/shop_profile.py). All nullable: filled on first read.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0022'
down_revision: Union[str, Sequence[str], None] = '0021'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = (
    ('name', sa.String(length=255)),
    ('currency_code', sa.String(length=3)),
    ('iana_timezone', sa.String(length=64)),
    ('primary_domain', sa.String(length=255)),
    ('profile_refreshed_at', sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('shops', schema=None) as batch_op:
        for name, type_ in COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('shops', schema=None) as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
