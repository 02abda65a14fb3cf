"""Complaints under the legal guarantee: the merchant's answer, and Poland's "accepted by law" when none comes.

A complaint is a Shopify return request we hold in review (ReturnCase.kind == complaint).
Answering it approves or declines that request in Shopify first, with no transaction open,
then records the answer once; a repeated click or a crash in between is safe because
Shopify refuses a second decision and the returns/* webhook records Shopify's state.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from integrations.shopify.errors import ShopifyError, ShopifyUserError

from ..i18n import gettext as _
from ..models import utcnow
from .intake import case_profile, mark_decided
from .legal_profiles import PROFILES
from .models import CaseKind, ComplaintState, Decision, ReturnCase
from .remedies import raise_remedy_task
from .replacements import request_replacement

log = logging.getLogger(__name__)

REMEDIES = ("refund", "replace", "repair")
SILENCE_ACCEPTS = tuple(key for key, profile in PROFILES.items() if profile.complaint_silence_accepts)


class ComplaintRefused(Exception):
    """The answer cannot be given: `status` is the HTTP status, `field` what was wrong."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.field = status, field


def push_decision(gateway, return_gid: str, approve: bool, note: str) -> None:
    """Approve or decline the return request in Shopify (call with no transaction open)."""
    if approve:
        gateway.mutate("ReturnApproveRequest", {"input": {"id": return_gid, "notifyCustomer": False}}, "returnApproveRequest")
    else:
        gateway.mutate("ReturnDeclineRequest", {"input": {"id": return_gid, "declineReason": "OTHER", "declineNote": note[:300], "notifyCustomer": False}},
                       "returnDeclineRequest")


def answer_complaint(services, shop_domain: str, case_id: int, answer: str, remedy: str | None, note: str | None, now: dt.datetime | None = None) -> int:
    """The merchant accepts (with a remedy) or rejects (with a reason) an open complaint; the case id."""
    now = now or utcnow()
    if answer not in ("accept", "reject"):
        raise ComplaintRefused(400, _("answer must be accept or reject"), "answer")
    if answer == "accept" and remedy not in REMEDIES:
        raise ComplaintRefused(400, _("an accepted complaint needs a remedy: refund, replace or repair"), "remedy")
    note = (note or "").strip()[:300]
    if answer == "reject" and not note:
        raise ComplaintRefused(400, _("a rejected complaint needs the reason the customer will read"), "note")
    with services.read_session_factory() as session:
        case = session.get(ReturnCase, case_id)
        if case is None or case.shop_domain != shop_domain:
            raise ComplaintRefused(404, _("not found"))
        if case.kind != CaseKind.COMPLAINT or case.complaint_state != ComplaintState.OPEN or case.status != "requested":
            raise ComplaintRefused(409, _("this is not an open complaint"))
        if answer == "reject" and case.complaint_due_at and now > case.complaint_due_at and case_profile(session, case).complaint_silence_accepts:
            raise ComplaintRefused(409, _("the answer deadline has passed: the law counts this complaint as accepted"))
        return_gid = case.return_gid
    if answer == "accept":
        note = note or _("Your complaint is accepted: we will %(remedy)s.", remedy={"refund": _("refund you"), "replace": _("replace the item"), "repair": _("repair the item")}[remedy])
    push_decision(services.gateway(shop_domain), return_gid, answer == "accept", note)
    replacement = None
    with services.session_factory.begin() as session:
        case = session.get(ReturnCase, case_id)
        if case.complaint_state == ComplaintState.OPEN:
            case.complaint_remedy, case.complaint_answer = (remedy if answer == "accept" else None), note
            if answer == "accept":
                mark_decided(session, case, Decision.APPROVE, "merchant", note)
                raise_remedy_task(session, case)  # a replacement or repair: the merchant marks it done
                row = request_replacement(session, case, "merchant")
                replacement = row.id if row is not None else None
            else:
                mark_decided(session, case, Decision.DECLINE, "merchant", note, "OTHER")
    if replacement is not None:
        send_now(services, replacement)
    return case_id


def send_now(services, outcome_id: int) -> None:
    """Try the outcome at once (no transaction open); a failure leaves it to the outcomes pump."""
    from .outcomes import carry_out

    try:
        carry_out(services, outcome_id)
    except ShopifyError as exc:  # pending/unknown: the pump asks Shopify and tries again
        log.warning("outcome %s: not carried out now (%s); the pump retries", outcome_id, type(exc).__name__)


def accept_silent_complaints(services, now: dt.datetime | None = None) -> int:
    """Complaints left unanswered past their deadline where silence accepts them (Poland): approved in Shopify and recorded; how many."""
    now = now or utcnow()
    with services.read_session_factory() as session:
        due = session.execute(select(ReturnCase.id, ReturnCase.shop_domain, ReturnCase.return_gid).where(
            ReturnCase.complaint_state == ComplaintState.OPEN, ReturnCase.complaint_due_at < now,
            ReturnCase.legal_profile.in_(SILENCE_ACCEPTS), ReturnCase.status == "requested").order_by(ReturnCase.id).limit(200)).all()
    accepted = 0
    for case_id, shop_domain, return_gid in due:
        note = _("Not answered within the legal deadline: the complaint is accepted by law.")
        try:
            push_decision(services.gateway(shop_domain), return_gid, True, note)
        except ShopifyUserError as error:
            # Decided in Shopify meanwhile (the merchant in the admin): its returns/* webhook records that.
            log.warning("complaint %s: Shopify refused the approval codes=%s", case_id, error.codes)
            continue
        with services.session_factory.begin() as session:
            case = session.get(ReturnCase, case_id)
            if case is not None and case.complaint_state == ComplaintState.OPEN:
                mark_decided(session, case, Decision.APPROVE, "law", note)
                accepted += 1
    return accepted
