"""Reading email suppliers' replies from a real IMAP server (dovecot, started by the tests): polling by UID, never twice, mark or move, failures, egress.

Also the mailbox settings and tracking-upload API: checked by logging in, password write-only,
egress policy on the merchant's host, size and type checks, per-row reports.
"""
from __future__ import annotations

import imaplib
import time
import uuid

import jwt
import pytest
from sqlalchemy import select

from conftest import API_KEY, API_SECRET, install_shop
from email_testkit import tls_files  # noqa: F401 - fixture
from imap_testkit import imap_server, mailbox_user, reply_email, xlsx_bytes  # noqa: F401 - fixtures
from integrations import egress
from integrations.suppliers.email_po.imap_mailbox import InvalidMailboxSettings, check_target
from integrations.suppliers.email_po.messages import message_id
from integrations.suppliers.email_po.sent_log import SentLine, SentPurchaseOrder
from shopify_app.alerts import open_alerts
from shopify_app.models import utcnow
from shopify_app.suppliers.email_inbox import parse_mailbox_settings, poll_mailbox, save_mailbox
from shopify_app.suppliers.email_inbox_models import EmailMailbox, EmailProcessedMessage, TrackingImportRun
from shopify_app.suppliers.models import Supplier
from shopify_app.suppliers.tracking_imports import sent_log_of

SHOP = "mail.myshopify.com"
OTHER_SHOP = "other.myshopify.com"
PO = "do-0123456789abcdef0123456789abcdef"
UPS = "1Z999AA10123456784"


def bearer(shop: str = SHOP) -> dict:
    now = int(time.time())
    token = jwt.encode({"iss": f"https://{shop}/admin", "dest": f"https://{shop}", "aud": API_KEY, "sub": "1", "exp": now + 60, "nbf": now - 1,
                        "iat": now, "jti": str(uuid.uuid4()), "sid": uuid.uuid4().hex}, API_SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def shop_app(app_factory, database_url):
    """An installed shop with an email supplier (and a REST one) and one PO in the email supplier's sent log."""
    app = app_factory(database_url)
    install_shop(app, SHOP, OTHER_SHOP)
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        email_supplier = Supplier(shop_domain=SHOP, name="Mail", kind="email", settings={"to_addresses": ["po@supplier.example"]})
        rest_supplier = Supplier(shop_domain=SHOP, name="Api", kind="rest", settings={})
        foreign = Supplier(shop_domain=OTHER_SHOP, name="Theirs", kind="email", settings={"to_addresses": ["po@supplier.example"]})
        session.add_all([email_supplier, rest_supplier, foreign])
        session.flush()
        ids = email_supplier.id, rest_supplier.id, foreign.id
    sent_log_of(services.session_factory, SHOP, ids[0]).add(
        SentPurchaseOrder(PO, (SentLine("11", "W-TEE", 2), SentLine("12", "W-MUG", 1)), "2026-12-01T10:00:00+00:00", message_id(PO, "purchase-order", "orders@shop.example")))
    return app, ids


def add_mailbox(app, supplier_id, imap, user, **fields):
    services = app.extensions["services"]
    body = {"host": "127.0.0.1", "port": imap.port, "security": "none", "username": user, "password": imap.password, **fields}
    with services.session_factory.begin() as session:
        return save_mailbox(session, services.box, SHOP, supplier_id, parse_mailbox_settings(body, password_required=True)).id


def due(app):
    with app.extensions["services"].session_factory.begin() as session:
        for mailbox in session.scalars(select(EmailMailbox)):
            mailbox.next_poll_at = utcnow()


def imports(app):
    with app.extensions["services"].session_factory() as session:
        return [(run.source, run.applied, run.duplicate, run.unknown_po, run.unreadable) for run in session.scalars(select(TrackingImportRun).order_by(TrackingImportRun.id))]


def test_new_replies_are_read_by_uid_marked_seen_and_never_applied_twice(shop_app, imap_server, mailbox_user):
    app, (supplier_id, _, _) = shop_app
    services = app.extensions["services"]
    mailbox_id = add_mailbox(app, supplier_id, imap_server, mailbox_user)
    po_id = message_id(PO, "purchase-order", "orders@shop.example")
    first = imap_server.deliver(mailbox_user, reply_email(in_reply_to=po_id, body=f"Shipped with UPS {UPS}."))
    second = imap_server.deliver(mailbox_user, reply_email(subject="Thanks!", body="We got your order and will ship soon."))

    result = poll_mailbox(services, mailbox_id)
    assert (result.messages, result.error, result.recorded) == (2, None, {PO: 1})
    assert imports(app) == [("email", 1, 0, 0, 0), ("email", 0, 0, 0, 0)]
    assert {uid: "\\Seen" in flags for uid, flags in imap_server.flags(mailbox_user).items()} == {first: True, second: True}
    assert sent_log_of(services.session_factory, SHOP, supplier_id).get(PO).shipments[0].tracking_number == UPS
    with services.session_factory() as session:
        # A reply with nothing to apply is reported and told to the merchant.
        assert [alert.kind for alert in open_alerts(session, SHOP)] == ["email_reply_unmatched"]

    # Marked unread again by a person, polled again: nothing is taken twice (the UID is past the last one read).
    client = imap_server.login(mailbox_user)
    client.select("INBOX")
    client.uid("STORE", f"{first}", "-FLAGS", "(\\Seen)")
    client.logout()
    assert poll_mailbox(services, mailbox_id).messages == 0
    third = imap_server.deliver(mailbox_user, reply_email(in_reply_to=po_id, body="Second box: UPS 1Z999AA10123456784"))
    again = poll_mailbox(services, mailbox_id)
    assert again.messages == 1
    assert imports(app)[-1] == ("email", 0, 1, 0, 0)  # the same parcel: a duplicate
    with services.session_factory() as session:
        assert sorted(session.scalars(select(EmailProcessedMessage.uid))) == [first, second, third]


def test_a_renumbered_folder_is_read_again_but_known_messages_are_skipped(shop_app, imap_server, mailbox_user):
    app, (supplier_id, _, _) = shop_app
    services = app.extensions["services"]
    reply = reply_email(subject=f"Tracking for {PO}", body=f"UPS {UPS}", message_id="<same-reply@supplier.example>")
    imap_server.deliver(mailbox_user, reply, folder="Suppliers")
    mailbox_id = add_mailbox(app, supplier_id, imap_server, mailbox_user, folder="Suppliers")
    assert poll_mailbox(services, mailbox_id).messages == 1
    with services.session_factory() as session:
        validity = session.get(EmailMailbox, mailbox_id).uidvalidity

    # The folder is deleted and made again (new UIDVALIDITY); the same reply and a new one arrive.
    client = imap_server.login(mailbox_user)
    client.delete("Suppliers")
    client.logout()
    imap_server.deliver(mailbox_user, reply, folder="Suppliers")
    imap_server.deliver(mailbox_user, reply_email(subject=f"Re: PO {PO}", body="Another box went with DHL JJD000390007839912345"), folder="Suppliers")
    result = poll_mailbox(services, mailbox_id)
    assert (result.messages, result.skipped) == (1, 1)
    with services.session_factory() as session:
        assert session.get(EmailMailbox, mailbox_id).uidvalidity != validity
    record = sent_log_of(services.session_factory, SHOP, supplier_id).get(PO)
    assert [s.tracking_number for s in record.shipments] == [UPS]  # the second number had nothing left to ship
    assert imports(app)[-1] == ("email", 0, 0, 0, 1)


def test_a_processed_folder_receives_the_replies(shop_app, imap_server, mailbox_user):
    app, (supplier_id, _, _) = shop_app
    mailbox_id = add_mailbox(app, supplier_id, imap_server, mailbox_user, processed_folder="Done/Tracking")
    imap_server.deliver(mailbox_user, reply_email(body=f"PO {PO} shipped: UPS {UPS}"))
    result = poll_mailbox(app.extensions["services"], mailbox_id)
    assert (result.messages, result.error) == (1, None)
    assert imap_server.flags(mailbox_user) == {}
    assert ["\\Seen" in flags for flags in imap_server.flags(mailbox_user, "Done.Tracking").values()] == [True]  # dovecot's Maildir++ delimiter is "."


def test_a_mailbox_that_cannot_be_read_backs_off_and_alerts_after_three_failures(shop_app, imap_server, mailbox_user):
    app, (supplier_id, _, _) = shop_app
    services = app.extensions["services"]
    mailbox_id = add_mailbox(app, supplier_id, imap_server, mailbox_user)
    with services.session_factory.begin() as session:
        session.get(EmailMailbox, mailbox_id).password_enc = services.box.encrypt("wrong-password")
    for _ in range(3):
        result = poll_mailbox(services, mailbox_id)
    assert result.error == "login failed (check the user name and password)"
    with services.session_factory() as session:
        mailbox = session.get(EmailMailbox, mailbox_id)
        assert mailbox.failures == 3 and mailbox.next_poll_at > utcnow()
        assert [alert.kind for alert in open_alerts(session, SHOP)] == ["email_mailbox_failing"]
        assert "wrong-password" not in str(open_alerts(session, SHOP)[0].message)
    with services.session_factory.begin() as session:
        session.get(EmailMailbox, mailbox_id).password_enc = services.box.encrypt(imap_server.password)
    assert poll_mailbox(services, mailbox_id).error is None
    with services.session_factory() as session:
        assert open_alerts(session, SHOP) == [] and session.get(EmailMailbox, mailbox_id).failures == 0


def test_the_egress_policy_keeps_merchant_mailboxes_off_internal_addresses(shop_app, imap_server, mailbox_user, monkeypatch):
    app, (supplier_id, _, _) = shop_app
    services = app.extensions["services"]
    mailbox_id = add_mailbox(app, supplier_id, imap_server, mailbox_user)
    imap_server.deliver(mailbox_user, reply_email(body=f"PO {PO}: UPS {UPS}"))
    connections = []
    real = imaplib.IMAP4.__init__
    monkeypatch.setattr(imaplib.IMAP4, "__init__", lambda self, *a, **k: (connections.append(a), real(self, *a, **k))[1])
    strict = egress.EgressPolicy()
    assert poll_mailbox(services, mailbox_id, policy=strict).error == "refused by egress policy: 127.0.0.1 is a loopback address"
    assert connections == []
    for host in ("127.0.0.1", "10.0.0.5", "169.254.169.254", "::1", "localhost"):
        with pytest.raises(InvalidMailboxSettings, match="refused"):
            check_target(host, 993, "ssl", strict)
    # A public host: TLS required unless the operator allowed the host (as plain http is).
    with pytest.raises(InvalidMailboxSettings, match="ssl or starttls"):
        check_target("93.184.216.34", 143, "none", strict)
    check_target("93.184.216.34", 993, "ssl", strict)

    previous = egress.configure(strict)
    try:
        answer = app.test_client().put(f"/api/suppliers/{supplier_id}/mailbox", headers=bearer(), json={
            "host": "127.0.0.1", "port": imap_server.port, "security": "ssl", "username": mailbox_user, "password": "x"})
    finally:
        egress.configure(previous)
    assert answer.status_code == 400
    assert "refused" in answer.get_json()["fields"][0]["message"]


def test_the_mailbox_api_checks_by_logging_in_and_never_shows_the_password(shop_app, imap_server, mailbox_user):
    app, (supplier_id, rest_id, foreign_id) = shop_app
    client = app.test_client()
    url = f"/api/suppliers/{supplier_id}/mailbox"
    body = {"host": "127.0.0.1", "port": imap_server.port, "security": "none", "username": mailbox_user, "password": imap_server.password}
    assert client.get(url, headers=bearer()).get_json() == {"mailbox": None}
    wrong = client.put(url, headers=bearer(), json={**body, "password": "nope"})
    assert (wrong.status_code, wrong.get_json()["error"]) == (422, "could not read the mailbox: login failed (check the user name and password)")
    assert client.get(url, headers=bearer()).get_json() == {"mailbox": None}
    saved = client.put(url, headers=bearer(), json=body)
    assert saved.status_code == 200
    assert imap_server.password not in saved.get_data(as_text=True)
    assert saved.get_json()["mailbox"]["password_set"] is True
    # Same host and user: the stored password is kept; another host needs the password again.
    assert client.put(url, headers=bearer(), json={**{k: v for k, v in body.items() if k != "password"}, "poll_minutes": 15}).get_json()["mailbox"]["poll_minutes"] == 15
    moved = client.put(url, headers=bearer(), json={"host": "localhost", "port": imap_server.port, "security": "none", "username": mailbox_user})
    assert moved.status_code == 400 and moved.get_json()["fields"][0]["field"] == "password"
    with app.extensions["services"].session_factory() as session:
        stored = session.scalar(select(EmailMailbox.password_enc))
        assert imap_server.password.encode() not in stored
    # Bad shapes, other shops, other kinds.
    assert client.put(url, headers=bearer(), json={**body, "security": "plaintext"}).status_code == 400
    assert client.put(url, headers=bearer(), json={**body, "folder": "INBOX\r\nA1 DELETE INBOX"}).status_code == 400
    assert client.put(f"/api/suppliers/{foreign_id}/mailbox", headers=bearer(), json=body).status_code == 404
    assert client.get(f"/api/suppliers/{foreign_id}/mailbox", headers=bearer()).status_code == 404
    assert client.put(f"/api/suppliers/{rest_id}/mailbox", headers=bearer(), json=body).status_code == 409
    assert client.delete(url, headers=bearer()).get_json() == {"deleted": 1}


def test_tracking_uploads_are_checked_and_reported_row_by_row(shop_app):
    app, (supplier_id, rest_id, foreign_id) = shop_app
    client = app.test_client()
    url = f"/api/suppliers/{supplier_id}/tracking-imports"
    csv_file = ("PO Number;Line Ref;Qty;Carrier;Tracking #\n"
                f"{PO};11;2;UPS;{UPS}\n"
                f"{PO};12;5;UPS;1Z999AA10123456785\n"
                "PO-UNKNOWN;1;1;UPS;X1\n").encode()
    answer = client.post(f"{url}?filename=today.csv", data=csv_file, headers={**bearer(), "Content-Type": "text/csv"})
    assert answer.status_code == 201
    report = answer.get_json()["tracking_import"]
    assert report["counts"] == {"applied": 1, "duplicate": 0, "unknown_po": 1, "unreadable": 1}
    assert [(row["row"], row["outcome"]) for row in report["rows"]] == [(2, "applied"), (3, "unreadable"), (4, "unknown_po")]
    assert "more than the 1 still to ship" in report["rows"][1]["message"]
    again = client.post(url, data=csv_file, headers={**bearer(), "Content-Type": "text/csv"}).get_json()["tracking_import"]
    assert again["counts"]["duplicate"] == 1 and again["counts"]["applied"] == 0
    # A form upload of a workbook.
    workbook = xlsx_bytes([["po_number", "sku", "quantity", "tracking_number"], [PO, "W-MUG", 1, "JJD000390007839912345"]])
    form = client.post(url, data={"file": (__import__("io").BytesIO(workbook), "mugs.xlsx")}, headers=bearer(), content_type="multipart/form-data")
    assert form.status_code == 201 and form.get_json()["tracking_import"]["counts"]["applied"] == 1
    assert form.get_json()["tracking_import"]["reference"] == "mugs.xlsx"
    # Refused: too large, not CSV/XLSX, JSON, empty; other shops' and other kinds' suppliers.
    assert client.post(url, data=b"a" * (5 * 1024 * 1024 + 1), headers={**bearer(), "Content-Type": "text/csv"}).status_code == 413
    assert client.post(url, data=b"%PDF-1.7\x00\x01\x02", headers={**bearer(), "Content-Type": "application/octet-stream"}).status_code == 415
    assert client.post(url, json={"rows": []}, headers=bearer()).status_code == 400
    assert client.post(url, json={}, headers=bearer()).status_code == 415
    assert client.post(url, data=b"", headers={**bearer(), "Content-Type": "text/csv"}).status_code == 400
    assert client.post(f"/api/suppliers/{foreign_id}/tracking-imports", data=csv_file, headers={**bearer(), "Content-Type": "text/csv"}).status_code == 404
    assert client.post(f"/api/suppliers/{rest_id}/tracking-imports", data=csv_file, headers={**bearer(), "Content-Type": "text/csv"}).status_code == 409
    listed = client.get(url, headers=bearer()).get_json()["tracking_imports"]
    assert [run["source"] for run in listed] == ["upload"] * 3 and "rows" not in listed[0]
    assert client.get(f"/api/tracking-imports/{listed[0]['id']}", headers=bearer(OTHER_SHOP)).status_code == 404


def test_rotating_keys_reencrypts_mailbox_passwords(shop_app, imap_server, mailbox_user):
    from cryptography.fernet import Fernet

    from shopify_app.crypto import SecretBox, rotate_all_tokens

    app, (supplier_id, _, _) = shop_app
    services = app.extensions["services"]
    add_mailbox(app, supplier_id, imap_server, mailbox_user)
    new_key = Fernet.generate_key().decode()
    rotated = SecretBox([new_key, *services.settings.encryption_keys])
    with services.session_factory.begin() as session:
        assert rotate_all_tokens(session, rotated) >= 1
    with services.session_factory() as session:
        stored = session.scalar(select(EmailMailbox.password_enc))
    assert SecretBox([new_key]).decrypt(stored) == imap_server.password  # readable with the new key alone


@pytest.fixture(scope="module")
def imap_tls_server(tls_files):
    """A dovecot speaking TLS (implicit and STARTTLS) with a certificate for 127.0.0.1 only."""
    from imap_server import ImapUnavailable, start_imap_server

    try:
        server = start_imap_server(tls_files=(str(tls_files[0]), str(tls_files[1])))
    except ImapUnavailable as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_mailboxes_verify_the_certificate_against_the_name_given(imap_tls_server, tls_files, security):
    import ssl

    from integrations.suppliers.email_po.imap_mailbox import Mailbox, MailboxConfig, MailboxError

    trusted = ssl.create_default_context(cafile=str(tls_files[0]))
    port = imap_tls_server.imaps_port if security == "ssl" else imap_tls_server.port
    user = f"tls-{uuid.uuid4().hex[:8]}"
    imap_tls_server.deliver(user, reply_email(body="hello"))

    def config(host):
        return MailboxConfig(host, port, security, user, imap_tls_server.password)

    with Mailbox(config("127.0.0.1"), ssl_context=trusted) as box:  # the name on the certificate
        assert len(box.new_messages(None, None)) == 1
    # "localhost" is checked and connected to the same 127.0.0.1, but the certificate does not name it: refused.
    with pytest.raises(MailboxError, match="TLS failed"):
        with Mailbox(config("localhost"), ssl_context=trusted):
            pass
    # A certificate nobody vouched for: refused with the default trust store.
    with pytest.raises(MailboxError, match="TLS failed"):
        with Mailbox(config("127.0.0.1")):
            pass


def test_mailbox_changes_are_audited_by_field_name_never_by_value(shop_app, imap_server, mailbox_user):
    from shopify_app.suppliers.audit import SupplierAuditEntry

    app, (supplier_id, _, _) = shop_app
    client = app.test_client()
    url = f"/api/suppliers/{supplier_id}/mailbox"
    body = {"host": "127.0.0.1", "port": imap_server.port, "security": "none", "username": mailbox_user, "password": imap_server.password}
    assert client.put(url, headers=bearer(), json=body).status_code == 200
    assert client.put(url, headers=bearer(), json={**{k: v for k, v in body.items() if k != "password"}, "poll_minutes": 15}).status_code == 200
    assert client.delete(url, headers=bearer()).get_json() == {"deleted": 1}
    with app.extensions["services"].session_factory() as session:
        entries = session.scalars(select(SupplierAuditEntry).where(SupplierAuditEntry.supplier_id == supplier_id).order_by(SupplierAuditEntry.id)).all()
        trail = [(entry.actor, entry.action, entry.fields, entry.detail) for entry in entries]
    assert [action for _, action, _, _ in trail] == ["mailbox_updated", "mailbox_updated", "mailbox_deleted"]
    assert {"mailbox.host", "mailbox.username", "mailbox.password"} <= set(trail[0][2])
    assert trail[1][2] == ["mailbox.poll_minutes"]  # the stored password was kept, not changed
    assert "mailbox.password" in trail[2][2] and all(actor == "user:1" for actor, _, _, _ in trail)
    assert imap_server.password not in repr(trail) and mailbox_user not in repr(trail)
