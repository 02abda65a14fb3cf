"""file suppliers whose batching a settings patch removed before session 28's fix: po_batching stored as per_order, their waiting POs released (session 29 part R)

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-04 16:30:00

Before that fix a PATCH with `"po_batching": null` removed the key, and a file supplier without
the key gets no batch queue (integrations/suppliers/files/factory.py): its forwarding never
withdraws a PO still waiting for a slot, nor sees that a recorded batch holds it, so a PO whose
batch write failed could also go out on its own. For every supplier with rows in the queue and no
po_batching, this stores {"mode": "per_order"} (what the fix keeps since; the queue is given again)
and releases the POs still waiting for a slot as going back to per order does (the PUT's
reslot_waiting: due now). From there the existing exclusion holds: the batch job claims a due PO
only while its supplier order is still to be placed, and forwarding withdraws one only while no
batch holds it: each goes out once, in the next batch run or on its own. Runs once (Alembic); the
rows it changes no longer match afterwards.
"""
import datetime as dt
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0041'
down_revision: Union[str, Sequence[str], None] = '0040'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

suppliers = sa.table('suppliers', sa.column('id', sa.BigInteger), sa.column('settings', sa.JSON))
waiting = sa.table('po_batch_waiting', sa.column('supplier_id', sa.BigInteger), sa.column('batch_id', sa.BigInteger),
                   sa.column('slot_at', sa.DateTime(timezone=True)), sa.column('updated_at', sa.DateTime(timezone=True)))


def upgrade() -> None:
    """Upgrade schema."""
    connection = op.get_bind()
    queued = sa.select(waiting.c.supplier_id).distinct()
    now = dt.datetime.now(dt.timezone.utc)
    for supplier_id, settings in connection.execute(sa.select(suppliers.c.id, suppliers.c.settings).where(suppliers.c.id.in_(queued))).all():
        settings = dict(settings or {})
        if settings.get('po_batching') is not None:
            continue  # batching, or per order already: its queue is used
        connection.execute(suppliers.update().where(suppliers.c.id == supplier_id).values(settings={**settings, 'po_batching': {'mode': 'per_order'}}))
        connection.execute(waiting.update().where(waiting.c.supplier_id == supplier_id, waiting.c.batch_id.is_(None)).values(slot_at=now, updated_at=now))


def downgrade() -> None:
    """Downgrade schema."""
    # Nothing to undo: per_order is what a supplier without po_batching did, and released POs have gone out.
    pass
