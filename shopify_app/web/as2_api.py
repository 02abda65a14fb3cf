"""AS2 for EDI partners over HTTP: the partners' inbound endpoint (/as2/<token>) and the merchant's view of the setup (our certificate to download, the URL to give the partner, recent messages)."""
from __future__ import annotations

import datetime as dt
import math

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import defer
from werkzeug.exceptions import RequestEntityTooLarge

from integrations.suppliers import runtime
from integrations.suppliers.edi_x12.as2 import MAX_MESSAGE_BYTES, CertificateRefused, check_certificate
from integrations.suppliers.runtime import SupplierRef

from ..auth.session_tokens import require_session_token
from ..i18n import gettext as _
from ..proxy.rate_limit import WindowLimit
from ..suppliers.as2_inbound import Answer, find_partner, receive_as2
from ..suppliers.as2_keys import SwitchDateRefused, checked_switch_date, roll_key_pair as make_new_key_pair, shop_certificate, switch_pending
from ..suppliers.audit import merchant_actor, record_change
from ..suppliers.as2_models import As2Identity, As2Message
from .api_schemas import invalid, validated_body
from .own_supplier import supplier_of_kind

inbound = Blueprint("as2_inbound", __name__)
blueprint = Blueprint("as2_api", __name__, url_prefix="/api")

MAX_LISTED_MESSAGES = 50
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
# Each roll makes a 3072-bit RSA key (seconds of CPU); a merchant rolls a few times a year.
KEY_PAIR_ROLLS = WindowLimit(5, dt.timedelta(hours=1))
# Per partner endpoint: far above what a partner's gateway sends (a resend storm included), below what floods the web workers.
INBOUND_MESSAGES = WindowLimit(600, dt.timedelta(minutes=1))


@inbound.post("/as2/<token>")
def receive_message(token: str) -> Response:
    """A partner's AS2 message or asynchronous MDN (verified against that partner's certificate)."""
    if not 20 <= len(token) <= 64 or not set(token) <= _TOKEN_CHARS:
        return Response("unknown AS2 endpoint", 404)  # not even looked up: no token of ours looks like that
    services = current_app.extensions["services"]
    # The endpoint first (one indexed read): a caller without a token of ours is answered before a byte of the body
    # is read, so it cannot make the server buffer anything. Then the size, whatever the headers say: a body over the
    # limit is a 413 (never stored), also when it comes chunked, without a Content-Length to refuse it by.
    partner = find_partner(services, token)
    if isinstance(partner, Answer):
        return _answer(partner)
    wait = INBOUND_MESSAGES.retry_after(services.session_factory, f"as2-in:{partner.owner.shop_domain}:{partner.owner.supplier_id}")
    if wait:  # before the body is read: a flood costs a counter update each, not megabytes
        return Response("too many AS2 messages to this endpoint; try again later", 429, {"Retry-After": str(wait)}, mimetype="text/plain")
    body = _body_within(MAX_MESSAGE_BYTES)
    if body is None:
        return Response(f"an AS2 message may be at most {MAX_MESSAGE_BYTES} bytes", 413, mimetype="text/plain")
    return _answer(receive_as2(services, partner, dict(request.headers), body))


def _answer(answer: Answer) -> Response:
    response = Response(answer.body, answer.status, headers=answer.headers or None, content_type=None if answer.headers else "text/plain")
    if answer.after is not None:
        response.call_on_close(answer.after)
    return response


_READ_CHUNK = 1 << 16


def _body_within(limit: int) -> bytearray | None:
    """The request body in one buffer, or None when it is longer than `limit` bytes (at most limit + 1 of them read)."""
    # This route's own limit, above the app-wide MAX_CONTENT_LENGTH (16 MiB uploads): AS2 (RFC 4130) sets none and
    # partners' gateways send files of any size, while we hold a message in memory to decrypt, verify and store it;
    # 20 MiB takes a whole 846 stock advice of a big catalog with room to spare. Werkzeug refuses a Content-Length
    # above its cap before anything is read; its cap is one byte more than the limit so that reading that byte proves
    # a chunked body too long (its capped stream returns a chunked body cut at the cap without an error, which a longer
    # message would pass as, then refused as garbage, a 400, instead of a 413).
    request.max_content_length = limit + 1
    try:
        stream, length = request.stream, request.content_length
        if length is not None and length > limit:
            return None
        # Grown as bytes arrive, 64 KiB a read (not allocated from the announced length: a sender that
        # announces 20 MiB and stalls holds only what it sent), in place (no list of chunks joined into a copy).
        body = bytearray()
        while len(body) <= limit:
            chunk = stream.read(min(_READ_CHUNK, limit + 1 - len(body)))
            if not chunk:
                break
            body += chunk
    except RequestEntityTooLarge:
        return None
    return body if len(body) <= limit else None


def as2_setup(services, shop_domain: str, supplier_id: int, transport: dict, limit: int = MAX_LISTED_MESSAGES, *, as_json: bool = True) -> dict:
    """What to give the partner (our AS2 id, URL, newest certificate), the switch date of a new pair, the certificates' dates, and the latest messages both ways."""
    station = runtime.current().as2_station_for(SupplierRef(shop_domain, supplier_id))  # the shop's key pair made first, no session held meanwhile
    with services.session_factory() as session:
        keys = session.scalar(select(As2Identity).options(defer(As2Identity.private_key_enc), defer(As2Identity.previous_private_key_enc))
                              .where(As2Identity.shop_domain == shop_domain))
        # The list shows metadata only: the payloads (up to 20 MB each) stay in the database.
        rows = session.scalars(select(As2Message).options(defer(As2Message.payload))
                               .where(As2Message.shop_domain == shop_domain, As2Message.supplier_id == supplier_id)
                               .order_by(As2Message.id.desc()).limit(limit))
        messages = [{"direction": row.direction, "message_id": row.message_id, "file_name": row.file_name, "status": row.status, "folder": row.folder,
                     "attempts": row.attempts, "detail": row.detail, "updated_at": row.updated_at.isoformat() if as_json else row.updated_at} for row in rows]
        now = dt.datetime.now(dt.timezone.utc)
        previous_not_after = keys.previous_not_after if keys.previous_not_after and keys.previous_not_after > now else None
        sign_from = keys.sign_from if switch_pending(keys, now) else None
    try:
        partner = check_certificate(transport.get("partner_certificate", ""), check_dates=False)
    except CertificateRefused:
        partner = None
    return {
        "our_as2_id": transport.get("our_as2_id"), "partner_as2_id": transport.get("partner_as2_id"), "inbound_url": station.inbound_url,
        # The newest certificate: what every partner needs (it signs from sign_from; the previous one until then).
        "certificate_pem": keys.certificate_pem, "certificate_not_after": keys.not_after.isoformat(),
        "sign_from": sign_from.isoformat() if sign_from else None,
        "previous_certificate_not_after": previous_not_after.isoformat() if previous_not_after else None,  # still decrypts what partners send until then
        "partner_certificate_subject": partner.subject if partner else None,
        "partner_certificate_not_after": partner.not_after.isoformat() if partner else None, "messages": messages,
    }


def as2_transport_of(supplier) -> dict | None:
    """The supplier's AS2 transport settings, or None when it does not trade over AS2."""
    transport = (supplier.settings or {}).get("transport") if supplier.kind == "edi_x12" else None
    return dict(transport) if isinstance(transport, dict) and transport.get("kind") == "as2" else None


def _own_as2_partner(supplier_id: int):
    """(its AS2 transport settings, None) for this shop's EDI supplier trading over AS2, else (None, the 404 or 409 answer)."""
    with current_app.extensions["services"].session_factory() as session:
        supplier, refused = supplier_of_kind(session, supplier_id, "edi_x12", "only EDI suppliers trade over AS2")
        if refused:
            return None, refused
        transport = as2_transport_of(supplier)
    if transport is None:
        return None, (jsonify(error="this EDI partner's transport is not AS2 (settings.transport.kind)"), 409)
    return transport, None


@blueprint.get("/suppliers/<id:supplier_id>/as2")
@require_session_token
def get_as2_setup(supplier_id: int):
    """What to give the AS2 partner (our AS2 id, URL, certificate), the partner's certificate dates, and the latest messages both ways."""
    transport, refused = _own_as2_partner(supplier_id)
    if refused:
        return refused
    return jsonify(as2=as2_setup(current_app.extensions["services"], g.shop_domain, supplier_id, transport))


@blueprint.get("/suppliers/<id:supplier_id>/as2/certificate.pem")
@require_session_token
def download_certificate(supplier_id: int):
    """Our AS2 certificate (PEM) for the partner: it verifies our signatures and encrypts to us with it."""
    _, refused = _own_as2_partner(supplier_id)
    if refused:
        return refused
    with current_app.extensions["services"].session_factory() as session:
        certificate = shop_certificate(session, g.shop_domain)  # the public part only: the private key stays encrypted
    if certificate is None:  # no key pair yet: made now, as the partner's first message or the setup view would
        certificate = runtime.current().as2_station_for(SupplierRef(g.shop_domain, supplier_id)).identity.certificate_pem
    name = "".join(c if c.isalnum() or c in ".-" else "-" for c in g.shop_domain)
    return Response(certificate, 200, mimetype="application/x-pem-file",
                    headers={"Content-Disposition": f'attachment; filename="{name}-as2.pem"'})


@blueprint.post("/suppliers/<id:supplier_id>/as2/key-pair")
@require_session_token
@validated_body("As2KeyPair", optional=True)
def roll_key_pair(supplier_id: int):
    """Make the shop's new AS2 key pair (its certificate to send to every partner), signing from `sign_from` (default: at once); the old pair signs until then and decrypts until it expires."""
    transport, refused = _own_as2_partner(supplier_id)
    if refused:
        return refused
    sign_from = g.body.get("sign_from")
    try:
        # Without a date the new pair signs at once, as after a compromised key or an expired certificate; a planned
        # rollover names the day agreed with partners (they install the new certificate before it).
        day = dt.date.fromisoformat(sign_from) if sign_from else None
    except ValueError:
        return invalid([("sign_from", "must be a date (YYYY-MM-DD)")])
    services = current_app.extensions["services"]
    sign_from = dt.datetime.combine(day, dt.time(), dt.timezone.utc) if day else None
    try:
        # The date first: a refused one makes no key, so it is not counted as a roll.
        checked_switch_date(services.session_factory, g.shop_domain, sign_from)
        wait = KEY_PAIR_ROLLS.retry_after(services.session_factory, f"as2-key-pair:{g.shop_domain}")
        if not wait:
            make_new_key_pair(services.session_factory, services.box, g.shop_domain, sign_from=sign_from)  # generated outside any transaction
    except SwitchDateRefused as exc:
        return invalid([("sign_from", str(exc))])
    if wait:
        message = _("At most %(n)s new key pairs an hour: try again in %(minutes)s min.", n=KEY_PAIR_ROLLS.attempts, minutes=math.ceil(wait / 60))
        return jsonify(error=message), 429, {"Retry-After": str(wait)}
    with services.session_factory.begin() as session:
        record_change(session, g.shop_domain, supplier_id, merchant_actor(getattr(g, "user_id", None)), "as2_key_pair_rolled",
                      ["as2.certificate"] + (["as2.sign_from"] if day else []))
    return jsonify(as2=as2_setup(services, g.shop_domain, supplier_id, transport))
