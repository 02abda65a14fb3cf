"""Recording deliveries in the inbox: once per webhook id, duplicates of an event marked.

The hot path is one Core `INSERT ... ON CONFLICT DO NOTHING` on a plain connection: the
unique constraints decide replay/duplicate (no check-then-insert), and the write lock is
held for as little Python as possible (SQLite has one writer for the whole database).
"""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from ..models import InboxStatus, WebhookDelivery, utcnow

INBOX = WebhookDelivery.__table__


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

    def row(self, **overrides) -> dict:
        """Column values for the inbox row."""
        now = utcnow()
        values = {
            "webhook_id": self.webhook_id,
            "event_id": self.event_id,
            "event_key": self.event_id,
            "shop_domain": self.shop_domain,
            "topic": self.topic,
            "api_version": self.api_version,
            "triggered_at": self.triggered_at,
            "body": self.body,
            "received_at": now,
            "next_attempt_at": now,
            "status": InboxStatus.PENDING.value,
            "attempts": 0,
            "delivery_count": 1,
        }
        values.update(overrides)
        return values


def _insert_ignoring_conflicts(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # RETURNING tells "inserted" from "conflict" on both backends (rowcount is not
    # reliable for INSERT ... ON CONFLICT through every driver).
    return insert(INBOX).on_conflict_do_nothing().returning(INBOX.c.id)


def record_delivery(conn: Connection, hook: IncomingWebhook) -> Recorded:
    """Insert the delivery in the caller's transaction; the constraints classify it."""
    insert = _insert_ignoring_conflicts(conn.dialect.name)
    if conn.execute(insert, hook.row()).first() is not None:
        return Recorded.NEW
    if _bump_replay(conn, hook.webhook_id):
        return Recorded.REPLAY
    # Not a replay, so the (shop, event) key is taken: another subscription's delivery.
    first_id = conn.scalar(
        select(INBOX.c.id).where(INBOX.c.shop_domain == hook.shop_domain, INBOX.c.event_key == hook.event_id)
    )
    duplicate = hook.row(event_key=None, status=InboxStatus.DUPLICATE.value, duplicate_of_id=first_id)
    if conn.execute(insert, duplicate).first() is not None:
        return Recorded.DUPLICATE_EVENT
    # The same duplicate delivery raced itself in: that is a replay.
    _bump_replay(conn, hook.webhook_id)
    return Recorded.REPLAY


def _bump_replay(conn: Connection, webhook_id: str) -> bool:
    result = conn.execute(
        update(INBOX).where(INBOX.c.webhook_id == webhook_id).values(delivery_count=INBOX.c.delivery_count + 1)
    )
    return result.rowcount == 1


# --- deliveries for a shop whose install has not completed -------------------------------------
#
# With Shopify-managed installation, Shopify installs the app and starts sending webhooks
# before the merchant first opens it (when we exchange the session token and the install is
# complete here). Those deliveries are authentic (their HMAC was checked at intake), so they
# wait and are processed when the install completes. A shop that never completes it must not
# fill the disk: at most MAX_WAITING_PER_SHOP rows wait per shop, for at most WAITING_TTL;
# beyond either, the delivery is dropped (status ignored, body erased, reason kept).

MAX_WAITING_PER_SHOP = 500
WAITING_TTL = dt.timedelta(days=7)
DROPPED_BODY = ""
UNINSTALLED_TOPIC = "app/uninstalled"


def wait_for_install(session, row: WebhookDelivery) -> InboxStatus:
    """Park a delivery of a shop that is not installed: WAITING, or IGNORED (body dropped) past the shop's bound.

    A shop that uninstalled is treated alike: Shopify stops sending after app/uninstalled, so a
    new delivery means the app is being installed again.
    """
    if row.topic == UNINSTALLED_TOPIC:
        # The install that was under way is gone: what waited for it must not be replayed by a
        # later install (least of all this uninstall, which would undo it).
        dropped = _drop_waiting(session, row.shop_domain, "the app was uninstalled before its install completed: dropped")
        row.body = DROPPED_BODY
        row.last_error = f"shop not installed: nothing to uninstall ({dropped} waiting deliveries dropped)"
        return InboxStatus.IGNORED
    waiting = session.scalar(
        select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.shop_domain == row.shop_domain, WebhookDelivery.status == InboxStatus.WAITING.value, WebhookDelivery.id != row.id
        )
    )
    if waiting >= MAX_WAITING_PER_SHOP:
        row.body = DROPPED_BODY
        row.last_error = f"shop not installed: dropped, {MAX_WAITING_PER_SHOP} deliveries already wait for its install"
        return InboxStatus.IGNORED
    row.last_error = "waiting for the shop's install to complete"
    return InboxStatus.WAITING


def _drop_waiting(session, shop_domain: str, reason: str) -> int:
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.shop_domain == shop_domain, WebhookDelivery.status == InboxStatus.WAITING.value)
        .values(status=InboxStatus.IGNORED.value, body=DROPPED_BODY, processed_at=utcnow(), last_error=reason)
    )
    return result.rowcount


def release_waiting_deliveries(session, shop_domain: str) -> int:
    """The shop's install completed: queue its waiting deliveries (in arrival order); returns how many."""
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.shop_domain == shop_domain, WebhookDelivery.status == InboxStatus.WAITING.value)
        .values(status=InboxStatus.PENDING.value, next_attempt_at=utcnow(), last_error=None, lease_owner=None, lease_until=None)
    )
    return result.rowcount


def expire_waiting_deliveries(session, older_than: dt.timedelta = WAITING_TTL) -> int:
    """Drop deliveries that waited longer than `older_than` for an install that never completed; returns how many."""
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.status == InboxStatus.WAITING.value, WebhookDelivery.received_at < utcnow() - older_than)
        .values(status=InboxStatus.IGNORED.value, body=DROPPED_BODY, processed_at=utcnow(),
                last_error=f"shop never completed its install within {older_than.days} days: dropped")
    )
    return result.rowcount
