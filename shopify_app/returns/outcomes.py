"""Carrying out a return's outcome in Shopify (refund, store credit or exchange), once, across crashes.

One ReturnOutcome row per return with a deterministic idempotency key. Each try reads
Shopify's copy of the return (no transaction open), marks the row sent in a short
transaction, calls returnProcess with no transaction open, then records the answer in a
short transaction. returnProcess has no @idempotent in 2026-10, so a lost answer or a
crash between the call and the record leaves the row `sent` or `unknown`; before anything
is sent again Shopify is asked (the lines' processed quantities and the return's refunds)
whether the call landed. Processed lines cannot be processed twice, so the worst case is
a second call that Shopify refuses, never a second refund.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from decimal import Decimal

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integrations.shopify.errors import ShopifyError, ShopifyUserError

from ..alerts import alert_job_failure, raise_alert, resolve_alert
from ..i18n import gettext as _
from ..db import read_only
from ..models import utcnow
from ..orders.models import Order
from ..suppliers.models import Supplier
from .delivery_refund import delivery_refund
from .fees import FeeLine, FeeResult, is_defect, money, return_fees
from .intake import case_profile, notify_customer, start_refund_clock, store_policy, timeline
from .models import CaseKind, Decision, ReturnCase
from .exchange_balance import may_route, price_difference, variant_prices
from .outcome_models import OPEN_STATES, BalanceState, OutcomeKind, OutcomeState, ReturnOutcome
from .policy import standard_delivery_cap, supplier_terms_from
from .remedies import STORE_CREDIT_CONSENT_SOURCE, money_refusal, raise_remedy_task, remedy_due, settle_remedy_task, store_credit_refusal

log = logging.getLogger(__name__)

SENT_LEASE = dt.timedelta(minutes=2)
SEARCH_SETTLE = dt.timedelta(minutes=10)  # Shopify's order search is eventually consistent: a new order may be missing from it this long  # a row sent longer ago than this, whose worker died, is asked about
RETRY_AFTER = dt.timedelta(minutes=1)
MAX_ATTEMPTS = 6
KINDS = (OutcomeKind.REFUND, OutcomeKind.STORE_CREDIT, OutcomeKind.EXCHANGE)
TIMELINE_KIND = {OutcomeKind.REFUND: "return_refunded", OutcomeKind.STORE_CREDIT: "return_store_credited", OutcomeKind.EXCHANGE: "return_exchanged"}
NOTICE_KIND = {OutcomeKind.REFUND: "return_refunded", OutcomeKind.STORE_CREDIT: "return_store_credit", OutcomeKind.EXCHANGE: "return_exchanged"}


class NothingToProcess(Exception):
    """Every unit of the return is processed already (by us earlier, or by the merchant in Shopify)."""


def outcome_key(shop_domain: str, return_gid: str) -> str:
    """Deterministic per return: the same on every retry, crash or replay."""
    return "ro-" + hashlib.sha256(f"{shop_domain}:{return_gid}".encode()).hexdigest()[:32]


def default_kind(case: ReturnCase) -> str:
    """The outcome the decision recorded (exchange when the customer chose items), else a refund."""
    return case.outcome if case.outcome in KINDS else OutcomeKind.REFUND


class OutcomeRefused(Exception):
    """The outcome may not be asked for (the law, the complaint's remedy, or the case's state): `field` names what is wrong."""

    def __init__(self, message: str, field: str = "kind"):
        super().__init__(message)
        self.field = field


def request_outcome(session: Session, case: ReturnCase, kind: str | None = None, *, by: str = "app", customer_agreed: bool = False) -> ReturnOutcome:
    """The case's outcome row, created once (pending: the pump or the caller carries it out), after the legal checks.

    Every caller (the admin's API, the receipt that makes a refund due, jobs) gets the same checks:
    only an approved return; no money where an accepted complaint's remedy is a replacement or a
    repair; store credit on a statutory withdrawal only with the customer's recorded agreement.
    A failed row is the merchant's retry (or change of kind), checked the same way. Raises OutcomeRefused.
    """
    if case.decision != Decision.APPROVE or case.status not in ("open", "closed"):
        raise OutcomeRefused(_("only an approved return can be refunded, credited or exchanged"))
    existing = session.scalar(select(ReturnOutcome).where(ReturnOutcome.return_case_id == case.id))
    if existing is not None and existing.state != OutcomeState.FAILED:
        if kind and existing.kind != kind:
            raise OutcomeRefused(_("this return's outcome is already %(kind)s", kind=existing.kind))
        return existing
    kind = kind or (existing.kind if existing is not None else default_kind(case))
    if kind not in KINDS:
        raise OutcomeRefused(_("outcome must be one of %(kinds)s", kinds=", ".join(KINDS)))
    refused = money_refusal(case, kind)
    if refused is not None:
        raise OutcomeRefused(refused)
    refused = store_credit_refusal(session, case, kind, customer_agreed)
    if refused is not None:
        raise OutcomeRefused(refused, "customer_agreed")
    if kind == OutcomeKind.REFUND and remedy_due(case) == "choose":
        case.complaint_remedy = "refund"  # the merchant chose the remedy the law accepted
        timeline(session, case, "complaint_remedy_chosen", by, remedy="refund")
        start_refund_clock(session, case)
    if kind == OutcomeKind.STORE_CREDIT and customer_agreed:
        timeline(session, case, "return_store_credit_agreed", by, legal_source=STORE_CREDIT_CONSENT_SOURCE)
    if existing is not None:
        retry_failed(session, existing, kind)  # the merchant retries, or changes the kind of, what failed
        return existing
    row = ReturnOutcome(shop_domain=case.shop_domain, return_case_id=case.id, kind=kind, idempotency_key=outcome_key(case.shop_domain, case.return_gid),
                        state=OutcomeState.PENDING, requested_by=by, next_attempt_at=utcnow(), fee_notes=[], exchange_line_gids=[],
                        request={"customer_agreed": True} if customer_agreed else {})
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another worker asked first
        return session.scalar(select(ReturnOutcome).where(ReturnOutcome.return_case_id == case.id))
    case.outcome = kind
    return row


def exchange_possible(snapshot: dict | None) -> bool:
    """Whether Shopify's return (ReturnOutcomeState) still lists exchange items to process."""
    return any(node["processableQuantity"] > 0 for node in _nodes(snapshot, "exchangeLineItems"))


def retry_failed(session: Session, row: ReturnOutcome, kind: str | None) -> bool:
    """The merchant's retry (or change of kind) of a failed outcome: failed -> pending once, as a compare-and-set.

    A failed row's call never landed (Shopify refused it, or it was never sent), and every try
    reads Shopify's return first and processes only what is still processable, so nothing is
    paid or exchanged twice; whether it may go again is the merchant's word.
    """
    kind = kind or row.kind
    if kind not in KINDS:
        raise ValueError(f"outcome must be one of {', '.join(KINDS)}")
    if not _move(session, row.id, OutcomeState.FAILED, state=OutcomeState.PENDING, kind=kind, requested_by="merchant", attempts=0,
                 next_attempt_at=utcnow(), last_error=None, request={}, exchange_line_gids=[]):
        return False  # another click moved it first
    session.expire(row)
    case = session.get(ReturnCase, row.return_case_id)
    case.outcome = kind
    timeline(session, case, "return_outcome_retried", "merchant", outcome=kind)
    return True


def request_when_received(session: Session, case: ReturnCase) -> None:
    """Every unit of an approved return is back: its outcome is due (the law lets the refund wait until then)."""
    if case.decision != Decision.APPROVE or not case.lines or not all(line.received_quantity >= line.quantity for line in case.lines):
        return
    if case.refund_gids and default_kind(case) != OutcomeKind.EXCHANGE:
        return  # the merchant refunded it by hand in Shopify already (refunds/create): nothing more to pay
    if remedy_due(case) is not None:
        raise_remedy_task(session, case)  # a replacement, repair or a remedy to choose: the merchant's task, never cash
        return
    try:
        request_outcome(session, case)
    except OutcomeRefused as refused:  # the law stops the default outcome: the merchant chooses another
        raise_alert(session, case.shop_domain, "return_outcome_failed", f"return_outcome:{case.id}",
                    f"Return {case.name or case.return_gid}: {refused}", subject=case.name)  # stored alert text is English, as every alert's (read by the merchant's alert channels too)


# -- the pump ------------------------------------------------------------------------------------


def due_outcomes(session: Session, now: dt.datetime) -> list[tuple[int, str]]:
    """(outcome id, shop) of rows to send or to ask Shopify about, oldest first."""
    return session.execute(select(ReturnOutcome.id, ReturnOutcome.shop_domain).where(or_(
        ReturnOutcome.state.in_((OutcomeState.PENDING, OutcomeState.UNKNOWN)) & (ReturnOutcome.next_attempt_at <= now),
        (ReturnOutcome.state == OutcomeState.SENT) & (ReturnOutcome.sent_at <= now - SENT_LEASE),
        (ReturnOutcome.state == OutcomeState.DONE) & (ReturnOutcome.kind == OutcomeKind.EXCHANGE) & ReturnOutcome.routed_at.is_(None)
        & (ReturnOutcome.next_attempt_at <= now),  # an unpaid balance is re-read every PAYMENT_CHECK_EVERY
    )).order_by(ReturnOutcome.id)).all()


def carry_out_due(services, now: dt.datetime | None = None) -> int:
    """Carry out every due outcome, one shop's failure never stopping another's; how many were worked."""
    now = now or utcnow()
    with services.session_factory() as session:
        due = due_outcomes(session, now)
    for outcome_id, shop_domain in due:
        try:
            carry_out(services, outcome_id, now=now)
        except Exception as exc:  # noqa: BLE001 - the row stays sent/pending and is asked about next time
            alert_job_failure(services.session_factory, "return-outcomes", shop_domain, exc, unit=f"return-outcome:{outcome_id}")
    return len(due)


def carry_out(services, outcome_id: int, gateway=None, now: dt.datetime | None = None) -> str:
    """Bring one outcome to done in Shopify (asking first when an earlier try may have landed); its state."""
    factory = services.session_factory
    with read_only(factory)() as session:
        row = session.get(ReturnOutcome, outcome_id)
        case = session.get(ReturnCase, row.return_case_id)
        state, kind, shop_domain, return_gid, routed = row.state, row.kind, row.shop_domain, case.return_gid, row.routed_at is not None
        sent_request = dict(row.request or {})
    if kind == OutcomeKind.REPLACEMENT:  # an order of its own in Shopify, not a returnProcess
        from .replacements import carry_out_replacement

        return carry_out_replacement(services, outcome_id, gateway, now=now)
    gateway = gateway or services.gateway(shop_domain)
    if state == OutcomeState.DONE:
        if kind == OutcomeKind.EXCHANGE and not routed:
            return _finish_exchange(services, outcome_id, gateway)
        return state
    if state == OutcomeState.FAILED:
        return state
    snapshot = gateway.query("ReturnOutcomeState", {"id": return_gid}).get("return")
    if snapshot is None:
        return _fail(factory, outcome_id, _("Shopify no longer has this return."))
    if state in (OutcomeState.SENT, OutcomeState.UNKNOWN):
        if _landed(sent_request, snapshot):
            _record_done(factory, outcome_id, snapshot, sent_request.get("known_refunds") or [], asked=True)
            return _finish_exchange(services, outcome_id, gateway)
        with factory.begin() as session:  # it never reached Shopify: send it again (unless another worker moved it)
            if not _move(session, outcome_id, state, state=OutcomeState.PENDING):
                return session.get(ReturnOutcome, outcome_id).state
    prices = variant_prices(gateway, snapshot) if kind == OutcomeKind.EXCHANGE else {}  # no transaction open
    with read_only(factory)() as session:
        try:
            plan = plan_outcome(session, session.get(ReturnOutcome, outcome_id), snapshot, prices)
        except NothingToProcess:
            plan = None
    if plan is None:
        _record_done(factory, outcome_id, snapshot, [r["id"] for r in _nodes(snapshot, "refunds")], asked=True, note="processed in Shopify already")
        return _finish_exchange(services, outcome_id, gateway)
    if isinstance(plan, str):
        return _fail(factory, outcome_id, plan)
    process_input, fees, request = plan
    payload, state = send_once(factory, outcome_id, gateway, "ReturnProcess", {"input": process_input}, "returnProcess", request,
                               on_claim=lambda row: _store_amounts(row, fees, request))
    if payload is None:
        return state
    _record_done(factory, outcome_id, payload.get("return") or {}, request["known_refunds"])
    return _finish_exchange(services, outcome_id, gateway)


def send_once(factory, outcome_id: int, gateway, document: str, variables: dict, root: str, request: dict, on_claim=None) -> tuple[dict | None, str | None]:
    """Claim the row (pending -> sent, one conditional UPDATE: only one worker wins), then call a mutation
    that is not @idempotent with no transaction open: (its payload, None), or (None, the row's state) when
    another worker had it, Shopify refused (failed) or the answer was lost (unknown / pending again)."""
    with factory.begin() as session:
        if not _move(session, outcome_id, OutcomeState.PENDING, state=OutcomeState.SENT, sent_at=utcnow(), attempts=ReturnOutcome.attempts + 1, request=request):
            return None, session.get(ReturnOutcome, outcome_id).state
        if on_claim is not None:
            on_claim(session.get(ReturnOutcome, outcome_id))
    try:
        data = gateway.mutate(document, variables, root, idempotent=False)
    except ShopifyUserError as exc:
        return None, _fail(factory, outcome_id, _("Shopify refused it: %(errors)s", errors="; ".join(e.get("message", "") for e in exc.user_errors)[:300]))
    except ShopifyError as exc:
        return None, _retry_later(factory, outcome_id, exc)
    return data.get(root) or {}, None


def _move(session: Session, outcome_id: int, from_state: str, **values) -> bool:
    """Change the row only if it is still in `from_state` (an atomic compare-and-set on every database)."""
    result = session.execute(update(ReturnOutcome).where(ReturnOutcome.id == outcome_id, ReturnOutcome.state == from_state).values(**values)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


# -- planning ------------------------------------------------------------------------------------


def _nodes(snapshot: dict, field: str) -> list[dict]:
    return ((snapshot or {}).get(field) or {}).get("nodes") or []


def _amount(money_bag: dict | None) -> Decimal:
    return Decimal(str(((money_bag or {}).get("presentmentMoney") or {}).get("amount") or "0"))


def plan_outcome(session: Session, row: ReturnOutcome, snapshot: dict, prices: dict | None = None):
    """(returnProcess input, fees, what to remember) for what is still processable; a string when it cannot be done."""
    case = session.get(ReturnCase, row.return_case_id)
    currency = (snapshot.get("order") or {}).get("presentmentCurrencyCode") or "USD"
    ours = {line.return_line_item_gid: line for line in case.lines}
    returned, fee_lines, baseline = [], [], {}
    for node in _nodes(snapshot, "returnLineItems"):
        baseline[node["id"]] = node["processedQuantity"]
        quantity = node["processableQuantity"]
        if quantity <= 0:
            continue
        returned.append({"id": node["id"], "quantity": quantity})
        line = ours.get(node["id"])
        supplier = session.get(Supplier, line.supplier_id) if line is not None and line.supplier_id else None
        value = _amount(node.get("withCodeDiscountedTotalPriceSet")) * quantity / max(node["quantity"], 1)
        fee_lines.append(FeeLine(value=money(value), reason=line.reason if line is not None else "UNKNOWN", terms=supplier_terms_from(supplier.return_terms if supplier else None)))
    exchanged = []
    if row.kind == OutcomeKind.EXCHANGE:
        for node in _nodes(snapshot, "exchangeLineItems"):
            baseline[node["id"]] = node["processedQuantity"]
            if node["processableQuantity"] > 0:
                exchanged.append({"id": node["id"], "quantity": node["processableQuantity"]})
        if not exchanged and not returned:
            raise NothingToProcess
        if not exchanged:
            return _("The return lists no items to exchange: choose a refund or store credit instead.")
    elif not returned:
        raise NothingToProcess
    profile = case_profile(session, case)  # the same source (and store raises) as the case's legal clocks
    shipping_cost = sum((_amount(fee.get("amountSet")) for fee in snapshot.get("returnShippingFees") or []), Decimal("0"))
    fees = return_fees(profile, fee_lines, currency, shipping_cost)
    process_input: dict = {"returnId": case.return_gid, "returnLineItems": returned, "notifyCustomer": False,
                           "note": f"{row.kind.replace('_', ' ')} carried out by the dropshipping app ({row.idempotency_key})"}
    delivery, difference = Decimal("0"), None
    if exchanged:
        process_input["exchangeLineItems"] = exchanged
        shop_currency = (snapshot.get("order") or {}).get("currencyCode") or currency
        if shop_currency != currency:
            # Variant prices are in the shop's currency, the returned goods in the customer's: a difference
            # across them (or converted at a rate, while Markets round or fix their own prices) moves wrong money.
            return _("The order was paid in %(currency)s, not in the shop's currency (%(shop_currency)s): process the exchange in Shopify, "
                     "which prices the new item in the customer's currency.", currency=currency, shop_currency=shop_currency)
        difference = price_difference(exchanged, snapshot, prices or {}, fees.goods)
        if difference is None:
            return _("The price of an item the customer exchanges for is unknown: process the exchange in Shopify.")
        if difference < 0 and not case.refund_gids:  # a cheaper replacement: the difference back to the original payment
            allocation = allocate_refund(snapshot, -difference, currency)
            if allocation is None:
                return _("The order's payments have less than %(amount)s %(currency)s left to refund: refund it by hand in Shopify.", amount=-difference, currency=currency)
            process_input["financialTransfer"] = {"issueRefund": {"orderTransactions": allocation, "refundMethods": []}}
    elif case.refund_gids:
        # Refunded by hand in Shopify already (refunds/create matched it): confirm the units, pay nothing twice.
        fees.notes.append("refunded in Shopify by hand already: nothing more paid")
        fees.restocking_fee = fees.return_shipping_fee = Decimal("0")
        fees.goods = Decimal("0")
    else:
        delivery = _delivery_due(session, case, profile, snapshot, returned, fee_lines, fees.notes)
        total = money(fees.amount + delivery)
        if total > 0:
            refund: dict = {"orderTransactions": [], "refundMethods": []}
            if row.kind == OutcomeKind.STORE_CREDIT:
                refund["refundMethods"] = [{"storeCreditRefund": {"amount": {"amount": str(total), "currencyCode": currency}}}]
            else:
                allocation = allocate_refund(snapshot, total, currency)
                if allocation is None:
                    return _("The order's payments have less than %(amount)s %(currency)s left to refund: refund it by hand in Shopify.", amount=total, currency=currency)
                refund["orderTransactions"] = allocation
            process_input["financialTransfer"] = {"issueRefund": refund}
        if delivery > 0:  # Shopify records it as the order's refunded delivery (refundShippingLines)
            process_input["refundShipping"] = {"shippingRefundAmount": {"amount": str(delivery), "currencyCode": currency}}
    request = {"input": process_input, "baseline": baseline, "known_refunds": [r["id"] for r in _nodes(snapshot, "refunds")],
               "currency": currency, "legal_profile": profile.key, "delivery_refund": str(delivery),
               "price_difference": str(difference) if difference is not None else None}
    if (row.request or {}).get("customer_agreed"):
        request["customer_agreed"] = True  # the customer's recorded consent to store credit stays with what was sent
    return process_input, fees, request


def _delivery_due(session: Session, case: ReturnCase, profile, snapshot: dict, returned: list[dict], fee_lines: list[FeeLine], notes: list[str]) -> Decimal:
    """The delivery cost this refund carries (a withdrawal from, or a defect ending, the whole order), with its note."""
    order = snapshot.get("order") or {}
    left = sum(node.get("refundableQuantity") or 0 for node in _nodes(order, "lineItems") if node.get("requiresShipping", True))
    whole = left > 0 and sum(item["quantity"] for item in returned) >= left  # nothing of the order stays with the customer
    refundable = _amount(order.get("totalShippingPriceSet")) - _amount(order.get("totalRefundedShippingSet"))
    defect = case.kind == CaseKind.COMPLAINT or (bool(fee_lines) and all(is_defect(line.reason) for line in fee_lines))
    due = delivery_refund(profile, defect=defect, whole_order=whole, refundable=refundable,
                          standard_price=standard_delivery_cap(store_policy(session, case.shop_domain)))
    if due.note:
        notes.append(due.note)
    return due.amount


def allocate_refund(snapshot: dict, amount: Decimal, currency: str) -> list[dict] | None:
    """The refund taken from the order's successful payments, first payment first; None when they hold too little."""
    transactions = (snapshot.get("order") or {}).get("transactions") or []
    refunded: dict[str, Decimal] = {}
    for t in transactions:
        if t["kind"] == "REFUND" and t.get("parentTransaction"):
            parent = t["parentTransaction"]["id"]
            refunded[parent] = refunded.get(parent, Decimal("0")) + _amount(t["amountSet"])
    allocation, left = [], amount
    for t in transactions:
        if left <= 0:
            break
        if t["kind"] not in ("SALE", "CAPTURE") or t["status"] != "SUCCESS":
            continue
        available = _amount(t["amountSet"]) - refunded.get(t["id"], Decimal("0"))
        take = min(available, left)
        if take > 0:
            allocation.append({"parentId": t["id"], "transactionAmount": {"amount": str(take), "currencyCode": currency}})
            left -= take
    return allocation if left <= 0 else None


def _store_amounts(row: ReturnOutcome, fees: FeeResult, request: dict) -> None:
    row.currency, row.legal_profile = request["currency"], request["legal_profile"]
    row.goods_amount, row.restocking_fee, row.return_shipping_fee = str(money(fees.goods)), str(money(fees.restocking_fee)), str(money(fees.return_shipping_fee))
    row.delivery_refund = request.get("delivery_refund") if Decimal(request.get("delivery_refund") or "0") > 0 else None
    difference = Decimal(request.get("price_difference") or "0")
    row.difference_refunded = str(-difference) if difference < 0 else None
    row.balance_due = str(difference) if difference > 0 else None
    row.balance_state = BalanceState.AWAITING_PAYMENT if difference > 0 else None
    row.amount = "0.00" if row.kind == OutcomeKind.EXCHANGE else str(money(fees.amount + Decimal(request.get("delivery_refund") or "0")))
    row.fee_notes = list(fees.notes)


# -- recording -----------------------------------------------------------------------------------


def _landed(request: dict, snapshot: dict) -> bool:
    """Whether the call we may have sent was applied: each of its lines processed by at least what it asked."""
    baseline = request.get("baseline") or {}
    asked = [*(request.get("input") or {}).get("returnLineItems", []), *(request.get("input") or {}).get("exchangeLineItems", [])]
    if not asked:
        return False
    now = {node["id"]: node["processedQuantity"] for field in ("returnLineItems", "exchangeLineItems") for node in _nodes(snapshot, field)}
    return all(now.get(item["id"], 0) >= baseline.get(item["id"], 0) + item["quantity"] for item in asked)


def _record_done(factory, outcome_id: int, returned: dict, known_refunds: list[str], *, asked: bool = False, note: str | None = None) -> None:
    """Record the outcome as carried out: the refund it made, the order lines an exchange added, the timeline, the notice."""
    new_refunds = [r["id"] for r in _nodes(returned, "refunds") if r["id"] not in known_refunds]
    with factory.begin() as session:
        row = session.get(ReturnOutcome, outcome_id)
        if row.state == OutcomeState.DONE:
            return
        row.state, row.finished_at, row.last_error = OutcomeState.DONE, utcnow(), note
        row.next_attempt_at = utcnow()  # an exchange's routing (or payment check) is due now
        row.refund_gid = new_refunds[-1] if new_refunds else None
        # Every processed exchange line of the return, whoever processed it (we, or the merchant in Shopify's admin).
        row.exchange_line_gids = [li["id"] for node in _nodes(returned, "exchangeLineItems") if (node.get("processedQuantity") or 0) > 0 for li in node.get("lineItems") or []]
        case = session.get(ReturnCase, row.return_case_id)
        if row.refund_gid and row.refund_gid not in (case.refund_gids or []):
            case.refund_gids = [*(case.refund_gids or []), row.refund_gid]
        if row.kind in (OutcomeKind.REFUND, OutcomeKind.STORE_CREDIT):
            # Settled whatever the amount (a zero refund moves no money and makes no Shopify refund): the clock stops.
            case.refunded_at = case.refunded_at or utcnow()
            settle_remedy_task(session, case)
        elif case.refunded_at is None:
            case.refund_due_at = None  # an exchange owes no refund: its clock stops
        case.outcome = row.kind
        detail = {"amount": row.amount, "currency": row.currency, "restocking_fee": row.restocking_fee, "return_shipping_fee": row.return_shipping_fee,
                  "delivery_refunded": row.delivery_refund, "difference_refunded": row.difference_refunded, "balance_due": row.balance_due,
                  "legal_profile": row.legal_profile, "confirmed_by_reading_shopify": asked}
        if note:
            detail["note"] = note
        timeline(session, case, TIMELINE_KIND[row.kind], "app", **detail)
        notify_customer(session, case, NOTICE_KIND[row.kind])
        resolve_alert(session, f"return_outcome:{case.id}")


def _retry_later(factory, outcome_id: int, exc: ShopifyError) -> str:
    """A failed call: unknown when it may have landed (asked about next time), else pending with backoff."""
    with factory.begin() as session:
        row = session.get(ReturnOutcome, outcome_id)
        row.last_error = f"{type(exc).__name__}"[:200]
        if getattr(exc, "outcome_unknown", False):
            # Asked about next time; an order search lags behind orderCreate, so a replacement is asked about only once it settled.
            settle = SEARCH_SETTLE if row.kind == OutcomeKind.REPLACEMENT else dt.timedelta(0)
            row.state, row.next_attempt_at = OutcomeState.UNKNOWN, utcnow() + settle
        elif row.attempts >= MAX_ATTEMPTS:
            row.state = OutcomeState.FAILED
            _alert(session, row, _("Shopify did not take it after %(n)s tries.", n=row.attempts))
        else:
            row.state, row.next_attempt_at = OutcomeState.PENDING, utcnow() + RETRY_AFTER * 2 ** (row.attempts - 1)
        return row.state


def _fail(factory, outcome_id: int, why: str) -> str:
    with factory.begin() as session:
        row = session.get(ReturnOutcome, outcome_id)
        row.state, row.last_error = OutcomeState.FAILED, why[:500]
        _alert(session, row, why)
        return row.state


def _alert(session: Session, row: ReturnOutcome, why: str) -> None:
    case = session.get(ReturnCase, row.return_case_id)
    label = case.name or case.return_gid
    raise_alert(session, row.shop_domain, "return_outcome_failed", f"return_outcome:{case.id}",
                _("Return %(label)s: the %(kind)s could not be carried out (%(why)s). Do it in Shopify.", label=label, kind=row.kind.replace("_", " "), why=why),
                severity="critical", subject=case.name)
    timeline(session, case, "return_outcome_failed", "app", outcome=row.kind, reason=why[:200])


# -- exchanges -----------------------------------------------------------------------------------


def _finish_exchange(services, outcome_id: int, gateway) -> str:
    with services.session_factory() as session:
        row = session.get(ReturnOutcome, outcome_id)
        kind, state = row.kind, row.state
    if kind == OutcomeKind.EXCHANGE and state == OutcomeState.DONE and may_route(services, outcome_id, gateway):
        route_exchange(services, outcome_id, gateway)  # a balance owed waits for payment (or the merchant's word)
    return state


def route_exchange(services, outcome_id: int, gateway) -> None:
    """The replacement an exchange added to the order: read the order and its fulfillment orders, then route it like a new order.

    Routing puts the exchange's lines on a delivery of their own (exchange_key = the return),
    placed with the supplier under its own deterministic idempotency key by the forwarding worker.
    """
    from ..webhooks.worker import one_order_at_a_time

    with services.session_factory() as session:
        row = session.get(ReturnOutcome, outcome_id)
        order_gid = session.get(ReturnCase, row.return_case_id).order_gid
        shop_domain = row.shop_domain
    if not order_gid:
        return _route_exchange(services, outcome_id, gateway, shop_domain, order_gid)
    # The same per-order turn as the order's webhooks (C's routing path), so the two never route
    # this order at once; another process may still, and then its unique keys win (see below).
    with one_order_at_a_time(shop_domain, order_gid):
        try:
            _route_exchange(services, outcome_id, gateway, shop_domain, order_gid)
        except IntegrityError:  # another process routed this order meanwhile: the next pump pass re-reads, routes nothing twice
            log.info("exchange outcome %s: the order was routed concurrently; routed again next pass", outcome_id)


def _route_exchange(services, outcome_id: int, gateway, shop_domain: str, order_gid: str | None) -> None:
    from ..fulfillment.holds import apply_shopify_holds
    from ..fulfillment.sync import read_fulfillment_orders, store_fulfillment_orders
    from ..orders.graph import order_payload_from_graphql, read_order
    from ..orders.payloads import parse_order
    from ..orders.routing import route_order
    from ..webhooks.handlers.orders import sync_snapshot

    data = read_order(gateway, order_gid).get("order") if order_gid else None
    fulfillment_orders = read_fulfillment_orders(gateway, order_gid) if data is not None else None
    with services.session_factory.begin() as session:
        row = session.get(ReturnOutcome, outcome_id)
        if row.routed_at is not None:
            return
        if data is None:  # no order to route onto (gone from Shopify): the merchant sends the replacement
            row.routed_at, row.last_error = utcnow(), "the order is gone from Shopify: send the replacement by hand"
            _alert(session, row, _("the order is gone from Shopify: send the replacement by hand"))
            return
        order = sync_snapshot(session, services, shop_domain, parse_order(order_payload_from_graphql(data)), fulfillment_orders=fulfillment_orders)
        if order is None:  # this version was synced already (its webhook came first): store what Shopify holds now
            order = session.scalar(select(Order).where(Order.shop_domain == shop_domain, Order.shopify_id == order_gid.rsplit("/", 1)[-1]))
            if order is None:
                return
            if fulfillment_orders is not None:
                apply_shopify_holds(session, order, store_fulfillment_orders(session, order, fulfillment_orders))
        if order.cancelled_at is None:
            route_order(session, order)  # an order shipped long ago is routed again for the replacement only
        row.routed_at = utcnow()
    services.wake_forwarding()
