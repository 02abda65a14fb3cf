"""Recording deliveries in the inbox: once per webhook id, duplicates of an event marked."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..models import InboxStatus, WebhookDelivery


class Recorded(str, enum.Enum):
    NEW = "new"  # first delivery of this event: queued for the worker
    REPLAY = "replay"  # same X-Shopify-Webhook-Id seen before: nothing new stored
    DUPLICATE_EVENT = "duplicate_event"  # same X-Shopify-Event-Id, other delivery: kept, not processed


@dataclass(frozen=True)
class IncomingWebhook:
    """A verified delivery: its Shopify headers and raw body text."""

    webhook_id: str
    shop_domain: str
    topic: str
    body: str
    event_id: str | None = None
    api_version: str | None = None
    triggered_at: str | None = None


def record_delivery(session: Session, hook: IncomingWebhook) -> Recorded:
    """Insert the delivery, letting the unique constraints decide replay/duplicate (no check-then-insert)."""
    row = WebhookDelivery(
        webhook_id=hook.webhook_id,
        event_id=hook.event_id,
        event_key=hook.event_id,
        shop_domain=hook.shop_domain,
        topic=hook.topic,
        api_version=hook.api_version,
        triggered_at=hook.triggered_at,
        body=hook.body,
    )
    try:
        with session.begin_nested():
            session.add(row)
        return Recorded.NEW
    except IntegrityError:
        session.expunge(row) if row in session else None
    if _bump_replay(session, hook.webhook_id):
        return Recorded.REPLAY
    # Not a replay, so the (shop, event) key is taken: another subscription's delivery.
    first_id = session.scalar(
        select(WebhookDelivery.id).where(
            WebhookDelivery.shop_domain == hook.shop_domain, WebhookDelivery.event_key == hook.event_id
        )
    )
    duplicate = WebhookDelivery(
        webhook_id=hook.webhook_id,
        event_id=hook.event_id,
        event_key=None,
        shop_domain=hook.shop_domain,
        topic=hook.topic,
        api_version=hook.api_version,
        triggered_at=hook.triggered_at,
        body=hook.body,
        status=InboxStatus.DUPLICATE.value,
        duplicate_of_id=first_id,
    )
    try:
        with session.begin_nested():
            session.add(duplicate)
        return Recorded.DUPLICATE_EVENT
    except IntegrityError:
        # The same duplicate delivery raced itself in: that is a replay.
        session.expunge(duplicate) if duplicate in session else None
        _bump_replay(session, hook.webhook_id)
        return Recorded.REPLAY


def _bump_replay(session: Session, webhook_id: str) -> bool:
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .values(delivery_count=WebhookDelivery.delivery_count + 1)
    )
    return result.rowcount == 1
