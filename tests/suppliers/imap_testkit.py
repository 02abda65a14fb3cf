"""Fixtures for the email-reply tests: a real IMAP server (dovecot, tests/imap_server.py) and supplier replies as mail clients write them.

No conftest.py here on purpose (see email_testkit.py); test modules import these by name.
"""
from __future__ import annotations

import email.policy
import email.utils
import io
import uuid
from email.message import EmailMessage
from typing import Any, Iterator, Sequence

import pytest

from imap_server import ImapServer, ImapUnavailable, start_imap_server

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@pytest.fixture(scope="session")
def imap_server() -> Iterator[ImapServer]:
    """One dovecot for the session; tests keep apart by using their own user (mailbox)."""
    try:
        server = start_imap_server()
    except ImapUnavailable as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def mailbox_user() -> str:
    """A fresh mailbox (user name) on the test IMAP server."""
    return f"supplier-{uuid.uuid4().hex[:10]}"


def reply_email(*, subject: str = "Re: your order", body: str = "", in_reply_to: str | None = None, references: str | None = None,
                attachments: Sequence[tuple[str, bytes, tuple[str, str]]] = (), html: str | None = None, message_id: str | None = None) -> bytes:
    """A supplier's reply as a mail client writes it (threaded under our message when `in_reply_to` is given)."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = "Warehouse <dispatch@supplier.example>"
    message["To"] = "orders@shop.example"
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate()
    message["Message-ID"] = message_id or email.utils.make_msgid(domain="supplier.example")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references or in_reply_to:
        message["References"] = references or in_reply_to
    message.set_content(body or "Hello,\n")
    if html is not None:
        message.add_alternative(html, subtype="html")
    for name, data, (maintype, subtype) in attachments:
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


def xlsx_bytes(rows: Sequence[Sequence[Any]]) -> bytes:
    """A workbook whose first sheet holds these rows (the header first), as a spreadsheet program saves it."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
