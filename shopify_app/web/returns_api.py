"""JSON API for returns: the queue, decisions, receipts, the store policy and supplier return terms."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from integrations.shopify.errors import ShopifyError

from ..auth.session_tokens import require_session_token
from ..i18n import gettext as _
from ..models import ShopSetting, utcnow
from ..returns.analytics import return_analytics
from ..returns.complaints import ComplaintRefused, answer_complaint
from ..returns.deadlines import clocks
from ..returns.intake import POLICY_KEY, mark_decided, notify_customer, store_policy, timeline
from ..returns.legal_profiles import PROFILES, with_overrides
from ..returns.models import CaseKind, ComplaintState, Decision, ReturnCase, RmaState
from ..returns.remedies import remedy_due
from ..returns.policy import PolicyError, supplier_terms_from, validate_policy, validate_supplier_terms, window_warnings
from ..returns.restock import Receipt, receive
from ..suppliers.models import Supplier
from .api_schemas import bounded_ids, invalid, validated_body

blueprint = Blueprint("returns_api", __name__, url_prefix="/api")
bounded_ids(blueprint)

DECLINE_REASONS = ("RETURN_PERIOD_ENDED", "FINAL_SALE", "OTHER")


def _services():
    return current_app.extensions["services"]


def case_json(case: ReturnCase) -> dict:
    """A return as the admin shows it (no customer notes: they may hold personal data)."""
    return {
        "id": case.id, "return_gid": case.return_gid, "name": case.name, "order_gid": case.order_gid, "status": case.status,
        "decision": case.decision, "decided_by": case.decided_by, "decision_note": case.decision_note, "decline_reason": case.decline_reason,
        "outcome": case.outcome, "rma": {"state": case.rma_state, "number": case.rma_number, "label_url": case.rma_label_url, "address": case.rma_address, "note": case.rma_note},
        "requested_at": case.requested_at.isoformat(), "delivered_at": case.delivered_at.isoformat() if case.delivered_at else None,
        "received_at": case.received_at.isoformat() if case.received_at else None, "restocked_at": case.restocked_at.isoformat() if case.restocked_at else None,
        "refunded_at": case.refunded_at.isoformat() if case.refunded_at else None,
        "kind": case.kind, "legal_profile": case.legal_profile, "country_code": case.country_code,
        "complaint": {"state": case.complaint_state, "due_at": case.complaint_due_at.isoformat() if case.complaint_due_at else None,
                      "answered_at": case.complaint_answered_at.isoformat() if case.complaint_answered_at else None,
                      "remedy": case.complaint_remedy, "answer": case.complaint_answer} if case.complaint_state else None,
        "refund_due_at": case.refund_due_at.isoformat() if case.refund_due_at else None,
        "remedy_due": remedy_due(case),
        "remedy_done_at": case.remedy_done_at.isoformat() if case.remedy_done_at else None,
        "statutory": bool(case.legal_profile in PROFILES and PROFILES[case.legal_profile].statutory),  # store credit needs the customer's consent
        "clocks": clocks(case),
        "lines": [{"id": l.id, "sku": l.sku, "quantity": l.quantity, "reason": l.reason, "verdict": l.verdict, "verdict_note": l.verdict_note,
                   "received": l.received_quantity, "restocked": l.restocked_quantity, "not_restocked": l.not_restocked_quantity} for l in case.lines],
    }


def _own_case(session, case_id: int) -> ReturnCase | None:
    case = session.get(ReturnCase, case_id)
    return case if case is not None and case.shop_domain == g.shop_domain else None


@blueprint.get("/returns")
@require_session_token
def list_returns():
    """Returns, newest first; ?queue=1 for the ones waiting for the merchant, ?complaints=1 for open complaints (soonest deadline first)."""
    with _services().session_factory() as session:
        query = select(ReturnCase).where(ReturnCase.shop_domain == g.shop_domain)
        if request.args.get("queue"):
            query = query.where(ReturnCase.decision == Decision.REVIEW, ReturnCase.status == "requested")
        if request.args.get("complaints"):
            query = query.where(ReturnCase.complaint_state == ComplaintState.OPEN, ReturnCase.status == "requested")
            query = query.order_by(ReturnCase.complaint_due_at.is_(None), ReturnCase.complaint_due_at)
        cases = session.scalars(query.order_by(ReturnCase.id.desc()).limit(200)).all()
        return jsonify(returns=[case_json(c) for c in cases])


@blueprint.get("/returns/<id:case_id>")
@require_session_token
def get_return(case_id: int):
    """One return."""
    with _services().session_factory() as session:
        case = _own_case(session, case_id)
        return (jsonify(return_=case_json(case)) if case else (jsonify(error="not found"), 404))


@blueprint.post("/returns/<id:case_id>/<any(approve, decline):action>")
@require_session_token
@validated_body("ReturnDecision", optional=True)
def decide(case_id: int, action: str):
    """The merchant's decision on a queued request: approve, or decline with {reason, note}."""
    body = request.get_json(silent=True) or {}
    reason = body.get("reason", "OTHER")
    note = str(body.get("note") or ("Approved by the store." if action == "approve" else "Declined by the store."))[:300]
    if action == "decline" and reason not in DECLINE_REASONS:
        return jsonify(error=f"reason must be one of {', '.join(DECLINE_REASONS)}"), 400
    services = _services()
    with services.read_session_factory() as session:
        case = _own_case(session, case_id)
        if case is None:
            return jsonify(error="not found"), 404
        if case.status != "requested":
            return jsonify(error=f"this return is {case.status}; only requested returns can be decided"), 409
        if action == "decline" and case.kind == CaseKind.COMPLAINT:
            # A complaint inside the legal guarantee is never declined for time: it is answered, with a reason.
            return jsonify(error=_("this is a complaint: answer it with POST /api/returns/%(id)s/complaint and the reason", id=case.id)), 409
        return_gid = case.return_gid
    # Shopify first, with no transaction open; then the record. A second click (or a crash
    # before the record) is safe: Shopify refuses a second decision, and the returns/*
    # webhook that follows records Shopify's state.
    gateway = services.gateway(g.shop_domain)
    try:
        if action == "approve":
            gateway.mutate("ReturnApproveRequest", {"input": {"id": return_gid, "notifyCustomer": False}}, "returnApproveRequest")
        else:
            gateway.mutate("ReturnDeclineRequest", {"input": {"id": return_gid, "declineReason": reason, "declineNote": note, "notifyCustomer": False}}, "returnDeclineRequest")
    except ShopifyError as exc:
        return jsonify(error=f"Shopify refused: {exc}"), 502
    with services.session_factory.begin() as session:
        case = _own_case(session, case_id)
        if case.decided_at is None or case.decision not in (Decision.APPROVE, Decision.DECLINE):
            if action == "approve":
                mark_decided(session, case, Decision.APPROVE, "merchant", note)
            else:
                mark_decided(session, case, Decision.DECLINE, "merchant", note, reason)
        return jsonify(return_=case_json(case))


@blueprint.post("/returns/<id:case_id>/complaint")
@require_session_token
@validated_body("ComplaintAnswer")
def complaint_answer(case_id: int):
    """The merchant's answer to a complaint: {answer: accept, remedy: refund|replace|repair, note?} or {answer: reject, note}."""
    body = request.get_json(silent=True) or {}
    services = _services()
    try:
        answer_complaint(services, g.shop_domain, case_id, body.get("answer"), body.get("remedy"), body.get("note"))
    except ComplaintRefused as refused:
        if refused.status == 400:
            return invalid([(refused.field or "(body)", str(refused))])
        return jsonify(error=str(refused)), refused.status
    except ShopifyError as exc:
        return jsonify(error=f"Shopify refused: {exc}"), 502
    with services.session_factory() as session:
        return jsonify(return_=case_json(session.get(ReturnCase, case_id)))


@blueprint.post("/returns/<id:case_id>/receive")
@require_session_token
@validated_body("ReturnReceipt")
def receive_items(case_id: int):
    """Units that arrived: {lines: [{line_id, received, damaged?}]}; resellable ones are restocked once."""
    body = request.get_json(silent=True) or {}
    try:
        receipts = [Receipt(int(item["line_id"]), int(item["received"]), int(item.get("damaged", 0))) for item in body.get("lines") or []]
    except (KeyError, TypeError, ValueError):
        return jsonify(error="lines must be [{line_id, received, damaged?}] with whole numbers"), 400
    if not receipts:
        return jsonify(error="lines must not be empty"), 400
    services = _services()
    with services.read_session_factory() as session:
        if _own_case(session, case_id) is None:
            return jsonify(error="not found"), 404
    try:  # receive() calls Shopify with no transaction open, then records in a short one
        case = receive(services.session_factory, services.gateway(g.shop_domain), case_id, receipts, actor="merchant")
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    except ShopifyError as exc:
        return jsonify(error=f"Shopify refused: {exc}"), 502
    return jsonify(return_=case_json(case))


@blueprint.post("/returns/<id:case_id>/outcome")
@require_session_token
@validated_body("ReturnOutcome", optional=True)
def carry_out_outcome(case_id: int):
    """Carry out an approved return's outcome now: {kind?: refund | store_credit | exchange}; done once however often asked."""
    from ..returns.outcome_models import OutcomeKind, OutcomeState, ReturnOutcome
    from ..returns.outcomes import OutcomeRefused, carry_out, exchange_possible, request_outcome

    body = request.get_json(silent=True) or {}
    kind = body.get("kind")
    services = _services()
    with services.read_session_factory() as session:
        case = _own_case(session, case_id)
        if case is None:
            return jsonify(error="not found"), 404
        return_gid = case.return_gid
        existing = session.scalar(select(ReturnOutcome).where(ReturnOutcome.return_case_id == case.id))
        open_exchange = existing is not None and existing.kind == OutcomeKind.EXCHANGE and existing.state != OutcomeState.FAILED
    if kind == OutcomeKind.EXCHANGE and not open_exchange:
        # Checked against Shopify's return before any row exists (no transaction open): an
        # impossible kind is refused here instead of becoming a failed row that locks the case.
        try:
            snapshot = services.gateway(g.shop_domain).query("ReturnOutcomeState", {"id": return_gid}).get("return")
        except ShopifyError as exc:
            return jsonify(error=_("Shopify could not be reached: %(error)s", error=type(exc).__name__)), 502
        if not exchange_possible(snapshot):
            why = _("The return lists no items to exchange: choose a refund or store credit instead.")
            return jsonify(error=why, fields=[{"field": "kind", "message": why}]), 409
    try:
        with services.session_factory.begin() as session:
            case = _own_case(session, case_id)
            if case is None:
                return jsonify(error="not found"), 404
            # The legal checks live with the request (every caller gets them); a refusal rolls back.
            outcome_id = request_outcome(session, case, kind, by="merchant", customer_agreed=body.get("customer_agreed") is True).id
    except OutcomeRefused as refused:
        return jsonify(error=str(refused), fields=[{"field": refused.field, "message": str(refused)}]), 409
    try:  # Shopify with no transaction open; the row makes a second click (or a crash) safe
        state = carry_out(services, outcome_id)
    except ShopifyError as exc:
        return jsonify(error=_("Shopify could not be reached: %(error)s", error=type(exc).__name__)), 502
    with services.session_factory() as session:
        row = session.get(ReturnOutcome, outcome_id)
        return jsonify(outcome=outcome_json(row), return_=case_json(session.get(ReturnCase, case_id))), (200 if state != "failed" else 422)


@blueprint.post("/returns/<id:case_id>/remedy")
@require_session_token
@validated_body("ReturnRemedy")
def remedy_action(case_id: int):
    """An accepted complaint's remedy: {action: replace | repair} chooses it (accepted by law), {action: done} marks it given."""
    from ..returns.complaints import send_now
    from ..returns.outcome_models import OutcomeKind, OutcomeState, ReturnOutcome
    from ..returns.remedies import RemedyRefused, choose_remedy, mark_remedy_done
    from ..returns.replacements import request_replacement

    action = (request.get_json(silent=True) or {}).get("action")
    services = _services()
    try:
        with services.session_factory.begin() as session:
            case = _own_case(session, case_id)
            if case is None:
                return jsonify(error="not found"), 404
            replacement = session.scalar(select(ReturnOutcome).where(ReturnOutcome.return_case_id == case.id, ReturnOutcome.kind == OutcomeKind.REPLACEMENT))
            if action == "done":
                if remedy_due(case) == "replacement" and (replacement is None or replacement.state != OutcomeState.DONE):
                    raise RemedyRefused(_("the replacement order is not created yet: it cannot be done"))
                mark_remedy_done(session, case, "merchant")
                outcome_id = None
            elif action == "replace" and replacement is not None and replacement.state == OutcomeState.FAILED:
                replacement.state, replacement.attempts, replacement.last_error = OutcomeState.PENDING, 0, None  # the merchant retries it
                replacement.next_attempt_at = utcnow()
                timeline(session, case, "return_outcome_retried", "merchant", outcome=OutcomeKind.REPLACEMENT)
                outcome_id = replacement.id
            else:
                choose_remedy(session, case, action, "merchant")
                row = request_replacement(session, case, "merchant")
                outcome_id = row.id if row is not None else None
    except RemedyRefused as refused:
        return jsonify(error=str(refused), fields=[{"field": refused.field, "message": str(refused)}]), 409
    if outcome_id is not None:
        send_now(services, outcome_id)  # Shopify with no transaction open; the pump retries a failure
    with services.session_factory() as session:
        return jsonify(return_=case_json(session.get(ReturnCase, case_id)))


@blueprint.post("/returns/<id:case_id>/exchange/forward-unpaid")
@require_session_token
@validated_body("ExchangeForwardUnpaid", optional=True)
def exchange_forward_unpaid(case_id: int):
    """Send an exchange's replacement to the supplier before the customer has paid the difference (the merchant's word)."""
    from ..returns.exchange_balance import forward_unpaid
    from ..returns.outcome_models import OutcomeKind, ReturnOutcome
    from ..returns.outcomes import carry_out

    services = _services()
    with services.session_factory.begin() as session:
        case = _own_case(session, case_id)
        if case is None:
            return jsonify(error="not found"), 404
        row = session.scalar(select(ReturnOutcome).where(ReturnOutcome.return_case_id == case.id, ReturnOutcome.kind == OutcomeKind.EXCHANGE))
        if row is None or not forward_unpaid(session, row, "merchant"):
            why = _("no exchange of this return waits for the customer's payment")
            return jsonify(error=why, fields=[{"field": "(path)", "message": why}]), 409
        outcome_id = row.id
    try:  # routed with no transaction open; the pump routes it if this fails
        carry_out(services, outcome_id)
    except ShopifyError:
        pass
    with services.session_factory() as session:
        row = session.get(ReturnOutcome, outcome_id)
        return jsonify(outcome=outcome_json(row), return_=case_json(session.get(ReturnCase, case_id)))


def outcome_json(row) -> dict:
    """A return's outcome as the admin shows it."""
    return {"kind": row.kind, "state": row.state, "amount": row.amount, "currency": row.currency, "goods": row.goods_amount,
            "restocking_fee": row.restocking_fee, "return_shipping_fee": row.return_shipping_fee, "fee_notes": row.fee_notes,
            "legal_profile": row.legal_profile, "refund_gid": row.refund_gid, "error": row.last_error,
            "delivery_refund": row.delivery_refund, "difference_refunded": row.difference_refunded, "balance_due": row.balance_due,
            "balance_state": row.balance_state, "replacement_order": (row.request or {}).get("replacement_order_name")}


@blueprint.post("/returns/<id:case_id>/rma")
@require_session_token
@validated_body("ReturnRma")
def record_rma(case_id: int):
    """The supplier's RMA as it replied by email: {rma_number, label_url?, address?}; the customer gets the label."""
    body = request.get_json(silent=True) or {}
    number = str(body.get("rma_number") or "").strip()
    if not number:
        return jsonify(error="rma_number is required"), 400
    with _services().session_factory.begin() as session:
        case = _own_case(session, case_id)
        if case is None:
            return jsonify(error="not found"), 404
        if case.decision != Decision.APPROVE:
            return jsonify(error="only an approved return can have an RMA"), 409
        case.rma_state, case.rma_number = RmaState.APPROVED, number[:128]
        case.rma_label_url = body.get("label_url") or case.rma_label_url
        if isinstance(body.get("address"), dict):
            case.rma_address = {k: str(v) for k, v in body["address"].items() if v}
        timeline(session, case, "return_rma", "merchant", rma=case.rma_number, status="approved")
        timeline(session, case, "return_label_sent", "app", rma=case.rma_number)
        notify_customer(session, case, "return_label")
        return jsonify(return_=case_json(case))


@blueprint.route("/settings/return-policy", methods=["GET", "PUT"])
@require_session_token
@validated_body("ReturnPolicy", methods=("PUT",))
def return_policy():
    """Read or change the store's return policy; the answer lists supplier terms it outruns."""
    with _services().session_factory.begin() as session:
        if request.method == "PUT":
            try:
                clean = validate_policy(request.get_json(silent=True))
            except PolicyError as exc:
                return invalid(exc.fields)  # each refused field with its reason, like the schema's own refusals
            row = session.scalar(select(ShopSetting).where(ShopSetting.shop_domain == g.shop_domain, ShopSetting.key == POLICY_KEY))
            if row is None:
                row = ShopSetting(shop_domain=g.shop_domain, key=POLICY_KEY, value={})
                session.add(row)
            row.value = {**(row.value or {}), **clean}
            session.flush()
        policy = store_policy(session, g.shop_domain)
        suppliers = session.scalars(select(Supplier).where(Supplier.shop_domain == g.shop_domain, Supplier.deleted_at.is_(None)))
        warnings = [w for s in suppliers for w in window_warnings(policy, s.name, supplier_terms_from(s.return_terms))]
        return jsonify(policy=policy.as_dict(), warnings=warnings, legal_profiles=legal_profiles_view(policy))


def legal_profiles_view(policy) -> dict:
    """Per profile: the law's figures (the floor the editor enforces) and what applies with the store's raises."""
    def figures(profile) -> dict:
        return {name: getattr(profile, name) for name in ("withdrawal_days", "refund_deadline_days", "guarantee_days", "complaint_answer_days", "complaint_silence_accepts")}

    return {key: {"name": profile.name, "law": figures(profile), "applied": figures(with_overrides(profile, policy.legal_overrides.get(key)))}
            for key, profile in PROFILES.items()}


@blueprint.put("/suppliers/<id:supplier_id>/return-terms")
@require_session_token
@validated_body("SupplierReturnTerms")
def supplier_return_terms(supplier_id: int):
    """Set a supplier's return terms; warns when the store's window is longer."""
    try:
        clean = validate_supplier_terms(request.get_json(silent=True))
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    with _services().session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        if supplier is None or supplier.shop_domain != g.shop_domain or supplier.deleted_at is not None:
            return jsonify(error="not found"), 404
        from ..suppliers.audit import merchant_actor, record_update

        record_update(session, g.shop_domain, supplier.id, merchant_actor(g.user_id), "return_terms", supplier.return_terms or {}, clean)
        supplier.return_terms = clean
        terms = supplier_terms_from(clean)
        return jsonify(terms=terms.as_dict(), warnings=window_warnings(store_policy(session, g.shop_domain), supplier.name, terms))


@blueprint.get("/returns/analytics")
@require_session_token
def analytics():
    """Return rates per product and supplier, reasons, days from delivery to request, by week and month."""
    with _services().session_factory() as session:
        return jsonify(return_analytics(session, g.shop_domain))
