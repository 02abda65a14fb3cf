"""The values a return_* customer notice shows: RMA, label, address, amounts, the complaint's answer deadline."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.suppliers.links import http_link

from ..notify.notice_contexts import notice_context
from ..shop_profile import shop_profile
from .business_days import local_date
from .decline_reasons import in_words
from .models import ReturnCase
from .outcome_models import ReturnOutcome


@notice_context("return_")
def return_notice_context(session: Session, notice) -> dict:
    """The return's RMA details for return_* notices (their dedupe key is '<kind>:<case id>')."""
    ref = notice.dedupe_key.rpartition(":")[2]
    case = session.get(ReturnCase, int(ref)) if ref.isdigit() else None
    if case is None:
        return {}
    address = ", ".join(str(v) for v in (case.rma_address or {}).values() if v)
    items = sum(line.received_quantity for line in case.lines)
    outcome = session.scalar(select(ReturnOutcome).where(ReturnOutcome.return_case_id == case.id))
    amounts = {"amount": None, "restocking_fee": None, "return_shipping_fee": None, "currency": None, "delivery_refunded": None,
               "difference_refunded": None, "balance_due": None, "replacement_order": None}
    if outcome is not None:
        amounts = {"amount": outcome.amount, "currency": outcome.currency, "delivery_refunded": outcome.delivery_refund,
                   "difference_refunded": outcome.difference_refunded, "balance_due": outcome.balance_due,
                   "replacement_order": (outcome.request or {}).get("replacement_order_name"),
                   "restocking_fee": outcome.restocking_fee if outcome.restocking_fee not in (None, "0", "0.00") else None,
                   "return_shipping_fee": outcome.return_shipping_fee if outcome.return_shipping_fee not in (None, "0", "0.00") else None}
    return {"rma_number": case.rma_number, "label_url": http_link(case.rma_label_url), "return_address": address or None, "decision_note": in_words(case.decision_reasons) or case.decision_note, "items": items,
            # A complaint's legal answer deadline: the shop's last day (it ends at that day's local midnight).
            "answer_by": f"{local_date(case.complaint_due_at, shop_profile(session, case.shop_domain)['iana_timezone']):%Y-%m-%d}" if case.complaint_due_at else None,
            **amounts}
