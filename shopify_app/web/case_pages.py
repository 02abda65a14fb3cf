"""The admin's Cases pages: the queue with each case's clock, and a case with its messages where the merchant answers."""
from __future__ import annotations

from flask import abort, current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from ..cases.models import Case, CaseKind, CaseMessage, CasePhoto, CaseStatus
from ..cases.service import OUT_OF_STOCK_CHOICES, case_settings
from ..i18n import gettext as _
from ..models import utcnow
from ..proxy.customer_view import case_kind_label
from ..proxy.views import photo_response
from .cases_api import case_queue
from .pages import _session, admin_page, blueprint, isolated, page_url, render_page

PHOTO_LINK_MAX_AGE = 3600


def _photo_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.extensions["services"].settings.api_secret, salt="admin-case-photo:v1")


def _clock(case: Case, now) -> dict:
    """How much time the case has left (negative: late), for the queue's clock."""
    if case.status != CaseStatus.OPEN.value:
        return {"state": "stopped", "hours": None}
    hours = (case.due_at - now).total_seconds() / 3600
    return {"state": "late" if hours < 0 else "running", "hours": round(hours, 1)}


@blueprint.get("/cases")
@admin_page
def cases():
    """Every case, the most urgent first, with its clock; filters by status and kind."""
    status = request.args.get("status", "open")
    status = status if status in CaseStatus._value2member_map_ or status == "all" else "open"
    kind = request.args.get("kind", "")
    kind = kind if kind in CaseKind._value2member_map_ else ""
    now = utcnow()
    with _session() as session:
        rows = case_queue(session, g.shop_domain, "" if status == "all" else status, kind)
        from ..orders.models import Order

        names = dict(session.execute(select(Order.id, Order.name).where(Order.id.in_({c.order_id for c in rows}))).all()) if rows else {}
        listed = [{"id": c.id, "order": names.get(c.order_id), "kind": case_kind_label(c.kind), "status": c.status, "owner": c.owner,
                   "opened_at": c.opened_at, "due_at": c.due_at, "clock": _clock(c, now)} for c in rows]
        settings = case_settings(session, g.shop_domain)
    return render_page("cases.html", "cases", cases=listed, status=status, kind=kind, kinds=[(k.value, case_kind_label(k.value)) for k in CaseKind],
                       statuses=[(s.value, _(s.value.capitalize())) for s in CaseStatus], settings=settings, choices=OUT_OF_STOCK_CHOICES)


@blueprint.get("/cases/<id:case_id>")
@admin_page
def case_detail(case_id: int):
    """One case: the order, the messages and photos, the reply form."""
    signer = _photo_signer()
    with _session() as session:
        case = session.get(Case, case_id)
        if case is None or case.shop_domain != g.shop_domain:
            abort(404)
        messages = session.scalars(select(CaseMessage).where(CaseMessage.case_id == case.id).order_by(CaseMessage.id)).all()
        photos: dict[int, list[str]] = {}
        if messages:
            for photo_id, message_id in session.execute(select(CasePhoto.id, CasePhoto.message_id).where(CasePhoto.message_id.in_([m.id for m in messages]))):
                photos.setdefault(message_id, []).append(signer.dumps([g.shop_domain, photo_id]))
        data = {"id": case.id, "kind": case_kind_label(case.kind), "status": case.status, "owner": case.owner, "opened_at": case.opened_at,
                "due_at": case.due_at, "first_reply_at": case.first_reply_at, "clock": _clock(case, utcnow()),
                "order": {"id": case.order_id, "name": case.order.name}, "return_case_id": case.return_case_id, "replacement_order": case.replacement_order,
                "messages": [{"author": m.author, "body": m.body, "at": m.created_at, "photos": photos.get(m.id, [])} for m in messages]}
    return render_page("case.html", "cases", title=_("Case %(id)s", id=case_id) + " · " + isolated(data["order"]["name"] or ""),
                       back={"href": page_url("cases"), "label": _("Cases")}, case=data)


@blueprint.get("/case-photos/<signed>")
def case_photo(signed: str):
    """A case photo for the admin page: the link is signed for one shop's photo and expires (an <img> carries no session token)."""
    try:
        shop, photo_id = _photo_signer().loads(signed, max_age=PHOTO_LINK_MAX_AGE)
    except (BadSignature, ValueError, TypeError):
        abort(404)
    with _session() as session:
        row = session.get(CasePhoto, photo_id) if isinstance(photo_id, int) else None
        message = row and session.get(CaseMessage, row.message_id)
        if row is None or message is None or message.case.shop_domain != shop:
            abort(404)
        return photo_response(row)
