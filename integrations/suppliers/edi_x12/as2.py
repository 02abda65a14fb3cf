"""AS2 (RFC 4130) for EDI partners with pyas2lib: settings, certificates, building and reading messages and MDNs.

Everything here is pure (no database, no network): `as2_transport.py` sends and records,
the app's `/as2/<token>` endpoint receives. Messages are signed and (unless the partner
declines) encrypted S/MIME; every message asks for a signed MDN whose MIC must match ours.
"""
from __future__ import annotations

import datetime as dt
import email
import email.utils
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from .as2_compat import load_pyas2lib
from .config import InvalidEdiSettings

as2lib = load_pyas2lib()

_AS2_ID = re.compile(r"^[A-Za-z0-9 ._@-]{1,128}$")  # printable, no quotes or backslashes (RFC 4130 2.2 limits AS2 names to 128)
DIGESTS = ("sha256", "sha384", "sha512")
ENCRYPTIONS = ("aes_128_cbc", "aes_256_cbc", "none")
MDN_MODES = ("sync", "async")
MAX_MESSAGE_BYTES = 20 << 20  # an inbound AS2 message larger than this is refused before it is read
CERTIFICATE_WARNING = dt.timedelta(days=30)  # a partner certificate expiring this soon is alerted


class CertificateRefused(ValueError):
    """A certificate that cannot be used (the message says why, for the merchant)."""


@dataclass(frozen=True)
class CertificateInfo:
    """What the app keeps about a partner certificate."""

    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint_sha256: str


@dataclass(frozen=True)
class As2Settings:
    """One partner's AS2 setup (the EDI supplier's `transport` with kind "as2")."""

    our_id: str
    partner_id: str
    url: str
    partner_certificate: str  # PEM
    digest: str = "sha256"
    encryption: str = "aes_256_cbc"  # or "none" (signed only)
    mdn_mode: str = "sync"
    timeout_seconds: float = 60.0


@dataclass(frozen=True)
class Identity:
    """Our key pair for one shop (PEM private key, PEM self-signed certificate): it signs; `fallback` decrypts too."""

    private_key_pem: bytes
    certificate_pem: bytes
    # During a key rollover partners encrypt to either certificate: the pair before the roll (until it expires),
    # or the new one while the old still signs (until the switch date).
    fallback: "Identity | None" = None


@dataclass(frozen=True)
class Outbound:
    """An AS2 message ready to POST."""

    message_id: str
    headers: dict[str, str]
    body: bytes
    mic: str  # base64 digest of the signed content, which the MDN must return


@dataclass(frozen=True)
class MdnResult:
    """What the partner's MDN says about one of our messages."""

    delivered: bool  # "processed", signed as agreed, MIC matching
    status: str
    detail: str


@dataclass(frozen=True)
class Received:
    """An inbound message after verification: its payload (None when refused) and the MDN to answer with."""

    message_id: str
    status: str  # "processed", or pyas2lib's disposition for a refusal
    detail: str
    payload: bytes | None
    file_name: str | None
    duplicate: bool
    mdn_headers: dict[str, str] | None
    mdn_body: bytes | None
    mdn_url: str | None  # asynchronous MDN: where the partner wants it


def check_certificate(pem: str | bytes, now: dt.datetime | None = None, *, check_dates: bool = True) -> CertificateInfo:
    """A partner's X.509 certificate: PEM, RSA, valid now (unless not `check_dates`), and (when it says) usable for signatures and key encipherment."""
    now = now or dt.datetime.now(dt.timezone.utc)
    data = pem.encode() if isinstance(pem, str) else pem
    if not data.strip().startswith(b"-----BEGIN CERTIFICATE-----"):
        raise CertificateRefused("the certificate must be PEM text starting with -----BEGIN CERTIFICATE-----")
    try:
        cert = x509.load_pem_x509_certificate(data)
        # The key and extensions are parsed lazily: a malformed one fails here, not later in a job or a page.
        key, extensions = cert.public_key(), cert.extensions
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateRefused("the certificate is not a readable X.509 certificate") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateRefused("the certificate's key must be RSA (AS2 partners sign and encrypt with RSA)")
    if check_dates and cert.not_valid_after_utc <= now:
        raise CertificateRefused(f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    if check_dates and cert.not_valid_before_utc > now:
        raise CertificateRefused(f"the certificate is not valid before {cert.not_valid_before_utc:%Y-%m-%d}")
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.digital_signature:
        raise CertificateRefused("the certificate's key usage does not allow digital signatures (needed to verify the partner's messages and MDNs)")
    if usage is not None and not usage.key_encipherment:
        raise CertificateRefused("the certificate's key usage does not allow key encipherment (needed to encrypt messages to the partner)")
    return CertificateInfo(cert.subject.rfc4514_string()[:200], cert.not_valid_before_utc, cert.not_valid_after_utc,
                           cert.fingerprint(hashes.SHA256()).hex())


def _as2_id(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _AS2_ID.match(value.strip()):
        raise InvalidEdiSettings(f"{key}: 1-128 letters, digits, spaces, dots, dashes, underscores or @")
    return value.strip()


def parse_as2_settings(transport: Mapping[str, Any], check_url: Callable[[str], str], clamp_timeout: Callable[[float], float] = float,
                       now: dt.datetime | None = None, *, check_dates: bool = True) -> As2Settings:
    """As2Settings from the supplier's `transport` object; InvalidEdiSettings naming the key otherwise (`check_url`: the egress policy's).

    At save the certificate must be valid now; at run time (`check_dates` False) an expired one is
    the certificate job's alert and the send's failure, not a settings error that hides the partner.
    """
    our_id, partner_id = _as2_id(transport.get("our_as2_id"), "transport.our_as2_id"), _as2_id(transport.get("partner_as2_id"), "transport.partner_as2_id")
    if our_id == partner_id:
        raise InvalidEdiSettings("transport.partner_as2_id: must differ from ours")
    url = transport.get("url")
    try:
        check_url(url if isinstance(url, str) else "")
    except ValueError as exc:
        raise InvalidEdiSettings(f"transport.url: {exc}") from None
    certificate = transport.get("partner_certificate")
    if not isinstance(certificate, str):
        raise InvalidEdiSettings("transport.partner_certificate: the partner's certificate (PEM)")
    try:
        check_certificate(certificate, now, check_dates=check_dates)
    except CertificateRefused as exc:
        raise InvalidEdiSettings(f"transport.partner_certificate: {exc}") from None
    digest, encryption, mdn_mode = (str(transport.get(k, d)) for k, d in (("digest", "sha256"), ("encryption", "aes_256_cbc"), ("mdn_mode", "sync")))
    for key, value, allowed in (("digest", digest, DIGESTS), ("encryption", encryption, ENCRYPTIONS), ("mdn_mode", mdn_mode, MDN_MODES)):
        if value not in allowed:
            raise InvalidEdiSettings(f"transport.{key}: one of {', '.join(allowed)}")
    timeout = transport.get("timeout_seconds", 60)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 600:
        raise InvalidEdiSettings("transport.timeout_seconds: 1-600")
    return As2Settings(our_id, partner_id, url, certificate, digest, encryption, mdn_mode, clamp_timeout(float(timeout)))


def message_id_for(our_id: str, scope: str, file_name: str) -> str:
    """A stable Message-ID for one document: the same file (same idempotency key) always goes out under the same id, so the partner dedupes a resend."""
    digest = hashlib.sha256(f"{scope}\0{file_name}".encode()).hexdigest()[:32]
    domain = re.sub(r"[^a-z0-9.-]", "-", our_id.lower()).strip(".-") or "as2"
    return f"edi-{digest}@{domain}"


def _organization(our_id: str, identity: Identity, mdn_url: str | None = None):
    pair = identity.private_key_pem + b"\n" + identity.certificate_pem
    return as2lib.Organization(as2_name=our_id, sign_key=pair, decrypt_key=pair, mdn_url=mdn_url, domain=None)


def _partner(settings: As2Settings):
    cert = settings.partner_certificate.encode()
    encrypt = settings.encryption != "none"
    return as2lib.Partner(as2_name=settings.partner_id, verify_cert=cert, encrypt_cert=cert, sign=True, encrypt=encrypt,
                          enc_alg=settings.encryption if encrypt else "aes_256_cbc", digest_alg=settings.digest,
                          mdn_mode=settings.mdn_mode.upper(), mdn_digest_alg=settings.digest)


def build_message(settings: As2Settings, identity: Identity, payload: bytes, file_name: str, message_id: str, mdn_url: str | None = None) -> Outbound:
    """Sign and encrypt `payload` as an AS2 message with the given Message-ID, asking for a signed MDN (at `mdn_url` when asynchronous)."""
    local, _, domain = message_id.partition("@")
    organization = _organization(settings.our_id, identity, mdn_url)
    organization.domain = domain
    message = as2lib.Message(organization, _partner(settings))
    message.build(payload, filename=file_name, subject=f"EDI {file_name}", content_type="application/edi-x12", message_id=local,
                  disposition_notification_to="edi@" + (domain or "as2"))
    return Outbound(message.message_id, {k: str(v) for k, v in message.headers.items()}, message.content, message.mic.decode())


def _raw(headers: Mapping[str, str], body: bytes) -> bytes:
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if "\n" not in str(v) and "\r" not in str(v))
    return lines.encode("utf-8", "replace") + b"\r\n" + body


def read_mdn(settings: As2Settings, identity: Identity, message_id: str, mic: str, headers: Mapping[str, str], body: bytes) -> MdnResult:
    """Verify the partner's MDN for our message: signed with their certificate, about this Message-ID, "processed", with our MIC."""
    organization = _organization(settings.our_id, identity)
    partner = _partner(settings)
    original = as2lib.Message(organization, partner)
    original.message_id, original.mic = message_id, mic.encode()

    def find(orig_id, _recipient):
        return original if orig_id == message_id else None

    mdn = as2lib.Mdn()
    status, detail = mdn.parse(_raw(headers, body), find)
    status, detail = str(status or "failed/Failure"), str(detail or "")
    # A resend the partner already had is answered "processed/warning: duplicate-document" (RFC 4130 7.5.3): it has the document.
    duplicate = status.lower() == "processed/warning" and detail.strip().lower() == "duplicate-document"
    return MdnResult(status == "processed" or duplicate, status, detail)


def mdn_original_id(headers: Mapping[str, str], body: bytes) -> str | None:
    """The Original-Message-ID an (asynchronous) MDN answers, or None when the body is not an MDN."""
    mdn = as2lib.Mdn()
    mdn.payload = email.message_from_bytes(_raw(headers, body))
    try:
        original, _ = mdn.detect_mdn()
    except Exception:  # noqa: BLE001 - pyas2lib raises its MDNNotFound (or a parse error) for anything else
        return None
    return original


def receive(settings: As2Settings, identity: Identity, headers: Mapping[str, str], body: bytes, seen: Callable[[str], bool]) -> Received:
    """Decrypt and verify an inbound message against THIS partner's certificate and our AS2 id; build the MDN it asked for.

    `seen(message_id)` says whether it was received before (a duplicate is answered, never applied again).
    A message our signing pair cannot decrypt is tried with the fallback pair (during a key rollover a
    partner encrypts to the certificate it has installed); the first attempt's answer stands unless that one is taken.
    """
    missing = [name for name in REQUIRED_HEADERS if not _bare(_header(headers, name))]
    if missing:
        # Refused here, no MDN: pyas2lib fails on a missing AS2-From or AS2-To (a TypeError, a 500), and a message without a
        # Message-ID (RFC 4130 5.3.3: required) would be deduplicated against every other one without it.
        return Received("", "processed/Error", f"missing-header: {', '.join(missing)} missing or empty", None, None, False, None, None, None)
    sender = _header(headers, "AS2-From")
    if email.utils.unquote(sender.strip()) != settings.partner_id:
        # Refused here: pyas2lib fails building the error MDN for a sender it has no partner for (an AttributeError, a 500).
        # No MDN: we have no agreement (certificate) with that sender to sign one for.
        return Received("", "processed/Error", f"unknown-trading-partner: AS2-From {sender[:128]!r} is not this endpoint's partner",
                        None, None, False, None, None, None)
    received, error = _receive(settings, identity, headers, body, seen)
    if isinstance(error, as2lib.exceptions.DecryptionError) and identity.fallback is not None:
        retried, _ = _receive(settings, identity.fallback, headers, body, seen)
        if retried.payload is not None or retried.duplicate:
            return retried
    return received


REQUIRED_HEADERS = ("AS2-From", "AS2-To", "Message-ID")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value (names match whatever their case)."""
    return next((str(value) for key, value in headers.items() if key.lower() == name.lower()), None)


def _bare(value: str | None) -> str:
    """A header value without its blanks, quotes and angle brackets (what is left names something, or nothing)."""
    return email.utils.unquote((value or "").strip()).strip().strip("<>").strip()


def _receive(settings: As2Settings, identity: Identity, headers: Mapping[str, str], body: bytes, seen: Callable[[str], bool]) -> tuple[Received, Exception | None]:
    """The message read with this pair, and pyas2lib's error (its exception: its type says what failed)."""
    organization = _organization(settings.our_id, identity)
    partner = _partner(settings)
    message = as2lib.Message()
    duplicate = {"yes": False}

    def find_message(message_id, _partner_id):
        duplicate["yes"] = bool(seen(message_id))
        return duplicate["yes"]

    status, (error, _trace), mdn = message.parse(_raw(headers, body), find_org_cb=lambda as2_to: organization if as2_to == settings.our_id else None,
                                                 find_partner_cb=lambda as2_from: partner if as2_from == settings.partner_id else None,
                                                 find_message_cb=find_message)
    ok = status == "processed" and error is None
    payload = file_name = None
    if ok:
        payload = message.content if isinstance(message.content, bytes) else str(message.content).encode()
        file_name = message.payload.get_filename() if message.payload is not None else None
    detail = str(error) if error is not None else ""
    return Received(str(message.message_id or ""), str(status), detail[:500], payload, file_name, duplicate["yes"] and not ok,
                    {k: str(v) for k, v in mdn.headers.items()} if mdn is not None else None, mdn.content if mdn is not None else None,
                    mdn.mdn_url if mdn is not None else None), error
