"""state counts: per-shop counts of orders and supplier orders by state, kept by triggers (issue 19 part J)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-04 05:40:00

The dashboard's pipeline counted a shop's orders and supplier orders by state on each view
(two index scans over a million rows each for a big shop). Database triggers now append a
+1/-1 row to state_counts on every insert, state change and delete of either table, whoever
writes it (ORM, Core, bulk loads, privacy erasure), and the view sums a handful of rows.
The existing rows are counted once here.
"""
from typing import Sequence, Union

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision: str = '0032'
down_revision: Union[str, Sequence[str], None] = '0031'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COUNTED = (("orders", "order"), ("supplier_orders", "delivery"))  # (table, kind in state_counts)
# A delete counts only while the shop has counts: erasing a shop (privacy.py deletes table by
# table, in no order that involves this one) must leave no -1 rows behind once its counts are gone.
# While a row exists its shop's counts do (its +1 is there, or folded into a non-zero sum).
SHOP_COUNTED = "EXISTS (SELECT 1 FROM state_counts WHERE shop_domain = {side}.shop_domain)"


def _sqlite_triggers(table: str, kind: str) -> list[str]:
    row = "INSERT INTO state_counts (shop_domain, kind, state, delta) VALUES ({side}.shop_domain, '%s', {side}.state, {sign});" % kind
    plus, minus = row.format(side="NEW", sign=1), row.format(side="OLD", sign=-1)
    return [
        f"CREATE TRIGGER trg_{table}_count_insert AFTER INSERT ON {table} BEGIN {plus} END",
        f"CREATE TRIGGER trg_{table}_count_update AFTER UPDATE OF state, shop_domain ON {table} "
        f"WHEN OLD.state IS NOT NEW.state OR OLD.shop_domain IS NOT NEW.shop_domain BEGIN {minus} {plus} END",
        f"CREATE TRIGGER trg_{table}_count_delete AFTER DELETE ON {table} WHEN {SHOP_COUNTED.format(side='OLD')} BEGIN {minus} END",
    ]


PG_FUNCTION = """
CREATE OR REPLACE FUNCTION count_state_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM state_counts WHERE shop_domain = OLD.shop_domain) THEN
        RETURN NULL;  -- the shop's counts were erased before its rows (shop redact)
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO state_counts (shop_domain, kind, state, delta) VALUES (OLD.shop_domain, TG_ARGV[0], OLD.state, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO state_counts (shop_domain, kind, state, delta) VALUES (NEW.shop_domain, TG_ARGV[0], NEW.state, 1);
    END IF;
    RETURN NULL;
END $$
"""


def _pg_triggers(table: str, kind: str) -> list[str]:
    return [
        f"CREATE TRIGGER trg_{table}_count_insert AFTER INSERT OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION count_state_change('{kind}')",
        f"CREATE TRIGGER trg_{table}_count_update AFTER UPDATE OF state, shop_domain ON {table} FOR EACH ROW "
        f"WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.shop_domain IS DISTINCT FROM NEW.shop_domain) EXECUTE FUNCTION count_state_change('{kind}')",
    ]


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "state_counts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_domain", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_counts")),
    )
    op.create_index("ix_state_counts_shop", "state_counts", ["shop_domain", "kind", "state", "delta"])
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(PG_FUNCTION)
    for table, kind in COUNTED:
        op.execute(f"INSERT INTO state_counts (shop_domain, kind, state, delta) SELECT shop_domain, '{kind}', state, count(*) FROM {table} GROUP BY shop_domain, state")
        for statement in (_pg_triggers if postgres else _sqlite_triggers)(table, kind):
            op.execute(statement)


def downgrade() -> None:
    """Downgrade schema."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, _ in COUNTED:
        for event in ("insert", "update") + (() if postgres else ("delete",)):
            op.execute(f"DROP TRIGGER trg_{table}_count_{event}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION count_state_change()")
    op.drop_index("ix_state_counts_shop", table_name="state_counts")
    op.drop_table("state_counts")
