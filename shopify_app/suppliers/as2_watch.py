"""Watching AS2 partners: certificates (an alert a month before one expires, an error alert once it has) and asynchronous MDNs that never came."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from integrations.suppliers.edi_x12.as2 import CERTIFICATE_WARNING, CertificateRefused, check_certificate

from ..alerts import raise_alert, resolve_alert
from ..i18n import gettext as _
from ..models import utcnow
from .as2_models import As2Identity, As2Message
from .models import Alert, Supplier

CHECK_EVERY = dt.timedelta(minutes=15)
MDN_WAIT = dt.timedelta(hours=1)  # an asynchronous MDN later than this is alerted: the partner may never have processed the message


# Our own certificate is alerted earlier than a partner's: every partner must install the new one.
OWN_CERTIFICATE_WARNING = dt.timedelta(days=60)


def watch_as2_partners(services, now: dt.datetime | None = None) -> int:
    """The `as2-partners` job: certificates (the partners' and our own), then overdue asynchronous MDNs; returns partners checked."""
    partners = as2_partners(services)
    checked = check_as2_certificates(services, now, partners)
    check_own_certificates(services, now, partners)
    alert_missing_mdns(services, now)
    return checked


def own_certificate_alert_key(shop_domain: str) -> str:
    """Dedupe key of the alert for the shop's own AS2 certificate."""
    return f"as2_own_certificate:{shop_domain}"


def check_own_certificates(services, now: dt.datetime | None = None, partners: list | None = None) -> int:
    """Alert shops trading over AS2 whose own certificate expires within OWN_CERTIFICATE_WARNING (an error once expired); closed when rolled.

    Returns how many shops were alerted.
    """
    now = now or utcnow()
    with services.session_factory() as session:
        rows = session.execute(select(As2Identity.shop_domain, As2Identity.not_after)).all()
        open_keys = set(session.scalars(select(Alert.dedupe_key).where(Alert.dedupe_key.like("as2_own_certificate:%"), Alert.resolved_at.is_(None))))
    trading = {shop for _, shop, _, _ in (as2_partners(services) if partners is None else partners)}  # a shop that no longer trades over AS2 needs no new certificate
    due = [(shop, not_after) for shop, not_after in rows if shop in trading and not_after - now <= OWN_CERTIFICATE_WARNING]
    fine = [shop for shop, not_after in rows if own_certificate_alert_key(shop) in open_keys and (shop, not_after) not in due]
    if not due and not fine:
        return 0
    with services.session_factory.begin() as session:
        for shop, not_after in due:
            if not_after <= now:
                message = _("Your AS2 certificate expired on %(date)s: your EDI partners refuse what we sign with it. Make a new key pair on an AS2 "
                            "partner's page and send the new certificate to every partner.", date=f"{not_after:%Y-%m-%d}")
            else:
                message = _("Your AS2 certificate expires on %(date)s: make a new key pair on an AS2 partner's page and send the new certificate "
                            "to every partner before then (the old one keeps working for what they send until it expires).", date=f"{not_after:%Y-%m-%d}")
            raise_alert(session, shop, "as2_own_certificate", own_certificate_alert_key(shop), message,
                        severity="error" if not_after <= now else "warning", subject="AS2")
        for shop in fine:
            resolve_alert(session, own_certificate_alert_key(shop))
    return len(due)


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


def as2_partners(services) -> list[tuple[int, str, str, dict]]:
    """(supplier id, shop, name, AS2 transport settings) of every active EDI partner trading over AS2."""
    with services.session_factory() as session:
        rows = session.execute(select(Supplier.id, Supplier.shop_domain, Supplier.name, Supplier.settings).where(
            Supplier.kind == "edi_x12", Supplier.deleted_at.is_(None), Supplier.active.is_(True))).all()
    partners = [(sid, shop, name, (settings or {}).get("transport") or {}) for sid, shop, name, settings in rows]
    return [p for p in partners if isinstance(p[3], dict) and p[3].get("kind") == "as2"]


def certificate_alert_key(supplier_id: int) -> str:
    """Dedupe key of a partner's certificate alert."""
    return f"as2_certificate:{supplier_id}"


def check_as2_certificates(services, now: dt.datetime | None = None, partners: list | None = None) -> int:
    """Alert on AS2 partners whose certificate expires within a month or has expired; close the alert once replaced. Returns partners checked."""
    now = now or utcnow()
    partners = as2_partners(services) if partners is None else partners
    with services.session_factory.begin() as session:
        for supplier_id, shop_domain, name, transport in partners:
            key = certificate_alert_key(supplier_id)
            try:
                info = check_certificate(str(transport.get("partner_certificate") or ""), now, check_dates=False)
            except CertificateRefused as exc:
                raise_alert(session, shop_domain, "supplier_certificate", key, _("%(name)s: the AS2 partner's certificate cannot be used (%(reason)s).", name=name, reason=str(exc)),
                            severity="error", subject=name)
                continue
            if info.not_after <= now:
                raise_alert(session, shop_domain, "supplier_certificate", key,
                            _("%(name)s: the AS2 partner's certificate expired on %(date)s; orders cannot be sent until the partner's new certificate is saved.",
                              name=name, date=f"{info.not_after:%Y-%m-%d}"), severity="error", subject=name)
            elif info.not_after - now <= CERTIFICATE_WARNING:
                raise_alert(session, shop_domain, "supplier_certificate", key,
                            _("%(name)s: the AS2 partner's certificate expires on %(date)s; ask the partner for its new certificate.",
                              name=name, date=f"{info.not_after:%Y-%m-%d}"), subject=name)
            else:
                resolve_alert(session, key)
    return len(partners)
