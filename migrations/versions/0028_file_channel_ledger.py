"""file channel: the ledger of supplier files (seen, processed once by content) and each file supplier's poll state

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04 00:30:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa



revision: str = '0028'
down_revision: Union[str, Sequence[str], None] = '0027'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "file_channel_files",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("shop_domain", sa.String(255), nullable=False),
        sa.Column("supplier_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=True),
        sa.Column("applied_checksum", sa.String(64), nullable=True),
        sa.Column("rows_applied", sa.Integer(), nullable=False),
        sa.Column("rows_refused", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("first_seen_at", WHEN, nullable=False),
        sa.Column("processed_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["supplier_id"], ["suppliers.id"], name=op.f("fk_file_channel_files_supplier_id_suppliers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_channel_files")),
        sa.UniqueConstraint("shop_domain", "supplier_id", "kind", "applied_checksum", name="uq_file_channel_files_content"),
    )
    op.create_index("ix_file_channel_files_shop_domain", "file_channel_files", ["shop_domain"])
    op.create_index("ix_file_channel_files_supplier_status", "file_channel_files", ["supplier_id", "kind", "status"])
    op.create_table(
        "file_channel_polls",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("shop_domain", sa.String(255), nullable=False),
        sa.Column("supplier_id", BIG_ID, nullable=False),
        sa.Column("next_poll_at", WHEN, nullable=False),
        sa.Column("last_polled_at", WHEN, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["supplier_id"], ["suppliers.id"], name=op.f("fk_file_channel_polls_supplier_id_suppliers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_channel_polls")),
        sa.UniqueConstraint("supplier_id", name="uq_file_channel_polls_supplier"),
    )
    op.create_index("ix_file_channel_polls_shop_domain", "file_channel_polls", ["shop_domain"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_file_channel_polls_shop_domain", table_name="file_channel_polls")
    op.drop_table("file_channel_polls")
    op.drop_index("ix_file_channel_files_supplier_status", table_name="file_channel_files")
    op.drop_index("ix_file_channel_files_shop_domain", table_name="file_channel_files")
    op.drop_table("file_channel_files")
