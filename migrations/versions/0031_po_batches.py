"""file suppliers' batched purchase orders: the batches recorded and the orders waiting for theirs (encrypted)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-04 05:40:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0031'
down_revision: Union[str, Sequence[str], None] = '0030'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "po_batches",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("shop_domain", sa.String(255), nullable=False),
        sa.Column("supplier_id", BIG_ID, nullable=False),
        sa.Column("batch_key", sa.String(64), nullable=False),
        sa.Column("slot_at", WHEN, nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("po_numbers", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(2000), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("written_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["supplier_id"], ["suppliers.id"], name=op.f("fk_po_batches_supplier_id_suppliers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_po_batches")),
        sa.UniqueConstraint("shop_domain", "supplier_id", "batch_key", name="uq_po_batches_key"),
    )
    op.create_index("ix_po_batches_shop_domain", "po_batches", ["shop_domain"])
    op.create_index("ix_po_batches_supplier_state", "po_batches", ["supplier_id", "state"])
    op.create_table(
        "po_batch_waiting",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("shop_domain", sa.String(255), nullable=False),
        sa.Column("supplier_id", BIG_ID, nullable=False),
        sa.Column("po_number", sa.String(255), nullable=False),
        sa.Column("order_id", BIG_ID, nullable=True),
        sa.Column("request_enc", sa.LargeBinary(), nullable=False),
        sa.Column("slot_at", WHEN, nullable=False),
        sa.Column("batch_id", BIG_ID, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["supplier_id"], ["suppliers.id"], name=op.f("fk_po_batch_waiting_supplier_id_suppliers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_po_batch_waiting_order_id_orders"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["batch_id"], ["po_batches.id"], name=op.f("fk_po_batch_waiting_batch_id_po_batches"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_po_batch_waiting")),
        sa.UniqueConstraint("supplier_id", "po_number", name="uq_po_batch_waiting_po"),
    )
    op.create_index("ix_po_batch_waiting_due", "po_batch_waiting", ["slot_at", "shop_domain"])
    op.create_index("ix_po_batch_waiting_order_id", "po_batch_waiting", ["order_id"])
    op.create_index("ix_po_batch_waiting_batch_id", "po_batch_waiting", ["batch_id"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("po_batch_waiting")
    op.drop_table("po_batches")
