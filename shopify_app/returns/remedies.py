"""An accepted complaint's remedy decides what the customer gets: money only for a refund remedy.

A replacement is an order of its own at no charge, created once and forwarded like any order
(replacements.py); a repair is the merchant's task (an alert naming the order, and the case's
`remedy_due` state on the returns page); neither is ever cash. The merchant marks either done
(mark_remedy_done), which tells the customer and closes the task. Poland's silence accepts whatever the
consumer demanded, which the app does not know: the merchant must choose the remedy.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from ..alerts import raise_alert, resolve_alert
from ..i18n import gettext as _
from ..models import utcnow
from .intake import case_profile, notify_customer, timeline
from .models import CaseKind, ComplaintState, Decision, ReturnCase

MONEY_KINDS = ("refund", "store_credit")
# Directive 2011/83/EU art. 13(1): the refund uses the consumer's means of payment unless they expressly agreed otherwise.
STORE_CREDIT_CONSENT_SOURCE = "Directive 2011/83/EU art. 13(1)"


def remedy_due(case: ReturnCase) -> str | None:
    """What an accepted complaint still needs instead of money: replacement | repair | choose (None: nothing, or a refund)."""
    if case.kind != CaseKind.COMPLAINT or case.decision != Decision.APPROVE:
        return None
    if case.complaint_remedy == "replace":
        return "replacement"
    if case.complaint_remedy == "repair":
        return "repair"
    if case.complaint_remedy is None and case.complaint_state in (ComplaintState.ACCEPTED_BY_LAW, ComplaintState.ACCEPTED):
        return "choose"
    return None


def money_refusal(case: ReturnCase, kind: str | None) -> str | None:
    """Why a refund or store credit may not be the outcome of this complaint (None: it may)."""
    due = remedy_due(case)
    if kind not in MONEY_KINDS or due is None:
        return None
    if due == "choose":
        # The law accepted the customer's demand: the merchant records it as a refund, or sends the replacement/repair.
        return None if kind == "refund" else _("store credit is not a remedy under the legal guarantee: refund, replace or repair")
    return (_("the complaint was accepted with a replacement: send the replacement, do not refund it") if due == "replacement"
            else _("the complaint was accepted with a repair: arrange the repair, do not refund it"))


def store_credit_refusal(session: Session, case: ReturnCase, kind: str | None, customer_agreed: bool) -> str | None:
    """Store credit on a statutory withdrawal needs the customer's express agreement (art. 13(1) of Directive 2011/83/EU)."""
    if kind != "store_credit" or case.kind == CaseKind.COMPLAINT or customer_agreed:
        return None
    if not case_profile(session, case).statutory:
        return None
    return _("the law requires a refund to the customer's original payment unless the customer expressly agreed to store credit "
             "(%(source)s): confirm their agreement (customer_agreed)", source=STORE_CREDIT_CONSENT_SOURCE)


def raise_remedy_task(session: Session, case: ReturnCase, *, replacement_by_hand: bool = False) -> None:
    """An accepted complaint that needs a repair, the merchant's choice, or a replacement the app cannot create: one alert (the task) and a timeline step.

    A replacement is created by the app itself (replacements.py), so no task tells the merchant to
    send one: a merchant following it would ship a second. Only when the app cannot create it
    (replacement_by_hand) does the task ask for it; a failed creation raises its own alert.
    """
    due = remedy_due(case)
    if due is None or (due == "replacement" and not replacement_by_hand):
        return
    label = case.name or case.return_gid
    order = case.order_gid or ""
    message = {
        "replacement": _("Complaint %(name)s was accepted with a replacement: send the customer a replacement for order %(order)s (no refund).", name=label, order=order),
        "repair": _("Complaint %(name)s was accepted with a repair: arrange the repair for order %(order)s (no refund).", name=label, order=order),
        "choose": _("Complaint %(name)s was accepted by law: give the customer the remedy they asked for (refund, replacement or repair) for order %(order)s.",
                    name=label, order=order),
    }[due]
    if raise_alert(session, case.shop_domain, "return_remedy_due", f"return_remedy:{case.id}", message, subject=case.name):
        timeline(session, case, "complaint_remedy_due", "app", remedy=due)


class RemedyRefused(Exception):
    """The remedy action cannot be taken: `field` names what is wrong."""

    def __init__(self, message: str, field: str = "action"):
        super().__init__(message)
        self.field = field


def choose_remedy(session: Session, case: ReturnCase, remedy: str, by: str) -> None:
    """The merchant's remedy for a complaint the law accepted (replace or repair; a refund goes through the outcome)."""
    if remedy not in ("replace", "repair"):
        raise RemedyRefused(_("choose replace or repair here; a refund is asked for as the return's outcome"))
    if remedy_due(case) != "choose":
        raise RemedyRefused(_("this complaint's remedy is already chosen"))
    case.complaint_remedy = remedy
    timeline(session, case, "complaint_remedy_chosen", by, remedy=remedy)
    resolve_alert(session, f"return_remedy:{case.id}")
    raise_remedy_task(session, case)  # the task now names the replacement or the repair


def mark_remedy_done(session: Session, case: ReturnCase, by: str) -> None:
    """The merchant marks the replacement or repair done: once, on the timeline, told to the customer, the task closed."""
    due = remedy_due(case)
    if due not in ("replacement", "repair"):
        raise RemedyRefused(_("only an accepted complaint's replacement or repair can be marked done"))
    if case.remedy_done_at is not None:
        raise RemedyRefused(_("the %(remedy)s is marked done already", remedy=_("replacement") if due == "replacement" else _("repair")))
    case.remedy_done_at = utcnow()
    timeline(session, case, "complaint_remedy_done", by, remedy=due)
    notify_customer(session, case, f"return_{due}_done")
    settle_remedy_task(session, case)


def settle_remedy_task(session: Session, case: ReturnCase) -> None:
    """The remedy was given (a refund carried out): the task is done."""
    resolve_alert(session, f"return_remedy:{case.id}")
