"""Importing orders since a date through the gateway, through the same sync path as webhooks."""
from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from typing import Callable

from .graph import order_payload_from_graphql
from .payloads import parse_order

# An order with its 50 lines costs ~260 points; Shopify caps one query at 1,000. Large
# backfills should move to a bulk operation (bulkOperationRunQuery) later.
PAGE_SIZE = 3


@dataclass
class BackfillReport:
    """What a backfill did."""

    total: int = 0
    seen: int = 0
    applied: int = 0


def shopify_search_since(since: dt.datetime) -> str:
    """Shopify's search syntax for 'updated at or after'."""
    return f"updated_at:>='{since.astimezone(dt.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def backfill_orders(services, shop_domain: str, since: dt.datetime, progress: Callable[[int, int], None] | None = None, *, max_attempts: int = 6) -> BackfillReport:
    """Upsert (and route, if paid) every order updated since `since`, oldest first."""
    from ..webhooks.handlers.orders import sync_snapshot

    gateway = services.gateway(shop_domain, max_attempts=max_attempts)
    query = shopify_search_since(since)
    report = BackfillReport(total=gateway.query("OrdersCount", {"query": query})["ordersCount"]["count"])
    from integrations.shopify.gateway import updated_at_window

    # Sorted by updatedAt: past Shopify's 25,000-object cap the listing goes on from the last one seen.
    for node in gateway.paginate("OrdersForSync", {"first": PAGE_SIZE, "query": query}, ("orders",), next_window=updated_at_window):
        snapshot = parse_order(order_payload_from_graphql(node))
        with services.session_factory.begin() as session:
            report.applied += sync_snapshot(session, services, shop_domain, snapshot) is not None
        report.seen += 1
        if progress:
            progress(report.seen, max(report.total, report.seen))
    return report


def text_progress_bar(stream=sys.stderr, width: int = 40) -> Callable[[int, int], None]:
    """A one-line progress bar for the terminal."""

    def show(done: int, total: int) -> None:
        filled = int(width * done / total) if total else width
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} orders")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show
