"""Shopify's webhook HMAC checked on the raw body bytes: the SDK's check without its request wrapper.

`ShopifyApp.verify_webhook_req` takes the body as text, and before it checks anything it
builds a redacted copy of the request for its log (parsing and re-serialising the whole
JSON body), then encodes the text back to bytes to sign it. Profiling intake showed that
wrapper as the biggest single cost of a delivery's request thread. The check itself is the
SDK's: base64(HMAC-SHA256(client secret, body)) compared in constant time with
X-Shopify-Hmac-Sha256, then with the previous secret while a rotation is under way.
tests/app/test_webhook_signature.py holds this to the SDK's verdicts.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Iterable


def body_signature_valid(raw_body: bytes, received: str, client_secrets: Iterable[str | None]) -> bool:
    """True when `received` is the base64 HMAC-SHA256 of the raw body under one of the secrets."""
    if not received or not received.isascii():
        return False  # a genuine signature is base64 (and compare_digest refuses non-ASCII str)
    given = received.encode("ascii")
    for secret in client_secrets:
        if secret and hmac.compare_digest(given, base64.b64encode(hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest())):
            return True
    return False
