"""Fixtures for the email purchase-order tests: a real SMTP server on 127.0.0.1 that captures mail and misbehaves on demand.

`CapturingSmtpServer` is aiosmtpd's Controller with a handler that keeps every message it
accepts and takes queued faults at the end of DATA (where a real server decides):
  - refuse_next(code): answer e.g. 451 or 554 and keep nothing (not processed);
  - stall_next(hold): keep the message, then answer only after `hold` seconds;
  - garble_next(): keep the message, then answer a line that is not SMTP.
No conftest.py here on purpose (see printful_testkit.py); test modules import these fixtures by name.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import tempfile
import threading
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest
from aiosmtpd.smtp import AuthResult

from integrations.suppliers.email_po import EmailPoAdapter, InMemorySentLog, InMemoryStockFeed, parse_settings
from integrations.suppliers.email_po.config import OPERATOR_KEYS
from integrations.suppliers.email_po.messages import KIND_HEADER, PO_HEADER
from integrations.suppliers.runtime import OperatorSmtp
from channels_kit import LoopbackController, free_port  # noqa: F401 (free_port: for tests wanting a port nobody listens on)
from supplier_contract import WebhookMessage

SMTP_TIMEOUT = 0.75  # the adapter's, in these tests
HOLD_SECONDS = SMTP_TIMEOUT + 0.5  # a stalled answer arrives this late
SUPPLIER_SKUS = ("WIDGET-RED", "WIDGET-BLUE", "GADGET-XL")
SEED_STOCK = "sku,available\r\nWIDGET-RED,25\r\nWIDGET-BLUE,10\r\nGADGET-XL,0\r\n"


@dataclass(frozen=True)
class CapturedMail:
    """One message the server accepted: envelope and parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def po_number(self) -> str | None:
        """The PO the message is about."""
        return self.message[PO_HEADER]

    @property
    def kind(self) -> str | None:
        """purchase-order | cancellation."""
        return self.message[KIND_HEADER]

    def attachment(self) -> tuple[str, str]:
        """(file name, text) of the one CSV attachment."""
        [part] = [part for part in self.message.iter_attachments() if part.get_content_type() == "text/csv"]
        return part.get_filename(), part.get_content() if isinstance(part.get_content(), str) else part.get_content().decode()

    def pdf_attachment(self) -> tuple[str, bytes] | None:
        """(file name, bytes) of the PDF copy, if the message has one."""
        parts = [part for part in self.message.iter_attachments() if part.get_content_type() == "application/pdf"]
        return (parts[0].get_filename(), parts[0].get_content()) if parts else None


class _CapturingHandler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mail: list[CapturedMail] = []
        self.faults: list[tuple[str, Any]] = []
        self.recipient_replies: dict[str, str] = {}  # address -> reply to RCPT TO (e.g. 550 mailbox unknown)

    def take_fault(self) -> tuple[str, Any] | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:  # noqa: N802
        with self.lock:
            reply = self.recipient_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        fault = self.take_fault()
        if fault is not None and fault[0] == "refuse":
            return fault[1]
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.lock:
            self.mail.append(CapturedMail(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        if fault is not None and fault[0] == "stall":
            await asyncio.sleep(fault[1])  # kept it; the client gave up waiting for our 250
        if fault is not None and fault[0] == "garble":
            return "Thank you for your message!"
        return "250 2.0.0 OK: queued"


class CapturingSmtpServer:
    """aiosmtpd on 127.0.0.1 (optionally STARTTLS + AUTH), capturing mail, with fault controls."""

    REFUSALS = {451: "451 4.3.0 Temporary local problem, try again later", 554: "554 5.6.0 Message rejected"}

    def __init__(self, *, tls_context: Any = None, logins: Mapping[str, str] | None = None):
        self.handler = _CapturingHandler()
        options: dict[str, Any] = {}
        if tls_context is not None:
            options.update(tls_context=tls_context, require_starttls=True)
        if logins is not None:
            options.update(authenticator=_authenticator(dict(logins)), auth_require_tls=tls_context is not None)
        self._controller = LoopbackController(self.handler, **options)

    @property
    def port(self) -> int:
        """Where it listens (known once started)."""
        return self._controller.port

    def start(self) -> None:
        """Listen."""
        self._controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self._controller.stop()

    def reset(self) -> None:
        """No mail, no faults."""
        with self.handler.lock:
            self.handler.mail.clear()
            self.handler.faults.clear()
            self.handler.recipient_replies.clear()

    @property
    def mail(self) -> list[CapturedMail]:
        """Every accepted message so far."""
        with self.handler.lock:
            return list(self.handler.mail)

    def refuse_next(self, code: int) -> None:
        """The next message is refused with `code` (451, 554, or any full reply line)."""
        self._push(("refuse", self.REFUSALS.get(code, f"{code} Refused by the test")))

    def refuse_recipient(self, address: str, reply: str) -> None:
        """Answer RCPT TO for `address` with `reply` (e.g. "550 5.1.1 <a@b> User unknown")."""
        with self.handler.lock:
            self.handler.recipient_replies[address] = reply

    def stall_next(self, hold_seconds: float = HOLD_SECONDS) -> None:
        """The next message is kept, and the 250 arrives after `hold_seconds`."""
        self._push(("stall", hold_seconds))

    def garble_next(self) -> None:
        """The next message is kept, and the answer is not SMTP."""
        self._push(("garble", None))

    def _push(self, fault: tuple[str, Any]) -> None:
        with self.handler.lock:
            self.handler.faults.append(fault)


def _authenticator(logins: dict[str, str]) -> Any:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        login = getattr(auth_data, "login", b"") or b""
        password = getattr(auth_data, "password", b"") or b""
        ok = logins.get(login.decode()) == password.decode()
        return AuthResult(success=ok, handled=False)
    return authenticate


def self_signed_tls(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files (made with `cryptography`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


OPERATOR_DEFAULTS = {"smtp_security": "none", "smtp_timeout_seconds": SMTP_TIMEOUT, "from_address": "Demo Shop Orders <orders@shop.example>"}


def email_settings(server: CapturingSmtpServer, **overrides: Any) -> dict[str, Any]:
    """The tenant's settings (recipients, signature, SKUs): the SMTP server is the operator's, see operator_smtp."""
    settings: dict[str, Any] = {
        "to_addresses": ["po@supplier.example"],
        "cc_addresses": ["ops@shop.example"],
        "shop_name": "Demo Shop",
        "known_skus": list(SUPPLIER_SKUS),
    }
    settings.update({key: value for key, value in overrides.items() if key not in OPERATOR_KEYS})
    return settings


def operator_smtp(server: CapturingSmtpServer, *, credentials: Mapping[str, Any] | None = None, **overrides: Any) -> OperatorSmtp:
    """The operator's SMTP configuration pointing at the capture server: no TLS, short timeout (smtp_* overrides change it)."""
    values = {**OPERATOR_DEFAULTS, "smtp_host": "127.0.0.1", "smtp_port": server.port, **{k: v for k, v in overrides.items() if k in OPERATOR_KEYS}}
    credentials = credentials or {}
    return OperatorSmtp(
        host=values["smtp_host"], port=values["smtp_port"], from_address=values["from_address"], security=values["smtp_security"],
        timeout_seconds=values["smtp_timeout_seconds"], ca_file=values.get("smtp_ca_file"),
        username=credentials.get("smtp_username"), password=credentials.get("smtp_password"),
    )


def make_email_adapter(server: CapturingSmtpServer, *, credentials: Mapping[str, Any] | None = None, sent_log: Any = None, stock_feed: Any = None, **overrides: Any) -> EmailPoAdapter:
    """An adapter on the capture server (as the operator's SMTP) with an in-memory sent log and a seeded stock feed."""
    settings = parse_settings(email_settings(server, **overrides), smtp=operator_smtp(server, credentials=credentials, **overrides))
    if stock_feed is None:
        stock_feed = InMemoryStockFeed()
    adapter = EmailPoAdapter(settings, sent_log if sent_log is not None else InMemorySentLog(), stock_feed=stock_feed)
    assert adapter.import_stock_csv(SEED_STOCK).errors == []
    return adapter


def tracking_csv(rows: list[Mapping[str, Any]]) -> str:
    """A tracking CSV as a supplier would send it."""
    columns = ("po_number", "line_ref", "sku", "quantity", "carrier", "tracking_number", "tracking_url", "shipped_at")
    lines = [",".join(columns)] + [",".join(str(row.get(column, "")) for column in columns) for row in rows]
    return "\r\n".join(lines) + "\r\n"


class EmailPoController:
    """The contract suite's controller: SMTP faults on the capture server, shipping and stock by CSV import."""

    in_stock_skus = ("WIDGET-RED", "WIDGET-BLUE")
    out_of_stock_sku = "GADGET-XL"
    unknown_sku = "NO-SUCH-SKU-1"
    supports_webhooks = False

    def __init__(self, adapter: EmailPoAdapter, server: CapturingSmtpServer):
        self.adapter = adapter
        self.server = server

    def ship(self, supplier_order_id: str, lines: Mapping[str, int] | None = None) -> None:
        """The supplier mails a tracking CSV for {line_ref: qty} (None: the rest), and we import it."""
        record = self.adapter.sent_log.get(supplier_order_id)
        assert record is not None
        if lines is None:
            lines = {line.line_ref: line.quantity - record.shipped_quantity(line.line_ref) for line in record.lines}
            lines = {ref: qty for ref, qty in lines.items() if qty > 0}
        tracking = f"1Z{uuid.uuid4().hex[:14].upper()}"
        rows = [
            {"po_number": supplier_order_id, "line_ref": ref, "quantity": qty, "carrier": "UPS", "tracking_number": tracking,
             "tracking_url": f"https://ups.test/track/{tracking}", "shipped_at": "2025-03-01"}
            for ref, qty in lines.items()
        ]
        result = self.adapter.import_tracking_csv(tracking_csv(rows))
        assert result.errors == [], result.errors

    def supplier_has(self, supplier_order_id: str) -> tuple[dict[str, int], str]:
        """What the supplier was last told: the lines as logged, the city of the latest CSV mailed for the PO."""
        import csv
        import io

        record = self.adapter.sent_log.get(supplier_order_id)
        with_csv = [mail for mail in self.server.mail if mail.po_number == supplier_order_id and list(mail.message.iter_attachments())]
        _, text = with_csv[-1].attachment()
        city = next(csv.DictReader(io.StringIO(text)))["ship_to_city"]
        return {line.line_ref: line.quantity for line in record.lines}, city

    def start_production(self, supplier_order_id: str) -> None:
        """A person cannot be put into production: the nearest is a first parcel on record."""
        record = self.adapter.sent_log.get(supplier_order_id)
        self.ship(supplier_order_id, {record.lines[0].line_ref: 1})

    def set_stock(self, supplier_sku: str, in_stock: bool) -> None:
        """The supplier mails a stock CSV, and we import it."""
        result = self.adapter.import_stock_csv(f"sku,in_stock\n{supplier_sku},{'yes' if in_stock else 'no'}\n")
        assert result.errors == []

    def fail_next_request(self, status: int = 503, retry_after: float | None = None) -> None:
        """The next message is refused: 451 (try later) for 429/5xx, 554 (rejected) for other 4xx."""
        self.server.refuse_next(451 if status == 429 or status >= 500 else 554)

    def time_out_next_request(self) -> None:
        """The next message is kept, the 250 comes after the adapter gave up."""
        self.server.stall_next(HOLD_SECONDS)

    def garble_next_response(self) -> None:
        """The next message is kept, the answer is not SMTP."""
        self.server.garble_next()

    def orders_created(self, external_id: str) -> int:
        """Purchase-order emails the supplier received for this PO number."""
        return sum(1 for mail in self.server.mail if mail.po_number == external_id and mail.kind == "purchase-order")

    def fail_order(self, supplier_order_id: str, reason: str) -> None:
        """Not possible: an email supplier's failure reaches us as a person's email, not as data."""
        raise NotImplementedError("email suppliers have no channel for failures")

    def take_webhooks(self) -> list[WebhookMessage]:
        """Email suppliers send no webhooks."""
        return []


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[CapturingSmtpServer]:
    """One plain SMTP capture server per module."""
    server = CapturingSmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server: CapturingSmtpServer) -> CapturingSmtpServer:
    """The capture server, emptied."""
    smtp_server.reset()
    return smtp_server


@pytest.fixture
def email_supplier(smtp: CapturingSmtpServer) -> tuple[EmailPoAdapter, EmailPoController]:
    """(adapter, controller) for the contract suite."""
    adapter = make_email_adapter(smtp)
    return adapter, EmailPoController(adapter, smtp)


@pytest.fixture(scope="module")
def tls_files() -> Iterator[tuple[Path, Path]]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    with tempfile.TemporaryDirectory() as directory:
        yield self_signed_tls(Path(directory))
