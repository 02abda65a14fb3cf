"""fulfillments/create and fulfillments/update: each fulfillment's delivery status (ours or not).

The payload is only the fulfillment as it was when sent (and its `shipment_status` is
the latest event's status at best), so the prefetch re-reads the fulfillment and its
events through GraphQL; deliveries.status applies it without ever moving backwards.
"""
from __future__ import annotations

import logging

from ...deliveries.status import apply_fulfillment_state, fulfillment_gid_of, state_from_graphql, state_from_payload
from ...orders.payloads import PayloadError
from ..registry import WebhookContext, handles
from ..worker import PoisonPayload

log = logging.getLogger(__name__)


def fetch_fulfillment(ctx: WebhookContext) -> dict | None:
    """Read the fulfillment with its events (before the write transaction); None when Shopify has it no more."""
    try:
        gid = fulfillment_gid_of(ctx.payload)
    except PayloadError as exc:
        raise PoisonPayload(str(exc)) from None
    return ctx.services.gateway(ctx.shop_domain).query("FulfillmentDeliveryStatus", {"id": gid}).get("fulfillment")


@handles("fulfillments/create", "fulfillments/update", prefetch=fetch_fulfillment)
def fulfillment_changed(ctx: WebhookContext) -> None:
    """Store the fulfillment's delivery status; the order's timeline and alerts follow."""
    try:
        state = state_from_graphql(ctx.prefetched) if ctx.prefetched else state_from_payload(ctx.payload)
    except PayloadError as exc:
        raise PoisonPayload(str(exc)) from None
    if not ctx.prefetched:
        log.info("%s: fulfillment %s not readable in shop=%s, using the payload", ctx.topic, state.fulfillment_gid, ctx.shop_domain)
    apply_fulfillment_state(ctx.session, ctx.shop_domain, state)
