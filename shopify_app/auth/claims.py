"""Session-token claims the SDK's verdict leaves unchecked: exp, nbf, and a dest/iss pair naming one shop.

Shopify's SDK verifies the HS256 signature (current or old secret), `aud`, and `exp`/`nbf`
only when present. A token that passed it is decoded again here with PyJWT, without a
second signature check, to require the claims Shopify always sends.
"""
from __future__ import annotations

import re

import jwt

REQUIRED_CLAIMS = ("exp", "nbf", "iss", "dest", "aud")
LEEWAY_SECONDS = 10  # the SDK's clock tolerance
# A shop's admin origin: https://<name>.myshopify.com, nothing more (no port, path or userinfo).
SHOP_ORIGIN = re.compile(r"https://([a-z0-9][a-z0-9-]*)\.myshopify\.com")


class InvalidClaims(ValueError):
    """The token lacks a required claim, or its claims do not name one shop."""


def shop_from_verified_token(token: str, api_key: str) -> str:
    """The shop domain a signature-verified session token is for; InvalidClaims otherwise."""
    try:
        claims = jwt.decode(
            token,
            # The SDK checked the signature just before (it tries the old secret too).
            options={"verify_signature": False, "verify_exp": True, "verify_nbf": True, "verify_aud": True, "require": list(REQUIRED_CLAIMS)},
            audience=api_key,
            leeway=LEEWAY_SECONDS,
        )
    except jwt.PyJWTError as exc:
        raise InvalidClaims(str(exc)) from None
    dest, iss = claims["dest"], claims["iss"]
    match = SHOP_ORIGIN.fullmatch(dest) if isinstance(dest, str) else None
    if match is None:
        raise InvalidClaims("dest is not https://<name>.myshopify.com")
    if iss != f"{dest}/admin":
        raise InvalidClaims("iss does not match dest")
    return f"{match.group(1)}.myshopify.com"
