"""email suppliers both ways (issue 14, part F)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 17:40:00

email_mailboxes: the IMAP mailbox each email supplier replies to (password encrypted), with
where the last poll stopped (UIDVALIDITY + last UID). email_processed_messages: every message
taken from a mailbox, unique per (mailbox, UIDVALIDITY, UID), so none is applied twice.
tracking_imports: each tracking import (reply email or uploaded file) with its per-row report.
email_po_sent_log.po_digest: the PO's part of our Message-IDs, so a reply's In-Reply-To finds
its PO (filled for the rows already there). Written by hand for SQLite and PostgreSQL.
"""
import hashlib
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0017'
down_revision: Union[str, Sequence[str], None] = '0016'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('email_mailboxes',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('supplier_id', BIG_ID, nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('security', sa.String(length=16), nullable=False),
    sa.Column('username', sa.String(length=255), nullable=False),
    sa.Column('password_enc', sa.LargeBinary(), nullable=False),
    sa.Column('folder', sa.String(length=255), nullable=False),
    sa.Column('processed_folder', sa.String(length=255), nullable=True),
    sa.Column('poll_minutes', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=True),
    sa.Column('last_uid', sa.BigInteger(), nullable=True),
    sa.Column('next_poll_at', WHEN, nullable=False),
    sa.Column('last_polled_at', WHEN, nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('created_at', WHEN, nullable=False),
    sa.Column('updated_at', WHEN, nullable=False),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_email_mailboxes_supplier_id_suppliers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_mailboxes')),
    sa.UniqueConstraint('supplier_id', name='uq_email_mailboxes_supplier')
    )
    with op.batch_alter_table('email_mailboxes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_mailboxes_shop_domain'), ['shop_domain'], unique=False)

    op.create_table('tracking_imports',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('supplier_id', BIG_ID, nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('reference', sa.String(length=255), nullable=True),
    sa.Column('applied', sa.Integer(), nullable=False),
    sa.Column('duplicate', sa.Integer(), nullable=False),
    sa.Column('unknown_po', sa.Integer(), nullable=False),
    sa.Column('unreadable', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('rows', sa.JSON(), nullable=False),
    sa.Column('created_at', WHEN, nullable=False),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_tracking_imports_supplier_id_suppliers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracking_imports'))
    )
    with op.batch_alter_table('tracking_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tracking_imports_shop_domain'), ['shop_domain'], unique=False)
        batch_op.create_index('ix_tracking_imports_supplier', ['supplier_id', 'id'], unique=False)

    op.create_table('email_processed_messages',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('shop_domain', sa.String(length=255), nullable=False),
    sa.Column('mailbox_id', BIG_ID, nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('uid', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('import_id', BIG_ID, nullable=True),
    sa.Column('processed_at', WHEN, nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['email_mailboxes.id'], name=op.f('fk_email_processed_messages_mailbox_id_email_mailboxes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['import_id'], ['tracking_imports.id'], name=op.f('fk_email_processed_messages_import_id_tracking_imports'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_processed_messages')),
    sa.UniqueConstraint('mailbox_id', 'uidvalidity', 'uid', name='uq_email_processed_messages_uid')
    )
    with op.batch_alter_table('email_processed_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_processed_messages_shop_domain'), ['shop_domain'], unique=False)

    with op.batch_alter_table('email_po_sent_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('po_digest', sa.String(length=24), nullable=True))
        batch_op.create_index(batch_op.f('ix_email_po_sent_log_po_digest'), ['po_digest'], unique=False)
    sent_log = sa.table('email_po_sent_log', sa.column('id', BIG_ID), sa.column('po_number', sa.String), sa.column('po_digest', sa.String))
    connection = op.get_bind()
    for row_id, po_number in connection.execute(sa.select(sent_log.c.id, sent_log.c.po_number)).all():
        # Same digest as integrations.suppliers.email_po.messages.po_digest (kept here: migrations never import app code).
        digest = hashlib.sha256(po_number.encode()).hexdigest()[:24]
        connection.execute(sent_log.update().where(sent_log.c.id == row_id).values(po_digest=digest))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('email_po_sent_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_po_sent_log_po_digest'))
        batch_op.drop_column('po_digest')
    with op.batch_alter_table('email_processed_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_processed_messages_shop_domain'))
    op.drop_table('email_processed_messages')
    with op.batch_alter_table('tracking_imports', schema=None) as batch_op:
        batch_op.drop_index('ix_tracking_imports_supplier')
        batch_op.drop_index(batch_op.f('ix_tracking_imports_shop_domain'))
    op.drop_table('tracking_imports')
    with op.batch_alter_table('email_mailboxes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_mailboxes_shop_domain'))
    op.drop_table('email_mailboxes')
