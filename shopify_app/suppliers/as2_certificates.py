"""Watching AS2 partners' certificates: an alert a month before one expires, an error alert once it has (messages to and from that partner then fail)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from integrations.suppliers.edi_x12.as2 import CERTIFICATE_WARNING, CertificateRefused, check_certificate

from ..alerts import raise_alert, resolve_alert
from ..i18n import gettext as _
from ..models import utcnow
from .models import Supplier

CHECK_EVERY = dt.timedelta(hours=6)


def certificate_alert_key(supplier_id: int) -> str:
    """Dedupe key of a partner's certificate alert."""
    return f"as2_certificate:{supplier_id}"


def check_as2_certificates(services, now: dt.datetime | None = None) -> int:
    """Alert on AS2 partners whose certificate expires within a month or has expired; close the alert once replaced. Returns partners checked."""
    now = now or utcnow()
    with services.session_factory() as session:
        rows = session.execute(select(Supplier.id, Supplier.shop_domain, Supplier.name, Supplier.settings).where(
            Supplier.kind == "edi_x12", Supplier.deleted_at.is_(None), Supplier.active.is_(True))).all()
    partners = [(sid, shop, name, (settings or {}).get("transport") or {}) for sid, shop, name, settings in rows]
    partners = [p for p in partners if isinstance(p[3], dict) and p[3].get("kind") == "as2"]
    with services.session_factory.begin() as session:
        for supplier_id, shop_domain, name, transport in partners:
            key = certificate_alert_key(supplier_id)
            try:
                info = check_certificate(str(transport.get("partner_certificate") or ""), now, check_dates=False)
            except CertificateRefused as exc:
                raise_alert(session, shop_domain, "supplier_failed", key, _("%(name)s: the AS2 partner's certificate cannot be used (%(reason)s).", name=name, reason=str(exc)),
                            severity="error", subject=name)
                continue
            if info.not_after <= now:
                raise_alert(session, shop_domain, "supplier_failed", key,
                            _("%(name)s: the AS2 partner's certificate expired on %(date)s; orders cannot be sent until the partner's new certificate is saved.",
                              name=name, date=f"{info.not_after:%Y-%m-%d}"), severity="error", subject=name)
            elif info.not_after - now <= CERTIFICATE_WARNING:
                raise_alert(session, shop_domain, "supplier_failed", key,
                            _("%(name)s: the AS2 partner's certificate expires on %(date)s; ask the partner for its new certificate.",
                              name=name, date=f"{info.not_after:%Y-%m-%d}"), subject=name)
            else:
                resolve_alert(session, key)
    return len(partners)
