"""A customer's case follows what came of it: the return (or complaint) opened for the same order, and the replacement order sent.

Linked automatically when the return is recorded and when the app records a replacement,
and by the merchant from the case page when the match is not obvious (another order's
return is refused: a case belongs to one order).
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .models import Case, CaseKind, CaseStatus

# Reports about the item itself: the ones a return or a complaint answers.
ITEM_KINDS = (CaseKind.DAMAGED.value, CaseKind.WRONG_ITEM.value)


def link_return(session: Session, shop_domain: str, order_id: int | None, return_case_id: int) -> int:
    """Link the order's unlinked, not-closed item reports to this return; returns how many were linked."""
    if order_id is None:
        return 0
    return session.execute(
        update(Case).where(Case.shop_domain == shop_domain, Case.order_id == order_id, Case.kind.in_(ITEM_KINDS),
                           Case.return_case_id.is_(None), Case.status != CaseStatus.CLOSED.value)
        .values(return_case_id=return_case_id)
    ).rowcount


def link_replacement(session: Session, shop_domain: str, return_case_id: int, replacement_order: str | None) -> int:
    """Record the replacement order on every case linked to this return; returns how many."""
    if not replacement_order:
        return 0
    return session.execute(
        update(Case).where(Case.shop_domain == shop_domain, Case.return_case_id == return_case_id)
        .values(replacement_order=str(replacement_order)[:64])
    ).rowcount


def cases_of_return(session: Session, shop_domain: str, return_case_id: int) -> list[Case]:
    """The cases linked to a return, oldest first."""
    return list(session.scalars(select(Case).where(Case.shop_domain == shop_domain, Case.return_case_id == return_case_id).order_by(Case.id)))
