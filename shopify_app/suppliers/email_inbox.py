"""Email suppliers' replies: per-supplier IMAP mailbox settings, and the job that reads new replies into tracking.

Settings are checked when saved (shape, the egress policy on host and port, then a real login
and folder select, all before the write transaction opens); the password is encrypted with
the app's SecretBox like every other credential and never shown again.

The poll (job "email-replies", embedded scheduler and procrastinate alike) takes each due
mailbox's new messages by UID, reads tracking out of each (replies.import_reply: into the
sent log), then records, in one transaction, the message as processed (unique per mailbox,
UIDVALIDITY and UID: a message is never applied twice, even by two pollers), its import
report, and how far the mailbox has been read. Only then is the message marked \\Seen (or
moved to the processed folder); the parcels found become Shopify fulfillments at the end.
A mailbox that keeps failing is retried later and later and raises an alert.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from integrations import egress
from integrations.suppliers.email_po.imap_mailbox import SECURITY_MODES, InvalidMailboxSettings, Mailbox, MailboxConfig, MailboxError, check_target
from integrations.suppliers.email_po.replies import import_reply, read_reply

from ..alerts import alert_job_failure, raise_alert, resolve_alert
from ..db import read_only
from ..models import Shop, ShopStatus, utcnow
from .email_inbox_models import EmailMailbox, EmailProcessedMessage
from .models import Supplier
from .tracking_imports import push_imported, save_run, sent_log_of

log = logging.getLogger(__name__)

DEFAULT_POLL_MINUTES = 5
MAX_POLL_MINUTES = 24 * 60
ALERT_AFTER_FAILURES = 3
MAX_BACKOFF = dt.timedelta(hours=6)
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$")
_FIELDS = {"host", "port", "security", "username", "password", "folder", "processed_folder", "poll_minutes", "enabled"}


def _one_line(value: Any, name: str, *, limit: int, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidMailboxSettings(f"{name} must be one line of text of 1-{limit} characters")
    return value.strip()


@dataclass(frozen=True)
class MailboxSettings:
    """Checked mailbox settings (password None: keep the stored one)."""

    host: str
    port: int
    security: str
    username: str
    password: str | None
    folder: str = "INBOX"
    processed_folder: str | None = None
    poll_minutes: int = DEFAULT_POLL_MINUTES
    enabled: bool = True

    def __repr__(self) -> str:
        return f"MailboxSettings(host={self.host!r}, port={self.port}, security={self.security!r})"


def parse_mailbox_settings(body: Any, *, password_required: bool) -> MailboxSettings:
    """Check the shape of a mailbox settings body; InvalidMailboxSettings names the field."""
    if not isinstance(body, dict):
        raise InvalidMailboxSettings("the body must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidMailboxSettings(f"unknown field(s): {', '.join(unknown)}")
    host = _one_line(body.get("host"), "host", limit=253)
    if not _HOST.match(host):
        raise InvalidMailboxSettings("host must be a host name or an IP address")
    security = body.get("security", "ssl")
    if security not in SECURITY_MODES:
        raise InvalidMailboxSettings(f"security must be one of {', '.join(SECURITY_MODES)}")
    port = body.get("port", 993 if security == "ssl" else 143)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidMailboxSettings("port must be a whole number from 1 to 65535")
    password = body.get("password")
    if password is not None or password_required:
        if not isinstance(password, str) or not password or len(password) > 1024 or "\n" in password or "\r" in password:
            raise InvalidMailboxSettings("password must be 1-1024 characters on one line")
    folder = _one_line(body.get("folder", "INBOX"), "folder", limit=255)
    processed = _one_line(body.get("processed_folder"), "processed_folder", limit=255, required=False)
    if processed is not None and processed == folder:
        raise InvalidMailboxSettings("processed_folder must differ from folder")
    minutes = body.get("poll_minutes", DEFAULT_POLL_MINUTES)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_POLL_MINUTES:
        raise InvalidMailboxSettings(f"poll_minutes must be a whole number from 1 to {MAX_POLL_MINUTES}")
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidMailboxSettings("enabled must be true or false")
    return MailboxSettings(host, port, security, _one_line(body.get("username"), "username", limit=255), password, folder, processed, minutes, enabled)


def mailbox_json(mailbox: EmailMailbox | None) -> dict | None:
    """The mailbox as the API shows it (never the password)."""
    if mailbox is None:
        return None
    return {
        "supplier_id": mailbox.supplier_id, "host": mailbox.host, "port": mailbox.port, "security": mailbox.security,
        "username": mailbox.username, "password_set": bool(mailbox.password_enc), "folder": mailbox.folder,
        "processed_folder": mailbox.processed_folder, "poll_minutes": mailbox.poll_minutes, "enabled": mailbox.enabled,
        "last_polled_at": mailbox.last_polled_at.isoformat() if mailbox.last_polled_at else None,
        "last_error": mailbox.last_error, "failures": mailbox.failures,
    }


def test_login(settings: MailboxSettings, password: str, *, policy: egress.EgressPolicy | None = None, timeout: float = 15.0) -> None:
    """Log in and select the folder once (MailboxError says why not); call with no transaction open."""
    check_target(settings.host, settings.port, settings.security, policy)
    config = MailboxConfig(settings.host, settings.port, settings.security, settings.username, password, settings.folder, settings.processed_folder)
    with Mailbox(config, policy=policy, timeout=timeout):
        pass


def save_mailbox(session, box, shop_domain: str, supplier_id: int, settings: MailboxSettings) -> EmailMailbox:
    """Create or update the supplier's mailbox (inside the caller's transaction); a new target starts reading afresh."""
    mailbox = session.scalar(select(EmailMailbox).where(EmailMailbox.supplier_id == supplier_id, EmailMailbox.shop_domain == shop_domain))
    if mailbox is None:
        mailbox = EmailMailbox(shop_domain=shop_domain, supplier_id=supplier_id, failures=0)
        session.add(mailbox)
    moved = (mailbox.host, mailbox.port, mailbox.username, mailbox.folder) != (settings.host, settings.port, settings.username, settings.folder)
    if moved:
        mailbox.uidvalidity = mailbox.last_uid = None  # another mailbox: its UIDs say nothing about this one
    mailbox.host, mailbox.port, mailbox.security, mailbox.username = settings.host, settings.port, settings.security, settings.username
    mailbox.folder, mailbox.processed_folder, mailbox.poll_minutes, mailbox.enabled = settings.folder, settings.processed_folder, settings.poll_minutes, settings.enabled
    if settings.password is not None:
        mailbox.password_enc = box.encrypt(settings.password)
    mailbox.next_poll_at, mailbox.last_error, mailbox.failures = utcnow(), None, 0
    session.flush()
    return mailbox


# -- polling -------------------------------------------------------------------------------


@dataclass
class PollResult:
    """What one poll of one mailbox did."""

    messages: int = 0
    skipped: int = 0  # processed before (by UID or Message-ID)
    import_ids: list[int] = field(default_factory=list)
    recorded: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def poll_mailboxes(services, limit: int = 100) -> int:
    """The periodic job: poll every due, enabled mailbox of an installed shop's email supplier; returns mailboxes polled."""
    now = utcnow()
    with read_only(services.session_factory)() as session:
        due = session.execute(
            select(EmailMailbox.id, EmailMailbox.shop_domain).join(Supplier, Supplier.id == EmailMailbox.supplier_id)
            .join(Shop, Shop.domain == EmailMailbox.shop_domain)
            .where(EmailMailbox.enabled.is_(True), EmailMailbox.next_poll_at <= now, Supplier.deleted_at.is_(None),
                   Supplier.kind == "email", Shop.status == ShopStatus.INSTALLED.value)
            .order_by(EmailMailbox.next_poll_at).limit(limit)
        ).all()
    for mailbox_id, shop_domain in due:
        try:
            poll_mailbox(services, mailbox_id)
        except Exception as exc:  # noqa: BLE001 - one shop's broken mailbox must not stop the others
            alert_job_failure(services.session_factory, "email-replies", shop_domain, exc, unit=f"mailbox:{mailbox_id}")
    return len(due)


def poll_mailbox(services, mailbox_id: int, *, policy: egress.EgressPolicy | None = None, ssl_context=None) -> PollResult:
    """Read one mailbox's new replies into tracking; see the module docstring for the order of things."""
    with read_only(services.session_factory)() as session:
        mailbox = session.get(EmailMailbox, mailbox_id)
        if mailbox is None:
            return PollResult(error="no such mailbox")
        config = MailboxConfig(mailbox.host, mailbox.port, mailbox.security, mailbox.username, services.box.decrypt(mailbox.password_enc),
                               mailbox.folder, mailbox.processed_folder)
        shop, supplier_id, uidvalidity, last_uid = mailbox.shop_domain, mailbox.supplier_id, mailbox.uidvalidity, mailbox.last_uid
    result = PollResult()
    sent_log = sent_log_of(services.session_factory, shop, supplier_id)
    try:
        with Mailbox(config, policy=policy, ssl_context=ssl_context) as box:
            for message in box.fetch(box.new_messages(uidvalidity, last_uid)):
                if _take_message(services, box, mailbox_id, shop, supplier_id, message, sent_log, result):
                    box.finish(message.uid)  # only once recorded: a crash before this re-reads it, and the UID record skips it
    except MailboxError as exc:
        result.error = str(exc)
    _after_poll(services, mailbox_id, shop, result)
    push_imported(services, shop, supplier_id, list(result.recorded))
    return result


def _take_message(services, box: Mailbox, mailbox_id: int, shop: str, supplier_id: int, message, sent_log, result: PollResult) -> bool:
    """Import one message and record it as processed; False when another poll got there first."""
    with read_only(services.session_factory)() as session:
        seen = session.scalar(select(EmailProcessedMessage.id).where(
            EmailProcessedMessage.mailbox_id == mailbox_id, EmailProcessedMessage.uidvalidity == box.uidvalidity, EmailProcessedMessage.uid == message.uid))
    unparsable = False
    try:
        reply = read_reply(message.raw) if message.raw is not None else None
    except Exception:  # noqa: BLE001 - a message the email package cannot take apart is reported, not retried forever
        reply, unparsable = None, True
    message_id = (reply.message_id if reply else "")[:255] or None
    if seen is None and message_id is not None:
        with read_only(services.session_factory)() as session:
            # The same reply under new UIDs (the server renumbered them): already applied.
            seen = session.scalar(select(EmailProcessedMessage.id).where(EmailProcessedMessage.mailbox_id == mailbox_id, EmailProcessedMessage.message_id == message_id).limit(1))
    if seen is not None:
        result.skipped += 1
        _advance(services, mailbox_id, box.uidvalidity, message.uid)
        return True
    if unparsable:
        rows, note = [], "the message could not be read as email; upload its tracking file instead"
    elif reply is None:
        rows, note = [], f"the message is larger than the {message.size // (1024 * 1024)} MB we read; forward the tracking file alone or upload it"
    else:
        imported = import_reply(reply, sent_log)  # sent log writes, no network
        rows, note = imported.report, imported.message
        for po, count in imported.recorded.items():
            result.recorded[po] = result.recorded.get(po, 0) + count
    try:
        with services.session_factory.begin() as session:
            run = save_run(session, shop, supplier_id, "email", message_id, rows, note)
            session.add(EmailProcessedMessage(shop_domain=shop, mailbox_id=mailbox_id, uidvalidity=box.uidvalidity, uid=message.uid, message_id=message_id, import_id=run.id))
            mailbox = session.get(EmailMailbox, mailbox_id)
            _move_mark(mailbox, box.uidvalidity, message.uid)
            if not rows or all(row["outcome"] == "unknown_po" for row in rows):
                raise_alert(session, shop, "email_reply_unmatched", f"email_reply_unmatched:{run.id}",
                            f"A reply in the supplier's mailbox brought no tracking we could apply ({note or 'no PO of ours matched'}): see tracking import {run.id}.", severity="info")
            result.import_ids.append(run.id)
    except IntegrityError:
        result.skipped += 1  # another poll recorded it first
        return True
    result.messages += 1
    return True


def _move_mark(mailbox: EmailMailbox, uidvalidity: int, uid: int) -> None:
    if mailbox.uidvalidity != uidvalidity:
        mailbox.uidvalidity, mailbox.last_uid = uidvalidity, uid
    else:
        mailbox.last_uid = max(mailbox.last_uid or 0, uid)


def _advance(services, mailbox_id: int, uidvalidity: int, uid: int) -> None:
    with services.session_factory.begin() as session:
        _move_mark(session.get(EmailMailbox, mailbox_id), uidvalidity, uid)


def _after_poll(services, mailbox_id: int, shop: str, result: PollResult) -> None:
    now = utcnow()
    with services.session_factory.begin() as session:
        mailbox = session.get(EmailMailbox, mailbox_id)
        mailbox.last_polled_at = now
        key = f"email_mailbox_failing:{mailbox_id}"
        if result.error is None:
            mailbox.last_error, mailbox.failures = None, 0
            mailbox.next_poll_at = now + dt.timedelta(minutes=mailbox.poll_minutes)
            resolve_alert(session, key)
            return
        mailbox.last_error, mailbox.failures = result.error[:500], (mailbox.failures or 0) + 1
        backoff = min(dt.timedelta(minutes=mailbox.poll_minutes) * 2 ** min(mailbox.failures - 1, 10), MAX_BACKOFF)
        mailbox.next_poll_at = now + backoff
        if mailbox.failures >= ALERT_AFTER_FAILURES:
            supplier = session.get(Supplier, mailbox.supplier_id)
            raise_alert(session, shop, "email_mailbox_failing", key,
                        f"The mailbox of {supplier.name if supplier else 'an email supplier'} could not be read {mailbox.failures} times in a row: {mailbox.last_error}. Tracking from its replies waits until it can.",
                        severity="warning", subject=supplier.name if supplier else None)
