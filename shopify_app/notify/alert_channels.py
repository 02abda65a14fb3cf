"""Merchant alerts by email and to a Slack-compatible incoming webhook: once per alert occurrence and channel.

Planning and sending are apart. Planning inserts one AlertNotification per open alert,
channel and occurrence; the unique key makes that safe for concurrent workers. Sending
claims one attempt in a short transaction, talks to SMTP or the webhook with no
transaction open, then records the result (sent, retry later with backoff, or failed).
A crash between sending and recording means one more attempt after the claim's lease:
at least once, never once per sighting.

An alert seen again (count bumped) keeps its occurrence and is not told again. A resolved
alert that is reopened, or an open one that grows more severe (a warning become critical),
gets a new occurrence (alert_reopens, counted by raise_alert) and is told again. Rows whose
alert was resolved, or whose occurrence was superseded, before they went out are skipped.

The Slack URL is a secret (whoever has it can post to the channel): it is never logged,
stored in last_error or returned by the API; logs name only its host. It is a tenant-chosen
target, so it goes through the egress policy (integrations/egress.py) when saved and when
posted to; a failed post is recorded as a short reason ("refused by egress policy",
"could not connect", "HTTP 503"), never as which ports answer or what the server said.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import smtplib
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from integrations import egress
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..models import Shop, ShopSetting, ShopStatus, utcnow
from ..alerts import SEVERITIES, severity_rank  # noqa: F401 (SEVERITIES: the settings schema reads it here)
from ..suppliers.models import Alert
from .email import SmtpSettings, send_email
from .models import AlertNotification, AlertReopenCount, Channel, NotificationStatus

log = logging.getLogger(__name__)

SETTINGS_KEY = "alert_channels"
DEFAULT_MIN_SEVERITY = "warning"
MAX_EMAILS = 10
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")

MAX_ATTEMPTS = 5
FIRST_RETRY = dt.timedelta(minutes=1)  # doubled per attempt: 1, 2, 4, 8 minutes, then failed
MAX_RETRY = dt.timedelta(hours=1)
SEND_LEASE = dt.timedelta(minutes=5)  # a claimed attempt whose worker died is retried after this
SLACK_TIMEOUT = 10.0
SLACK_MAX_ANSWER_BYTES = 64 * 1024
WEBHOOK_PROBLEM = "slack_webhook_url must be an https:// URL to a public host"
BATCH = 100  # rows planned and sent per run; the rest wait for the next minute


class InvalidChannels(ValueError):
    """Settings the merchant must fix; `problems` are safe to show (they never echo the webhook URL)."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class AlertChannels:
    """Where a shop's alerts go, and from which severity on."""

    emails: tuple[str, ...] = ()
    slack_webhook_url: str | None = None
    min_severity: str = DEFAULT_MIN_SEVERITY

    def configured(self) -> tuple[str, ...]:
        """The channels with somewhere to send to."""
        return tuple(c for c, on in ((Channel.EMAIL.value, bool(self.emails)), (Channel.SLACK.value, bool(self.slack_webhook_url))) if on)

    def wants(self, severity: str) -> bool:
        """True when an alert of this severity is at or above the shop's threshold."""
        return severity_rank(severity) >= severity_rank(self.min_severity)

    def stored(self, box) -> dict:
        """The ShopSetting value: the webhook URL encrypted like every other credential (only its host in clear)."""
        url = self.slack_webhook_url
        webhook = {"slack_webhook_enc": box.encrypt(url).decode(), "slack_webhook_host": webhook_host(url)} if url else {}
        return {"emails": list(self.emails), "min_severity": self.min_severity, **webhook}

    def public(self) -> dict:
        """What the API shows: the webhook only as configured-or-not and its host."""
        url = self.slack_webhook_url
        return {"emails": list(self.emails), "min_severity": self.min_severity, "slack_webhook_configured": bool(url), "slack_webhook_host": webhook_host(url) if url else None}


def webhook_host(url: str) -> str:
    """The only part of a webhook URL that may be logged."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def webhook_url_ok(url: str) -> bool:
    """http(s) with a host, no credentials or whitespace (where it points is the egress policy's call: check_webhook_target)."""
    if len(url) > 2048 or any(ch.isspace() for ch in url):
        return False
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises on a malformed port
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    return parts.scheme in ("https", "http")


def parse_channels(data: object, current: AlertChannels | None = None) -> AlertChannels:
    """Validate settings from the merchant; fields left out keep their current value, a null webhook removes it."""
    if not isinstance(data, dict):
        raise InvalidChannels(["expected a JSON object with emails, slack_webhook_url and min_severity"])
    current = current or AlertChannels()
    problems: list[str] = []
    unknown = sorted(set(data) - {"emails", "slack_webhook_url", "min_severity"})
    if unknown:
        problems.append(f"unknown field(s): {', '.join(unknown)}")
    emails = _parse_emails(data["emails"], problems) if "emails" in data else current.emails
    url = _parse_webhook(data["slack_webhook_url"], problems) if "slack_webhook_url" in data else current.slack_webhook_url
    severity = data.get("min_severity", current.min_severity)
    if severity not in SEVERITIES:
        problems.append(f"min_severity must be one of {', '.join(SEVERITIES)}")
    if problems:
        raise InvalidChannels(problems)
    return AlertChannels(emails, url, severity)


def _parse_emails(value: object, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list):
        problems.append("emails must be a list of email addresses")
        return ()
    if len(value) > MAX_EMAILS:
        problems.append(f"at most {MAX_EMAILS} email addresses")
    emails: list[str] = []
    for i, item in enumerate(value):
        address = item.strip() if isinstance(item, str) else ""
        if len(address) > 254 or not EMAIL_RE.match(address):
            problems.append(f"emails[{i}]: {str(item)[:80]!r} is not an email address")
        elif address.lower() not in (e.lower() for e in emails):
            emails.append(address)
    return tuple(emails)


def _parse_webhook(value: object, problems: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not webhook_url_ok(value.strip()):
        # Never echo the value: it may be a real webhook URL pasted into the wrong place.
        problems.append(WEBHOOK_PROBLEM)
        return None
    return value.strip()


def check_webhook_target(data: object, policy: egress.EgressPolicy | None = None) -> list[str]:
    """Save-time problems with the webhook URL's target (scheme, public host); resolves the name, so call it outside transactions."""
    url = data.get("slack_webhook_url") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url.strip() or not webhook_url_ok(url.strip()):
        return []  # absent, removed, or malformed (parse_channels says so)
    try:
        (policy or egress.current()).check_url(url.strip(), what="slack_webhook_url")
    except egress.InvalidTargetUrl:
        # Never echo the URL (a secret) nor how its host resolved: one message for every refusal.
        return [WEBHOOK_PROBLEM]
    return []


def load_channels(session: Session, shop_domain: str, box) -> AlertChannels:
    """The shop's alert channels (none configured by default); `box` decrypts the webhook URL."""
    stored = session.scalar(select(ShopSetting.value).where(ShopSetting.shop_domain == shop_domain, ShopSetting.key == SETTINGS_KEY))
    return _from_stored(shop_domain, stored, box)


def _from_stored(shop_domain: str, stored: dict | None, box) -> AlertChannels:
    if not stored:
        return AlertChannels()
    try:
        clear = {k: v for k, v in stored.items() if k in ("emails", "min_severity")}
        if stored.get("slack_webhook_enc"):
            clear["slack_webhook_url"] = box.decrypt(stored["slack_webhook_enc"].encode())
        return parse_channels(clear)
    except InvalidChannels as exc:
        # Written around the API (by hand or an older version): send nothing rather than guess.
        log.warning("shop=%s alert_channels setting is invalid (%d problem(s)); no alert notifications", shop_domain, len(exc.problems))
        return AlertChannels()


def save_channels(session: Session, shop_domain: str, channels: AlertChannels, box) -> None:
    """Store the shop's alert channels (insert or update), the webhook URL encrypted with `box`."""
    row = session.scalar(select(ShopSetting).where(ShopSetting.shop_domain == shop_domain, ShopSetting.key == SETTINGS_KEY))
    if row is None:
        try:
            with session.begin_nested():
                session.add(ShopSetting(shop_domain=shop_domain, key=SETTINGS_KEY, value=channels.stored(box)))
            return
        except IntegrityError:  # a concurrent save created it: overwrite that one
            row = session.scalar(select(ShopSetting).where(ShopSetting.shop_domain == shop_domain, ShopSetting.key == SETTINGS_KEY))
    row.value = channels.stored(box)


def current_occurrence(session: Session, alert_id: int) -> int:
    """How many times the alert was reopened (0 until it is)."""
    return session.scalar(select(AlertReopenCount.reopens).where(AlertReopenCount.alert_id == alert_id)) or 0


def notifications_by_alert(session: Session, alert_ids: list[int]) -> dict[int, dict[str, dict]]:
    """For the API: each alert's notification per channel, for its current occurrence."""
    if not alert_ids:
        return {}
    rows = session.execute(
        select(AlertNotification)
        .outerjoin(AlertReopenCount, AlertReopenCount.alert_id == AlertNotification.alert_id)
        .where(AlertNotification.alert_id.in_(alert_ids), AlertNotification.occurrence == func.coalesce(AlertReopenCount.reopens, 0))
    ).scalars()
    found: dict[int, dict[str, dict]] = {}
    for row in rows:
        found.setdefault(row.alert_id, {})[row.channel] = notification_json(row)
    return found


def notification_json(row: AlertNotification) -> dict:
    """One notification as the API shows it."""
    iso = lambda t: t.isoformat() if t else None  # noqa: E731
    return {"status": row.status, "attempts": row.attempts, "sent_at": iso(row.sent_at),
            "next_attempt_at": iso(row.next_attempt_at) if row.status == NotificationStatus.PENDING.value else None, "last_error": row.last_error}


# -- planning ------------------------------------------------------------------------


def plan_notifications(session: Session, now: dt.datetime, box) -> int:
    """Insert the missing rows for open alerts of every shop with channels; returns how many this worker inserted."""
    planned = 0
    for shop_domain, channels in _shops_with_channels(session, box):
        have = _planned_for_open_alerts(session, shop_domain)
        for alert, occurrence in _open_alerts(session, shop_domain, channels):
            for channel in channels.configured():
                if (alert.id, channel, occurrence) in have:
                    continue
                if planned >= BATCH:
                    return planned
                planned += _insert_once(session, alert.id, channel, occurrence, now)
    return planned


def _shops_with_channels(session: Session, box) -> list[tuple[str, AlertChannels]]:
    uninstalled = select(Shop.domain).where(Shop.status == ShopStatus.UNINSTALLED.value)
    rows = session.execute(select(ShopSetting.shop_domain, ShopSetting.value).where(ShopSetting.key == SETTINGS_KEY, ShopSetting.shop_domain.not_in(uninstalled))).all()
    shops = [(shop, _from_stored(shop, value, box)) for shop, value in rows]
    return [(shop, channels) for shop, channels in shops if channels.configured()]


def _open_alerts(session: Session, shop_domain: str, channels: AlertChannels) -> list[tuple[Alert, int]]:
    rows = session.execute(
        select(Alert, func.coalesce(AlertReopenCount.reopens, 0))
        .outerjoin(AlertReopenCount, AlertReopenCount.alert_id == Alert.id)
        .where(Alert.shop_domain == shop_domain, Alert.resolved_at.is_(None))
        .order_by(Alert.id)
    ).all()
    return [(alert, occurrence) for alert, occurrence in rows if channels.wants(alert.severity)]


def _planned_for_open_alerts(session: Session, shop_domain: str) -> set[tuple[int, str, int]]:
    rows = session.execute(
        select(AlertNotification.alert_id, AlertNotification.channel, AlertNotification.occurrence)
        .join(Alert, Alert.id == AlertNotification.alert_id)
        .where(Alert.shop_domain == shop_domain, Alert.resolved_at.is_(None))
    ).all()
    return {tuple(row) for row in rows}


def _insert_once(session: Session, alert_id: int, channel: str, occurrence: int, now: dt.datetime) -> int:
    try:
        with session.begin_nested():
            session.add(AlertNotification(alert_id=alert_id, channel=channel, occurrence=occurrence, next_attempt_at=now))
        return 1
    except IntegrityError:  # another worker planned it first: it is theirs to send
        return 0


# -- sending -------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    """What one run did."""

    planned: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0
    waiting: int = 0  # email rows while no SMTP server is configured

    def add(self, outcome: str | None) -> None:
        """Count one row's outcome (None: another worker had it)."""
        if outcome is not None:
            setattr(self, outcome, getattr(self, outcome) + 1)


@dataclass(frozen=True)
class Claimed:
    """One attempt this worker owns, with everything needed to send it without the database."""

    notification_id: int
    attempt: int
    channel: str
    shop_domain: str
    alert_id: int
    subject: str
    email_body: str
    slack_text: str
    emails: tuple[str, ...]
    slack_webhook_url: str | None


class SendFailed(Exception):
    """A send that did not go through; `reason` is safe to store and log."""

    def __init__(self, reason: str, permanent: bool = False):
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


def deliver_alert_notifications(services, now: dt.datetime | None = None) -> DeliveryReport:
    """Plan notifications for open alerts, then send the due ones (the 'alert-notifications' job)."""
    now = now or utcnow()
    report = DeliveryReport()
    with services.session_factory.begin() as session:
        report.planned = plan_notifications(session, now, services.box)
    for notification_id in due_notification_ids(services.session_factory, now):
        report.add(send_notification(services, notification_id, now))
    return report


def due_notification_ids(session_factory: sessionmaker, now: dt.datetime) -> list[int]:
    """Pending rows whose next attempt is due, oldest first."""
    with session_factory() as session:
        return list(session.scalars(
            select(AlertNotification.id)
            .where(AlertNotification.status == NotificationStatus.PENDING.value, AlertNotification.next_attempt_at <= now)
            .order_by(AlertNotification.id).limit(BATCH)
        ))


def send_notification(services, notification_id: int, now: dt.datetime) -> str | None:
    """One attempt at one row: claim, send outside any transaction, record; returns the DeliveryReport field to count."""
    smtp = services.settings.smtp
    claimed = claim_attempt(services.session_factory, notification_id, now, services.app_home_in_admin_url, smtp_ready=smtp is not None, box=services.box)
    if not isinstance(claimed, Claimed):
        return claimed
    try:
        if claimed.channel == Channel.EMAIL.value:
            send_alert_email(smtp, claimed)
        else:
            post_to_slack(claimed.slack_webhook_url, claimed.slack_text)
    except SendFailed as exc:
        return record_failure(services.session_factory, claimed, exc, now)
    except Exception as exc:  # noqa: BLE001
        # Anything else is still this attempt's failure (counted, so it ends in 'failed'), and
        # the other rows go on. Only the class name: the message could hold the webhook URL.
        return record_failure(services.session_factory, claimed, SendFailed(f"unexpected {type(exc).__name__}"), now)
    return record_sent(services.session_factory, claimed, now)


def claim_attempt(session_factory: sessionmaker, notification_id: int, now: dt.datetime, admin_url, smtp_ready: bool = True, *, box) -> Claimed | str | None:
    """Take the next attempt of a due row (Claimed), or say why not ('skipped', 'waiting', None when another worker has it)."""
    with session_factory.begin() as session:
        row = session.get(AlertNotification, notification_id)
        if row is None or row.status != NotificationStatus.PENDING.value or row.next_attempt_at > now:
            return None
        alert = session.get(Alert, row.alert_id)
        channels = load_channels(session, alert.shop_domain, box)
        why_not = _skip_reason(session, row, alert, channels)
        if why_not:
            row.status, row.last_error = NotificationStatus.SKIPPED.value, why_not
            return "skipped"
        if row.channel == Channel.EMAIL.value and not smtp_ready:
            return "waiting"
        # The attempt counter is the claim: of two workers, one moves it, the other matches nothing.
        taken = session.execute(
            update(AlertNotification)
            .where(AlertNotification.id == row.id, AlertNotification.status == NotificationStatus.PENDING.value, AlertNotification.attempts == row.attempts)
            .values(attempts=row.attempts + 1, next_attempt_at=now + SEND_LEASE)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not taken:
            return None
        return _claimed(row, alert, channels, admin_url(alert.shop_domain))


def _skip_reason(session: Session, row: AlertNotification, alert: Alert, channels: AlertChannels) -> str | None:
    if alert.resolved_at is not None or current_occurrence(session, alert.id) != row.occurrence:
        return "alert resolved before it was sent"
    if row.channel not in channels.configured():
        return "channel no longer configured"
    if not channels.wants(alert.severity):
        return "below the shop's min_severity"
    return None


def _claimed(row: AlertNotification, alert: Alert, channels: AlertChannels, link: str) -> Claimed:
    return Claimed(
        notification_id=row.id, attempt=row.attempts + 1, channel=row.channel, shop_domain=alert.shop_domain, alert_id=alert.id,
        subject=alert_subject(alert), email_body=alert_email_body(alert, link), slack_text=alert_slack_text(alert, link),
        emails=channels.emails, slack_webhook_url=channels.slack_webhook_url,
    )


def record_sent(session_factory: sessionmaker, claimed: Claimed, now: dt.datetime) -> str:
    """Mark the claimed attempt sent."""
    _finish(session_factory, claimed, status=NotificationStatus.SENT.value, sent_at=now, last_error=None)
    log.info("alert %s of shop=%s sent by %s%s", claimed.alert_id, claimed.shop_domain, claimed.channel, _destination(claimed))
    return "sent"


def record_failure(session_factory: sessionmaker, claimed: Claimed, exc: SendFailed, now: dt.datetime) -> str:
    """Schedule the next attempt with backoff, or give up after MAX_ATTEMPTS or a permanent refusal."""
    give_up = exc.permanent or claimed.attempt >= MAX_ATTEMPTS
    if give_up:
        _finish(session_factory, claimed, status=NotificationStatus.FAILED.value, last_error=exc.reason)
    else:
        _finish(session_factory, claimed, next_attempt_at=now + backoff(claimed.attempt), last_error=exc.reason)
    log.warning("alert %s of shop=%s: %s%s attempt %d failed (%s)%s", claimed.alert_id, claimed.shop_domain, claimed.channel,
                _destination(claimed), claimed.attempt, exc.reason, ", giving up" if give_up else ", will retry")
    return "failed" if give_up else "retrying"


def backoff(attempt: int) -> dt.timedelta:
    """Wait before attempt `attempt + 1`: 1, 2, 4... minutes, at most an hour."""
    return min(FIRST_RETRY * 2 ** (attempt - 1), MAX_RETRY)


def _finish(session_factory: sessionmaker, claimed: Claimed, **values) -> None:
    with session_factory.begin() as session:
        # Only our own attempt: a row another worker re-claimed after our lease ran out is theirs.
        session.execute(
            update(AlertNotification)
            .where(AlertNotification.id == claimed.notification_id, AlertNotification.attempts == claimed.attempt, AlertNotification.status == NotificationStatus.PENDING.value)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def _destination(claimed: Claimed) -> str:
    if claimed.channel == Channel.SLACK.value:
        return f" to host {webhook_host(claimed.slack_webhook_url or '')}"
    return f" to {len(claimed.emails)} address(es)"


# -- messages and transports -----------------------------------------------------------


def alert_subject(alert: Alert) -> str:
    """'[Dropship Ops] <severity>: <kind> (<subject>)' on one line."""
    title = alert.kind.replace("_", " ") + (f" ({alert.subject})" if alert.subject else "")
    return " ".join(f"[Dropship Ops] {alert.severity}: {title}".split())[:200]


def _seen(alert: Alert) -> str:
    times = "once" if alert.count == 1 else f"{alert.count} times"
    return f"Seen {times}, first on {alert.first_seen:%Y-%m-%d %H:%M} UTC, last on {alert.last_seen:%Y-%m-%d %H:%M} UTC."


def alert_email_body(alert: Alert, link: str) -> str:
    """Plain-text email: the message, how often and since when, and where to act."""
    return f"{alert.message}\n\n{_seen(alert)}\nShop: {alert.shop_domain}\n\nOpen the app in your Shopify admin: {link}\n"


def alert_slack_text(alert: Alert, link: str) -> str:
    """Slack mrkdwn: bold subject, message, count, admin link."""
    return f"*{_slack_escape(alert_subject(alert))}*\n{_slack_escape(alert.message)}\n{_seen(alert)}\n<{link}|Open in Shopify admin>"


def _slack_escape(text: str) -> str:
    # Slack reads <...> as links and mentions; these three are all it asks to escape.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def send_alert_email(smtp: SmtpSettings, claimed: Claimed) -> None:
    """One email to all the shop's alert addresses; SendFailed names the error class only."""
    try:
        send_email(smtp, ", ".join(claimed.emails), claimed.subject, claimed.email_body)
    except smtplib.SMTPResponseException as exc:
        raise SendFailed(f"{type(exc).__name__} {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
    except smtplib.SMTPRecipientsRefused:
        raise SendFailed("SMTPRecipientsRefused", permanent=True) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SendFailed(type(exc).__name__) from None


def post_to_slack(url: str, text: str, timeout: float = SLACK_TIMEOUT, policy: egress.EgressPolicy | None = None) -> None:
    """POST {"text": ...} to an incoming webhook; 2xx is sent, 408/429/5xx and network errors are retried, a refused target and other answers are final."""
    # Straight to the transport: httpx.Client logs every request's full URL at INFO, and
    # this URL is a secret. No redirects are followed either, so it never goes elsewhere.
    request = httpx.Request("POST", url, json={"text": text}, extensions={"timeout": httpx.Timeout(timeout).as_dict()})
    try:
        with (policy or egress.current()).transport(total_seconds=timeout, max_bytes=SLACK_MAX_ANSWER_BYTES) as transport:
            response = transport.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
    except egress.EgressRefused:
        raise SendFailed("refused by egress policy", permanent=True) from None
    except httpx.HTTPError as exc:
        # "could not connect" / "timed out": the same words whichever way a port fails.
        raise SendFailed(egress.short_reason(exc)) from None
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise SendFailed(f"HTTP {response.status_code}")
    if not 200 <= response.status_code < 300:
        raise SendFailed(f"HTTP {response.status_code}", permanent=True)
