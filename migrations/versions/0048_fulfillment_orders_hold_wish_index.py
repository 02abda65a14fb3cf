"""the fulfillment orders whose hold by the app differs from its wish, indexed: has_pending_holds no longer reads every one of the shop's

Revision ID: 0048
Revises: 0047
Create Date: 2026-12-05 00:10:00

Every orders/* webhook that changed something asks whether some fulfillment order of the shop has
a hold of ours to place or release (fulfillment/holds.has_pending_holds). Both databases answered
it by walking all the shop's fulfillment orders (the unique (shop_domain, shopify_id) index), so its
cost grew with the shop's history: 0.79 ms at 2,000 on SQLite, against 4 us with this index, which
holds only the (rare) rows with a wish pending. The query's condition contains the predicate as
written, so both planners prove it applies.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0048'
down_revision: Union[str, Sequence[str], None] = '0047'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

HOLD_WISH = sa.text("(app_hold_reason IS NOT NULL AND app_hold_id IS NULL) OR (app_hold_reason IS NULL AND app_hold_id IS NOT NULL)")


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY, outside a transaction (as 0043/0044): a plain build stops every write to the table meanwhile.
        with op.get_context().autocommit_block():
            op.create_index('ix_fulfillment_orders_hold_wish', 'fulfillment_orders', ['shop_domain'], postgresql_where=HOLD_WISH,
                            postgresql_concurrently=True)
    else:
        op.create_index('ix_fulfillment_orders_hold_wish', 'fulfillment_orders', ['shop_domain'], sqlite_where=HOLD_WISH)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_fulfillment_orders_hold_wish', table_name='fulfillment_orders')
