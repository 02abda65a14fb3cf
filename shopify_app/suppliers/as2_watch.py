"""Watching AS2 partners: certificates (an alert a month before one expires, an error alert once it has) and asynchronous MDNs that never came."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from integrations.suppliers.edi_x12.as2 import CERTIFICATE_WARNING, CertificateRefused, check_certificate

from ..alerts import raise_alert, resolve_alert
from ..i18n import gettext as _
from ..models import utcnow
from .as2_models import As2Message
from .models import Alert, Supplier

CHECK_EVERY = dt.timedelta(minutes=15)
MDN_WAIT = dt.timedelta(hours=1)  # an asynchronous MDN later than this is alerted: the partner may never have processed the message


def watch_as2_partners(services, now: dt.datetime | None = None) -> int:
    """The `as2-partners` job: certificates, then overdue asynchronous MDNs; returns partners checked."""
    checked = check_as2_certificates(services, now)
    alert_missing_mdns(services, now)
    return checked


def missing_mdn_key(supplier_id: int, file_name: str) -> str:
    """Dedupe key of the alert for an asynchronous MDN that did not come."""
    return f"as2_mdn_missing:{supplier_id}:{file_name}"


def alert_missing_mdns(services, now: dt.datetime | None = None) -> int:
    """Alert on our messages still awaiting their asynchronous MDN after MDN_WAIT (closed when it comes); returns how many are overdue."""
    now = now or utcnow()
    with services.session_factory() as session:
        overdue = session.execute(select(As2Message.shop_domain, As2Message.supplier_id, As2Message.file_name).where(
            As2Message.direction == "out", As2Message.status == "awaiting_mdn", As2Message.updated_at < now - MDN_WAIT)).all()
        still = {(supplier_id, file_name) for _, supplier_id, file_name in overdue}
        open_keys = session.scalars(select(Alert.dedupe_key).where(Alert.dedupe_key.like("as2_mdn_missing:%"), Alert.resolved_at.is_(None))).all()
    with services.session_factory.begin() as session:
        for shop_domain, supplier_id, file_name in overdue:
            raise_alert(session, shop_domain, "supplier_unreachable", missing_mdn_key(supplier_id, file_name),
                        _("The EDI partner has not confirmed %(file)s (no AS2 receipt after an hour): check with the partner that it arrived.", file=file_name))
        for key in open_keys:  # the MDN came (or the message failed and was alerted as such) since
            _prefix, supplier_id, file_name = key.split(":", 2)
            if (int(supplier_id), file_name) not in still:
                resolve_alert(session, key)
    return len(overdue)


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
