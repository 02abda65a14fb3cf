"""A sandbox AS2 trading partner: a real HTTP server on 127.0.0.1 that takes our 850s over AS2 and sends 997/855/856/846 back over AS2.

It uses pyas2lib directly as the independent counterpart of the app (its own key pair, the
app's certificate as the app's merchant would hand it over), and the sandbox EDI partner
(`edi_partner.py`, which reads X12 with pyx12) for the documents: what comes in over AS2 is
dropped in the EDI partner's inbox folder, what the EDI partner drops in its outbox is sent
to the app's /as2/<token> URL.

Fault controls: `down` (HTTP 503), `slow_seconds`, `negative_mdn_next` (an MDN saying
processed/error), `drop_before_mdn_next` (the message is taken but the connection is closed
before the MDN: a lost MDN), `bad_signature_next` (the next message we send is signed with
a key the app does not know), `tamper_next` (its bytes changed in transit), `duplicate_next`
(the next message is posted twice with the same Message-ID).
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from integrations.suppliers.edi_x12.as2_compat import load_pyas2lib
from integrations.suppliers.edi_x12.x12 import Party
from integrations.suppliers.files.transport import LocalFolderTransport, TransportError

from .edi_partner import EdiPartner

as2lib = load_pyas2lib()


def make_certificate(common_name: str, *, not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
                     key_encipherment: bool = True, key_size: int = 2048) -> tuple[bytes, bytes]:
    """A key and self-signed certificate (PEM, PEM) with chosen dates and key usage (for tests of expired or unusable certificates)."""
    now = dt.datetime.now(dt.timezone.utc)
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1)).not_valid_after(not_after or now + dt.timedelta(days=365))
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=key_encipherment, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            certificate.public_bytes(serialization.Encoding.PEM))


@dataclass
class Received:
    """One AS2 message the partner took."""

    message_id: str
    file_name: str
    status: str
    payload: bytes | None


@dataclass
class Sent:
    """One AS2 message the partner sent the app, and the app's MDN."""

    message_id: str
    file_name: str
    http_status: int
    mdn_status: str | None
    mdn_detail: str | None


class As2Partner:
    """The partner's AS2 server and client around a sandbox EDI partner."""

    def __init__(self, folder: Path, *, as2_id: str, app_as2_id: str, partner: Party, us: Party, known_skus: dict[str, int] | None = None,
                 encrypt: bool = True, mdn_digest: str | None = "sha256"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.as2_id, self.app_as2_id = as2_id, app_as2_id
        self.key_pem, self.certificate_pem = make_certificate(f"{as2_id} sandbox AS2")
        self.edi = EdiPartner(LocalFolderTransport(self.folder), partner, us, known_skus=known_skus)
        self.encrypt, self.mdn_digest = encrypt, mdn_digest
        self.app_certificate_pem: bytes | None = None  # the app's certificate, as the merchant hands it over
        self.app_url: str | None = None  # the app's /as2/<token> URL
        self.received: list[Received] = []
        self.sent: list[Sent] = []
        self.down = False
        self.slow_seconds = 0.0
        self.negative_mdn_next = False
        self.drop_before_mdn_next = False
        self.bad_signature_next = False
        self.tamper_next = False
        self.duplicate_next = False
        self._seen: set[str] = set()
        self._messages: dict[str, object] = {}  # our messages by Message-ID (their MDNs are checked against them)
        self.async_mdns_posted: list[int] = []  # HTTP statuses the app answered our asynchronous MDNs with
        self.async_mdns_received: list[tuple[str, str, str | None]] = []  # (our Message-ID, status, detail) of the app's asynchronous MDNs
        self.async_mdn_url: str | None = None  # ask the app for asynchronous MDNs, posted here
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._sequence = 0

    # -- pyas2lib objects ---------------------------------------------------------------------

    def _organization(self, key_pem: bytes | None = None, certificate_pem: bytes | None = None):
        pair = (key_pem or self.key_pem) + b"\n" + (certificate_pem or self.certificate_pem)
        return as2lib.Organization(as2_name=self.as2_id, sign_key=pair, decrypt_key=pair, domain="partner.sandbox", mdn_url=self.async_mdn_url)

    def _app(self):
        if self.app_certificate_pem is None:
            raise RuntimeError("give the partner the app's certificate first (app_certificate_pem)")
        return as2lib.Partner(as2_name=self.app_as2_id, verify_cert=self.app_certificate_pem, encrypt_cert=self.app_certificate_pem, sign=True,
                              encrypt=self.encrypt, enc_alg="aes_256_cbc", digest_alg="sha256",
                              mdn_mode=("ASYNC" if self.async_mdn_url else "SYNC") if self.mdn_digest is not None else None,
                              mdn_digest_alg=self.mdn_digest)

    # -- the server ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Where the app sends to (after start())."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/as2"

    def start(self) -> "As2Partner":
        """Serve on 127.0.0.1, a port of the system's choosing."""
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                return

            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, headers, answer = partner._handle(dict(self.headers.items()), body)
                if status is None:  # drop the connection without an answer (a lost MDN)
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="sandbox-as2-partner", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handle(self, headers: dict[str, str], body: bytes) -> tuple[int | None, dict[str, str], bytes]:
        if self.slow_seconds:
            time.sleep(self.slow_seconds)
        if self.down:
            return 503, {"Content-Type": "text/plain"}, b"down for maintenance"
        mdn_answer = self._mdn_for_us(headers, body)
        if mdn_answer is not None:
            return mdn_answer
        raw = b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n" + body
        message = as2lib.Message()
        organization, app = self._organization(), self._app()
        with self._lock:
            status, (error, _), mdn = message.parse(raw, find_org_cb=lambda as2_to: organization if as2_to == self.as2_id else None,
                                                    find_partner_cb=lambda as2_from: app if as2_from == self.app_as2_id else None,
                                                    find_message_cb=lambda message_id, _p: message_id in self._seen)
            ok = status == "processed" and error is None
            file_name = message.payload.get_filename() if message.payload is not None else None
            self.received.append(Received(message.message_id, file_name or "", str(status), message.content if ok else None))
            if ok:
                self._seen.add(message.message_id)
                self.edi.transport.write_atomic(self.edi.inbox, file_name or f"as2_{len(self.received)}.x12", message.content)
        if ok and self.drop_before_mdn_next:
            self.drop_before_mdn_next = False
            return None, {}, b""
        if ok and self.negative_mdn_next:
            self.negative_mdn_next = False
            mdn = as2lib.Mdn(mdn_mode=mdn.mdn_mode if mdn else "SYNC", mdn_url=mdn.mdn_url if mdn else None, digest_alg=mdn.digest_alg if mdn else None)
            mdn.build(message=message, status="processed/Error", detailed_status="unexpected-processing-error")
        if mdn is None:
            return (200 if ok else 400), {"Content-Type": "text/plain"}, str(status).encode()
        if mdn.mdn_mode == "ASYNC" and mdn.mdn_url:  # asynchronous: answer now, post the MDN to the URL the message named
            threading.Thread(target=self._post_mdn, args=(mdn.mdn_url, dict(mdn.headers), mdn.content), daemon=True).start()
            return 200, {"Content-Type": "text/plain"}, b"received; the MDN follows"
        return 200, dict(mdn.headers), mdn.content

    def _post_mdn(self, url: str, headers: dict[str, str], body: bytes) -> None:
        time.sleep(0.2)  # after the message's own answer
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=30)
            self.async_mdns_posted.append(response.status_code)
        except httpx.HTTPError:
            self.async_mdns_posted.append(0)

    def _mdn_for_us(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        """An asynchronous MDN the app posted for one of our messages, verified against the app's certificate."""
        content_type = headers.get("Content-Type", "")
        if "report" not in content_type and "signed" not in content_type:
            return None
        raw = b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n" + body
        mdn = as2lib.Mdn()
        status, detail = mdn.parse(raw, lambda message_id, _r: self._messages.get(message_id))
        if mdn.orig_message_id is None:
            return None
        self.async_mdns_received.append((mdn.orig_message_id, status, detail))
        return 200, {"Content-Type": "text/plain"}, b"MDN received"

    # -- sending to the app -------------------------------------------------------------------

    def _build(self, data: bytes, file_name: str) -> tuple[str, dict[str, str], bytes]:
        organization = self._organization()
        if self.bad_signature_next:  # signed with a key (and certificate) the app was never given
            self.bad_signature_next = False
            organization = self._organization(*make_certificate(f"{self.as2_id} impostor"))
        self._sequence += 1
        message = as2lib.Message(organization, self._app())
        message.build(data, filename=file_name, content_type="application/edi-x12", message_id=f"sbx-{time.time_ns()}-{self._sequence}",
                      disposition_notification_to="edi@partner.sandbox")
        self._last_message = message
        self._messages[message.message_id] = message
        body = message.content
        if self.tamper_next:
            self.tamper_next = False
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1:]
        return message.message_id, dict(message.headers), body

    def send_outbox(self) -> list[Sent]:
        """Send every file the EDI partner dropped to the app over AS2 (oldest first); each is moved to `sent` once the app took it."""
        if self.app_url is None:
            raise RuntimeError("give the partner the app's /as2/<token> URL first (app_url)")
        outbox = self.edi.transport
        done: list[Sent] = []
        for remote in outbox.list(self.edi.outbox):
            path = self.folder / self.edi.outbox / remote.name
            message_id, headers, body = self._build(path.read_bytes(), remote.name)
            posts = 2 if self.duplicate_next else 1
            self.duplicate_next = False
            for _ in range(posts):
                sent = self._post(message_id, remote.name, headers, body)
                done.append(sent)
                self.sent.append(sent)
            if done[-1].mdn_status == "processed":
                outbox.move(self.edi.outbox, remote.name, "sent")
        return done

    def _post(self, message_id: str, file_name: str, headers: dict[str, str], body: bytes) -> Sent:
        response = httpx.post(self.app_url, content=body, headers=headers, timeout=30)
        mdn_status = mdn_detail = None
        if response.status_code == 200 and "multipart" in response.headers.get("content-type", ""):
            raw = b"".join(f"{k}: {v}\r\n".encode() for k, v in response.headers.items()) + b"\r\n" + response.content
            original = self._last_message
            mdn_status, mdn_detail = as2lib.Mdn().parse(raw, lambda mid, _r: original if mid == message_id else None)
        return Sent(message_id, file_name, response.status_code, mdn_status, mdn_detail)

    def step(self, ship_after: float = 5.0) -> list[Sent]:
        """One round on its own: read the POs that came in (997 + 855 out), ship what is due, send everything to the app."""
        self.edi.step(ship_after)
        return self.send_outbox()

    def run_in_background(self, interval: float = 2.0, ship_after: float = 5.0) -> threading.Event:
        """Run step() every `interval` seconds once the app's URL and certificate are known (`make run`); set the event to stop."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                if self.app_url is None or self.app_certificate_pem is None:
                    continue
                try:
                    self.step(ship_after)
                except (httpx.HTTPError, OSError):  # the app is restarting: next round
                    continue
                except TransportError:  # no purchase order has come yet (its folder does not exist): next round
                    continue

        threading.Thread(target=loop, name="sandbox-as2-partner-loop", daemon=True).start()
        return stop

    def purchase_orders(self) -> dict[str, int]:
        """PO number -> how many distinct interchanges carried it (1 = exactly once)."""
        return {po: self.edi.interchanges_for(po) for po in self.edi.orders}
