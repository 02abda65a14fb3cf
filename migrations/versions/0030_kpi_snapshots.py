"""kpi snapshots: one row per shop per closed UTC day, and the returns analytics per shop (issue 19 part J)

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-04 00:30:00
"""
from typing import Sequence, Union

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision: str = '0030'
down_revision: Union[str, Sequence[str], None] = '0029'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "kpi_snapshots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_domain", sa.String(length=255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digests", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_snapshots")),
        sa.UniqueConstraint("shop_domain", "day", name="uq_kpi_snapshots_shop_day"),
    )
    op.create_table(
        "return_analytics_snapshots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_domain", sa.String(length=255), nullable=False),
        sa.Column("analytics", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_analytics_snapshots")),
        sa.UniqueConstraint("shop_domain", name="uq_return_analytics_snapshots_shop_domain"),
    )
    # The KPI reads at a million orders (shopify_app/kpis/models.py KPI_INDEXES).
    op.create_index("ix_orders_shop_order_time", "orders", ["shop_domain", sa.text("coalesce(shopify_created_at, created_at)")])
    op.create_index("ix_orders_shop_state", "orders", ["shop_domain", "state"])
    op.create_index("ix_supplier_orders_shop_placed", "supplier_orders", ["shop_domain", "placed_at"])
    op.create_index("ix_supplier_orders_shop_state", "supplier_orders", ["shop_domain", "state"])
    op.create_index("ix_order_events_kind_created", "order_events", ["kind", "created_at"])


def downgrade() -> None:
    """Downgrade schema."""
    for name, table in (("ix_order_events_kind_created", "order_events"), ("ix_supplier_orders_shop_state", "supplier_orders"),
                        ("ix_supplier_orders_shop_placed", "supplier_orders"), ("ix_orders_shop_state", "orders"), ("ix_orders_shop_order_time", "orders")):
        op.drop_index(name, table_name=table)
    op.drop_table("return_analytics_snapshots")
    op.drop_table("kpi_snapshots")
