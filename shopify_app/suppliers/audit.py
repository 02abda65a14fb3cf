"""The supplier audit trail: who changed what on a supplier record, and when (names of fields, never secret values)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from sqlalchemy import JSON, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow

MAX_ENTRIES_LISTED = 200
SYSTEM_ACTOR = "system"  # changes the app makes itself (a refreshed token)


class SupplierAuditEntry(Base):
    """One change to a supplier: its action, the actor, the changed field names and non-secret details."""

    __tablename__ = "supplier_audit"
    __table_args__ = (Index("ix_supplier_audit_supplier_at", "supplier_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))  # "user:<Shopify staff id>" or "system"
    action: Mapped[str] = mapped_column(String(64))  # created | updated | mappings_changed | credentials_refreshed | connection_tested | deleted
    fields: Mapped[list] = mapped_column(JSON, default=list)  # dotted names: settings.base_url, credentials.api_key
    detail: Mapped[dict] = mapped_column(JSON, default=dict)  # e.g. a connection test's outcome; never a secret


def merchant_actor(user_id: str | None) -> str:
    """The audit actor for a merchant's request: the session token's `sub` (Shopify staff user id; session tokens carry no email)."""
    return f"user:{user_id}" if user_id else "user:unknown"


def record_update(session: Session, shop_domain: str, supplier_id: int, actor: str, prefix: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    """An `updated` entry naming the keys under `prefix` that changed (none changed: no entry)."""
    fields = changed_fields(prefix, before or {}, after or {})
    if fields:
        record_change(session, shop_domain, supplier_id, actor, "updated", fields)


def record_change(session: Session, shop_domain: str, supplier_id: int, actor: str, action: str, fields: Iterable[str] = (), **detail: Any) -> SupplierAuditEntry:
    """Add one entry to the supplier's trail in the caller's transaction."""
    entry = SupplierAuditEntry(shop_domain=shop_domain, supplier_id=supplier_id, actor=actor[:255], action=action, fields=sorted(fields), detail=detail)
    session.add(entry)
    return entry


def trail(session: Session, shop_domain: str, supplier_id: int, limit: int = MAX_ENTRIES_LISTED) -> list[dict[str, Any]]:
    """The supplier's trail, newest first."""
    rows = session.scalars(
        select(SupplierAuditEntry)
        .where(SupplierAuditEntry.shop_domain == shop_domain, SupplierAuditEntry.supplier_id == supplier_id)
        .order_by(SupplierAuditEntry.at.desc(), SupplierAuditEntry.id.desc())
        .limit(limit)
    )
    return [{"at": row.at.isoformat(), "actor": row.actor, "action": row.action, "fields": list(row.fields or []), "detail": dict(row.detail or {})} for row in rows]


def changed_fields(prefix: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Dotted names of the top-level keys whose values differ (added, removed or changed)."""
    return [f"{prefix}.{key}" for key in sorted(set(before) | set(after)) if before.get(key, _MISSING) != after.get(key, _MISSING)]


_MISSING = object()
