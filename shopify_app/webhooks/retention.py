"""Inbox retention: handled deliveries are deleted after a while (they hold personal data).

Shopify retries a delivery for at most 48 hours, so once a row is well past that its
webhook id no longer needs guarding against replays. Dead letters are kept until a
person retries or resolves them; pending rows are never touched.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ..models import InboxStatus, WebhookDelivery, utcnow

DEFAULT_RETENTION = dt.timedelta(days=30)
FINISHED = (InboxStatus.DONE.value, InboxStatus.IGNORED.value, InboxStatus.DUPLICATE.value)


def purge_handled_deliveries(session: Session, older_than: dt.timedelta = DEFAULT_RETENTION) -> int:
    """Delete finished deliveries received before `now - older_than`; returns rows deleted."""
    if older_than < dt.timedelta(days=3):
        raise ValueError("keep deliveries longer than Shopify's 48-hour retry window")
    cutoff = utcnow() - older_than
    result = session.execute(delete(WebhookDelivery).where(WebhookDelivery.status.in_(FINISHED), WebhookDelivery.received_at < cutoff))
    return result.rowcount
