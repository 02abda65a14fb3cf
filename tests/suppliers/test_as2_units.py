"""AS2 pieces on their own: certificates checked at save, stable Message-IDs, messages and MDNs against pyas2lib used directly as the other side, the shop's key at rest."""
from __future__ import annotations

import datetime as dt

import pytest

from integrations.suppliers.edi_x12.as2 import (As2Settings, CertificateRefused, Identity, build_message, check_certificate, message_id_for,
                                                parse_as2_settings, read_mdn, receive)
from integrations.suppliers.edi_x12.as2_compat import load_pyas2lib
from integrations.suppliers.edi_x12.config import InvalidEdiSettings
from sandbox.supplier.as2_partner import make_certificate

as2lib = load_pyas2lib()
NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture(scope="module")
def keys():
    ours, theirs = make_certificate("us"), make_certificate("them")
    return Identity(*ours), theirs


def settings_for(their_cert: bytes, **overrides) -> As2Settings:
    return As2Settings(**{"our_id": "US-AS2", "partner_id": "THEM-AS2", "url": "https://as2.example/", "partner_certificate": their_cert.decode(), **overrides})


def their_side(identity: Identity, their_key: bytes, their_cert: bytes):
    """pyas2lib directly, as the partner's AS2 server would configure it."""
    organization = as2lib.Organization(as2_name="THEM-AS2", sign_key=their_key + their_cert, decrypt_key=their_key + their_cert)
    us = as2lib.Partner(as2_name="US-AS2", verify_cert=identity.certificate_pem, encrypt_cert=identity.certificate_pem, sign=True, encrypt=True,
                        enc_alg="aes_128_cbc", mdn_mode="SYNC", mdn_digest_alg="sha256")
    return organization, us


@pytest.mark.parametrize("make, reason", [
    (lambda: make_certificate("x", not_before=NOW - dt.timedelta(days=9), not_after=NOW - dt.timedelta(days=1))[1], "expired on"),
    (lambda: make_certificate("x", not_before=NOW + dt.timedelta(days=2), not_after=NOW + dt.timedelta(days=9))[1], "not valid before"),
    (lambda: make_certificate("x", key_encipherment=False)[1], "key encipherment"),
    (lambda: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a readable"),
    (lambda: b"hello", "PEM"),
])
def test_unusable_certificates_are_refused_with_the_reason(make, reason):
    with pytest.raises(CertificateRefused, match=reason):
        check_certificate(make())


def test_settings_name_the_key_that_is_wrong(keys):
    identity, (_, their_cert) = keys
    good = {"our_as2_id": "US-AS2", "partner_as2_id": "THEM-AS2", "url": "https://as2.example/", "partner_certificate": their_cert.decode()}
    assert parse_as2_settings(good, lambda url: url).mdn_mode == "sync"
    for change, key in (({"our_as2_id": 'bad"id'}, "transport.our_as2_id"), ({"partner_as2_id": "US-AS2"}, "transport.partner_as2_id"),
                        ({"encryption": "des"}, "transport.encryption"), ({"mdn_mode": "never"}, "transport.mdn_mode"),
                        ({"digest": "md5"}, "transport.digest"), ({"timeout_seconds": 0}, "transport.timeout_seconds"),
                        ({"partner_certificate": 5}, "transport.partner_certificate")):
        with pytest.raises(InvalidEdiSettings, match=key.replace(".", r"\.")):
            parse_as2_settings({**good, **change}, lambda url: url)

    def refuse(url):
        raise ValueError("the partner's AS2 URL is refused: 10.0.0.1 is private")

    with pytest.raises(InvalidEdiSettings, match=r"transport\.url: .*private"):
        parse_as2_settings(good, refuse)


def test_the_message_id_is_stable_per_document_and_differs_between_partners():
    first = message_id_for("US-AS2", "shop-a/1", "850_PO1.x12")
    assert first == message_id_for("US-AS2", "shop-a/1", "850_PO1.x12")
    assert first != message_id_for("US-AS2", "shop-a/2", "850_PO1.x12") != message_id_for("US-AS2", "shop-a/1", "850_PO2.x12")
    assert len(first) < 255 and first.startswith("edi-") and first.endswith("@us-as2")


def test_our_message_reads_with_pyas2lib_and_its_signed_mdn_confirms_the_mic(keys):
    identity, (their_key, their_cert) = keys
    settings = settings_for(their_cert, encryption="aes_128_cbc")
    outbound = build_message(settings, identity, b"ISA*00*~", "850_PO1.x12", message_id_for("US-AS2", "s/1", "850_PO1.x12"))
    organization, us = their_side(identity, their_key, their_cert)
    message = as2lib.Message()
    raw = b"".join(f"{k}: {v}\r\n".encode() for k, v in outbound.headers.items()) + b"\r\n" + outbound.body
    status, (error, _), mdn = message.parse(raw, find_org_cb=lambda i: organization, find_partner_cb=lambda i: us)
    assert (status, error, message.content, message.encrypted, message.signed) == ("processed", None, b"ISA*00*~", True, True)
    assert message.message_id == outbound.message_id
    result = read_mdn(settings, identity, outbound.message_id, outbound.mic, mdn.headers, mdn.content)
    assert result.delivered and result.status == "processed"
    # The same MDN against another MIC (another content) is not a delivery.
    assert not read_mdn(settings, identity, outbound.message_id, "AAAA", mdn.headers, mdn.content).delivered
    # An MDN signed by someone else is not either.
    _, impostor_cert = make_certificate("impostor")
    assert not read_mdn(settings_for(impostor_cert), identity, outbound.message_id, outbound.mic, mdn.headers, mdn.content).delivered


def test_their_message_is_verified_against_their_certificate_only(keys):
    identity, (their_key, their_cert) = keys
    organization, us = their_side(identity, their_key, their_cert)
    message = as2lib.Message(organization, us)
    message.build(b"ISA*01*~", filename="855_1.x12", message_id="m1")
    received = receive(settings_for(their_cert), identity, message.headers, message.content, seen=lambda _id: False)
    assert (received.status, received.payload, received.file_name) == ("processed", b"ISA*01*~", "855_1.x12")
    assert received.mdn_body is not None and received.mdn_url is None
    again = receive(settings_for(their_cert), identity, message.headers, message.content, seen=lambda _id: True)
    assert again.payload is None and again.duplicate and again.status == "processed/Warning"
    _, other_cert = make_certificate("other partner")
    refused = receive(settings_for(other_cert), identity, message.headers, message.content, seen=lambda _id: False)
    assert refused.payload is None and refused.status == "processed/Error" and not refused.duplicate
    wrong_to = receive(settings_for(their_cert, our_id="SOMEONE-ELSE"), identity, message.headers, message.content, seen=lambda _id: False)
    assert wrong_to.payload is None and wrong_to.status == "processed/Error"


def test_the_fallback_pair_is_tried_only_when_decryption_failed_whatever_the_error_says(keys):
    identity, (their_key, their_cert) = keys
    new = Identity(*make_certificate("us, new"))
    organization, us = their_side(identity, their_key, their_cert)  # the partner encrypts to the pair that is now our fallback
    message = as2lib.Message(organization, us)
    message.build(b"ISA*02*~", filename="846_1.x12", message_id="m2")
    received = receive(settings_for(their_cert), Identity(new.private_key_pem, new.certificate_pem, fallback=identity), message.headers,
                       message.content, seen=lambda _id: False)
    assert (received.status, received.payload) == ("processed", b"ISA*02*~")
    # A refusal for another reason whose wording mentions decryption (here an unencrypted message from a partner whose
    # AS2 id says "decrypt") never reaches the fallback pair: an unloadable one would fail the whole receipt if it were tried.
    broken = Identity(new.private_key_pem, new.certificate_pem, fallback=Identity(b"not a key", b"not a certificate"))
    organization.as2_name = "DECRYPT-ME"
    plain = as2lib.Partner(as2_name="US-AS2", verify_cert=new.certificate_pem, encrypt_cert=new.certificate_pem, sign=False, encrypt=False, mdn_mode="SYNC")
    message = as2lib.Message(organization, plain)
    message.build(b"ISA*03*~", filename="846_2.x12", message_id="m3")
    refused = receive(settings_for(their_cert, partner_id="DECRYPT-ME"), broken, message.headers, message.content, seen=lambda _id: False)
    assert refused.payload is None and refused.status == "processed/Error" and "decrypt" in refused.detail.lower()


def test_the_shops_key_is_stored_encrypted_made_once_and_rotated(app_factory, database_url):
    from cryptography.fernet import Fernet

    from shopify_app.crypto import SecretBox, rotate_all_tokens
    from shopify_app.suppliers.as2_keys import shop_identity
    from shopify_app.suppliers.as2_models import As2Identity

    app = app_factory(database_url)
    services = app.extensions["services"]
    first = shop_identity(services.session_factory, services.box, "a.myshopify.com")
    assert shop_identity(services.session_factory, services.box, "a.myshopify.com") == first
    assert shop_identity(services.session_factory, services.box, "b.myshopify.com").certificate_pem != first.certificate_pem
    with services.session_factory() as session:
        row = session.query(As2Identity).filter_by(shop_domain="a.myshopify.com").one()
        assert b"PRIVATE KEY" not in row.private_key_enc
    info = check_certificate(first.certificate_pem)
    assert info.not_after - NOW > dt.timedelta(days=1000)
    new_key = Fernet.generate_key().decode()
    rotated = SecretBox([new_key, *services.settings.encryption_keys])
    with services.session_factory.begin() as session:
        assert rotate_all_tokens(session, rotated) >= 2
    assert shop_identity(services.session_factory, SecretBox([new_key]), "a.myshopify.com") == first


def test_the_private_keys_are_decrypted_once_per_version_and_again_after_a_roll(app_factory, database_url):
    from shopify_app.crypto import SecretBox
    from shopify_app.suppliers.as2_keys import roll_key_pair, shop_identity

    app = app_factory(database_url)
    services = app.extensions["services"]
    decrypted = []

    class CountingBox(SecretBox):
        def decrypt(self, ciphertext: bytes) -> str:
            decrypted.append(ciphertext)
            return super().decrypt(ciphertext)

    box = CountingBox(services.settings.encryption_keys)
    shop = "cache.myshopify.com"
    first = shop_identity(services.session_factory, box, shop)  # made: nothing decrypted
    assert shop_identity(services.session_factory, box, shop) == shop_identity(services.session_factory, box, shop) == first
    assert len(decrypted) == 1  # read twice, decrypted once
    roll_key_pair(services.session_factory, box, shop)
    rolled = shop_identity(services.session_factory, box, shop)
    assert rolled.private_key_pem != first.private_key_pem and rolled.fallback == first
    assert len(decrypted) == 3  # the new pair's key, and the previous one in its new slot
    assert shop_identity(services.session_factory, box, shop) == rolled and len(decrypted) == 3


def test_rotating_the_app_keys_re_encrypts_the_previous_as2_key_too(app_factory, database_url):
    from cryptography.fernet import Fernet

    from shopify_app.crypto import SecretBox, rotate_all_tokens
    from shopify_app.suppliers import as2_keys
    from shopify_app.suppliers.as2_keys import roll_key_pair, shop_identity

    app = app_factory(database_url)
    services = app.extensions["services"]
    shop = "rotate.myshopify.com"
    shop_identity(services.session_factory, services.box, shop)
    roll_key_pair(services.session_factory, services.box, shop)
    before = shop_identity(services.session_factory, services.box, shop)
    assert before.fallback is not None
    new_key = Fernet.generate_key().decode()
    with services.session_factory.begin() as session:
        rotate_all_tokens(session, SecretBox([new_key, *services.settings.encryption_keys]))
    as2_keys._DECRYPTED.clear()  # a process started after the rotation, with the old app keys retired: both pairs still read
    assert shop_identity(services.session_factory, SecretBox([new_key]), shop) == before


@pytest.mark.parametrize("name", ["AS2-From", "AS2-To", "Message-ID"])
@pytest.mark.parametrize("value", [None, "", "  ", '""', "<>"])
def test_a_message_without_as2_from_as2_to_or_message_id_is_refused_without_an_mdn_not_an_error(keys, name, value):
    identity, (their_key, their_cert) = keys
    message = as2lib.Message(*their_side(identity, their_key, their_cert))
    message.build(b"ISA*05*~", filename="846_5.x12", message_id="m5")
    headers = {key: header for key, header in message.headers.items() if key.lower() != name.lower()}
    if value is not None:
        headers[name] = value
    refused = receive(settings_for(their_cert), identity, headers, message.content, seen=lambda _id: False)
    assert (refused.payload, refused.status, refused.mdn_body) == (None, "processed/Error", None)
    assert refused.detail == f"missing-header: {name} missing or empty"


def test_a_message_from_another_as2_id_is_refused_without_an_mdn_not_an_error(keys):
    identity, (their_key, their_cert) = keys
    organization, us = their_side(identity, their_key, their_cert)
    organization.as2_name = "STRANGER"
    message = as2lib.Message(organization, us)
    message.build(b"ISA*04*~", filename="846_4.x12", message_id="m4")
    refused = receive(settings_for(their_cert), identity, message.headers, message.content, seen=lambda _id: False)
    assert refused.payload is None and refused.status == "processed/Error" and "STRANGER" in refused.detail and refused.mdn_body is None
    quoted = receive(settings_for(their_cert), identity, {**message.headers, "AS2-From": '"THEM-AS2"'}, message.content, seen=lambda _id: False)
    assert "unknown-trading-partner" not in quoted.detail  # a quoted AS2 name (RFC 4130 6.2) is the partner's: judged by pyas2lib


def test_erasing_a_shop_drops_its_decrypted_as2_keys_from_memory(app_factory, database_url):
    from shopify_app.privacy import erase_shop
    from shopify_app.suppliers import as2_keys
    from shopify_app.suppliers.as2_keys import roll_key_pair, shop_identity

    services = app_factory(database_url).extensions["services"]
    erased, kept = "erased-as2.myshopify.com", "kept-as2.myshopify.com"
    for shop in (erased, kept):
        shop_identity(services.session_factory, services.box, shop)
        roll_key_pair(services.session_factory, services.box, shop)
        assert shop_identity(services.session_factory, services.box, shop).fallback is not None  # both slots decrypted, cached
    assert {shop for shop, _ in as2_keys._DECRYPTED} >= {erased, kept}
    with services.session_factory.begin() as session:
        erase_shop(session, erased)
    assert [key for key in as2_keys._DECRYPTED if key[0] == erased] == []
    assert {slot for shop, slot in as2_keys._DECRYPTED if shop == kept} == {"newest", "previous"}


def test_the_decrypted_key_cache_keeps_the_most_recently_used_keys_up_to_its_bound(monkeypatch):
    from cryptography.fernet import Fernet

    from shopify_app.crypto import SecretBox
    from shopify_app.suppliers import as2_keys

    monkeypatch.setattr(as2_keys, "_DECRYPTED", type(as2_keys._DECRYPTED)())
    monkeypatch.setattr(as2_keys, "DECRYPTED_MAX", 2)
    decrypted = []

    class CountingBox(SecretBox):
        def decrypt(self, ciphertext: bytes) -> str:
            decrypted.append(ciphertext)
            return super().decrypt(ciphertext)

    box = CountingBox([Fernet.generate_key().decode()])
    stored = {shop: box.encrypt(f"key of {shop}") for shop in ("a", "b", "c")}

    def read(shop: str) -> bytes:
        return as2_keys._private_key(box, shop, "newest", stored[shop])

    assert read("a") == b"key of a" and read("b") == b"key of b" and read("a") == b"key of a"  # a: used last
    assert read("c") == b"key of c"  # over the bound: b, the least recently used, goes
    assert list(as2_keys._DECRYPTED) == [("a", "newest"), ("c", "newest")]
    assert read("a") == b"key of a" and len(decrypted) == 3  # a was never decrypted again
