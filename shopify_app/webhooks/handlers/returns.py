"""returns/*: record each return from Shopify's own copy, decide requests by policy, follow status changes.

Every topic re-reads the return (the payloads are thin and may arrive twice or out of
order), so whatever order they come in, the case ends in Shopify's current state and a
request is decided once.
"""
from __future__ import annotations

import logging
import re

from integrations.shopify.errors import ShopifyUserError

from ...orders.payloads import PayloadError, check_refund, checked_id
from ...returns.intake import decide_return, judge_supplier_windows, mark_decided, record_return, timeline
from ...returns.models import Decision, ReturnCase, RmaState
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


def fetch_return(ctx: WebhookContext) -> dict | None:
    """Shopify's current copy of the return (read before the write transaction)."""
    return ctx.services.gateway(ctx.shop_domain).query("ReturnForReview", {"id": return_gid_of(ctx.payload)}).get("return")


@handles(*RETURN_TOPICS, prefetch=fetch_return)
def on_return_changed(ctx: WebhookContext) -> None:
    """Bring our case in line with Shopify's return; decide it if it is a new request."""
    gid = return_gid_of(ctx.payload)
    snapshot = ctx.prefetched
    if snapshot is None:
        log.warning("return %s is gone from shop=%s", gid, ctx.shop_domain)
        return
    session = ctx.session
    case = record_return(session, ctx.shop_domain, snapshot)
    session.flush()
    status = case.status
    if case.decision == Decision.PENDING and not case.decided_at and status == "requested":
        verdict, _ = decide_return(session, case)
        if verdict.decision not in (Decision.APPROVE, Decision.DECLINE):
            timeline(session, case, "return_requested", "store", items=sum(line.quantity for line in case.lines), reasons=sorted({line.reason for line in case.lines}))
            mark_decided(session, case, verdict.decision, "policy", verdict.note, verdict.decline_reason, verdict.reasons)
            return
        # Shopify is told after this transaction (the request is recorded, still pending);
        # the decision is recorded once it has been. A crash in between is retried: the
        # request is decided again, and Shopify refuses a second decision.
        case_id, services, shop_domain = case.id, ctx.services, ctx.shop_domain
        ctx.after_commit(lambda: _push_policy_decision(services, shop_domain, case_id, gid, verdict))
        return
    if status == "open" and case.decision in (Decision.PENDING, Decision.REVIEW):
        # Approved in the admin, or created there by the merchant (returns/approve): the supplier's
        # window is judged as the policy would have, before approval asks the supplier for an RMA.
        judge_supplier_windows(case, case.requested_at)
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


def _push_policy_decision(services, shop_domain: str, case_id: int, gid: str, verdict) -> None:
    """Approve or decline in Shopify (no transaction open), then record the policy's decision once."""
    gateway = services.gateway(shop_domain)
    if verdict.decision == Decision.APPROVE:
        _shopify_decision(gateway, "ReturnApproveRequest", "returnApproveRequest", {"id": gid, "notifyCustomer": False})
    else:
        _shopify_decision(gateway, "ReturnDeclineRequest", "returnDeclineRequest",
                          {"id": gid, "declineReason": verdict.decline_reason, "declineNote": verdict.note[:300], "notifyCustomer": False})
    with services.session_factory.begin() as session:
        case = session.get(ReturnCase, case_id)
        if case is None or case.decision != Decision.PENDING or case.decided_at:
            return  # decided meanwhile (a duplicate delivery or the merchant)
        timeline(session, case, "return_requested", "store", items=sum(line.quantity for line in case.lines), reasons=sorted({line.reason for line in case.lines}))
        mark_decided(session, case, verdict.decision, "policy", verdict.note, verdict.decline_reason, verdict.reasons)


def _shopify_decision(gateway, document: str, payload_key: str, data: dict) -> None:
    try:
        gateway.mutate(document, {"input": data}, payload_key)
    except ShopifyUserError as error:
        # Already decided in Shopify (a duplicate or a merchant's click): Shopify's state wins on re-read.
        log.warning("return decision refused by Shopify codes=%s", error.codes)


def fetch_reverse_fulfillment_order(ctx: WebhookContext) -> dict | None:
    """Shopify's disposition totals for the reverse fulfillment order (read before the write transaction)."""
    gid = ctx.payload.get("admin_graphql_api_id") if isinstance(ctx.payload, dict) else None
    if not isinstance(gid, str) or not RFO_GID.fullmatch(gid):
        raise PoisonPayload("reverse_fulfillment_orders/dispose without a ReverseFulfillmentOrder admin_graphql_api_id")
    return ctx.services.gateway(ctx.shop_domain).query("ReverseFulfillmentOrderState", {"id": gid}).get("reverseFulfillmentOrder")


@handles("reverse_fulfillment_orders/dispose", prefetch=fetch_reverse_fulfillment_order)
def on_dispose(ctx: WebhookContext) -> None:
    """Units disposed (by us or in the admin): apply Shopify's totals, so each unit is restocked once."""
    from ...returns.restock import apply_disposition_totals

    apply_disposition_totals(ctx.session, ctx.shop_domain, ctx.prefetched, actor="store")


def _refund_payload(ctx: WebhookContext) -> dict:
    try:
        return check_refund(ctx.payload)
    except PayloadError as exc:
        raise PoisonPayload(f"refunds/create payload is not a refund: {exc}") from None


def fetch_refund_inventory_items(ctx: WebhookContext) -> dict[str, str]:
    """Inventory items of the refund's lines that may need a second restock undone (read before the write transaction)."""
    from ...returns.restock import refund_inventory_items

    refund = _refund_payload(ctx)
    return refund_inventory_items(ctx.session, ctx.shop_domain, refund, ctx.services.gateway(ctx.shop_domain) if ctx.services else None)


def fetch_refund(ctx: WebhookContext) -> dict:
    """Before the write transaction: the inventory items (see above) and, when the refund took
    lines off an order that suppliers have, the order as Shopify holds it now (its current
    quantities are what the suppliers should still ship)."""
    from ...orders.changes import order_with_supplier_work
    from ...orders.graph import read_order

    refund = _refund_payload(ctx)
    fetched = {"inventory_items": fetch_refund_inventory_items(ctx), "order": None}
    order_id = refund.get("order_id")
    if refund.get("refund_line_items") and order_id is not None and ctx.services is not None:
        try:
            number = checked_id(order_id, "order_id")
        except PayloadError as exc:
            raise PoisonPayload(f"refunds/create payload is not a refund: {exc}") from None
        if order_with_supplier_work(ctx.session, ctx.shop_domain, number):
            fetched["order"] = read_order(ctx.services.gateway(ctx.shop_domain), f"gid://shopify/Order/{number}").get("order")
    return fetched


@handles("refunds/create", prefetch=fetch_refund)
def on_refund(ctx: WebhookContext) -> None:
    """A refund: mark its return refunded; units it restocked are not restocked again (or are undone);
    lines it cancelled are taken off the supplier orders (refund-cancel)."""
    from ...orders.graph import order_payload_from_graphql
    from ...orders.payloads import parse_order
    from ...returns.restock import reconcile_refund, undo_second_restock
    from .orders import sync_snapshot

    fetched = ctx.prefetched or {}
    _, adjustment = reconcile_refund(ctx.session, ctx.shop_domain, _refund_payload(ctx), fetched.get("inventory_items") or {})
    if fetched.get("order") is not None:
        sync_snapshot(ctx.session, ctx.services, ctx.shop_domain, parse_order(order_payload_from_graphql(fetched["order"])))
    if adjustment is not None and ctx.services is not None:
        # After the commit that marks the refund reconciled: at most once, never twice.
        services, shop_domain = ctx.services, ctx.shop_domain
        ctx.after_commit(lambda: undo_second_restock(services, shop_domain, adjustment))
