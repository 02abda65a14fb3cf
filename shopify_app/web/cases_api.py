"""JSON API for customer cases: the queue, the merchant's reply (queued to the customer), closing, the out-of-stock choice."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from ..auth.session_tokens import require_session_token
from ..cases.models import Case, CaseKind, CaseStatus
from ..cases.service import CaseRefused, case_settings, close_case, reply, set_case_settings
from ..models import utcnow
from ..returns.models import ReturnCase
from .api_schemas import bounded_ids, invalid, validated_body

blueprint = Blueprint("cases_api", __name__, url_prefix="/api")
bounded_ids(blueprint)
QUEUE_LIMIT = 200


def _services():
    return current_app.extensions["services"]


def case_json(case: Case) -> dict:
    """A case as the queue lists it (no message text: the case view shows it)."""
    return {"id": case.id, "order_id": case.order_id, "kind": case.kind, "status": case.status, "source": case.source, "owner": case.owner,
            "opened_at": case.opened_at.isoformat(), "due_at": case.due_at.isoformat(),
            "first_reply_at": case.first_reply_at.isoformat() if case.first_reply_at else None,
            "closed_at": case.closed_at.isoformat() if case.closed_at else None, "return_case_id": case.return_case_id,
            "replacement_order": case.replacement_order}


def case_queue(session, shop: str, status: str = "", kind: str = "") -> list[Case]:
    """The shop's cases, the most urgent first (open ones by due time, then the others newest first)."""
    query = select(Case).where(Case.shop_domain == shop)
    if status:
        query = query.where(Case.status == status)
    if kind:
        query = query.where(Case.kind == kind)
    open_first = (Case.status != CaseStatus.OPEN.value)
    return session.scalars(query.order_by(open_first, Case.due_at, Case.id.desc()).limit(QUEUE_LIMIT)).all()


def _filters() -> tuple[str, str] | tuple[None, list]:
    status, kind = request.args.get("status", ""), request.args.get("kind", "")
    bad = []
    if status and status not in CaseStatus._value2member_map_:
        bad.append(("status", "must be one of " + ", ".join(CaseStatus._value2member_map_)))
    if kind and kind not in CaseKind._value2member_map_:
        bad.append(("kind", "must be one of " + ", ".join(CaseKind._value2member_map_)))
    return (None, bad) if bad else (status, kind)


@blueprint.get("/cases")
@require_session_token
def list_cases():
    """The case queue, filtered by status and kind."""
    status, kind = _filters()
    if status is None:
        return invalid(kind)
    with _services().session_factory() as session:
        return jsonify(cases=[case_json(c) for c in case_queue(session, g.shop_domain, status, kind)], as_of=utcnow().isoformat())


def _own_case(session, case_id: int) -> Case | None:
    case = session.get(Case, case_id)
    return case if case is not None and case.shop_domain == g.shop_domain else None


@blueprint.post("/cases/<id:case_id>/reply")
@require_session_token
@validated_body("CaseReply")
def reply_to_case(case_id: int):
    """The merchant's answer: shown on the customer's page and emailed (once) as a case_reply notice."""
    body, owner = g.body, g.body.get("owner")
    with _services().session_factory.begin() as session:
        case = _own_case(session, case_id)
        if case is None:
            return jsonify(error="case not found"), 404
        try:
            message = reply(session, case, body["body"], owner=owner)
        except CaseRefused as exc:
            return invalid([("body" if exc.field == "message" else exc.field, exc.reason)])
        return jsonify(case=case_json(case), message_id=message.id), 201


@blueprint.post("/cases/<id:case_id>/close")
@require_session_token
@validated_body("Empty", optional=True)
def close(case_id: int):
    """Close a case (its clock alert goes)."""
    with _services().session_factory.begin() as session:
        case = _own_case(session, case_id)
        if case is None:
            return jsonify(error="case not found"), 404
        close_case(session, case)
        return jsonify(case=case_json(case))


@blueprint.post("/cases/<id:case_id>/link")
@require_session_token
@validated_body("CaseLink")
def link(case_id: int):
    """Link a case to a return of the same order and/or name its replacement order (what the app did not link by itself)."""
    body = g.body
    with _services().session_factory.begin() as session:
        case = _own_case(session, case_id)
        if case is None:
            return jsonify(error="case not found"), 404
        if "return_case_id" in body:
            return_case_id = body["return_case_id"]
            if return_case_id is not None:
                found = session.get(ReturnCase, return_case_id)
                if found is None or found.shop_domain != g.shop_domain or found.order_id != case.order_id:
                    return invalid([("return_case_id", "not a return of this case's order")])
            case.return_case_id = return_case_id
        if "replacement_order" in body:
            case.replacement_order = body["replacement_order"]
        return jsonify(case=case_json(case))


@blueprint.get("/cases/settings")
@require_session_token
def get_settings():
    """What an out-of-stock notice offers the customer."""
    with _services().session_factory() as session:
        return jsonify(case_settings(session, g.shop_domain))


@blueprint.put("/cases/settings")
@require_session_token
@validated_body("CaseSettings")
def put_settings():
    """Choose what an out-of-stock notice offers: wait, substitute or refund."""
    with _services().session_factory.begin() as session:
        try:
            return jsonify(set_case_settings(session, g.shop_domain, g.body))
        except CaseRefused as exc:
            return invalid([(exc.field, exc.reason)])
