"""the 5-minute jobs' reads indexed by what they wait for: pending notices, claims being sent, undelivered parcels

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-05 23:20:00

The sending job runs every 5 minutes for every shop at once: `status = 'pending' ORDER BY id` and the
stale-claim release (`status = 'sending' AND sent_at < cutoff`) each read the whole customer_notices
table (one row per email ever sent; the index led by shop_domain cannot serve a query for all shops).
Found by tests/db/test_no_history_scans.py once the notice flows joined it. Partial indexes hold only
the rows waiting, so the job's reads stay the size of its queue.

The delay job (orders/delays.py) reads recent undelivered parcels: the created_at index walked every
parcel of its 90-day window, delivered ones included (most of them); a partial index of the undelivered
ones by created_at keeps the read to the parcels in transit. Every writer records a delivery as a
non-empty time; an empty text once meant "not delivered" to the job, so it is made NULL first.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0051'
down_revision: Union[str, Sequence[str], None] = '0050'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES = (
    ('ix_customer_notices_pending', 'customer_notices', ['id'], "status = 'pending'"),
    ('ix_customer_notices_sending', 'customer_notices', ['sent_at'], "status = 'sending'"),
    ('ix_supplier_shipments_undelivered', 'supplier_shipments', ['created_at'], "delivered_at IS NULL"),
)


def upgrade() -> None:
    """Upgrade schema."""
    op.execute("UPDATE supplier_shipments SET delivered_at = NULL WHERE delivered_at = ''")
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY, outside a transaction (as 0049/0050): a plain build stops every write to the table meanwhile.
        with op.get_context().autocommit_block():
            for name, table, columns, where in INDEXES:
                op.create_index(name, table, columns, postgresql_where=sa.text(where), postgresql_concurrently=True)
    else:
        for name, table, columns, where in INDEXES:
            op.create_index(name, table, columns, sqlite_where=sa.text(where))


def downgrade() -> None:
    """Downgrade schema."""
    for name, table, _, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
