"""fulfillments/create and fulfillments/update: each fulfillment's delivery status (ours or not).

The payload is only the fulfillment as it was when sent (and its `shipment_status` is
the latest event's status at best), so the prefetch re-reads the fulfillment and its
events through GraphQL; deliveries.status applies it without ever moving backwards.
A `fulfillments/create` for a fulfillment the app itself just created (a supplier's
parcel, its Shopify id stored) has nothing to read yet: its payload is recorded as is,
without a Shopify call, and the `fulfillments/update` webhooks of its carrier events
still read them in full.
"""
from __future__ import annotations

import logging

from ...deliveries.status import apply_fulfillment_state, fulfillment_gid_of, is_our_parcel, state_from_graphql, state_from_payload
from ...orders.payloads import PayloadError
from ..registry import WebhookContext, handles
from ..worker import PoisonPayload

log = logging.getLogger(__name__)

OWN_FULFILLMENT = object()  # the prefetch's answer for a fulfillment our shipment push created


def fetch_fulfillment(ctx: WebhookContext) -> dict | object | None:
    """Read the fulfillment with its events (before the write transaction); None when Shopify has it no more."""
    try:
        gid = fulfillment_gid_of(ctx.payload)
    except PayloadError as exc:
        raise PoisonPayload(str(exc)) from None
    if ctx.topic == "fulfillments/create" and is_our_parcel(ctx.session, ctx.shop_domain, gid):
        return OWN_FULFILLMENT
    return ctx.services.gateway(ctx.shop_domain).query("FulfillmentDeliveryStatus", {"id": gid}).get("fulfillment")


@handles("fulfillments/create", "fulfillments/update", prefetch=fetch_fulfillment)
def fulfillment_changed(ctx: WebhookContext) -> None:
    """Store the fulfillment's delivery status; the order's timeline and alerts follow."""
    own = ctx.prefetched is OWN_FULFILLMENT
    try:
        state = state_from_graphql(ctx.prefetched) if ctx.prefetched and not own else state_from_payload(ctx.payload)
    except PayloadError as exc:
        raise PoisonPayload(str(exc)) from None
    if not ctx.prefetched:
        log.info("%s: fulfillment %s not readable in shop=%s, using the payload", ctx.topic, state.fulfillment_gid, ctx.shop_domain)
    apply_fulfillment_state(ctx.session, ctx.shop_domain, state)
