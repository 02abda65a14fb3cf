"""the orders a worker process holds, found among the leased rows only: the look's anti-join no longer reads every pending row

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-04 18:30:00

A hold is a pending row with an order key leased by another live process (jobs/order_holds.py).
ix_webhook_inbox_held (0042) indexed every pending row with an order key, but a row keeps its
key after its lease is cleared (given back to the holder, retried after a failure, released at
shutdown): with a backlog nearly every pending row has one, so the index no longer narrowed
anything and PostgreSQL read all pending rows for the few leased ones on every look (7,000
pending rows, 3 held: a sequential scan, 0.86 ms against 0.15 ms). This index holds only the
rows under a lease (a batch or so per lane thread) and replaces it: the hold's every condition
(`lease_until >= now`) implies its predicate.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0044'
down_revision: Union[str, Sequence[str], None] = '0043'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

LEASED_HELD = sa.text("status = 'pending' AND hold_key IS NOT NULL AND lease_until IS NOT NULL")
PENDING_HELD = sa.text("status = 'pending' AND hold_key IS NOT NULL")


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY, outside a transaction (as 0043): a plain build or drop stops every intake and claim meanwhile.
        with op.get_context().autocommit_block():
            op.create_index('ix_webhook_inbox_leased_held', 'webhook_inbox', ['shop_domain', 'hold_key'], postgresql_where=LEASED_HELD,
                            postgresql_concurrently=True)
            op.drop_index('ix_webhook_inbox_held', table_name='webhook_inbox', postgresql_concurrently=True)
    else:
        op.create_index('ix_webhook_inbox_leased_held', 'webhook_inbox', ['shop_domain', 'hold_key'], sqlite_where=LEASED_HELD)
        op.drop_index('ix_webhook_inbox_held', table_name='webhook_inbox')


def downgrade() -> None:
    """Downgrade schema."""
    op.create_index('ix_webhook_inbox_held', 'webhook_inbox', ['shop_domain', 'hold_key'], postgresql_where=PENDING_HELD, sqlite_where=PENDING_HELD)
    op.drop_index('ix_webhook_inbox_leased_held', table_name='webhook_inbox')
