"""Opening cases, the customer's messages, the merchant's replies (queued as a customer notice) and closing."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..models import ShopSetting, utcnow
from ..orders.models import CustomerNotice, Order
from ..orders.timeline import record_event
from .clock import due_at, resolve_case_alert
from .models import Case, CaseKind, CaseMessage, CasePhoto, CaseStatus
from .photos import CleanPhoto

MAX_MESSAGE_CHARS = 4000
CUSTOMER_KINDS = (CaseKind.DAMAGED.value, CaseKind.WRONG_ITEM.value, CaseKind.NOT_ARRIVED.value, CaseKind.LATE.value, CaseKind.QUESTION.value)
OUT_OF_STOCK_CHOICES = ("wait", "substitute", "refund")
SETTINGS_KEY = "customer_cases"
DEFAULT_SETTINGS = {"out_of_stock_choice": "wait"}


class CaseRefused(ValueError):
    """Input a case cannot take: `field` and `reason` (a code the page words in the customer's language)."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def clean_text(text: str | None, *, required: bool = True) -> str:
    """The message as the customer or merchant typed it (stored as text, escaped wherever shown), or CaseRefused."""
    text = (text or "").replace("\x00", "").strip()
    if required and not text:
        raise CaseRefused("message", "required")
    if len(text) > MAX_MESSAGE_CHARS:
        raise CaseRefused("message", "too_long")
    return text


def open_case(session: Session, order: Order, kind: str, body: str, photos: list[CleanPhoto] = (), *, source: str = "customer",
              dedupe_key: str | None = None, now: dt.datetime | None = None) -> Case:
    """A new case on the order with its first message and clock; the order's timeline says so (without the text)."""
    if kind not in CaseKind._value2member_map_:
        raise CaseRefused("kind", "unknown")
    now = now or utcnow()
    case = Case(shop_domain=order.shop_domain, order_id=order.id, kind=kind, source=source, dedupe_key=dedupe_key,
                opened_at=now, due_at=due_at(session, order.shop_domain, kind, now), status=CaseStatus.OPEN.value)
    session.add(case)
    session.flush()
    _add_message(session, case, "customer" if source == "customer" else "app", body, photos, now)
    record_event(session, order, "case_opened", source, case=case.id, case_kind=kind, photos=len(photos))
    return case


def open_case_once(session: Session, order: Order, kind: str, body: str, dedupe_key: str) -> Case | None:
    """A case the app opens for a cause (an out-of-stock line): once per cause, however often the cause is seen; None when it exists."""
    if session.scalar(select(Case.id).where(Case.dedupe_key == dedupe_key)) is not None:
        return None
    try:
        with session.begin_nested():
            return open_case(session, order, kind, body, source="app", dedupe_key=dedupe_key)
    except IntegrityError:  # another worker opened it a moment ago
        return None


def add_customer_message(session: Session, case: Case, body: str, photos: list[CleanPhoto] = (), now: dt.datetime | None = None) -> CaseMessage:
    """The customer writes again: the case waits for the merchant again, on a fresh clock."""
    if case.status == CaseStatus.CLOSED.value:
        raise CaseRefused("case", "closed")
    now = now or utcnow()
    message = _add_message(session, case, "customer", body, photos, now)
    if case.status == CaseStatus.ANSWERED.value:
        case.status, case.due_at = CaseStatus.OPEN.value, due_at(session, case.shop_domain, case.kind, now)
    return message


def reply(session: Session, case: Case, body: str, *, owner: str | None = None, now: dt.datetime | None = None) -> CaseMessage:
    """The merchant's answer: stored, queued once as a case_reply notice to the customer, the clock stopped."""
    if case.status == CaseStatus.CLOSED.value:
        raise CaseRefused("case", "closed")
    now = now or utcnow()
    message = _add_message(session, case, "merchant", clean_text(body), (), now)
    case.first_reply_at = case.first_reply_at or now
    case.status = CaseStatus.ANSWERED.value
    if owner and not case.owner:
        case.owner = owner[:255]
    session.add(CustomerNotice(order_id=case.order_id, shop_domain=case.shop_domain, kind="case_reply", dedupe_key=f"case_reply:{message.id}"))
    resolve_case_alert(session, case.id)
    record_event(session, case.order, "case_replied", "merchant", case=case.id)
    return message


def close_case(session: Session, case: Case, now: dt.datetime | None = None) -> None:
    """Close the case (its clock alert goes too)."""
    if case.status != CaseStatus.CLOSED.value:
        case.status, case.closed_at = CaseStatus.CLOSED.value, now or utcnow()
        resolve_case_alert(session, case.id)
        record_event(session, case.order, "case_closed", "merchant", case=case.id)


def _add_message(session: Session, case: Case, author: str, body: str, photos, now: dt.datetime) -> CaseMessage:
    message = CaseMessage(case_id=case.id, author=author, body=body, created_at=now)
    session.add(message)
    session.flush()
    for photo in photos:
        session.add(CasePhoto(message_id=message.id, content_type=photo.content_type, width=photo.width, height=photo.height, data=photo.data))
    return message


def case_settings(session: Session, shop_domain: str) -> dict:
    """The shop's case settings: what an out-of-stock notice offers the customer (wait, substitute, refund)."""
    row = session.scalar(select(ShopSetting).where(ShopSetting.shop_domain == shop_domain, ShopSetting.key == SETTINGS_KEY))
    stored = (row.value or {}) if row else {}
    choice = stored.get("out_of_stock_choice")
    return {"out_of_stock_choice": choice if choice in OUT_OF_STOCK_CHOICES else DEFAULT_SETTINGS["out_of_stock_choice"]}


def set_case_settings(session: Session, shop_domain: str, values: dict) -> dict:
    """Validate and store the case settings; raises CaseRefused naming the field."""
    if not isinstance(values, dict) or set(values) - {"out_of_stock_choice"}:
        raise CaseRefused("settings", "unknown_field")
    choice = values.get("out_of_stock_choice")
    if choice not in OUT_OF_STOCK_CHOICES:
        raise CaseRefused("out_of_stock_choice", "must be one of " + ", ".join(OUT_OF_STOCK_CHOICES))
    row = session.scalar(select(ShopSetting).where(ShopSetting.shop_domain == shop_domain, ShopSetting.key == SETTINGS_KEY))
    if row is None:
        row = ShopSetting(shop_domain=shop_domain, key=SETTINGS_KEY, value={})
        session.add(row)
    row.value = {**(row.value or {}), "out_of_stock_choice": choice}
    session.flush()
    return case_settings(session, shop_domain)
