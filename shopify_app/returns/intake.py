"""Return requests from Shopify: read the return, find its lines' orders, suppliers and delivery dates, decide.

Shopify's returns webhooks carry little (often no lines), so every request is read back
through the gateway (ReturnForReview). The decision is the policy's; approving or
declining is Shopify's returnApproveRequest / returnDeclineRequest; a review goes to the
merchant's queue with an alert.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..alerts import raise_alert, resolve_alert
from ..cases.links import link_return
from ..i18n import gettext as _
from ..deliveries.models import FulfillmentDelivery
from ..models import ShopSetting, utcnow
from ..orders.payloads import parse_time
from ..privacy import gid_number
from ..shop_profile import shop_profile
from ..orders.models import CustomerNotice, Order, OrderLine
from ..orders.timeline import record_event
from ..suppliers.models import Supplier, SupplierOrder, SupplierOrderLine, SupplierShipment
from .business_days import end_of_local_day
from .legal_profiles import LegalProfile, profile_for_country, with_overrides
from .models import CaseKind, ComplaintState, Decision, ReturnCase, ReturnLine, RmaState
from .policy import LineFacts, ReturnPolicy, decide, policy_from, supplier_terms_from, supplier_window_passed

log = logging.getLogger(__name__)

POLICY_KEY = "return_policy"


def store_policy(session: Session, shop_domain: str) -> ReturnPolicy:
    """The shop's return policy (defaults until the merchant edits it)."""
    row = session.scalar(select(ShopSetting).where(ShopSetting.shop_domain == shop_domain, ShopSetting.key == POLICY_KEY))
    return policy_from(row.value if row else None)


def case_profile(session: Session, case: ReturnCase, policy: ReturnPolicy | None = None) -> LegalProfile:
    """The customer's statutory rights for this case (its shipping country), with the store's raises applied."""
    profile = profile_for_country(case.country_code)
    policy = policy or store_policy(session, case.shop_domain)
    return with_overrides(profile, policy.legal_overrides.get(profile.key))


@dataclass
class _LineContext:
    order_line: OrderLine | None
    supplier: Supplier | None
    supplier_gone: bool
    returnable: int | None
    delivered_at: dt.datetime | None


def _line_context(session: Session, order: Order | None, line_item_gid: str | None, fulfillment_delivered: dict[str, dt.datetime | None], fulfillment_line_gid: str | None) -> _LineContext:
    number = gid_number(line_item_gid)
    order_line = None
    if order is not None and number:
        order_line = session.scalar(select(OrderLine).where(OrderLine.order_id == order.id, OrderLine.shopify_line_id == number))
    supplier, gone, delivered, returnable = None, False, fulfillment_delivered.get(fulfillment_line_gid or ""), None
    if order_line is not None:
        row = session.execute(
            select(SupplierOrderLine, SupplierOrder).join(SupplierOrder, SupplierOrder.id == SupplierOrderLine.supplier_order_id).where(SupplierOrderLine.order_line_id == order_line.id)
        ).first()
        if row is not None:
            sol, delivery = row
            supplier = session.get(Supplier, delivery.supplier_id)
            gone = supplier is None or supplier.deleted_at is not None
            returnable = sol.shipped_quantity or None
            if delivered is None:
                delivered = _supplier_delivery(session, delivery.id, sol.id)
        already = sum(rl.quantity for rl in session.scalars(
            select(ReturnLine).join(ReturnCase).where(ReturnLine.order_line_id == order_line.id, ReturnCase.status.in_(("open", "closed")))))
        if returnable is not None:
            returnable = max(0, returnable - already)
    return _LineContext(order_line, supplier, gone, returnable, delivered)


def _supplier_delivery(session: Session, delivery_id: int, supplier_line_id: int) -> dt.datetime | None:
    """When the supplier's carrier delivered the parcel holding this line."""
    for shipment in session.scalars(select(SupplierShipment).where(SupplierShipment.supplier_order_id == delivery_id)):
        if shipment.delivered_at and any(entry[0] == supplier_line_id for entry in shipment.lines or []):
            return parse_time(shipment.delivered_at)
    return None


def _carrier_delivery(session: Session, shop_domain: str, fulfillment_gid: str | None) -> dt.datetime | None:
    """When the carrier delivered a fulfillment, from its delivery status we recorded (deliveries/)."""
    if not fulfillment_gid:
        return None
    return session.scalar(select(FulfillmentDelivery.delivered_at).where(FulfillmentDelivery.shop_domain == shop_domain, FulfillmentDelivery.fulfillment_gid == fulfillment_gid))


def _time_or_none(value) -> dt.datetime | None:
    try:
        return parse_time(value)
    except (TypeError, ValueError):
        return None


def request_time(snapshot: dict, order: Order | None, now: dt.datetime) -> dt.datetime:
    """When the customer asked: Shopify's createdAt of the return, so a request processed late (a backlog,
    a retried dead letter) keeps its own day; never in the future nor before the order; now when unknown."""
    created = _time_or_none(snapshot.get("createdAt"))
    if created is None:
        return now
    placed = (order.shopify_created_at if order is not None else None) or _time_or_none((snapshot.get("order") or {}).get("createdAt"))
    return min(max(created, placed) if placed is not None else created, now)


def record_return(session: Session, shop_domain: str, snapshot: dict) -> ReturnCase:
    """Create or refresh our ReturnCase from Shopify's return (ReturnForReview's `return`)."""
    case = session.scalar(select(ReturnCase).where(ReturnCase.shop_domain == shop_domain, ReturnCase.return_gid == snapshot["id"]))
    order_gid = (snapshot.get("order") or {}).get("id")
    order = session.scalar(select(Order).where(Order.shop_domain == shop_domain, Order.shopify_id == gid_number(order_gid))) if order_gid else None
    if case is None:
        case = ReturnCase(shop_domain=shop_domain, return_gid=snapshot["id"], order_gid=order_gid, order_id=order.id if order else None, name=snapshot.get("name"),
                          requested_at=request_time(snapshot, order, utcnow()))
        try:
            with session.begin_nested():
                session.add(case)
        except IntegrityError:  # another worker recorded it first
            case = session.scalar(select(ReturnCase).where(ReturnCase.shop_domain == shop_domain, ReturnCase.return_gid == snapshot["id"]))
    if order is not None and case.order_id != order.id:
        case.order_id = order.id  # the order was mirrored after the case: the outcome's fees read its country
    if case.id is not None:
        link_return(session, shop_domain, case.order_id, case.id)  # the customer's report on the store page follows its return
    case.status = str(snapshot.get("status") or case.status).lower()
    if (snapshot.get("exchangeLineItems") or {}).get("nodes"):
        case.outcome = "exchange"  # the customer chose another item instead of money back
    delivered = {}
    for fulfillment in (snapshot.get("order") or {}).get("fulfillments") or []:
        # The window starts at delivery: Shopify's date, else the carrier's as fulfillments/update told us.
        when = parse_time(fulfillment.get("deliveredAt")) or _carrier_delivery(session, shop_domain, fulfillment.get("id"))
        for node in (fulfillment.get("fulfillmentLineItems") or {}).get("nodes") or []:
            delivered[node["id"]] = when
    rfo_lines = {}
    for rfo in (snapshot.get("reverseFulfillmentOrders") or {}).get("nodes") or []:
        for node in (rfo.get("lineItems") or {}).get("nodes") or []:
            rfo_lines[(node.get("fulfillmentLineItem") or {}).get("id")] = node["id"]
    if order is not None and isinstance(order.shipping_address, dict):
        country = str(order.shipping_address.get("country_code") or "").strip().upper()[:2]
        case.country_code = country or case.country_code
    policy = store_policy(session, shop_domain)
    profile = case_profile(session, case, policy)
    case.legal_profile = profile.key
    timezone = shop_profile(session, shop_domain)["iana_timezone"]
    known = {line.return_line_item_gid: line for line in case.lines}
    for node in (snapshot.get("returnLineItems") or {}).get("nodes") or []:
        fli = node.get("fulfillmentLineItem") or {}
        line_item = fli.get("lineItem") or {}
        context = _line_context(session, order, line_item.get("id"), delivered, fli.get("id"))
        line = known.get(node["id"])
        if line is None:
            line = ReturnLine(return_line_item_gid=node["id"], quantity=int(node.get("quantity") or 0))
            case.lines.append(line)
        line.line_item_gid = line_item.get("id")
        line.order_line_id = context.order_line.id if context.order_line else None
        line.sku = line_item.get("sku") or (context.order_line.sku if context.order_line else None)
        line.product_gid = (line_item.get("product") or {}).get("id")
        line.supplier_id = context.supplier.id if context.supplier else None
        line.quantity = int(node.get("quantity") or line.quantity)
        line.reason = reason_of(node)
        line.reason_note, line.customer_note = node.get("returnReasonNote"), node.get("customerNote")
        line.rfo_line_item_gid = rfo_lines.get(fli.get("id")) or line.rfo_line_item_gid
        line._facts = LineFacts(  # kept on the instance for decide_return, not stored
            reason=line.reason, quantity=line.quantity, returnable_quantity=context.returnable, delivered_at=context.delivered_at,
            product_id=line.product_gid, product_tags=tuple((line_item.get("product") or {}).get("tags") or ()),
            supplier_terms=supplier_terms_from(context.supplier.return_terms) if context.supplier and not context.supplier_gone else None,
            supplier_known=context.supplier is None or not context.supplier_gone,
            profile=profile, country=case.country_code, timezone=timezone,
        )
        if context.delivered_at and (case.delivered_at is None or context.delivered_at > case.delivered_at):
            case.delivered_at = context.delivered_at
    suppliers = {line.supplier_id for line in case.lines if line.supplier_id}
    case.supplier_id = next(iter(suppliers)) if len(suppliers) == 1 else case.supplier_id
    return case


def decide_return(session: Session, case: ReturnCase, now: dt.datetime | None = None):
    """Apply the store's policy to a recorded request as of its request time (or `now`); (whole-return verdict, per-line verdicts)."""
    facts = [getattr(line, "_facts", None) for line in case.lines]
    if any(f is None for f in facts):
        raise ValueError("decide_return needs a case freshly recorded from Shopify")
    verdict, per_line = decide(facts, store_policy(session, case.shop_domain), now or case.requested_at or utcnow())
    for line, line_verdict in zip(case.lines, per_line):
        line.verdict, line.verdict_note = line_verdict.decision, line_verdict.note
        line.supplier_window_passed = line_verdict.supplier_window_passed
    if verdict.complaint:
        case.kind = CaseKind.COMPLAINT
    return verdict, per_line


def judge_supplier_windows(case: ReturnCase, now: dt.datetime) -> None:
    """Mark the lines returned past their supplier's terms, for a request our policy did not judge
    (created or approved in Shopify's admin): no RMA is asked and no unit restocked at that supplier."""
    for line in case.lines:
        facts = getattr(line, "_facts", None)
        if facts is not None:
            line.supplier_window_passed = supplier_window_passed(facts, now)


def order_of(session: Session, case: ReturnCase) -> Order | None:
    """The case's order, if we know it."""
    return session.get(Order, case.order_id) if case.order_id else None


def timeline(session: Session, case: ReturnCase, kind: str, actor: str, **detail) -> None:
    """A return step on the order's timeline (no personal data in detail)."""
    order = order_of(session, case)
    if order is not None:
        record_event(session, order, kind, actor, **{"return": case.name or case.return_gid, **detail})


def notify_customer(session: Session, case: ReturnCase, kind: str) -> None:
    """Queue one email of this kind for this return (sent by the notices job)."""
    if case.order_id is None:
        return
    try:
        with session.begin_nested():
            session.add(CustomerNotice(order_id=case.order_id, shop_domain=case.shop_domain, kind=kind, dedupe_key=f"{kind}:{case.id}"))
    except IntegrityError:
        pass  # already queued or sent


def open_case_for_supplier(session: Session, case: ReturnCase) -> None:
    """After approval: ask the supplier for an RMA where it has one, else hand the merchant the supplier side."""
    if case.rma_state not in (RmaState.NONE,):
        return
    supplier = session.get(Supplier, case.supplier_id) if case.supplier_id else None
    terms = supplier_terms_from(supplier.return_terms) if supplier else None
    # The customer's lawful return outlives the supplier's window: asking it for an RMA then only
    # earns a refusal, and the item is the store's to keep or resell.
    past_window = any(line.supplier_window_passed for line in case.lines if line.supplier_id == case.supplier_id)
    if supplier is None or supplier.deleted_at is not None or not (terms and terms.accepts_returns) or past_window:
        case.rma_state = RmaState.MANUAL
        if supplier is not None and supplier.deleted_at is not None:
            why = "its supplier was deleted"
        elif past_window and terms and terms.accepts_returns:
            why = f"it came after the supplier's {terms.window_days}-day return window, so the item stays with the store"
        else:
            why = "no supplier takes this return"
        case.rma_note = f"No supplier RMA: {why}; send the customer your own return instructions."
        raise_alert(session, case.shop_domain, "return_manual", f"return_manual:{case.id}", f"Return {case.name or case.return_gid}: {why}. Arrange it by hand.", subject=case.name)
        return
    case.rma_state, case.next_attempt_at = RmaState.PENDING, utcnow()


def mark_decided(session: Session, case: ReturnCase, decision: str, by: str, note: str, decline_reason: str | None = None,
                 reasons: tuple[dict, ...] = ()) -> None:
    """Record a decision and its timeline step and customer email; a decision ends the "needs your decision" alert.

    A complaint's decision is its answer (accepted or rejected; "law" when silence accepted it),
    told to the customer as such; an approved withdrawal starts the statutory refund clock.
    """
    case.decision, case.decided_by, case.decision_note, case.decided_at = decision, by, note, utcnow()
    case.decision_reasons = list(reasons) or None  # the policy's reasons; a merchant's own words stay in decision_note
    complaint = case.kind == CaseKind.COMPLAINT
    actor = {"policy": "app", "law": "app"}.get(by, "merchant")
    if decision in (Decision.APPROVE, Decision.DECLINE):
        resolve_alert(session, f"return_review:{case.id}")
        resolve_alert(session, f"complaint_due:{case.id}")
        resolve_alert(session, f"return_due:{case.id}")  # the damaged-item clock (deadlines.py)
        if complaint and case.complaint_state in (None, ComplaintState.OPEN):
            case.complaint_answered_at = case.decided_at
            case.complaint_state = (ComplaintState.ACCEPTED_BY_LAW if by == "law" else ComplaintState.ACCEPTED) if decision == Decision.APPROVE else ComplaintState.REJECTED
    if decision == Decision.APPROVE:
        case.status = "open"
        if complaint:
            timeline(session, case, f"complaint_{case.complaint_state}", actor, remedy=case.complaint_remedy, note=note)
            notify_customer(session, case, f"return_complaint_{case.complaint_state}")
        else:
            timeline(session, case, "return_approved", actor, note=note)
            notify_customer(session, case, "return_approved")
        start_refund_clock(session, case)
        if complaint:
            from .remedies import raise_remedy_task

            raise_remedy_task(session, case)  # a replacement, repair or the merchant's choice: a task, never cash
        open_case_for_supplier(session, case)
    elif decision == Decision.DECLINE:
        case.status, case.decline_reason = "declined", decline_reason
        if complaint:
            timeline(session, case, "complaint_rejected", actor, note=note)
            notify_customer(session, case, "return_complaint_rejected")
        else:
            timeline(session, case, "return_declined", actor, reason=decline_reason, note=note)
            notify_customer(session, case, "return_declined")
    elif complaint:
        open_complaint(session, case, note)
    else:
        timeline(session, case, "return_review", "app", note=note)
        raise_alert(session, case.shop_domain, "return_review", f"return_review:{case.id}", f"Return {case.name or case.return_gid} needs your decision: {note}", subject=case.name)


def open_complaint(session: Session, case: ReturnCase, note: str) -> None:
    """A claim under the legal guarantee enters the queue with its answer deadline counting from the claim."""
    profile = case_profile(session, case)
    case.complaint_state = ComplaintState.OPEN
    if profile.complaint_answer_days is not None:
        # "Within 14 days" ends at the end of the 14th day in the shop's zone (Civil Code art. 111),
        # so silence cannot accept the complaint "by law" while the merchant still has that day.
        timezone = shop_profile(session, case.shop_domain)["iana_timezone"]
        case.complaint_due_at = end_of_local_day(case.requested_at, profile.complaint_answer_days, timezone)
    timeline(session, case, "complaint_opened", "app", profile=profile.key, due=case.complaint_due_at.isoformat() if case.complaint_due_at else None, note=note)
    notify_customer(session, case, "return_complaint_received")
    name = case.name or case.return_gid
    if case.complaint_due_at is None:
        message = _("Complaint %(name)s needs your answer.", name=name)
    elif profile.complaint_silence_accepts:
        message = _("Complaint %(name)s needs your answer by %(due)s UTC: unanswered, it counts as accepted by law.", name=name, due=case.complaint_due_at.strftime("%Y-%m-%d %H:%M"))
    else:
        message = _("Complaint %(name)s needs your answer by %(due)s UTC.", name=name, due=case.complaint_due_at.strftime("%Y-%m-%d %H:%M"))
    raise_alert(session, case.shop_domain, "return_complaint", f"return_review:{case.id}", message, subject=case.name)


def start_refund_clock(session: Session, case: ReturnCase) -> None:
    """An approved withdrawal (or a complaint accepted with a refund) must be refunded within the profile's deadline."""
    if case.refund_due_at is not None or case.refunded_at is not None or case.outcome == "exchange":
        return
    if case.kind == CaseKind.COMPLAINT and case.complaint_remedy != "refund":
        return  # a replacement or repair is not a refund (and silence accepts the customer's demand, whatever it was)
    days = case_profile(session, case).refund_deadline_days
    if days is not None:
        # A withdrawal counts from the customer's statement (the request); an accepted complaint from the answer.
        start = case.complaint_answered_at if case.kind == CaseKind.COMPLAINT else case.requested_at
        # Whole days in the shop's zone, ending at the end of the last one (as the complaint deadline and the windows).
        case.refund_due_at = end_of_local_day(start or utcnow(), days, shop_profile(session, case.shop_domain)["iana_timezone"])


# Shopify's reason library (2026-10) names reasons by handle; the policy and analytics speak
# the legacy ReturnReason values, so handles map onto them (unknown handles keep their own name).
REASON_HANDLE_ALIASES = {"damaged": "DEFECTIVE", "broken": "DEFECTIVE", "too-small": "SIZE_TOO_SMALL", "too-large": "SIZE_TOO_LARGE",
                         "too-tight": "SIZE_TOO_SMALL", "too-loose": "SIZE_TOO_LARGE", "not-as-pictured": "NOT_AS_DESCRIBED"}


def reason_of(node: dict) -> str:
    """A return line's reason from its returnReasonDefinition handle (e.g. `size-too-small` -> SIZE_TOO_SMALL)."""
    handle = ((node.get("returnReasonDefinition") or {}).get("handle") or "").strip().lower()
    if not handle:
        return "UNKNOWN"
    return REASON_HANDLE_ALIASES.get(handle) or handle.upper().replace("-", "_")[:32]
