"""payload fidelity and install order

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 15:00:00

Order amounts as Shopify sends them (discounts, shipping, taxes, tips; shop and presentment
currency) on orders and their lines, and the install backfill of each shop. Webhooks kept for
a shop whose install has not completed need no schema change: they wait in the inbox with
status 'waiting'.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ORDER_AMOUNTS = (
    "subtotal_price", "total_discounts", "total_shipping", "total_tax", "total_tip",
    "total_price_presentment", "subtotal_price_presentment", "total_discounts_presentment",
    "total_shipping_presentment", "total_tax_presentment", "total_tip_presentment",
)
LINE_AMOUNTS = ("discount", "tax", "price_presentment", "discount_presentment", "tax_presentment")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("presentment_currency", sa.String(8), nullable=True))
        for name in ORDER_AMOUNTS:
            batch.add_column(sa.Column(name, sa.String(32), nullable=True))
        batch.add_column(sa.Column("taxes_included", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("discount_applications", sa.JSON(), nullable=True))
    with op.batch_alter_table("order_lines") as batch:
        batch.add_column(sa.Column("original_quantity", sa.Integer(), nullable=True))
        for name in LINE_AMOUNTS:
            batch.add_column(sa.Column(name, sa.String(32), nullable=True))
        batch.add_column(sa.Column("is_tip", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "install_backfills",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("shop_domain", sa.String(255), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(16), nullable=True),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("applied", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("install_backfills")
    with op.batch_alter_table("order_lines") as batch:
        for name in ("is_tip", *LINE_AMOUNTS, "original_quantity"):
            batch.drop_column(name)
    with op.batch_alter_table("orders") as batch:
        for name in ("discount_applications", "taxes_included", *ORDER_AMOUNTS, "presentment_currency"):
            batch.drop_column(name)
