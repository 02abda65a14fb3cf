"""returns/*: record each return from Shopify's own copy, decide requests by policy, follow status changes.

Every topic re-reads the return (the payloads are thin and may arrive twice or out of
order), so whatever order they come in, the case ends in Shopify's current state and a
request is decided once.
"""
from __future__ import annotations

import logging
import re

from integrations.shopify.errors import ShopifyUserError

from ...orders.payloads import PayloadError, check_refund
from ...returns.intake import decide_return, mark_decided, record_return, timeline
from ...returns.models import Decision, RmaState
from ..registry import WebhookContext, handles
from ..worker import PoisonPayload

log = logging.getLogger(__name__)

RETURN_GID = re.compile(r"gid://shopify/Return/[0-9]{1,19}")
RFO_GID = re.compile(r"gid://shopify/ReverseFulfillmentOrder/[0-9]{1,19}")
RETURN_TOPICS = ("returns/request", "returns/approve", "returns/decline", "returns/cancel", "returns/close", "returns/reopen", "returns/update")


def return_gid_of(payload) -> str:
    """The return's GID from a returns/* payload."""
    gid = payload.get("admin_graphql_api_id") if isinstance(payload, dict) else None
    if not isinstance(gid, str) or not RETURN_GID.fullmatch(gid):
        raise PoisonPayload("returns payload without a Return admin_graphql_api_id")
    return gid


@handles(*RETURN_TOPICS)
def on_return_changed(ctx: WebhookContext) -> None:
    """Bring our case in line with Shopify's return; decide it if it is a new request."""
    gid = return_gid_of(ctx.payload)
    gateway = ctx.services.gateway(ctx.shop_domain)
    snapshot = gateway.query("ReturnForReview", {"id": gid}).get("return")
    if snapshot is None:
        log.warning("return %s is gone from shop=%s", gid, ctx.shop_domain)
        return
    session = ctx.session
    case = record_return(session, ctx.shop_domain, snapshot)
    session.flush()
    status = case.status
    if case.decision == Decision.PENDING and not case.decided_at and status == "requested":
        timeline(session, case, "return_requested", "store", items=sum(line.quantity for line in case.lines), reasons=sorted({line.reason for line in case.lines}))
        verdict, _ = decide_return(session, case)
        if verdict.decision == Decision.APPROVE:
            _shopify_decision(gateway, "ReturnApproveRequest", "returnApproveRequest", {"id": gid, "notifyCustomer": False})
        elif verdict.decision == Decision.DECLINE:
            _shopify_decision(gateway, "ReturnDeclineRequest", "returnDeclineRequest",
                              {"id": gid, "declineReason": verdict.decline_reason, "declineNote": verdict.note[:300], "notifyCustomer": False})
        mark_decided(session, case, verdict.decision, "policy", verdict.note, verdict.decline_reason)
        return
    if status == "open" and case.decision in (Decision.PENDING, Decision.REVIEW):
        # Approved in the admin, or created there by the merchant (returns/approve).
        mark_decided(session, case, Decision.APPROVE, "merchant", "Approved in Shopify.")
    elif status == "declined" and case.decision != Decision.DECLINE:
        decline = snapshot.get("decline") or {}
        mark_decided(session, case, Decision.DECLINE, "merchant", decline.get("note") or "Declined in Shopify.", decline.get("reason"))
    elif ctx.topic == "returns/cancel" or status == "canceled":
        if case.rma_state == RmaState.PENDING:
            case.rma_state = RmaState.NONE
        timeline(session, case, "return_cancelled", "store")
    elif ctx.topic == "returns/close":
        timeline(session, case, "return_closed", "store")
    elif ctx.topic == "returns/reopen":
        timeline(session, case, "return_reopened", "store")


def _shopify_decision(gateway, document: str, payload_key: str, data: dict) -> None:
    try:
        gateway.mutate(document, {"input": data}, payload_key)
    except ShopifyUserError as error:
        # Already decided in Shopify (a duplicate or a merchant's click): Shopify's state wins on re-read.
        log.warning("return decision refused by Shopify codes=%s", error.codes)


@handles("reverse_fulfillment_orders/dispose")
def on_dispose(ctx: WebhookContext) -> None:
    """Units disposed (by us or in the admin): apply Shopify's totals, so each unit is restocked once."""
    from ...returns.restock import apply_disposition_totals

    gid = ctx.payload.get("admin_graphql_api_id") if isinstance(ctx.payload, dict) else None
    if not isinstance(gid, str) or not RFO_GID.fullmatch(gid):
        raise PoisonPayload("reverse_fulfillment_orders/dispose without a ReverseFulfillmentOrder admin_graphql_api_id")
    rfo = ctx.services.gateway(ctx.shop_domain).query("ReverseFulfillmentOrderState", {"id": gid}).get("reverseFulfillmentOrder")
    apply_disposition_totals(ctx.session, ctx.shop_domain, rfo, actor="store")


@handles("refunds/create")
def on_refund(ctx: WebhookContext) -> None:
    """A refund: mark its return refunded; units it restocked are not restocked again (or are undone)."""
    from ...returns.restock import reconcile_refund

    try:
        check_refund(ctx.payload)
    except PayloadError as exc:
        raise PoisonPayload(f"refunds/create payload is not a refund: {exc}") from None
    reconcile_refund(ctx.session, ctx.shop_domain, ctx.payload, gateway=ctx.services.gateway(ctx.shop_domain) if ctx.services else None)
