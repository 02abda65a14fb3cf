"""What case_reply and out_of_stock notices show: the merchant's reply, the shop's out-of-stock choice, the link to the store page."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Shop
from ..notify.notice_contexts import notice_context
from .models import Case, CaseMessage
from .service import case_settings

PROXY_PATH = "/apps/orders"  # shopify.app.toml [app_proxy] prefix/subpath


def _page_url(session: Session, shop_domain: str) -> str:
    """The store page where the customer follows the order (the shop's primary domain when known)."""
    primary = session.scalar(select(Shop.primary_domain).where(Shop.domain == shop_domain))
    return f"https://{primary or shop_domain}{PROXY_PATH}"


@notice_context("case_")
def case_notice_context(session: Session, notice) -> dict:
    """The reply of a case_reply notice (its dedupe key is 'case_reply:<message id>') and the case's kind."""
    ref = notice.dedupe_key.rpartition(":")[2]
    message = session.get(CaseMessage, int(ref)) if ref.isdigit() else None
    if message is None:
        return {"reply_text": "", "case_kind": None, "page_url": None}
    case = session.get(Case, message.case_id)
    return {"reply_text": message.body, "case_kind": case.kind, "case_id": case.id, "page_url": _page_url(session, case.shop_domain)}


@notice_context("out_of_stock")
def out_of_stock_notice_context(session: Session, notice) -> dict:
    """The choice the shop offers when a line is out of stock, and the page where the customer answers."""
    ref = notice.dedupe_key.rpartition(":")[2]
    case = session.get(Case, int(ref)) if ref.isdigit() else None
    shop = case.shop_domain if case else None
    return {"choice": case_settings(session, shop)["out_of_stock_choice"] if shop else "wait",
            "page_url": _page_url(session, shop) if shop else None}
