"""the lookups tests/db/test_no_history_scans.py found walking whole tables, indexed: a supplier's RMA event's return, a return's support cases

Revision ID: 0050
Revises: 0049
Create Date: 2026-12-05 04:20:00

- return_cases by (supplier_id, rma_number): every supplier RETURN_UPDATED event (returns/restock.py
  supplier_received) found its return by reading every shop's return cases;
- cases by return_case_id: SQLite checks the foreign key cases.return_case_id -> return_cases on every
  return's insert (and delete, and PostgreSQL's ON DELETE SET NULL): with no index, each read every case.
"""
from typing import Sequence, Union

from alembic import op


revision: str = '0050'
down_revision: Union[str, Sequence[str], None] = '0049'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES = (
    ('ix_return_cases_supplier_rma', 'return_cases', ['supplier_id', 'rma_number']),
    ('ix_cases_return_case', 'cases', ['return_case_id']),
)


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY, outside a transaction (as 0049): a plain build stops every write to the table meanwhile.
        with op.get_context().autocommit_block():
            for name, table, columns in INDEXES:
                op.create_index(name, table, columns, postgresql_concurrently=True)
    else:
        for name, table, columns in INDEXES:
            op.create_index(name, table, columns)


def downgrade() -> None:
    """Downgrade schema."""
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
