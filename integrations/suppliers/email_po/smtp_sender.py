"""Sending one email over SMTP, with every failure sorted into the adapter error classes.

  - connection refused, DNS failure, connect timeout, TLS failure before the message: the
    message never left, so TransientSupplierError;
  - a 4xx reply (421 service unavailable, 450/451/452 try later) at any step:
    TransientSupplierError; a 5xx reply (550 mailbox, 554 rejected, 535 bad login):
    PermanentSupplierError, as retrying the same message cannot help;
  - after the whole message went through DATA, a timeout, a dropped connection or a reply
    that is not SMTP: the server may well have queued it (RFC 5321 4.1.1.4 and RFC 1047),
    so OutcomeUnknown.
Errors and logs carry the reply code and enhanced status (e.g. 5.1.1), never the server's
text, which often quotes addresses, and never credentials.
"""
from __future__ import annotations

import email.utils
import logging
import re
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from ..base import OutcomeUnknown, PermanentSupplierError, TransientSupplierError
from .config import EmailPoSettings

log = logging.getLogger(__name__)

_ENHANCED_STATUS = re.compile(rb"^\s*([245]\.\d{1,3}\.\d{1,3})")


class _TracksTheMessage:
    """Remembers when the message body (ending CRLF . CRLF) has been handed to the socket."""

    message_transmitted = False

    def send(self, s: Any) -> None:
        super().send(s)  # type: ignore[misc]
        if isinstance(s, (bytes, bytearray)) and s.endswith(b"\r\n.\r\n"):
            self.message_transmitted = True


class _SMTP(_TracksTheMessage, smtplib.SMTP):
    pass


class _SMTPOverSSL(_TracksTheMessage, smtplib.SMTP_SSL):
    pass


@dataclass(frozen=True)
class SmtpReceipt:
    """The server's acceptance of a message."""

    code: int
    enhanced_status: str | None


def reply_error(step: str, code: int, reply: bytes | str | None) -> Exception:
    """The adapter error for an SMTP reply code at a step (4xx transient, 5xx permanent)."""
    status = enhanced_status(reply)
    described = f"SMTP server answered {code}{' ' + status if status else ''} to {step}"
    if 400 <= code < 500:
        return TransientSupplierError(described)
    if 500 <= code < 600:
        return PermanentSupplierError(described)
    return TransientSupplierError(f"SMTP server gave an unreadable answer to {step}")


def enhanced_status(reply: bytes | str | None) -> str | None:
    """The enhanced status code (RFC 3463) at the start of a reply, if any."""
    if reply is None:
        return None
    raw = reply.encode() if isinstance(reply, str) else reply
    match = _ENHANCED_STATUS.match(raw)
    return match.group(1).decode() if match else None


def _tls_context(settings: EmailPoSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.smtp_ca_file) if settings.smtp_ca_file else ssl.create_default_context()


def _connect(settings: EmailPoSettings) -> smtplib.SMTP:
    if not settings.smtp_host:
        # Not the tenant's to fix, and it will work once the operator sets SMTP_HOST: retry later.
        raise TransientSupplierError("no SMTP server is configured for the app (SMTP_HOST); the purchase order waits")
    timeout = settings.smtp_timeout_seconds
    try:
        if settings.smtp_security == "ssl":
            return _SMTPOverSSL(settings.smtp_host, settings.smtp_port, timeout=timeout, context=_tls_context(settings))
        return _SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    except smtplib.SMTPConnectError as exc:  # the greeting was a 4xx/5xx (421 busy, 554 go away)
        raise reply_error("the connection", exc.smtp_code, exc.smtp_error) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise TransientSupplierError(f"SMTP server unreachable ({type(exc).__name__})") from None


def send_message(settings: EmailPoSettings, message: EmailMessage) -> SmtpReceipt:
    """Deliver `message` to the configured SMTP server; a receipt once it answered 250 to the data."""
    started = time.monotonic()
    smtp = _connect(settings)
    try:
        receipt = _transaction(smtp, settings, message)
    except smtplib.SMTPResponseException as exc:  # login refused, STARTTLS refused, ...
        smtp.close()
        raise reply_error("the session", exc.smtp_code, exc.smtp_error) from None
    except smtplib.SMTPNotSupportedError:
        smtp.close()
        raise PermanentSupplierError("SMTP server does not offer what the settings ask for (STARTTLS or AUTH)") from None
    except (OSError, smtplib.SMTPException) as exc:  # timeouts, dropped connections, TLS errors
        transmitted = getattr(smtp, "message_transmitted", False)
        smtp.close()
        log.warning("email po: SMTP %s after %s", type(exc).__name__, "the message" if transmitted else "connecting")
        if transmitted:
            raise OutcomeUnknown(f"no answer from the SMTP server after the message was sent ({type(exc).__name__}); it may have been accepted") from None
        raise TransientSupplierError(f"SMTP session failed before the message was sent ({type(exc).__name__})") from None
    except BaseException:
        smtp.close()
        raise
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()  # the message is accepted; a lost goodbye changes nothing
    log.info("email po: SMTP accepted a message in %.0f ms", (time.monotonic() - started) * 1000)
    return receipt


def _transaction(smtp: smtplib.SMTP, settings: EmailPoSettings, message: EmailMessage) -> SmtpReceipt:
    smtp.ehlo_or_helo_if_needed()
    if settings.smtp_security == "starttls":
        smtp.starttls(context=_tls_context(settings))
        smtp.ehlo()
    if settings.smtp_username and settings.smtp_password:
        smtp.login(settings.smtp_username, settings.smtp_password)
    code, reply = smtp.mail(_bare(settings.from_address))
    if code != 250:
        raise reply_error("MAIL FROM", code, reply)
    for recipient in settings.recipients:
        code, reply = smtp.rcpt(_bare(recipient))
        if code not in (250, 251):
            # Every recipient must get the PO: one refusal stops the whole message.
            raise reply_error("RCPT TO", code, reply)
    code, reply = smtp.data(message.as_bytes())  # raises SMTPDataError unless DATA got 354
    if code == 250:
        return SmtpReceipt(code, enhanced_status(reply))
    if 400 <= code < 600:
        raise reply_error("the message", code, reply)
    raise OutcomeUnknown("the SMTP server's answer to the message was unreadable; it may have been accepted")


def _bare(address: str) -> str:
    return email.utils.parseaddr(address)[1]
