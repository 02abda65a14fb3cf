"""SMTP failures sorted into the adapter errors, against real local servers (plain, and STARTTLS with AUTH)."""
from __future__ import annotations

import logging
import ssl

import pytest

from email_testkit import CapturingSmtpServer, EmailPoController, free_port, make_email_adapter, smtp, smtp_server, tls_files  # noqa: F401 (fixtures)
from integrations.suppliers.base import OutcomeUnknown, PermanentSupplierError, TransientSupplierError
from integrations.suppliers.email_po.smtp_sender import enhanced_status, reply_error
from supplier_contract import order_request

PASSWORD = "hunter2-smtp-password"


def request(po_number: str = "PO-7"):
    return order_request(EmailPoController, po_number)


@pytest.fixture(scope="module")
def tls_server(tls_files):
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = CapturingSmtpServer(tls_context=context, logins={"shop": PASSWORD})
    server.start()
    yield server
    server.stop()


def transient_only(error: BaseException) -> bool:
    return isinstance(error, TransientSupplierError) and not isinstance(error, OutcomeUnknown)


def test_nobody_listening_is_transient(smtp):
    adapter = make_email_adapter(smtp, smtp_port=free_port())
    with pytest.raises(TransientSupplierError) as caught:
        adapter.place_order(request())
    assert transient_only(caught.value)


def test_451_is_transient_and_554_permanent_and_neither_is_kept(smtp):
    adapter = make_email_adapter(smtp)
    smtp.refuse_next(451)
    with pytest.raises(TransientSupplierError) as caught:
        adapter.place_order(request())
    assert transient_only(caught.value) and "451 4.3.0" in str(caught.value)
    smtp.refuse_next(554)
    with pytest.raises(PermanentSupplierError, match="554 5.6.0"):
        adapter.place_order(request())
    assert smtp.mail == [] and adapter.find_order("PO-7") is None


def test_a_refused_recipient_stops_the_whole_po(smtp):
    adapter = make_email_adapter(smtp)
    smtp.refuse_recipient("ops@shop.example", "450 4.2.1 Mailbox busy")
    with pytest.raises(TransientSupplierError) as caught:
        adapter.place_order(request())
    assert transient_only(caught.value) and "RCPT TO" in str(caught.value)
    smtp.refuse_recipient("ops@shop.example", "550 5.1.1 <ops@shop.example> User unknown")
    with pytest.raises(PermanentSupplierError):
        adapter.place_order(request())
    assert smtp.mail == []


def test_a_garbled_answer_after_the_message_is_outcome_unknown(smtp):
    adapter = make_email_adapter(smtp)
    smtp.garble_next()
    with pytest.raises(OutcomeUnknown):
        adapter.place_order(request())
    assert adapter.find_order("PO-7").raw["delivery"] == "unconfirmed"


def test_starttls_and_login_deliver(tls_server, tls_files, caplog):
    caplog.set_level(logging.DEBUG)
    tls_server.reset()
    adapter = make_email_adapter(tls_server, credentials={"smtp_username": "shop", "smtp_password": PASSWORD}, smtp_security="starttls", smtp_ca_file=str(tls_files[0]))
    adapter.place_order(request())
    assert [mail.po_number for mail in tls_server.mail] == ["PO-7"]
    assert PASSWORD not in caplog.text and PASSWORD not in repr(adapter.settings)


def test_a_wrong_password_is_permanent(tls_server, tls_files):
    tls_server.reset()
    adapter = make_email_adapter(tls_server, credentials={"smtp_username": "shop", "smtp_password": "wrong"}, smtp_security="starttls", smtp_ca_file=str(tls_files[0]))
    with pytest.raises(PermanentSupplierError) as caught:
        adapter.place_order(request())
    assert "535" in str(caught.value) and "wrong" not in str(caught.value)
    assert tls_server.mail == []


def test_an_untrusted_certificate_is_transient_before_anything_is_sent(tls_server):
    tls_server.reset()
    adapter = make_email_adapter(tls_server, smtp_security="starttls")  # the system CAs do not know our test cert
    with pytest.raises(TransientSupplierError) as caught:
        adapter.place_order(request())
    assert transient_only(caught.value) and tls_server.mail == []


def test_asking_a_plain_server_for_starttls_is_permanent(smtp):
    with pytest.raises(PermanentSupplierError, match="STARTTLS"):
        make_email_adapter(smtp, smtp_security="starttls").place_order(request())


def test_implicit_tls_against_a_plain_server_is_transient(smtp):
    with pytest.raises(TransientSupplierError) as caught:
        make_email_adapter(smtp, smtp_security="ssl").place_order(request())
    assert transient_only(caught.value)


def test_reply_codes_sort_by_their_first_digit():
    assert type(reply_error("RCPT TO", 421, b"4.7.0 busy")) is TransientSupplierError
    assert type(reply_error("RCPT TO", 552, b"5.3.4 too big")) is PermanentSupplierError
    assert type(reply_error("MAIL FROM", -1, b"garbage")) is TransientSupplierError
    assert enhanced_status(b"5.1.1 <a@b.example> no") == "5.1.1" and enhanced_status("User unknown") is None
