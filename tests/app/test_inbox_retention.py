"""Handled deliveries are purged after retention; pending and dead ones are kept."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from shopify_app.models import WebhookDelivery
from shopify_app.webhooks.retention import purge_handled_deliveries


def test_purge_keeps_recent_pending_and_dead_rows(app_factory, database_url):
    factory = app_factory(database_url).extensions["services"].session_factory
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)
    with factory.begin() as session:
        for n, (status, received) in enumerate([("done", old), ("ignored", old), ("duplicate", old), ("dead", old), ("pending", old), ("done", dt.datetime.now(dt.timezone.utc))]):
            session.add(WebhookDelivery(webhook_id=f"w{n}", shop_domain="s.myshopify.com", topic="orders/create", body='{"email": "x@example.com"}', status=status, received_at=received))
    with factory.begin() as session:
        assert purge_handled_deliveries(session) == 3
    with factory() as session:
        assert sorted(session.scalars(select(WebhookDelivery.webhook_id))) == ["w3", "w4", "w5"]
    with factory.begin() as session, pytest.raises(ValueError):
        purge_handled_deliveries(session, dt.timedelta(hours=12))
