"""Receiving from AS2 partners at /as2/<token>: verify, decrypt, dedupe on Message-ID, keep the X12 for the EDI poll, answer with a signed MDN.

The token names the shop and supplier; the message must then come from THAT partner
(AS2-From, signature by its certificate) to us (AS2-To). Refusals are answered with an error
MDN (RFC 4130 7.5.3: HTTP 200, the disposition says why) when the partner asked for one, else
a 4xx; nothing of a refused message is kept. A verified payload is recorded in the partner's
inbound folder in one short transaction before the MDN goes back; the `edi-partners` job
reads it like a file from an SFTP folder (997s, 855/856/846/810 applied once).
Asynchronous MDNs (the partner's for our messages) arrive at the same URL. Ours go only to the
partner's own server (the scheme, host and port of its configured AS2 URL): the address a message
asks for is anyone's to write, and we sign what we post there.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import httpx

from integrations import egress
from integrations.suppliers import runtime
from integrations.suppliers.edi_x12.as2 import As2Settings, mdn_original_id, parse_as2_settings, read_mdn, receive
from integrations.suppliers.edi_x12.as2_factory import MDN_MAX_BYTES, url_shape
from integrations.suppliers.edi_x12.config import InvalidEdiSettings, parse_settings
from integrations.suppliers.runtime import SupplierRef

from ..alerts import raise_alert, resolve_alert
from ..i18n import gettext as _
from .as2_store import endpoint_owner
from .models import Supplier

log = logging.getLogger(__name__)


@dataclass
class Answer:
    """The HTTP answer to the partner, and what to do once it is sent (an asynchronous MDN)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    after: Callable[[], None] | None = None


def mdn_failed_key(supplier_id: int, file_name: str) -> str:
    """Dedupe key of the alert for a negative asynchronous MDN."""
    return f"as2_mdn_failed:{supplier_id}:{file_name}"


@dataclass(frozen=True)
class Partner:
    """The endpoint's owner (shop and supplier) with its partner's AS2 settings and inbound folder."""

    owner: SupplierRef
    settings: As2Settings
    inbound_folder: str


def find_partner(services, token: str) -> Partner | Answer:
    """The partner an inbound URL token belongs to, or the 404/409 answer; read before the body (an unknown token reads nothing)."""
    with services.read_session_factory() as session:
        owner = endpoint_owner(session, token)
        supplier = session.get(Supplier, owner.supplier_id) if owner is not None else None
        if supplier is None or supplier.deleted_at is not None or supplier.shop_domain != owner.shop_domain or supplier.kind != "edi_x12":
            return Answer(404, b"unknown AS2 endpoint")
        settings = dict(supplier.settings or {})
    transport = settings.get("transport") or {}
    if not isinstance(transport, dict) or transport.get("kind") != "as2":
        return Answer(404, b"this partner does not trade over AS2")
    try:
        return Partner(owner, parse_as2_settings(transport, url_shape, runtime.current().clamp_timeout, check_dates=False), parse_settings(settings).inbound_folder)
    except InvalidEdiSettings as exc:
        return Answer(409, f"the partner's AS2 settings are incomplete: {exc}".encode())


def receive_as2(services, partner: Partner, headers: dict[str, str], body: bytes) -> Answer:
    """Handle one POST from the partner `find_partner` found (a message or an asynchronous MDN)."""
    owner, settings, inbound_folder = partner.owner, partner.settings, partner.inbound_folder
    station = runtime.current().as2_station_for(owner)
    original = mdn_original_id(headers, body)
    if original is not None:
        return _receive_mdn(services, owner, settings, station, original, headers, body)
    received = receive(settings, station.identity, headers, body, station.ledger.seen_inbound)
    if received.payload is not None:
        if not station.ledger.record_inbound(received.message_id, inbound_folder, received.payload, f"from {settings.partner_id}, file {received.file_name or '-'}"):
            log.info("AS2 message %s from supplier %s received twice at once; kept once", received.message_id, owner.supplier_id)
    else:
        log.warning("AS2 message refused supplier=%s status=%s detail=%s", owner.supplier_id, received.status, received.detail[:200])
    if received.mdn_body is None:  # the partner asked for no MDN: the HTTP status is all it gets
        return Answer(200 if received.payload is not None or received.duplicate else 400,
                      b"received" if received.payload is not None else f"refused: {received.status} {received.detail}".encode()[:500])
    if received.mdn_url and not on_partner_server(received.mdn_url, settings.url):
        # Anyone holding this URL can name any address: we send nothing there (the partner resends if it misses the MDN).
        log.warning("asynchronous MDN not sent: supplier=%s asked for it at a host other than its AS2 URL's", owner.supplier_id)
        return Answer(200, b"received; the MDN follows")
    if received.mdn_url:  # asynchronous: acknowledge now, send the MDN once this answer is out (no transaction open then)
        return Answer(200, b"received; the MDN follows", after=lambda: _send_async_mdn(received.mdn_url, received.mdn_headers, received.mdn_body, settings))
    return Answer(200, received.mdn_body, received.mdn_headers)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL as httpx (which sends the MDN) reads it; None when it is not one."""
    try:
        parsed = httpx.URL(url)  # exactly what the client will post to
    except (httpx.InvalidURL, TypeError, ValueError):
        return None
    if parsed.scheme not in _DEFAULT_PORTS or not parsed.host:
        return None
    return parsed.scheme, parsed.host, parsed.port or _DEFAULT_PORTS[parsed.scheme]


def on_partner_server(mdn_url: str, partner_url: str) -> bool:
    """Whether an asynchronous MDN's address is on the partner's own server (the scheme, host and port of its AS2 URL)."""
    asked = _origin(mdn_url)
    return asked is not None and asked == _origin(partner_url)


def _send_async_mdn(url: str, headers: dict[str, str], body: bytes, settings: As2Settings) -> None:
    try:
        url_shape(url)
        with egress.current().client(total_seconds=settings.timeout_seconds, max_bytes=MDN_MAX_BYTES) as client:
            response = client.post(url, content=body, headers=headers)
        if response.status_code >= 300:
            log.warning("asynchronous MDN to the partner answered HTTP %s", response.status_code)
    except Exception as exc:  # noqa: BLE001 - the message is kept; the partner resends it if it misses the MDN (and gets one then)
        log.warning("asynchronous MDN not sent: %s", exc)


def _receive_mdn(services, owner: SupplierRef, settings: As2Settings, station, original: str, headers, body) -> Answer:
    mic = station.ledger.outbound_mic(original)
    if mic is None:
        return Answer(404, b"no message of ours has this Original-Message-ID")
    result = read_mdn(settings, station.identity, original, mic, headers, body)
    if result.status == "failed/Failure" and result.detail.startswith(("Failed to parse", "Expected signed", "mdn-not-found")):
        return Answer(400, f"MDN refused: {result.detail}".encode()[:500])  # unverifiable: changes nothing
    file_name = station.ledger.mdn_received(original, result.delivered, f"asynchronous MDN {result.status}: {result.detail}".strip(": "))
    with services.session_factory.begin() as session:
        key = mdn_failed_key(owner.supplier_id, file_name or original)
        if result.delivered:
            resolve_alert(session, key)
        else:
            raise_alert(session, owner.shop_domain, "supplier_unreachable", key,
                        _("The EDI partner's AS2 server did not accept %(file)s (MDN: %(status)s).", file=file_name or original, status=f"{result.status} {result.detail}".strip()))
    return Answer(200, b"MDN received")
