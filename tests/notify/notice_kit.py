"""Shared by the customer-notice tests: a real SMTP server, and one pass of the notices job as the scheduler runs it."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import re

import pytest

from channels_kit import Inbox, start_smtp
from shopify_app.notify.customer_notices import send_pending_notices, send_sender_verifications
from shopify_app.notify.email import SmtpSettings
from shopify_app.notify.lifecycle_notices import queue_due_notices

APP_SENDER = "notices@app.example.com"


@pytest.fixture
def smtp():
    """(inbox, settings) of an SMTP server on a loopback port (15 s timeout: the machine is loaded)."""
    inbox = Inbox()
    controller, port = start_smtp(inbox)
    yield inbox, SmtpSettings("127.0.0.1", port, sender=APP_SENDER, timeout=15)
    controller.stop()


class NoticeRun:
    """Runs the notices job (at an injected time) and the senders, and reads what the SMTP server received since the last run."""

    def __init__(self, services, smtp):
        self.services, (self.inbox, self.smtp) = services, smtp
        self.read = 0

    def run(self, now: dt.datetime | None = None) -> list[email.message.EmailMessage]:
        with self.services.session_factory.begin() as session:
            queue_due_notices(session, now)
        send_sender_verifications(self.services.session_factory, self.smtp, self.services.settings)
        send_pending_notices(self.services.session_factory, self.smtp, self.services.settings)
        # Bodies may be 8bit UTF-8: parse bytes, as a mail client does.
        new = [email.message_from_bytes(raw.encode(), policy=email.policy.default) for _, raw in self.inbox.messages[self.read:]]
        self.read = len(self.inbox.messages)
        return new


def links(text: str) -> list[str]:
    """Every http(s) link in an email body."""
    return re.findall(r"https?://\S+", text)
