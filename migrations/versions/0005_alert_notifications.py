"""alert notifications

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00

alert_notifications: one row per (alert, channel, occurrence), the email/Slack outbox.
alert_reopens: how many times each alert came back after being resolved (raise_alert
counts it when it reopens one); the count is the occurrence a notification is for.
Written by hand for SQLite and PostgreSQL.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('alert_notifications',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('alert_id', BIG_ID, nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('occurrence', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_notifications_alert_id_alerts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_notifications')),
    sa.UniqueConstraint('alert_id', 'channel', 'occurrence', name='uq_alert_notifications_alert_channel_occurrence')
    )
    with op.batch_alter_table('alert_notifications', schema=None) as batch_op:
        batch_op.create_index('ix_alert_notifications_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('alert_reopens',
    sa.Column('alert_id', BIG_ID, nullable=False),
    sa.Column('reopens', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_reopens_alert_id_alerts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('alert_id', name=op.f('pk_alert_reopens'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('alert_reopens')
    with op.batch_alter_table('alert_notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_notifications_due')

    op.drop_table('alert_notifications')
