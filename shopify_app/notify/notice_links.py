"""Signed links in customer notices: one-click satisfaction answers, the review link, unsubscribe, sender verification.

Each link carries a token signed with the app's secret (itsdangerous, one salt per purpose), so
nobody can make a working link for another order or shop by guessing; rotating the secret keeps
links signed with the old one working (SHOPIFY_API_SECRET_OLD). Nothing a link carries steers a
redirect: the review link redirects to the URL the merchant saved, read from the database.
"""
from __future__ import annotations

import hashlib

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

FEEDBACK, REVIEW, UNSUBSCRIBE, VERIFY_SENDER = "feedback", "review", "unsubscribe", "verify-sender"
VERIFY_SENDER_MAX_AGE = 3 * 24 * 3600  # a confirmation link older than three days asks for a new one
ANSWERS = ("good", "bad")


class InvalidLink(ValueError):
    """The token is forged, damaged, for another purpose, or expired."""


def _keys(settings) -> list[str]:
    # itsdangerous signs with the last key and accepts any: the old secret keeps old links valid.
    return [k for k in (settings.api_secret_old, settings.api_secret) if k]


def sign(settings, purpose: str, payload: dict) -> str:
    """A URL-safe token for `payload` (timed for sender verification)."""
    cls = URLSafeTimedSerializer if purpose == VERIFY_SENDER else URLSafeSerializer
    return cls(_keys(settings), salt=f"customer-notice:{purpose}").dumps(payload)


def unsign(settings, purpose: str, token: str) -> dict:
    """The payload of a token made by sign() for the same purpose; InvalidLink otherwise."""
    try:
        if purpose == VERIFY_SENDER:
            value = URLSafeTimedSerializer(_keys(settings), salt=f"customer-notice:{purpose}").loads(token, max_age=VERIFY_SENDER_MAX_AGE)
        else:
            value = URLSafeSerializer(_keys(settings), salt=f"customer-notice:{purpose}").loads(token)
    except SignatureExpired:
        raise InvalidLink("expired") from None
    except BadSignature:
        raise InvalidLink("invalid") from None
    if not isinstance(value, dict):
        raise InvalidLink("invalid")
    return value


def email_digest(shop_domain: str, email: str) -> str:
    """The key an unsubscribe is kept under: a SHA-256 of shop and normalised email, not the email itself."""
    return hashlib.sha256(f"{shop_domain}\n{email.strip().lower()}".encode()).hexdigest()


def feedback_url(settings, order_id: int, answer: str) -> str:
    """The one-click answer link of an order's follow-up."""
    return f"{settings.app_url}/notices/feedback/{sign(settings, FEEDBACK, {'o': order_id})}/{answer}"


def review_url(settings, order_id: int) -> str:
    """The app's redirect to the merchant's review page (counts the click for the KPI)."""
    return f"{settings.app_url}/notices/review/{sign(settings, REVIEW, {'o': order_id})}"


def unsubscribe_url(settings, shop_domain: str, email: str, lang: str) -> str:
    """The unsubscribe page for this customer at this shop (in the language of the email it came in)."""
    payload = {"s": shop_domain, "d": email_digest(shop_domain, email), "l": lang}
    return f"{settings.app_url}/notices/unsubscribe/{sign(settings, UNSUBSCRIBE, payload)}"


def verify_sender_url(settings, shop_domain: str, address: str) -> str:
    """The confirmation link sent to the sender address a merchant saved."""
    return f"{settings.app_url}/notices/verify-sender/{sign(settings, VERIFY_SENDER, {'s': shop_domain, 'a': address})}"
