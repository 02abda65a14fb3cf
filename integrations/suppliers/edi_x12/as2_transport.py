"""AS2 as an EDI partner's exchange "folder": writing a file sends it as an AS2 message, reading lists what the partner sent us.

The EDI adapter stays the same over SFTP, a local folder or AS2: it writes 850s and 997s
and reads 855/856/846/810/997 through a FileTransport. Here
- `write_atomic` records the message (with a Message-ID derived from the file name, which
  derives from the document's idempotency key) BEFORE sending it, then POSTs it through the
  egress policy; a resend after a crash or a lost MDN uses the SAME Message-ID, so the
  partner's AS2 server dedupes it. Only a signed MDN, "processed", with our MIC counts as
  delivered; a negative MDN, a bad one, an HTTP error or a timeout is a TransportError (the
  adapter's retries, backoff and outage alerts take it from there).
- `list`/`download`/`move` read the messages the app's `/as2/<token>` endpoint verified and
  stored, folder by folder (the inbound folder until the poll files them in the archive).
Every ledger call is a short transaction of its own: nothing is sent while one is open.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import BinaryIO, Callable, Protocol

import httpx

from ..files.transport import RemoteFile, TransportError, safe_folder, safe_name
from .as2 import As2Settings, Identity, build_message, check_certificate, message_id_for, read_mdn


@dataclass(frozen=True)
class InboxFile:
    """A verified inbound message's payload, as a file in a folder."""

    name: str
    size: int
    received_at: dt.datetime


class As2Ledger(Protocol):
    """What the transport records (the app's database, per shop and partner)."""

    def record_outbound(self, folder: str, file_name: str, message_id: str) -> None:
        """Record our message (once; a second call for the same id leaves it) before it is sent."""

    def outbound_status(self, folder: str, file_name: str) -> str | None:
        """sending, delivered, awaiting_mdn or failed; None when never recorded."""

    def note_attempt(self, message_id: str, status: str, mic: str | None, detail: str) -> None:
        """What came of one send (one more attempt)."""

    def inbox(self, folder: str) -> list[InboxFile]:
        """Inbound payloads in `folder`, oldest first."""

    def payload(self, folder: str, file_name: str) -> bytes | None:
        """One inbound payload."""

    def move(self, folder: str, file_name: str, to_folder: str) -> None:
        """File an inbound payload elsewhere (archive, rejected)."""


class As2Transport:
    """A FileTransport whose writes are AS2 messages to the partner and whose folders hold what the partner sent."""

    def __init__(self, settings: As2Settings, identity: Identity, ledger: As2Ledger, client: Callable[[], httpx.Client], *, scope: str,
                 mdn_url: str | None = None):
        """`client` opens an egress-policy HTTP client; `scope` (shop and supplier) keeps Message-IDs apart between partners."""
        self.settings, self.identity, self.ledger = settings, identity, ledger
        self._client, self._scope, self._mdn_url = client, scope, mdn_url

    # -- out ------------------------------------------------------------------------------

    def write_atomic(self, folder: str, name: str, data: bytes) -> None:
        """Send `data` as one AS2 message; returns once a good MDN came back (sync) or the partner took it (async)."""
        folder, name = safe_folder(folder), safe_name(name)
        message_id = message_id_for(self.settings.our_id, self._scope, name)
        self.ledger.record_outbound(folder, name, message_id)  # committed before anything leaves
        asynchronous = self.settings.mdn_mode == "async"
        try:
            check_certificate(self.settings.partner_certificate)  # pyas2lib would only say "Partner Certificate Invalid"
            outbound = build_message(self.settings, self.identity, data, name, message_id, self._mdn_url if asynchronous else None)
        except Exception as exc:  # noqa: BLE001 - the partner's certificate (expired since it was saved) or pyas2lib's own refusals: the setup's, shown as they are
            self.ledger.note_attempt(message_id, "failed", None, f"cannot build the AS2 message: {exc}"[:500])
            raise TransportError(f"cannot build the AS2 message for {name}: {exc}") from exc
        try:
            with self._client() as client:
                response = client.post(self.settings.url, content=outbound.body, headers=outbound.headers)
        except httpx.HTTPError as exc:
            self.ledger.note_attempt(message_id, "failed", outbound.mic, f"sending failed: {type(exc).__name__}: {exc}"[:500])
            raise TransportError(f"the partner's AS2 server: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            self.ledger.note_attempt(message_id, "failed", outbound.mic, f"HTTP {response.status_code}")
            raise TransportError(f"the partner's AS2 server answered HTTP {response.status_code}")
        if asynchronous:
            self.ledger.note_attempt(message_id, "awaiting_mdn", outbound.mic, "sent; the MDN comes later")
            return
        result = read_mdn(self.settings, self.identity, outbound.message_id, outbound.mic, dict(response.headers), response.content)
        if not result.delivered:
            detail = f"MDN {result.status}: {result.detail}".strip(": ")
            self.ledger.note_attempt(message_id, "failed", outbound.mic, detail[:500])
            raise TransportError(f"the partner did not confirm message {message_id}: {detail}")
        self.ledger.note_attempt(message_id, "delivered", outbound.mic, "signed MDN, MIC matches")

    def exists(self, folder: str, name: str) -> bool:
        """Whether our message for this file was confirmed by an MDN (or taken, asynchronous MDN pending)."""
        return self.ledger.outbound_status(safe_folder(folder), safe_name(name)) in ("delivered", "awaiting_mdn")

    # -- in -------------------------------------------------------------------------------

    def list(self, folder: str) -> list[RemoteFile]:
        """Verified inbound payloads in `folder`, oldest first."""
        return [RemoteFile(f.name, f.size, f.received_at.timestamp()) for f in self.ledger.inbox(safe_folder(folder))]

    def download(self, folder: str, name: str, sink: BinaryIO) -> int:
        """One inbound payload into `sink`."""
        data = self.ledger.payload(safe_folder(folder), safe_name(name))
        if data is None:
            raise TransportError(f"no such AS2 message: {name}")
        sink.write(data)
        return len(data)

    def move(self, folder: str, name: str, to_folder: str) -> None:
        """File an inbound payload in another folder."""
        self.ledger.move(safe_folder(folder), safe_name(name), safe_folder(to_folder))

    def close(self) -> None:
        """Nothing held between calls."""
