"""An accepted complaint's replacement, carried out once: an order of its own at no charge in Shopify.

The legal guarantee's "replace" remedy sends the customer the same item again. Shopify has no
way to add items to a return that asked for none, so the replacement is what merchants make
by hand: an order for the same variants at price 0, tagged with the outcome's idempotency
key. Its orders/create webhook then routes it and the forwarding worker places it with the
supplier under that order's own deterministic key, like any new order: exactly once.

One ReturnOutcome row (kind "replacement") per case, with the same discipline as refunds:
marked sent in a short transaction, orderCreate called with no transaction open (it is not
@idempotent in 2026-10), the answer recorded in another; a row left sent or unknown is
settled by looking the order up by its tag before anything is sent again. That search is
eventually consistent (an order created seconds ago is often not found yet), so a miss only
counts once SEARCH_SETTLE has passed since the send, and the order is created again only
after two such misses SEARCH_SETTLE apart (orderCreate offers no idempotency key to ask by).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..cases.links import link_replacement
from ..db import read_only
from ..i18n import gettext as _
from ..models import utcnow
from .intake import notify_customer, timeline
from .models import ReturnCase
from .outcome_models import OutcomeKind, OutcomeState, ReturnOutcome
from .remedies import raise_remedy_task, remedy_due, settle_remedy_task


def request_replacement(session: Session, case: ReturnCase, by: str) -> ReturnOutcome | None:
    """The case's replacement row, created once when its accepted complaint's remedy is a replacement (None otherwise)."""
    from .outcomes import outcome_key

    if remedy_due(case) != "replacement":
        return None
    existing = session.scalar(select(ReturnOutcome).where(ReturnOutcome.return_case_id == case.id))
    if existing is not None:
        if existing.kind != OutcomeKind.REPLACEMENT:
            raise_remedy_task(session, case, replacement_by_hand=True)  # the app cannot create it: the merchant's task
            return None
        return existing
    row = ReturnOutcome(shop_domain=case.shop_domain, return_case_id=case.id, kind=OutcomeKind.REPLACEMENT,
                        idempotency_key=outcome_key(case.shop_domain, case.return_gid), state=OutcomeState.PENDING, requested_by=by,
                        next_attempt_at=utcnow(), fee_notes=[], exchange_line_gids=[], request={})
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another worker asked first
        return session.scalar(select(ReturnOutcome).where(ReturnOutcome.return_case_id == case.id))
    timeline(session, case, "complaint_replacement_requested", by)
    return row


def replacement_tag(key: str) -> str:
    """The tag the replacement order carries: how Shopify is asked whether it exists."""
    return f"replacement-{key}"


def carry_out_replacement(services, outcome_id: int, gateway=None, now: dt.datetime | None = None) -> str:
    """Create the replacement order in Shopify once (asking first when an earlier try may have landed); the row's state."""
    from .outcomes import _fail, _move, send_once

    factory = services.session_factory
    with read_only(factory)() as session:
        row = session.get(ReturnOutcome, outcome_id)
        case = session.get(ReturnCase, row.return_case_id)
        state, key, shop_domain, order_gid, name = row.state, row.idempotency_key, row.shop_domain, case.order_gid, case.name or case.return_gid
        wanted = {line.line_item_gid: line.quantity for line in case.lines if line.line_item_gid}
    if state in (OutcomeState.DONE, OutcomeState.FAILED):
        return state
    gateway = gateway or services.gateway(shop_domain)
    if state in (OutcomeState.SENT, OutcomeState.UNKNOWN):
        found = _existing_order(gateway, key)
        if found is not None:
            return _record_done(factory, outcome_id, found, asked=True)
        with factory.begin() as session:
            if not _missed_twice(session, outcome_id, state, now or utcnow()):
                return session.get(ReturnOutcome, outcome_id).state  # not yet sure it never landed: asked again later
            if not _move(session, outcome_id, state, state=OutcomeState.PENDING):
                return session.get(ReturnOutcome, outcome_id).state
    source = gateway.query("ReplacementSource", {"id": order_gid}).get("order") if order_gid else None
    if source is None:
        return _fail(factory, outcome_id, _("the order is gone from Shopify: send the replacement by hand"))
    order_input = replacement_input(source, wanted, key, name)
    if isinstance(order_input, str):
        return _fail(factory, outcome_id, order_input)
    payload, state = send_once(factory, outcome_id, gateway, "ReplacementOrderCreate", {"order": order_input}, "orderCreate", {"tag": replacement_tag(key)})
    if payload is None:
        return state
    return _record_done(factory, outcome_id, payload.get("order") or {})


def replacement_input(source: dict, wanted: dict[str, int], key: str, name: str) -> dict | str:
    """orderCreate's input: the returned units' variants at no charge, to the same customer and address (a string when impossible)."""
    currency = source.get("currencyCode") or "USD"
    items = []
    for node in (source.get("lineItems") or {}).get("nodes") or []:
        quantity = wanted.get(node["id"])
        if not quantity:
            continue
        if not node.get("variant"):
            return _("a returned item has no product variant any more: send the replacement by hand")
        items.append({"variantId": node["variant"]["id"], "quantity": quantity, "priceSet": {"shopMoney": {"amount": "0.00", "currencyCode": currency}}})
    if not items:
        return _("the complaint names no items of the order: send the replacement by hand")
    order: dict = {"lineItems": items, "financialStatus": "PAID", "tags": ["replacement", replacement_tag(key)], "sourceIdentifier": key,
                   "note": f"Replacement for {name} (complaint under the legal guarantee, accepted)"}
    if source.get("email"):
        order["email"] = source["email"]
    address = source.get("shippingAddress")
    if address:
        order["shippingAddress"] = {**{k: v for k, v in address.items() if k != "countryCodeV2" and v is not None}, "countryCode": address.get("countryCodeV2")}
    return order


def _missed_twice(session: Session, outcome_id: int, state: str, now: dt.datetime) -> bool:
    """A lookup found no order: True on the second miss at least SEARCH_SETTLE after the first (and after the send);
    otherwise the miss is noted and the row waits as unknown (a compare-and-set: another worker's move wins)."""
    from .outcomes import SEARCH_SETTLE, _move

    row = session.get(ReturnOutcome, outcome_id)
    request = dict(row.request or {})
    first = request.get("lookup_missed_at")
    if row.sent_at is not None and now < row.sent_at + SEARCH_SETTLE:
        wait_until, request = row.sent_at + SEARCH_SETTLE, None  # too soon after the send for a miss to mean anything
    elif first is None:
        wait_until, request = now + SEARCH_SETTLE, {**request, "lookup_missed_at": now.isoformat()}
    elif now >= dt.datetime.fromisoformat(first) + SEARCH_SETTLE:
        row.request = {k: v for k, v in request.items() if k != "lookup_missed_at"}
        return True
    else:
        wait_until, request = dt.datetime.fromisoformat(first) + SEARCH_SETTLE, None
    values = {"state": OutcomeState.UNKNOWN, "next_attempt_at": wait_until}
    if request is not None:
        values["request"] = request
    _move(session, outcome_id, state, **values)
    return False


def _existing_order(gateway, key: str) -> dict | None:
    nodes = gateway.query("ReplacementOrderLookup", {"query": f"tag:'{replacement_tag(key)}'"}).get("orders", {}).get("nodes") or []
    return next((node for node in nodes if replacement_tag(key) in (node.get("tags") or [])), None)


def _record_done(factory, outcome_id: int, order: dict, *, asked: bool = False) -> str:
    with factory.begin() as session:
        row = session.get(ReturnOutcome, outcome_id)
        if row.state == OutcomeState.DONE:
            return row.state
        row.state, row.finished_at, row.last_error = OutcomeState.DONE, utcnow(), None
        row.request = {**(row.request or {}), "replacement_order": order.get("id"), "replacement_order_name": order.get("name")}
        case = session.get(ReturnCase, row.return_case_id)
        case.outcome = OutcomeKind.REPLACEMENT
        case.refund_due_at = None  # a replacement owes no refund
        settle_remedy_task(session, case)  # an old "send a replacement" task, if any: the app has sent it
        link_replacement(session, case.shop_domain, case.id, order.get("name") or order.get("id"))  # the customer's case shows it
        timeline(session, case, "complaint_replacement_sent", "app", replacement_order=order.get("name") or order.get("id"), confirmed_by_reading_shopify=asked)
        notify_customer(session, case, "return_replacement")
        return row.state
