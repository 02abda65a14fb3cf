"""Each shop's AS2 key pair: generated once, the private key kept encrypted (SecretBox), the certificate given to partners."""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import OrderedDict

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import load_only

from integrations.suppliers.edi_x12.as2 import Identity

from ..crypto import SecretBox
from ..db import read_only
from ..i18n import gettext as _
from .as2_models import As2Identity

KEY_BITS = 3072  # NIST's RSA size for use past 2030
VALIDITY = dt.timedelta(days=3 * 365)
MAX_SWITCH_DELAY = dt.timedelta(days=60)  # a new pair starts signing at most this long after it is made


class SwitchDateRefused(ValueError):
    """A switch date the new key pair cannot start signing on (the message says why, for the merchant)."""


def generate_key_pair(common_name: str, now: dt.datetime | None = None) -> tuple[bytes, bytes, dt.datetime]:
    """A new RSA key and its self-signed certificate for signing and key encipherment: (private key PEM, certificate PEM, not after)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]), x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "AS2")])
    not_after = now + VALIDITY
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=True, data_encipherment=False, key_agreement=False,
                                     key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM), certificate.not_valid_after_utc


def shop_identity(session_factory, box: SecretBox, shop_domain: str) -> Identity:
    """The shop's key pair, generated (and stored encrypted) the first time a partner needs it."""
    with session_factory() as session:
        row = session.scalar(select(As2Identity).where(As2Identity.shop_domain == shop_domain))
        if row is not None:
            return _identity(box, row)
    key_pem, cert_pem, not_after = generate_key_pair(f"{shop_domain} AS2")  # outside any transaction: it takes a moment
    try:
        with session_factory.begin() as session:
            session.add(As2Identity(shop_domain=shop_domain, certificate_pem=cert_pem.decode(), private_key_enc=box.encrypt(key_pem.decode()), not_after=not_after))
    except IntegrityError:  # another worker generated it first: use theirs
        return shop_identity(session_factory, box, shop_domain)
    return Identity(key_pem, cert_pem)


# Decrypted private keys by (shop, slot): the ciphertext they came from is their version. Every station build (each
# AS2 message both ways, each setup view) reads the row; a new pair, a roll or a re-encryption under a new app key
# stores a new ciphertext (Fernet tokens are unique), which replaces the slot's entry. Process-local, two per shop,
# least recently used first: bounded, so a process serving many shops keeps only the busiest ones' keys in memory;
# an erased shop's are dropped at once (forget_shop_keys).
DECRYPTED_MAX = 4096
_DECRYPTED: OrderedDict[tuple[str, str], tuple[bytes, bytes]] = OrderedDict()
_DECRYPTED_LOCK = threading.Lock()  # request threads share it: moving and evicting entries must not interleave
_SLOTS = ("newest", "previous")


def _private_key(box: SecretBox, shop_domain: str, slot: str, ciphertext: bytes) -> bytes:
    """The PEM private key stored as `ciphertext`, decrypted once per process and version."""
    key = (shop_domain, slot)
    with _DECRYPTED_LOCK:
        cached = _DECRYPTED.get(key)
        if cached is not None and cached[0] == ciphertext:
            _DECRYPTED.move_to_end(key)
            return cached[1]
    pem = box.decrypt(ciphertext).encode()
    with _DECRYPTED_LOCK:
        _DECRYPTED[key] = (ciphertext, pem)
        _DECRYPTED.move_to_end(key)
        while len(_DECRYPTED) > DECRYPTED_MAX:
            _DECRYPTED.popitem(last=False)
    return pem


def forget_shop_keys(shop_domain: str) -> None:
    """Drop the shop's decrypted private keys from this process's memory (the shop is erased)."""
    with _DECRYPTED_LOCK:
        for slot in _SLOTS:
            _DECRYPTED.pop((shop_domain, slot), None)


def _identity(box: SecretBox, row: As2Identity, now: dt.datetime | None = None) -> Identity:
    """The pair that signs now, with the other one that still (or already) decrypts as its fallback.

    Before the switch date the previous pair signs: a partner verifies our signatures with the certificate
    it has installed, so the new one signs only from the date the merchant agreed with partners.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    newest = Identity(_private_key(box, row.shop_domain, "newest", row.private_key_enc), row.certificate_pem.encode())
    if not (row.previous_private_key_enc and row.previous_not_after and row.previous_not_after > now):
        return newest
    previous = Identity(_private_key(box, row.shop_domain, "previous", row.previous_private_key_enc), row.previous_certificate_pem.encode())
    if switch_pending(row, now):
        return dataclasses.replace(previous, fallback=newest)
    return dataclasses.replace(newest, fallback=previous)


def switch_pending(row: As2Identity, now: dt.datetime | None = None) -> bool:
    """Whether the previous pair still signs (the newest pair's switch date is ahead and the previous pair is valid)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return (row.sign_from is not None and row.sign_from > now and row.previous_certificate_pem is not None
            and row.previous_not_after is not None and row.previous_not_after > now)


# The columns _check_switch_date reads (not the keys and certificates).
_DATES_ONLY = (load_only(As2Identity.not_after, As2Identity.sign_from, As2Identity.previous_certificate_pem, As2Identity.previous_not_after),)


def _check_switch_date(row: As2Identity, sign_from: dt.datetime, now: dt.datetime) -> None:
    """SwitchDateRefused when the pair in use (the one that keeps signing until `sign_from`) expires by then."""
    in_use_until = row.previous_not_after if switch_pending(row, now) else row.not_after
    if sign_from >= in_use_until:
        raise SwitchDateRefused(_("The certificate in use expires on %(date)s: the new key pair must start signing before then.", date=f"{in_use_until:%Y-%m-%d}"))


def switch_days(now: dt.datetime | None = None) -> tuple[dt.date, dt.date]:
    """The first and last day (UTC) a new key pair may be given to start signing on: today (that is, at once) and MAX_SWITCH_DELAY ahead."""
    today = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).date()
    return today, today + MAX_SWITCH_DELAY


def checked_switch_date(session_factory, shop_domain: str, sign_from: dt.datetime | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """`sign_from` as a roll takes it (None: at once, as for a moment already past today); SwitchDateRefused for a day before today (UTC),
    one more than MAX_SWITCH_DELAY ahead, or one after the pair in use expires.

    Judged before a key is made (seconds of CPU a refused date would waste); roll_key_pair judges it again under its lock.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    if sign_from is None:
        return None
    if sign_from.astimezone(dt.timezone.utc).date() < switch_days(now)[0]:
        # Not "at once": a mistyped year would make the new pair sign before partners have its certificate.
        raise SwitchDateRefused(_("%(date)s is past: give today or a later day (UTC), or no day to sign with the new key pair at once.",
                                  date=f"{sign_from:%Y-%m-%d}"))
    if sign_from <= now:  # earlier today: at once
        return None
    if sign_from - now > MAX_SWITCH_DELAY:
        raise SwitchDateRefused(_("A new key pair can start signing at most %(days)s days ahead.", days=MAX_SWITCH_DELAY.days))
    with read_only(session_factory)() as session:  # a read: never SQLite's write lock
        row = session.scalar(select(As2Identity).options(*_DATES_ONLY).where(As2Identity.shop_domain == shop_domain))
        if row is not None:
            _check_switch_date(row, sign_from, now)
    return sign_from


def roll_key_pair(session_factory, box: SecretBox, shop_domain: str, now: dt.datetime | None = None, sign_from: dt.datetime | None = None) -> str:
    """A new key pair for the shop (its certificate PEM returned); it signs from `sign_from` (None: at once), the pair in use signs until then and decrypts until it expires.

    SwitchDateRefused (before the key is made) for a date checked_switch_date refuses.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    sign_from = checked_switch_date(session_factory, shop_domain, sign_from, now)
    key_pem, cert_pem, not_after = generate_key_pair(f"{shop_domain} AS2", now)  # outside any transaction: it takes a moment
    with session_factory.begin() as session:
        row = session.scalar(select(As2Identity).where(As2Identity.shop_domain == shop_domain).with_for_update())
        if row is None:  # no pair yet: nothing else signs, this one does at once
            session.add(As2Identity(shop_domain=shop_domain, certificate_pem=cert_pem.decode(), private_key_enc=box.encrypt(key_pem.decode()), not_after=not_after))
            return cert_pem.decode()
        if sign_from is not None:
            _check_switch_date(row, sign_from, now)
        if not switch_pending(row, now):  # the pair in use becomes the previous one; a pending pair (never signed) is simply replaced
            row.previous_certificate_pem, row.previous_private_key_enc, row.previous_not_after = row.certificate_pem, row.private_key_enc, row.not_after
        row.certificate_pem, row.private_key_enc, row.not_after, row.sign_from = cert_pem.decode(), box.encrypt(key_pem.decode()), not_after, sign_from
    return cert_pem.decode()


def shop_certificate(session, shop_domain: str) -> str | None:
    """The shop's AS2 certificate (PEM) if it has one yet."""
    return session.scalar(select(As2Identity.certificate_pem).where(As2Identity.shop_domain == shop_domain))
