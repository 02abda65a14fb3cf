"""Each shop's AS2 key pair: generated once, the private key kept encrypted (SecretBox), the certificate given to partners."""
from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from integrations.suppliers.edi_x12.as2 import Identity

from ..crypto import SecretBox
from .as2_models import As2Identity

KEY_BITS = 3072  # NIST's RSA size for use past 2030
VALIDITY = dt.timedelta(days=3 * 365)


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


def _identity(box: SecretBox, row: As2Identity) -> Identity:
    """The stored pair, with the previous one while it is still valid (it decrypts what partners encrypted to it)."""
    previous = None
    if row.previous_private_key_enc and row.previous_not_after and row.previous_not_after > dt.datetime.now(dt.timezone.utc):
        previous = Identity(box.decrypt(row.previous_private_key_enc).encode(), row.previous_certificate_pem.encode())
    return Identity(box.decrypt(row.private_key_enc).encode(), row.certificate_pem.encode(), previous)


def roll_key_pair(session_factory, box: SecretBox, shop_domain: str, now: dt.datetime | None = None) -> str:
    """A new key pair for the shop (its certificate PEM returned); the old pair stays as `previous` for incoming messages until it expires."""
    key_pem, cert_pem, not_after = generate_key_pair(f"{shop_domain} AS2", now)  # outside any transaction: it takes a moment
    with session_factory.begin() as session:
        row = session.scalar(select(As2Identity).where(As2Identity.shop_domain == shop_domain).with_for_update())
        if row is None:
            session.add(As2Identity(shop_domain=shop_domain, certificate_pem=cert_pem.decode(), private_key_enc=box.encrypt(key_pem.decode()), not_after=not_after))
            return cert_pem.decode()
        row.previous_certificate_pem, row.previous_private_key_enc, row.previous_not_after = row.certificate_pem, row.private_key_enc, row.not_after
        row.certificate_pem, row.private_key_enc, row.not_after = cert_pem.decode(), box.encrypt(key_pem.decode()), not_after
    return cert_pem.decode()


def shop_certificate(session, shop_domain: str) -> str | None:
    """The shop's AS2 certificate (PEM) if it has one yet."""
    return session.scalar(select(As2Identity.certificate_pem).where(As2Identity.shop_domain == shop_domain))
